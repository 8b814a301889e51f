"""int8 TFLite -> Edge TPU with Coral's ``edgetpu_compiler``, where it is installed.

The compiler maps what it can to the TPU and leaves the rest to the CPU, which can cost more
than the TPU saves; its log says how many operations went where, and that split is kept with
the artifact and shown. Only fully-integer models compile (the int8 TFLite is the source).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backends.errors import BadInput, StageFailed
from backends.formats import Precision

INSTALL = (
    "edgetpu_compiler is not installed on this workstation (x86-64 Debian/Ubuntu only): add "
    "Coral's apt repository (https://coral.ai/docs/edgetpu/compiler/) and `apt install "
    "edgetpu-compiler`; the boards need libedgetpu1-std and PyCoral (or tflite_runtime)"
)


_COUNTS = {  # log line -> report field
    "Total number of operations": "total_ops",
    "Number of operations that will run on Edge TPU": "tpu_ops",
    "Number of operations that will run on CPU": "cpu_ops",
    "Number of Edge TPU subgraphs": "subgraphs",
}
_MEMORY = {
    "On-chip memory used for caching model parameters": "on_chip_mib",
    "Off-chip memory used for streaming uncached model parameters": "off_chip_mib",
}


@dataclass
class CompilerReport:
    version: str | None = None
    compiled: bool = False
    error: str | None = None
    total_ops: int | None = None
    tpu_ops: int | None = None
    cpu_ops: int | None = None
    subgraphs: int | None = None
    on_chip_mib: float | None = None
    off_chip_mib: float | None = None
    operators: list[dict[str, Any]] = field(default_factory=list)  # operator, count, status

    def summary(self) -> str:
        """``78 of 84 operations on the Edge TPU, 6 on the CPU``."""
        if not self.compiled:
            return f"not compiled: {self.error}"
        cpu = [o for o in self.operators if not o["status"].startswith("Mapped to Edge TPU")]
        why = "; ".join(f"{o['operator']} x{o['count']}: {o['status']}" for o in cpu[:3])
        return (
            f"{self.tpu_ops} of {self.total_ops} operations on the Edge TPU, {self.cpu_ops} on "
            f"the CPU" + (f" ({why})" if why else "")
        )


def parse(text: str) -> CompilerReport:
    report = CompilerReport()
    in_table = False
    for line in (raw.strip() for raw in text.splitlines()):
        key, _, value = line.partition(":")
        if line.startswith("Edge TPU Compiler version"):
            report.version = line.rsplit(" ", 1)[-1]
        elif line.startswith("Model compiled successfully"):
            report.compiled = True
        elif line.startswith("Compilation failed:"):
            report.error = value.strip()
        elif line.startswith("Compilation failed!") and report.error is None:
            report.error = "compilation failed (the log gives no reason)"
        elif key in _COUNTS:
            setattr(report, _COUNTS[key], int(value))
        elif key in _MEMORY:
            setattr(report, _MEMORY[key], _mib(value))
        elif re.match(r"^Operator\s+Count\s+Status$", line):
            in_table = True
        elif in_table and (row := re.match(r"^([A-Z0-9_]+)\s+(\d+)\s+(.+)$", line)):
            report.operators.append(
                {"operator": row[1], "count": int(row[2]), "status": row[3].strip()}
            )
    if report.compiled and report.tpu_ops is None and report.total_ops is not None:
        # the compiler prints the split only when something stayed on the CPU
        report.tpu_ops, report.cpu_ops = report.total_ops, 0
    if not report.compiled and report.error is None:
        report.error = "no 'Model compiled successfully' in the compiler's output"
    return report


def _mib(text: str) -> float:
    number = re.match(r"\s*([\d.]+)\s*([KMG]?i?B)", text)
    if number is None:
        return 0.0
    scale = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}.get(number[2], 1.0)
    return round(float(number[1]) * scale, 3)


def convert(
    source: Path, out: Path, precision: Precision, options: Any, representative: Any = None
) -> dict[str, Any]:
    if precision is not Precision.INT8:
        raise BadInput("the Edge TPU runs int8 models only: convert edgetpu:int8")
    compiler = shutil.which("edgetpu_compiler")
    if compiler is None:
        raise BadInput(INSTALL)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [compiler, "-s", "-o", tmp, str(source)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        report = parse(done.stdout + done.stderr)
        compiled = Path(tmp) / f"{source.stem}_edgetpu.tflite"
        if done.returncode != 0 or not report.compiled or not compiled.exists():
            raise StageFailed(f"edgetpu_compiler could not compile {source.name}: {report.error}")
        shutil.move(str(compiled), out)
    return {
        "converter": f"edgetpu_compiler {report.version}",
        "edgetpu": {k: v for k, v in asdict(report).items() if k not in ("compiled", "error")},
        "edgetpu_summary": report.summary(),
    }
