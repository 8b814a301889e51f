import pytest

from backends.conversion import parse_target
from backends.errors import BadInput
from backends.formats import FORMATS, RUNTIMES, Precision, check_precision, software_label


def test_the_table_is_consistent() -> None:
    for fmt in FORMATS.values():
        assert fmt.source is None or fmt.source in FORMATS
        assert set(fmt.runtimes) <= set(RUNTIMES)
        assert fmt.precisions and all(isinstance(p, Precision) for p in fmt.precisions)
    # what the workstation builds vs what only a target can build
    assert FORMATS["tensorrt"].built_on == "target"
    assert {f.name for f in FORMATS.values() if f.converter} == {"onnx", "tflite"}


def test_targets_parse_and_bad_ones_say_what_is_allowed() -> None:
    fmt, precision = parse_target("tflite:int8")
    assert fmt.name == "tflite" and precision is Precision.INT8
    assert parse_target("onnx")[1] is Precision.FP32
    with pytest.raises(BadInput, match="format onnx does not support precision 'int8'"):
        parse_target("onnx:int8")
    with pytest.raises(BadInput, match="unknown format 'pt'"):
        parse_target("pt:fp32")
    with pytest.raises(BadInput, match="tensorrt cannot be converted on this workstation"):
        parse_target("tensorrt:fp16")
    with pytest.raises(BadInput, match="supports fp32, fp16, int8"):
        check_precision(FORMATS["tflite"], "int4")


def test_software_labels_match_the_original_table() -> None:
    assert software_label("tensorflow", "fp32") == "TensorFlow fp32"
    assert software_label("litert", "int8") == "LiteRT int8"


@pytest.mark.parametrize("runtime", ["tensorrt", "edgetpu"])
def test_a_runtime_without_an_adapter_says_so(runtime: str, tmp_path) -> None:
    """Not 'install python3-libnvinfer' on a Jetson that has it: the missing part is ours."""
    from backends.runtimes import load

    model = tmp_path / "model.bin"
    model.write_bytes(b"\0")
    with pytest.raises(BadInput, match=r"mllib has no (TensorRT|Edge TPU) adapter yet.*model\.bin"):
        load(runtime, model)


def test_what_a_board_can_run_counts_only_runtimes_with_an_adapter() -> None:
    from backends.formats import runnable

    assert runnable(["litert", "onnxruntime"]) == ["onnx fp32", "tflite fp32/fp16/int8"]
    assert runnable(["tensorrt", "edgetpu", "unknown"]) == []  # no adapter yet: nothing claimed
