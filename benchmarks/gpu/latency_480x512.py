"""GPU latency at the original mllib's input size (480x512, full-width UNet), next to the
original's RTX 6000 figures (TensorFlow fp32 76.956 ms, TensorRT fp16 8.323 ms).

    python3 -m benchmarks.gpu.latency_480x512 [--onnx model.onnx] [--seconds 3]

On a machine with an NVIDIA GPU it reports what it finds, in this order, and says which of
mllib's own parts each step exercised:

1. the GPU as mllib's probe reads it from the CUDA driver (``backends.tensorrt.gpu``);
2. mllib's device buffers (``backends.tensorrt.cuda``) round-tripping data with every CUDA
   binding present (cuda-python, PyCUDA, CuPy);
3. latency, fp32 and fp16, batch 1, of every GPU runtime present: TensorRT through mllib's own
   engine builder and runtime adapter; trtexec (its summary read by mllib's parser); ONNX
   Runtime's CUDA provider; PyTorch CUDA running the same ONNX file (``onnx_torch``).
   Each is checked against ONNX Runtime on the CPU (class agreement per pixel).

Latency is host to host (uint8 image in host memory, probabilities back in host memory), as
mllib's inference-only figure; the "on-device" rows keep input and output in GPU memory.
The weights are untrained: latency does not depend on them.
Without ``--onnx`` the model is built here with TensorFlow (the workstation venv).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ORIGINAL_MS = {"fp32": 76.956, "fp16": 8.323}  # RTX 6000: TensorFlow fp32, TensorRT fp16
ORIGINAL_LABEL = {"fp32": "TF fp32", "fp16": "TRT fp16"}
SIZE = (480, 512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onnx", type=Path, help="the UNet as ONNX (default: build it here)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    onnx_path = args.onnx or _build_onnx()
    image = np.random.default_rng(1).integers(0, 256, (1, *SIZE, 3), np.uint8)

    print("== 1. the GPU, as mllib's probe reads it (CUDA driver through ctypes)")
    from backends.tensorrt.gpu import query

    print(f"   {query()}")
    print("== 2. mllib's device buffers, one round trip per CUDA binding")
    _check_buffers()
    print("== 3. latency, batch 1, 480x512, host to host")
    reference = _reference(onnx_path, image)
    rows: list[Row] = []
    for label, precision, measure in _candidates(onnx_path, image, reference, args):
        try:
            p50, p90, agreement = measure()
        except Exception as exc:  # one runtime failing must not hide the others
            print(f"   {label} {precision}: not measured ({type(exc).__name__}: {exc})"[:300])
            continue
        rows.append((label, precision, p50, p90, agreement))
        print(f"   {label} {precision}: p50 {p50:.3f} ms")
    _table(rows)


def _build_onnx() -> Path:
    from benchmarks.models import build

    return build(Path(tempfile.mkdtemp()), SIZE, 1.0)["onnx"]


def _check_buffers() -> None:
    from backends.tensorrt.cuda import CudaPython, CuPy, PyCuda

    data = np.random.default_rng(0).standard_normal((1, *SIZE, 3)).astype(np.float32)
    for binding in (CudaPython, PyCuda, CuPy):
        try:
            device = binding()
        except ImportError as exc:
            print(f"   {binding.name}: not installed ({exc.name})")
            continue
        back = np.zeros_like(data)
        device.free(device.alloc(data.nbytes))  # as the adapter does when batches grow
        pointer = device.alloc(data.nbytes)
        device.upload(pointer, data)
        device.download(back, pointer)
        device.synchronize()
        device.close()
        verdict = "identical" if np.array_equal(back, data) else "DIFFERENT"
        print(f"   {binding.name}: {data.nbytes / 1e6:.1f} MB up and back, {verdict}")


def _reference(onnx_path: Path, image: np.ndarray) -> np.ndarray:
    """Per-pixel classes from ONNX Runtime on the CPU: what every GPU row must agree with."""
    from backends.runtimes import infer, load

    return infer(load("onnxruntime", onnx_path), image).argmax(-1)


Row = tuple[str, str, float, float, "float | None"]  # label, precision, p50, p90, agreement
Measure = Callable[[], tuple[float, float, "float | None"]]


def _candidates(
    onnx_path: Path, image: np.ndarray, reference: np.ndarray, args: argparse.Namespace
) -> list[tuple[str, str, Measure]]:
    def timed(make: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> Measure:
        def measure() -> tuple[float, float, float | None]:
            call = make()
            agreement = float((call(image).argmax(-1) == reference).mean())
            p50, p90 = _time(lambda: call(image), args.runs, args.seconds)
            return p50, p90, agreement

        return measure

    found: list[tuple[str, str, Measure]] = []
    for p in ("fp32", "fp16"):
        found.append(("TensorRT (mllib)", p, timed(lambda p=p: _tensorrt(onnx_path, p))))
    for p in ("fp32", "fp16"):
        found.append(("trtexec", p, lambda p=p: _trtexec(onnx_path, p)))
    found.append(("ONNX Runtime CUDA", "fp32", timed(lambda: _ort_cuda(onnx_path))))
    for p in ("fp32", "fp16"):
        found.append(("PyTorch CUDA", p, timed(lambda p=p: _torch(onnx_path, p))))
    for p in ("fp32", "fp16"):
        found.append(("PyTorch on-device", p, lambda p=p: _torch_on_device(onnx_path, p, args)))
    return found


def _tensorrt(onnx_path: Path, precision: str) -> Callable[[np.ndarray], np.ndarray]:
    from backends.runtimes import infer, load
    from backends.tensorrt.build import build_engine

    engine = onnx_path.with_name(f"model-{precision}.engine")
    build_engine(onnx_path, engine, precision, workspace_mb=4096, max_batch=1)
    runtime = load("tensorrt", engine)
    return lambda images: infer(runtime, images)


def _trtexec(onnx_path: Path, precision: str) -> tuple[float, float, None]:
    """trtexec times itself (GPU compute plus copies); mllib's parser reads its summary."""
    from backends.tensorrt.trtexec import command, find, parse

    program = find()
    if program is None:
        raise RuntimeError("trtexec is not installed")
    engine = onnx_path.with_name(f"trtexec-{precision}.engine")
    argv = command(program, onnx_path, engine, precision, workspace_mb=4096, shape=(1, *SIZE, 3))
    report = parse(subprocess.run(argv, capture_output=True, text=True, check=False).stdout)
    if report.error or "median" not in report.latency_ms:
        raise RuntimeError(report.error or "no performance summary in its output")
    return report.latency_ms["median"], report.latency_ms.get("p90", float("nan")), None


