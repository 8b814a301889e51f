"""TensorRT engines and the Edge TPU: everything of ours, tested for real.

Fingerprints, calibration batching and cache reuse, the memory preflight (the trtexec and
edgetpu_compiler parsers: test_tool_output.py). Where TensorRT, CUDA or a TPU would
answer, the stand-ins in tests/standins answer instead: those tests check mllib's own control
flow (which API, which buffers, which order), never TensorRT. benchmarks/gpu/ runs on real GPUs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from backends.errors import BadInput
from backends.tensorrt import preflight
from backends.tensorrt.calibration import batches, load_images
from backends.tensorrt.fingerprint import Fingerprint, board_identity, check, mismatches

STANDINS = Path(__file__).parent / "standins"
ORIN = {
    "gpu": "Orin",
    "compute_capability": "8.7",
    "tensorrt": "8.5.2.2",
    "l4t": "R35, REVISION: 4.1",
}


def fingerprint(**changes: str | None) -> Fingerprint:
    fields = {**ORIN, "precision": "fp16", "onnx_sha256": "a" * 64, "calibration_sha256": None}
    return Fingerprint(**{**fields, **changes})


# -- fingerprints ---------------------------------------------------------------------------


def test_every_field_of_a_fingerprint_changes_its_key() -> None:
    base = fingerprint()
    assert base.key == fingerprint().key
    changed = {
        "gpu": "Xavier",
        "compute_capability": "7.2",
        "tensorrt": "8.5.2.1",
        "l4t": "R36, REVISION: 3.0",
        "precision": "int8",
        "onnx_sha256": "b" * 64,
        "calibration_sha256": "c" * 64,
    }
    keys = {fingerprint(**{name: value}).key for name, value in changed.items()}
    assert len(keys) == len(changed) and base.key not in keys
    assert Fingerprint.from_dict({**base.as_dict(), "extra": 1}) == base


def test_an_engine_from_another_board_is_refused_naming_each_difference() -> None:
    engine = fingerprint()
    assert mismatches(engine, ORIN) == []
    check(engine, ORIN, "board jetson")  # same board: accepted
    xavier = {**ORIN, "gpu": "Xavier", "compute_capability": "7.2", "tensorrt": "8.4.1"}
    assert mismatches(engine, xavier) == [
        "gpu Orin (engine) vs Xavier",
        "compute capability 8.7 (engine) vs 7.2",
        "tensorrt 8.5.2.2 (engine) vs 8.4.1",
    ]
    with pytest.raises(BadInput, match=r"board xavier: refusing a TensorRT engine .*8\.4\.1"):
        check(engine, xavier, "board xavier")


def test_board_identity_comes_from_the_probe_and_names_what_is_missing() -> None:
    cuda = {"gpus": [{"name": "Orin", "compute_capability": "8.7"}]}
    probe = {
        "accelerators": {"cuda": cuda, "l4t": "R35, REVISION: 4.1"},
        "tensorrt": {"version": "8.5.2.2", "python": True, "trtexec": None},
    }
    assert board_identity(probe, "jetson") == ORIN
    with pytest.raises(
        BadInput, match="board pi has no TensorRT: install JetPack's python3-libnvinfer"
    ):
        board_identity({"accelerators": {}, "tensorrt": None}, "pi")
    with pytest.raises(BadInput, match="board x has TensorRT 8.5.2.2 but no CUDA GPU answers"):
        board_identity({**probe, "accelerators": {}}, "x")


# -- calibration and preflight ---------------------------------------------------------------


def test_calibration_batches_are_full_float32_batches_in_order() -> None:
    images = np.arange(10 * 2 * 2 * 3, dtype=np.uint8).reshape(10, 2, 2, 3)
    got = list(batches(images, 4))
    assert [b.shape for b in got] == [(4, 2, 2, 3), (4, 2, 2, 3)]  # the short tail is left out
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in got)
    np.testing.assert_array_equal(np.concatenate(got), images[:8].astype(np.float32))


def test_a_bad_calibration_shard_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "shard.npy"
    np.save(path, np.zeros((3, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"shard\.npy: a calibration shard is uint8 images"):
        load_images(path)


def test_preflight_says_what_to_do_when_memory_is_short() -> None:
    needed = preflight.needed_mb(100 << 20, 1024)
    assert needed == 1024 + 300 + preflight.OVERHEAD_MB
    jetson = {"memory_available_mb": 1200, "swap_free_mb": 0, "gpu": {"integrated": True}}
    with pytest.raises(
        BadInput, match=r"needs about 1836 MB but 1200 MB memory \+ 0 MB swap.*swap"
    ):
        preflight.check(needed, jetson, 1024, "board nano")
    preflight.check(needed, {**jetson, "swap_free_mb": 4096}, 1024, "board nano")  # swap helps
    desktop = {"memory_available_mb": 64000, "gpu": {"integrated": False, "free_mb": 900}}
    with pytest.raises(BadInput, match=r"900 MB GPU memory is free.*--workspace-mb \(now 1024\)"):
        preflight.check(needed, desktop, 1024, "board rtx")


# -- stand-ins: our builder, calibrator and adapter against TensorRT's API ------------------


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch):
    """The stand-in ``tensorrt`` (of a given version) and ``cuda`` modules, importable."""

    def forget() -> None:
        for name in [m for m in sys.modules if m.split(".")[0] in ("tensorrt", "cuda")]:
            del sys.modules[name]

    def load(version: str = "10.3.0"):
        monkeypatch.setenv("STANDIN_TENSORRT", version)
        monkeypatch.syspath_prepend(str(STANDINS))
        forget()
        import tensorrt

        from backends.tensorrt.cuda import CudaPython

        return tensorrt, CudaPython()

    yield load
    forget()  # no stand-in stays importable after the test


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """A 1x1 convolution and a softmax over 4 classes, NHWC in and out, like mllib's models."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((4, 3, 1, 1)).astype(np.float32) / 50
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["nchw", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["soft"], axis=1),
            helper.make_node("Transpose", ["soft"], ["probs"], perm=[0, 2, 3, 1]),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 8, 8, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 8, 8, 4])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


