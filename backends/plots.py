"""The report's pictures: confusion matrices like the original mllib's (row-normalised, class
names, values in cells) and latency histograms with their percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from backends.bench.protocol import Latency


def confusion_png(path: Path, matrix: list[list[int]], classes: list[str], title: str) -> None:
    confusion_figure(matrix, classes, title).savefig(path)


def confusion_figure(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str) -> Figure:
    """The heatmap as a figure of its own (no pyplot state: safe in threads and notebooks)."""
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 1.2 + 0.9 * len(classes)
    fig = Figure(figsize=(size + 1.2, size), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for (i, j), value in np.ndenumerate(normalised):
        ax.text(
            j,
            i,
            f"{value:.2f}",
            ha="center",
            va="center",
            color="white" if value > 0.5 else "black",
            fontsize=8,
        )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    return fig


def latency_png(path: Path, latency: Latency, title: str) -> None:
    latency_figure(latency, title).savefig(path)


def latency_figure(latency: Latency, title: str) -> Figure:
    """The row's latency histogram (its bins from min to max) with p50, p90 and p99 marked."""
    from matplotlib.figure import Figure

    counts = np.asarray(latency.histogram, dtype=np.float64)
    edges = np.linspace(latency.min_ms, latency.max_ms, len(counts) + 1)
    fig = Figure(figsize=(6.4, 2.6), dpi=100)
    ax = fig.subplots()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#9ecae1")
    for name, value, style in (
        ("p50", latency.p50_ms, "-"),
        ("p90", latency.p90_ms, "--"),
        ("p99", latency.p99_ms, ":"),
    ):
        ax.axvline(value, color="#08306b", linestyle=style, label=f"{name} {value:.2f} ms")
    ax.set_xlabel("inference latency (ms)")
    ax.set_ylabel("calls")
    ax.set_title(f"{title} ({latency.runs} calls)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
