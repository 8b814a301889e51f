"""``trtexec``: the engine builder on boards that have TensorRT's tools but not its Python module.

``command`` builds the argument list (no shell: paths are never interpolated into a command
line); ``parse`` reads what trtexec prints: the TensorRT version, the device, and the
performance summary (TensorRT 8.2 and newer print one), or the error that stopped it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

JETPACK_TRTEXEC = "/usr/src/tensorrt/bin/trtexec"  # where JetPack installs it, off the PATH
_STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=?\s*([-+\d.eE]+)\s*ms")
_GENERIC = (
    "--- ",
    "Parsing model failed",
    "Failed to create engine",
    "Engine set up failed",
    "Engine could not be created",
)
_SUMMARY = {  # summary line label -> report field
    "Latency": "latency_ms",
    "GPU Compute Time": "gpu_compute_ms",
    "Enqueue Time": "enqueue_ms",
}


@dataclass
class Report:
    tensorrt: str | None = None
    device: str | None = None
    compute_capability: str | None = None
    throughput_qps: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)  # host: H2D + compute + D2H
    gpu_compute_ms: dict[str, float] = field(default_factory=dict)
    enqueue_ms: dict[str, float] = field(default_factory=dict)
    passed: bool | None = None  # the closing "&&&& PASSED" / "&&&& FAILED" line
    errors: list[str] = field(default_factory=list)  # [E] lines, continuation lines joined

    @property
    def error(self) -> str | None:
        """The most specific error: the first that is not one of trtexec's generic trailers."""
        specific = [e for e in self.errors if not any(g in e for g in _GENERIC)]
        if specific or self.errors:
            return (specific or self.errors)[0]
        return "trtexec failed (no [E] line in its output)" if self.passed is False else None


def find() -> str | None:
    found = shutil.which("trtexec")
    return found or (JETPACK_TRTEXEC if Path(JETPACK_TRTEXEC).exists() else None)


def command(
    program: str,
    onnx: str | Path,
    engine: str | Path,
    precision: str,
    workspace_mb: int,
    shape: tuple[int, ...] | None = None,
    calibration_cache: str | Path | None = None,
    input_name: str = "image",
) -> list[str]:
    """trtexec's arguments to build ``engine`` from ``onnx`` and time it.

    int8 needs a calibration cache: trtexec cannot calibrate from images, and without a cache
    it quantises with placeholder scales (fast and wrong), so that is refused here."""
    argv = [program, f"--onnx={onnx}", f"--saveEngine={engine}"]
    argv.append(f"--memPoolSize=workspace:{workspace_mb}M")
    if shape is not None:
        dims = "x".join(str(d) for d in shape)
        argv += [f"--{kind}Shapes={input_name}:{dims}" for kind in ("min", "opt", "max")]
    if precision == "fp16":
        argv.append("--fp16")
    elif precision == "int8":
        if calibration_cache is None:
            raise ValueError(
                "int8 with trtexec needs a calibration cache (trtexec cannot calibrate from "
                "images): build the int8 engine once on a board with TensorRT's Python module, "
                "or use fp16"
            )
        argv += ["--int8", "--fp16", f"--calib={calibration_cache}"]
    elif precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    return argv


def version_from_tag(tag: str) -> str:
    """``8601`` -> ``8.6.1``, ``100200`` -> ``10.2.0`` (trtexec's ``[TensorRT v8601]``)."""
    number = int(tag)
    if number >= 100000:  # 10.x: MMmmpp
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"  # 8.x: Mmpp


def parse(text: str) -> Report:
    report = Report()
    in_error = False
    for raw in text.splitlines():
        level = re.match(r"^\[[^\]]*\]\s*\[([A-Z])\]", raw.strip())  # "[date] [E] "
        line = raw.strip()[level.end() :].strip() if level else raw.strip()
        if level is None and in_error and line and not line.startswith("&&&&"):
            report.errors[-1] += " " + line  # a message continued on the next line
            continue
        in_error = bool(level and level.group(1) == "E")
        if in_error:
            report.errors.append(line)
            continue
        tag = re.search(r"\[TensorRT v(\d+)\]", raw)
        if tag and report.tensorrt is None:
            report.tensorrt = version_from_tag(tag.group(1))
        if line.startswith("TensorRT version:"):
            report.tensorrt = line.split(":", 1)[1].strip()  # exact, patch level included
        elif line.startswith("Selected Device:"):
            report.device = line.split(":", 1)[1].strip()
        elif line.startswith("Compute Capability:"):
            report.compute_capability = line.split(":", 1)[1].strip()
        elif line.startswith("Throughput:"):
            number = re.search(r"([\d.]+)\s*qps", line)
            report.throughput_qps = float(number.group(1)) if number else None
        elif raw.startswith("&&&& PASSED"):
            report.passed = True
        elif raw.startswith("&&&& FAILED"):
            report.passed = False
        for label, name in _SUMMARY.items():
            if line.startswith(label + ":"):
                getattr(report, name).update(_stats(line))
    return report


def _stats(line: str) -> dict[str, float]:
    stats = {}
    for name, percentile, value in _STAT.findall(line):
        key = f"p{float(percentile):g}" if percentile else name  # "90" -> p90, "99.9" -> p99.9
        stats[key] = float(value)
    return stats