def _ort_cuda(onnx_path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise RuntimeError(
            f"this onnxruntime has no CUDA provider ({ort.get_available_providers()})"
        )
    session = ort.InferenceSession(str(onnx_path), providers=["CUDAExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: session.run(None, {name: images.astype(np.float32)})[0]


def _torch(onnx_path: Path, precision: str) -> Callable[[np.ndarray], np.ndarray]:
    import onnx
    import torch

    from benchmarks.gpu.onnx_torch import compile_onnx

    if not torch.cuda.is_available():
        raise RuntimeError("torch sees no CUDA device")
    torch.backends.cudnn.benchmark = True  # pick the fastest kernels, as TensorRT's tactics do
    torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32, not TF32
    torch.backends.cuda.matmul.allow_tf32 = False
    dtype = torch.float16 if precision == "fp16" else torch.float32
    model = compile_onnx(onnx.load(str(onnx_path)), "cuda", dtype)

    @torch.inference_mode()
    def call(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(images).to("cuda").to(dtype)
        return model(x).float().cpu().numpy()

    return call


def _torch_on_device(
    onnx_path: Path, precision: str, args: argparse.Namespace
) -> tuple[float, float, None]:
    """The same model with input and output left in GPU memory: GPU time, as trtexec's
    "GPU Compute Time", so the copies' share of the host-to-host figure shows."""
    import onnx
    import torch

    from benchmarks.gpu.onnx_torch import compile_onnx

    dtype = torch.float16 if precision == "fp16" else torch.float32
    model = compile_onnx(onnx.load(str(onnx_path)), "cuda", dtype)
    x = torch.from_numpy(np.zeros((1, *SIZE, 3), np.float32) + 128).to("cuda", dtype)

    @torch.inference_mode()
    def call() -> None:
        model(x)
        torch.cuda.synchronize()

    p50, p90 = _time(call, args.runs, args.seconds)
    return p50, p90, None


def _time(call: Callable[[], object], runs: int, seconds: float) -> tuple[float, float]:
    for _ in range(5):
        call()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < runs or time.perf_counter() - start < seconds:
        begin = time.perf_counter()
        call()
        samples.append((time.perf_counter() - begin) * 1000)
    p50, p90 = np.percentile(samples, [50, 90])
    return float(p50), float(p90)


def _table(rows: list[Row]) -> None:
    print()
    print(f"{'software':<24} {'p50 ms':>8} {'p90 ms':>8} {'agree':>8}  vs original RTX 6000")
    for label, precision, p50, p90, agreement in rows:
        base = ORIGINAL_MS[precision]
        agree = "n/a" if agreement is None else f"{agreement:.5f}"
        print(
            f"{label + ' ' + precision:<24} {p50:8.3f} {p90:8.3f} {agree:>8}  "
            f"{base / p50:5.2f}x faster than {ORIGINAL_LABEL[precision]} {base} ms"
        )
    if not rows:
        print("no GPU runtime could run here")
    print("original mllib, RTX 6000: TensorFlow fp32 76.956 ms, TensorRT fp16 8.323 ms")


if __name__ == "__main__":
    main()
