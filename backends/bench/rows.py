"""Benchmark results as types: ``BenchmarkRow`` (one artifact on one runtime on one machine) and
``BenchmarkRun`` (a run's rows with what they were measured on and the gates they met).

Rows travel as JSON at the edges (events, the agent, reports, the catalog) in one flat layout,
the one the original mllib's tests.json had grown into: identity and figures side by side
(``{"software": "LiteRT int8", "miou": 0.84, "latency": {...}, ...}``). ``to_json`` and
``from_json`` are the only places that know it; everything in between reads typed fields.
A row from a board is outside input: ``from_json`` takes only fields of the right type.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.bench.protocol import HISTOGRAM_BINS, Latency
from backends.errors import GateFailed, Interrupted, StageFailed
from backends.tasks import TASKS

# The figures a task reports (ConfusionMatrix.summary), by their keys in a row. Per-class
# precision is ``class_precision`` in a row: ``precision`` is the model's (fp32, int8).
FIGURES = frozenset(
    {key for task in TASKS.values() for key, _ in task.metrics}
    | {task.per_class[0] for task in TASKS.values()}
    | {"confusion", "pixels", "class_precision"}
)


@dataclass(frozen=True)
class BenchmarkRow:
    name: str
    task: str
    software: str  # "LiteRT int8": the original table's Software column
    runtime: str
    precision: str
    format: str
    artifact: int
    size_bytes: int
    hardware: str  # the Hardware column; it names the board for board rows
    machine: Mapping[str, Any]
    status: str = "ok"  # ok, failed, interrupted
    date: float = field(default_factory=time.time)
    board: str | None = None
    error: str | None = None
    fidelity: Mapping[str, Any] | None = None  # the artifact's check against the Keras model
    runtime_version: str | None = None
    threads: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    images: int | None = None
    batch_size: int | None = None
    classes: tuple[str, ...] = ()
    latency: Latency | None = None  # inference only
    end_to_end: Latency | None = None  # uint8 in, classes out
    figures: Mapping[str, Any] = field(default_factory=dict)  # the task's, by FIGURES key
    delta: float | None = None  # of the task's headline metric against TensorFlow fp32
    extra: Mapping[str, Any] = field(default_factory=dict)  # what else was reported

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric(self, key: str) -> Any:
        """A figure by its row key (``miou``, ``accuracy``, ``iou``...), None when absent."""
        return self.figures.get(key)

    @property
    def confusion(self) -> list[list[int]] | None:
        return self.figures.get("confusion")

    @property
    def variant(self) -> str | None:
        """The sweep variant the row's model was trained as (``width=0.25``), if any."""
        value = self.extra.get("variant")
        return value if isinstance(value, str) else None

    @property
    def label(self) -> str:
        """The Software column: the runtime and precision, and the sweep variant if any."""
        return f"{self.software} ({self.variant})" if self.variant else self.software

    @property
    def headline(self) -> float | None:
        """The task's headline figure (mIoU, top-1): what deltas and gates compare."""
        return self.metric(TASKS[self.task].primary)

    def measured(self, data: Mapping[str, Any]) -> BenchmarkRow:
        """This row with a measurement (``protocol.measure``'s, or an agent's JSON)."""
        return _merge(self, data)

    def failed(self, status: str, error: str) -> BenchmarkRow:
        return dataclasses.replace(self, status=status, error=error.splitlines()[0][:300])

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("figures", "extra", "latency", "end_to_end", "classes")
        }
        data = {k: v for k, v in data.items() if v is not None}  # a failed row has no figures
        data["options"], data["machine"] = dict(self.options), dict(self.machine)
        if self.classes:
            data["classes"] = list(self.classes)
        for key in ("latency", "end_to_end"):
            value = getattr(self, key)
            if value is not None:
                data[key] = dataclasses.asdict(value)
        return {**data, **self.figures, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BenchmarkRow:
        """A row from its JSON (the catalog, a report); rows stored before per-class precision
        was renamed carry it as ``precision``, and say theirs in ``software``."""
        data = dict(data)
        if isinstance(data.get("precision"), dict):
            data["class_precision"] = data.pop("precision")
            data["precision"] = str(data.get("software", "fp32")).rsplit(" ", 1)[-1]
        header = {name: data.pop(name) for name in _IDENTITY}
        return cls(**header).measured(data)


# What every row has, a failed one too; everything else a measurement adds.
_IDENTITY = ("name", "task", "software", "runtime", "precision", "format", "artifact",
             "size_bytes", "hardware", "machine")  # fmt: skip


def _merge(row: BenchmarkRow, data: Mapping[str, Any]) -> BenchmarkRow:
    data = dict(data)
    if isinstance(data.get("precision"), dict):  # ConfusionMatrix.summary's per-class precision
        data["class_precision"] = data.pop("precision")
    fields = {f.name for f in dataclasses.fields(row)} - {"figures", "extra"}
    header = {k: data.pop(k) for k in list(data) if k in fields}
    for key in ("latency", "end_to_end"):
        if key in header:
            header[key] = _latency(header[key])
    if "classes" in header:
        header["classes"] = tuple(header["classes"])
    figures = {k: data.pop(k) for k in list(data) if k in FIGURES}
    return dataclasses.replace(
        row,
        **header,
        figures={**row.figures, **figures},
        extra={**row.extra, **data},
    )


def _latency(value: Any) -> Latency | None:
    if isinstance(value, Latency) or value is None:
        return value
    fields = {f.name: value[f.name] for f in dataclasses.fields(Latency) if f.name != "histogram"}
    counts = value.get("histogram")
    valid = (
        isinstance(counts, list | tuple)
        and len(counts) == HISTOGRAM_BINS
        and all(type(n) is int and n >= 0 for n in counts)
    )
    histogram = tuple(counts) if valid else ()
    return Latency(**fields, histogram=histogram)


@dataclass(frozen=True)
class BenchmarkRun:
    """A run's rows, what they were measured on, and the gates they met or missed."""

    run_id: str
    dataset: str  # NAME@VERSION
    model: int  # the artifact the rows descend from
    classes: tuple[str, ...]
    rows: tuple[BenchmarkRow, ...]
    config: Mapping[str, Any] = field(default_factory=dict)  # the settings, for the report
    gate_failures: tuple[str, ...] = ()
    ladder: tuple[Mapping[str, Any], ...] = ()
    report_dir: Path | None = None

    @property
    def failed_rows(self) -> list[BenchmarkRow]:
        return [row for row in self.rows if not row.ok]

    def raise_for_outcome(self) -> None:
        """``Interrupted`` if rows were cut short, ``GateFailed`` if a gate missed, else
        ``StageFailed`` if a benchmark row failed."""
        cut = [r for r in self.rows if r.status == "interrupted"]
        if cut:
            raise Interrupted(
                f"run {self.run_id} was interrupted ({cut[0].error}); {len(cut)} of "
                f"{len(self.rows)} rows are missing, the rest are kept: run the same command "
                f"with --retry {self.run_id} to finish it"
            )
        if self.gate_failures:
            raise GateFailed("; ".join(self.gate_failures))
        if self.failed_rows:
            reasons = "; ".join(f"{r.software}: {r.error}" for r in self.failed_rows)
            raise StageFailed(
                f"{len(self.failed_rows)} of {len(self.rows)} benchmark rows failed ({reasons}); "
                f"the report is in {self.report_dir}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dataset": self.dataset,
            "model": self.model,
            "classes": list(self.classes),
            "pipeline": dict(self.config),
            "gate_failures": list(self.gate_failures),
            "ladder": [dict(rung) for rung in self.ladder],
            "rows": [row.to_json() for row in self.rows],
        }