def test_int8_calibrates_once_and_then_reuses_its_cache(standin, tiny_onnx, tmp_path) -> None:
    from backends.tensorrt.build import build_engine

    trt, device = standin()
    images = np.random.default_rng(1).integers(0, 256, (20, 8, 8, 3), np.uint8)
    shard = tmp_path / "calibration.npy"
    np.save(shard, images)
    cache = tmp_path / "calibration.cache"
    options = {"calibration": shard, "calibration_cache": cache, "trt": trt, "device": device}
    first = build_engine(tiny_onnx, tmp_path / "a.engine", "int8", max_batch=8, **options)
    assert first["calibrated_batches"] == 2  # 20 images in full batches of 8
    assert cache.exists() and not cache.with_name(cache.name + ".tmp").exists()
    made = cache.read_bytes()
    again = build_engine(tiny_onnx, tmp_path / "b.engine", "int8", max_batch=8, **options)
    assert again["calibrated_batches"] == 0  # TensorRT read the cache: no batch was asked for
    assert cache.read_bytes() == made
    # the cache is derived from the bytes the calibrator uploaded: other images, other cache
    np.save(shard, images[::-1])
    cache.unlink()
    build_engine(tiny_onnx, tmp_path / "c.engine", "int8", max_batch=8, **options)
    assert cache.read_bytes() != made


def test_int8_without_images_or_cache_is_refused(standin, tiny_onnx, tmp_path) -> None:
    from backends.tensorrt.build import build_engine

    trt, device = standin()
    with pytest.raises(BadInput, match="int8 needs calibration images"):
        build_engine(
            tiny_onnx,
            tmp_path / "a.engine",
            "int8",
            calibration_cache=tmp_path / "none.cache",
            trt=trt,
            device=device,
        )


@pytest.mark.parametrize(
    ("version", "api"), [("10.3.0", "execute_async_v3"), ("8.4.1", "execute_async_v2")]
)
def test_the_adapter_feeds_and_reads_device_buffers(
    standin, tiny_onnx, tmp_path, version, api
) -> None:
    """TensorRT 10 (tensor addresses) and 8.4 (bindings): the stand-in engine runs the ONNX
    model, so whatever crosses mllib's buffers must equal ONNX Runtime on the same images."""
    from backends.runtimes import infer, load
    from backends.tensorrt.build import build_engine
    from backends.tensorrt.runtime import load as load_engine

    trt, device = standin(version)
    engine = tmp_path / "model.engine"
    build_engine(tiny_onnx, engine, "fp16", max_batch=8, trt=trt, device=device)
    runtime = load_engine(engine, trt=trt, device=device)
    assert runtime.options == {"device_buffers": "cuda-python", "api": api}
    assert runtime.input_size == (8, 8) and runtime.version == f"TensorRT {version}"
    reference = load("onnxruntime", tiny_onnx)
    images = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 3), np.uint8)
    for batch in (1, 3, 2, 5):  # buffers grow as batches grow, the smaller ones freed
        np.testing.assert_allclose(
            infer(runtime, images[:batch]), infer(reference, images[:batch]), atol=1e-6
        )
    assert len(device._pointers) == 2  # one input and one output buffer, nothing leaked


