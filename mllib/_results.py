"""Benchmark results for notebooks: the original's table as a DataFrame, a row's confusion
heatmap as a figure."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from backends.bench.rows import BenchmarkRow, BenchmarkRun
from backends.errors import BadInput
from backends.plots import confusion_figure
from backends.tasks import metric_columns
from mllib._progress import in_notebook

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure


def table(rows: BenchmarkRun | Iterable[BenchmarkRow]) -> list[dict[str, Any]]:
    """One flat record per row, the columns of the original README's table first (Hardware,
    Software, the task's metrics, latency), then where and what was measured."""
    chosen = list(rows.rows if isinstance(rows, BenchmarkRun) else rows)
    metrics = metric_columns(row.task for row in chosen)
    records = []
    for row in chosen:
        latency, end_to_end = row.latency, row.end_to_end
        records.append(
            {
                "hardware": row.hardware,
                "software": row.software,
                **{key: row.metric(key) for key, _ in metrics},
                "delta": row.delta,
                "p50_ms": latency.p50_ms if latency else None,
                "p90_ms": latency.p90_ms if latency else None,
                "p99_ms": latency.p99_ms if latency else None,
                "end_to_end_p50_ms": end_to_end.p50_ms if end_to_end else None,
                "images_per_s": latency.throughput if latency else None,
                "runtime": row.runtime,
                "precision": row.precision,
                "format": row.format,
                "board": row.board,
                "artifact": row.artifact,
                "size_mb": row.size_bytes / 1e6,
                "images": row.images,
                "status": row.status,
                "error": row.error,
            }
        )
    return records


def dataframe(rows: BenchmarkRun | Iterable[BenchmarkRow]) -> pandas.DataFrame:
    """The rows as a pandas DataFrame (pandas is the ``notebook`` extra)."""
    try:
        import pandas
    except ImportError:
        raise BadInput(
            "pandas is not installed: pip install 'mllib-tui[notebook]' (or use mllib's rows, "
            "or table(), which need nothing)"
        ) from None
    return pandas.DataFrame.from_records(table(rows))


def confusion(row: BenchmarkRow, title: str | None = None) -> Figure:
    """The row's confusion matrix as a heatmap (row-normalised, like the report's PNGs);
    a notebook shows the figure inline."""
    if row.confusion is None:
        raise BadInput(f"{row.software} on {row.hardware} has no confusion matrix ({row.status})")
    figure = confusion_figure(
        row.confusion, row.classes, title or f"{row.software} on {row.hardware}"
    )
    if in_notebook():
        _draw_figures_inline()
    return figure


def _draw_figures_inline() -> None:
    """Have Jupyter draw a figure returned by a cell (it does for pyplot's; these are built
    without pyplot, so that no global figure state is touched)."""
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    png = get_ipython().display_formatter.formatters["image/png"]
    try:
        png.lookup_by_type(Figure)  # pyplot's inline backend has one, with its settings: keep it
    except KeyError:
        png.for_type(Figure, lambda figure: print_figure(figure, "png"))
