"""The precision ladder: for one format, try int8 -> fp16 -> fp32 and keep the fastest rung that
passes its fidelity gate.

Every rung the format holds is converted and checked (so the report can show what each costs,
per class too); the rungs that pass are timed with the pipeline's benchmark protocol on this
machine, and the fastest is the one the pipeline benchmarks and deploys. Where no rung passes,
nothing is kept and the run says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backends.catalog import ArtifactRecord
from backends.events import Emit, Log
from backends.formats import Format, Precision
from backends.runtimes import LoadedModel

if TYPE_CHECKING:
    from backends.bench.stage import BenchStep
    from backends.convert.stage import ConvertStep

ORDER = (Precision.INT8, Precision.FP16, Precision.FP32)  # fastest first, where it is faithful


@dataclass(frozen=True)
class Rung:
    artifact: ArtifactRecord
    fidelity: dict[str, Any]
    p50_ms: float | None  # timed only when the rung passed its gate

    def summary(self, fmt: Format, chosen: bool) -> dict[str, Any]:
        return {
            "format": fmt.name,
            "precision": self.artifact.meta["precision"],
            "artifact": self.artifact.id,
            "passed": self.fidelity["passed"],
            "gate": self.fidelity["gate"],
            "metric": self.fidelity["metric"],
            "delta": self.fidelity["delta"],
            "delta_per_class": self.fidelity["delta_per_class"],
            "p50_ms": self.p50_ms,
            "chosen": chosen,
        }


def climb(
    ws: Any,
    model: ArtifactRecord,
    fmt: Format,
    step: ConvertStep,
    bench: BenchStep,
    emit: Emit,
    *,
    reference: LoadedModel,
    force: bool = False,
) -> tuple[ArtifactRecord | None, list[dict[str, Any]]]:
    """(the kept artifact or None, one summary per rung)."""
    from backends.bench.local import inference_p50
    from backends.convert.job import convert

    rungs = []
    for precision in (p for p in ORDER if p in fmt.precisions):
        result = convert(ws, model, fmt, precision, step, emit, reference=reference, force=force)
        dataset = ws.catalog.dataset_by_id(result.artifact.dataset_id)  # convert checked it
        p50 = (
            inference_p50(ws, result.artifact, fmt.runtimes[0], dataset, bench)
            if result.passed
            else None
        )
        rungs.append(Rung(result.artifact, result.fidelity, p50))
        f = result.fidelity
        emit(
            Log(
                stage="convert",
                level="info" if f["passed"] else "warning",
                message=f"ladder {fmt.name} {precision}: "
                + (f"passed, p50 {p50:.3f} ms" if p50 is not None else f"missed ({f['gate']})")
                + f", change {f['delta']:+.4f}",
            )
        )
    timed = [r for r in rungs if r.p50_ms is not None]
    chosen = min(timed, key=lambda r: r.p50_ms or 0.0) if timed else None
    if chosen is None:
        emit(
            Log(
                stage="convert",
                level="warning",
                message=f"ladder {fmt.name}: no precision passed its fidelity gate; none is kept",
            )
        )
    return (
        chosen.artifact if chosen else None,
        [r.summary(fmt, r is chosen) for r in rungs],
    )