def test_an_engine_of_another_tensorrt_is_refused_before_loading(
    standin, tiny_onnx, tmp_path, monkeypatch
) -> None:
    from backends.tensorrt import runtime as adapter
    from backends.tensorrt.build import build_engine

    trt, device = standin("10.3.0")
    engine = tmp_path / "model.engine"
    build_engine(tiny_onnx, engine, "fp16", trt=trt, device=device)
    built = fingerprint(tensorrt="10.3.0", l4t=None)
    here = {**ORIN, "tensorrt": "10.3.0", "l4t": None}
    monkeypatch.setattr(adapter, "live_identity", lambda _trt: here)
    adapter.load(engine, fingerprint=built.as_dict(), trt=trt, device=device)  # matches
    monkeypatch.setattr(adapter, "live_identity", lambda _trt: {**here, "tensorrt": "10.4.0"})
    with pytest.raises(
        BadInput, match=r"model\.engine: refusing .*10\.3\.0 \(engine\) vs 10\.4\.0"
    ):
        adapter.load(engine, fingerprint=built.as_dict(), trt=trt, device=device)


def test_without_a_cuda_binding_the_board_is_told_what_to_install() -> None:
    from backends.tensorrt.cuda import open_device

    with pytest.raises(BadInput, match="install one of cuda-python .*PyCUDA .*CuPy"):
        open_device()


# -- the Edge TPU adapter --------------------------------------------------------------------


def test_google_pycoral_is_used_and_pypi_pycoral_is_passed_over(monkeypatch, tmp_path) -> None:
    """A stand-in of Google's PyCoral (pycoral.utils.edgetpu) is asked for the delegate, with
    the device; PyPI's unrelated ``pycoral`` (no utils.edgetpu) falls through to LiteRT's own
    load_delegate, which finds no libedgetpu here."""
    import types

    from backends.runtimes import edgetpu

    asked: list[dict] = []

    def load_edgetpu_delegate(options: dict) -> None:
        asked.append(options)
        raise ValueError("Failed to load delegate from libedgetpu.so.1")

    google = types.ModuleType("pycoral")
    google.utils = types.ModuleType("pycoral.utils")
    google.utils.edgetpu = types.SimpleNamespace(load_edgetpu_delegate=load_edgetpu_delegate)
    monkeypatch.setitem(sys.modules, "pycoral", google)
    monkeypatch.setitem(sys.modules, "pycoral.utils", google.utils)
    monkeypatch.setitem(sys.modules, "pycoral.utils.edgetpu", google.utils.edgetpu)
    with pytest.raises(BadInput, match=r"Failed to load delegate .*libedgetpu1-std"):
        edgetpu.delegate("usb")
    assert asked == [{"device": "usb"}]

    pypi = types.ModuleType("pycoral")  # the geospatial CLI of the same name
    monkeypatch.setitem(sys.modules, "pycoral", pypi)
    monkeypatch.delitem(sys.modules, "pycoral.utils")
    monkeypatch.delitem(sys.modules, "pycoral.utils.edgetpu")
    with pytest.raises(BadInput, match=r"Edge TPU delegate did not load .*libedgetpu1-std"):
        edgetpu.delegate()
    assert asked == [{"device": "usb"}]  # not asked again


def test_a_board_screen_benchmarks_only_what_the_board_can_run() -> None:
    from backends.catalog import ArtifactRecord
    from mllib_tui.state import Snapshot

    def artifact(id_: int, kind: str, **meta: object) -> ArtifactRecord:
        return ArtifactRecord(id_, kind, f"a/{id_}", "0" * 64, 1, None, None, 1, meta, 0.0)

    probe = {
        "runtimes": ["litert", "tensorrt"],
        "accelerators": {
            "cuda": {"gpus": [{"name": "Orin", "compute_capability": "8.7"}]},
            "l4t": ORIN["l4t"],
        },
        "tensorrt": {"version": ORIN["tensorrt"], "python": True, "trtexec": None},
    }
    mine = artifact(1, "tensorrt", fingerprint=fingerprint().as_dict())
    other = artifact(2, "tensorrt", fingerprint=fingerprint(tensorrt="10.3.0").as_dict())
    tflite, tpu = artifact(3, "tflite"), artifact(4, "edgetpu")
    snap = Snapshot(probes={"jetson": probe, "pi": {"runtimes": ["litert"], "tensorrt": None}})
    assert snap.runnable_on("jetson", [mine, other, tflite, tpu]) == [mine, tflite]
    assert snap.runnable_on("pi", [mine, other, tflite, tpu]) == [tflite]
    assert snap.runnable_on("never-probed", [mine, tflite]) == [tflite]
