import pytest

from backends.convert.job import parse_target
from backends.errors import BadInput
from backends.formats import FORMATS, RUNTIMES, Precision, check_precision, software_label


def test_the_table_is_consistent() -> None:
    for fmt in FORMATS.values():
        assert fmt.source is None or fmt.source in FORMATS
        assert set(fmt.runtimes) <= set(RUNTIMES)
        assert fmt.precisions and all(isinstance(p, Precision) for p in fmt.precisions)
    # what the workstation builds vs what only a target can build
    assert FORMATS["tensorrt"].built_on == "target"
    assert {f.name for f in FORMATS.values() if f.converter} == {"onnx", "tflite", "edgetpu"}


def test_targets_parse_and_bad_ones_say_what_is_allowed() -> None:
    fmt, precision = parse_target("tflite:int8")
    assert fmt.name == "tflite" and precision is Precision.INT8
    assert parse_target("onnx")[1] is Precision.FP32
    with pytest.raises(BadInput, match="format onnx does not support precision 'fp16'"):
        parse_target("onnx:fp16")
    with pytest.raises(BadInput, match="unknown format 'pt'"):
        parse_target("pt:fp32")
    with pytest.raises(BadInput, match="tensorrt cannot be converted.*mllib-tui engines build"):
        parse_target("tensorrt:fp16")
    with pytest.raises(BadInput, match="supports fp32, fp16, int8"):
        check_precision(FORMATS["tflite"], "int4")


def test_software_labels_match_the_original_table() -> None:
    assert software_label("tensorflow", "fp32") == "TensorFlow fp32"
    assert software_label("litert", "int8") == "LiteRT int8"


def test_runtimes_missing_here_name_what_to_install(tmp_path) -> None:
    """This machine has no TensorRT and no Edge TPU: each says what the board needs."""
    from backends.runtimes import load

    model = tmp_path / "model.bin"
    model.write_bytes(b"\0")
    with pytest.raises(BadInput, match=r"TensorRT is not available here .*python3-libnvinfer"):
        load("tensorrt", model)
    with pytest.raises(BadInput, match=r"Edge TPU delegate did not load .*libedgetpu1-std"):
        load("edgetpu", model)


def test_what_a_board_can_run_follows_its_runtimes() -> None:
    from backends.formats import runnable

    assert runnable(["litert", "onnxruntime"]) == ["onnx fp32/int8", "tflite fp32/fp16/int8"]
    assert runnable(["tensorrt", "edgetpu", "unknown"]) == [
        "tensorrt fp32/fp16/int8",
        "edgetpu int8",
    ]
