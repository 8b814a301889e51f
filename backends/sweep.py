"""Sweeps (``[sweep]``): a grid over training settings. Each point is a variant of ``[train]``
that is trained, converted and benchmarked like the single model of a plain run (on Ray, the
variants' trainings run at once); the report ranks every variant's rows by the task's headline
figure against p50 latency and marks the Pareto front: the rows no other row beats on both.

    [sweep]
    width = [0.35, 0.5]
    learning_rate = [0.001, 0.003]
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends.config import parse
from backends.errors import BadInput
from backends.train.stage import TrainConfig

if TYPE_CHECKING:
    from backends.bench.rows import BenchmarkRow

MAX_VARIANTS = 64
PNG = "sweep.png"


@dataclass(frozen=True)
class Sweep:
    """Training settings and the values each takes: the grid is every combination."""

    grid: tuple[tuple[str, tuple[Any, ...]], ...]

    def variants(self, base: TrainConfig) -> list[tuple[str, TrainConfig]]:
        """(label, config) for every point of the grid, the first setting varying slowest."""
        names = [name for name, _ in self.grid]
        return [
            (
                " ".join(f"{n}={_show(v)}" for n, v in zip(names, values, strict=True)),
                dataclasses.replace(base, **dict(zip(names, values, strict=True))),
            )
            for values in itertools.product(*(values for _, values in self.grid))
        ]

    @classmethod
    def of(cls, **values: Sequence[Any]) -> Sweep:
        """``Sweep.of(width=[0.35, 0.5], learning_rate=[1e-3, 3e-3])``, checked as a
        pipeline file's ``[sweep]`` is."""
        return parse_sweep({k: list(v) for k, v in values.items()}, "Sweep.of")

    def to_json(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self.grid}


def parse_sweep(data: Any, source: str) -> Sweep:
    """``[sweep]``: each key a ``[train]`` setting, each value a non-empty list of what that
    setting may be (each checked as ``[train]`` checks it)."""
    if not isinstance(data, dict) or not data:
        raise BadInput(f"{source}: sweep must be a table of [train] settings, each with a list")
    allowed = [f.name for f in dataclasses.fields(TrainConfig)]
    grid = []
    for name, values in data.items():
        if name not in allowed:
            raise BadInput(
                f"{source}: unknown key 'sweep.{name}' (a sweep varies [train] settings: "
                f"{', '.join(allowed)})"
            )
        if not isinstance(values, list) or not values:
            raise BadInput(f"{source}: sweep.{name} must be a non-empty list, got {values!r}")
        checked = tuple(getattr(parse(TrainConfig, {name: v}, source, "sweep."), name)
                        for v in values)  # fmt: skip
        if len(set(checked)) != len(checked):
            raise BadInput(f"{source}: sweep.{name} lists a value twice: {values!r}")
        grid.append((name, checked))
    count = 1
    for _, values in grid:
        count *= len(values)
    if count > MAX_VARIANTS:
        raise BadInput(
            f"{source}: the sweep has {count} variants, more than {MAX_VARIANTS}: list fewer values"
        )
    return Sweep(tuple(grid))


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value).lower()


@dataclass(frozen=True)
class Ranked:
    row: BenchmarkRow
    p50_ms: float
    headline: float  # the task's headline figure: mIoU, top-1
    front: bool  # on the Pareto front: no other row is as fast and as good, and better in one


def rank(rows: Sequence[BenchmarkRow]) -> list[Ranked]:
    """The measured rows, the Pareto front (fastest first) then the rest (best first)."""
    points = [
        (row, row.latency.p50_ms, row.headline)
        for row in rows
        if row.ok and row.latency is not None and row.headline is not None
    ]
    ranked = [
        Ranked(row, p50, good, front=not any(
            p <= p50 and g >= good and (p, g) != (p50, good) for _, p, g in points
        ))
        for row, p50, good in points
    ]  # fmt: skip
    front = sorted((r for r in ranked if r.front), key=lambda r: r.p50_ms)
    return front + sorted((r for r in ranked if not r.front), key=lambda r: -r.headline)


def markdown(ranked: Sequence[Ranked], headline: str) -> list[str]:
    """The report's sweep section: the ranking table and the picture."""
    head = ["Rank", "Variant", "Software", "Hardware", headline, "p50 (ms)", "Pareto front"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, r in enumerate(ranked, 1):
        cells = [str(i), r.row.variant or "-", r.row.software, r.row.hardware,
                 f"{r.headline:.4f}", f"{r.p50_ms:.2f}", "**yes**" if r.front else ""]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return [
        "## Sweep: every variant's rows, the Pareto front first",
        "",
        *lines,
        "",
        f"![{headline} against p50 latency, the Pareto front joined]({PNG})",
        "",
    ]


def png(path: Path, ranked: Sequence[Ranked], headline: str) -> None:
    """``headline`` against p50 latency, one colour per variant, the Pareto front joined."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    for variant in sorted({r.row.variant or "-" for r in ranked}):
        mine = [r for r in ranked if (r.row.variant or "-") == variant]
        ax.scatter([r.p50_ms for r in mine], [r.headline for r in mine], label=variant)
    front = [r for r in ranked if r.front]
    ax.plot([r.p50_ms for r in front], [r.headline for r in front], "k--", lw=1,
            label="Pareto front")  # fmt: skip
    for r in front:
        ax.annotate(r.row.software, (r.p50_ms, r.headline), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel("p50 latency (ms), lower is better")
    ax.set_ylabel(f"{headline}, higher is better")
    ax.set_title("Sweep: accuracy against latency", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
