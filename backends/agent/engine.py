"""TensorRT engines built on the board that will run them: with TensorRT's Python module, else
with ``trtexec`` (which cannot calibrate int8 from images: it needs a calibration cache)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from backends import events as ev
from backends.agent.request import Request, emit


def engine(request: Request) -> int:
    """Build a TensorRT engine here from ``onnx`` to ``out``; a preflight first checks there is
    memory for the builder."""
    from backends.agent.probe import memory_state
    from backends.tensorrt import preflight
    from backends.tensorrt.fingerprint import identity_here
    from backends.tensorrt.gpu import query

    start = time.monotonic()
    onnx, precision = Path(request.text("onnx")), request.text("precision")
    workspace_mb = int(request.number("workspace_mb", 1024))
    calibration = request.text("calibration", None)
    cache_path = request.text("calibration_cache", None)
    emit(ev.StageStarted(stage="engine", title=f"TensorRT {precision} engine"))
    gpus = (query() or {}).get("gpus") or []
    state = {**memory_state(), "gpu": gpus[0] if gpus else None}
    needed = preflight.needed_mb(onnx.stat().st_size, workspace_mb)
    preflight.check(needed, state, workspace_mb, "")  # the workstation names the board
    out, cache = Path(request.text("out")), Path(cache_path) if cache_path else None
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        data = _with_trtexec(onnx, out, precision, workspace_mb, cache)
    else:
        from backends.tensorrt.build import build_engine

        data = build_engine(
            onnx,
            out,
            precision,
            workspace_mb=workspace_mb,
            max_batch=int(request.number("max_batch", 8)),
            calibration=Path(calibration) if calibration else None,
            calibration_cache=cache,
        )
        data["builder"] = "tensorrt-python"
    data.update(identity_here(data["tensorrt"]))
    data.update(
        sha256=_file_sha256(out),
        size=out.stat().st_size,
        calibration_sha256=_file_sha256(cache) if cache is not None and cache.exists() else None,
    )
    emit(ev.Result(stage="engine", name=str(out), data=data))
    emit(ev.StageFinished(stage="engine", status="done", seconds=time.monotonic() - start))
    return 0


def _with_trtexec(
    onnx: Path, out: Path, precision: str, workspace_mb: int, cache: Path | None
) -> dict:
    import subprocess

    from backends.errors import BadInput, StageFailed
    from backends.tensorrt import trtexec

    program = trtexec.find()
    if program is None:
        raise BadInput(
            "this board has no TensorRT: install JetPack's python3-libnvinfer (sudo apt install "
            "python3-libnvinfer), or put trtexec on the PATH"
        )
    if precision == "int8" and (cache is None or not cache.exists()):
        raise BadInput(
            "int8 here needs a calibration cache: this board has trtexec but not TensorRT's "
            "Python module, and trtexec cannot calibrate from images; install "
            "python3-libnvinfer, or build the int8 engine once where it is installed"
        )
    tmp = out.with_name(out.name + ".tmp")
    argv = trtexec.command(program, str(onnx), tmp, precision, workspace_mb, None, cache)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    report = trtexec.parse(done.stdout + done.stderr)
    if done.returncode != 0 or report.passed is False or not tmp.exists():
        raise StageFailed(f"trtexec failed: {report.error or done.stderr.strip()[-200:]}")
    tmp.replace(out)
    return {
        "builder": "trtexec",
        "tensorrt": report.tensorrt,
        "calibrated_batches": None,
        "calibration_cache": str(cache) if cache else None,
        "trtexec": {"latency_ms": report.latency_ms, "gpu_compute_ms": report.gpu_compute_ms},
    }


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
