"""The table people compare in: rows across boards and runtimes x precisions (Hardware as rows,
like the original's table), sorted by any column, with deltas against a chosen baseline row;
and the history of one row across runs. Plain strings and numbers: the CLI renders it with
Rich, the app with a DataTable, so both show the same table."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from backends.bench.protocol import Latency
from backends.bench.rows import BenchmarkRow
from backends.formats import KERAS_KIND
from backends.tasks import TASKS, delta_label, metric_columns

BARS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Column:
    key: str  # what ``--sort`` and the app's sort key name
    header: str
    value: Callable[[BenchmarkRow], float | None]
    digits: int
    higher_is_better: bool


@dataclass(frozen=True)
class StoredRow:
    """A row as the catalog keeps it: with its run."""

    run_id: str
    row: BenchmarkRow


def row_key(row: BenchmarkRow) -> tuple[str, str]:
    """What a row is matched on across runs and baselines: where it ran and what ran."""
    return row.board or "local", row.label


def row_label(row: BenchmarkRow) -> str:
    """``LiteRT int8@rpi4``: a row as ``--delta-from`` names it."""
    board, software = row_key(row)
    return f"{software}@{board}"


def columns(rows: Sequence[BenchmarkRow]) -> list[Column]:
    """The figure columns of these rows' tasks, then latency and size."""

    def latency(pick: Callable[[Latency], float]) -> Callable[[BenchmarkRow], float | None]:
        return lambda row: pick(row.latency) if row.latency else None

    return [
        *(
            Column(key, header, lambda row, key=key: row.metric(key), 4, True)
            for key, header in metric_columns(row.task for row in rows)
        ),
        Column("p50", "p50 ms", latency(lambda lat: lat.p50_ms), 2, False),
        Column("p99", "p99 ms", latency(lambda lat: lat.p99_ms), 2, False),
        Column("size", "MB", lambda row: row.size_bytes / 1e6, 1, False),
    ]


def reference_row(rows: Sequence[BenchmarkRow]) -> BenchmarkRow | None:
    """What a run compares with: the Keras model on TensorFlow on this workstation."""
    return next(
        (
            r
            for r in rows
            if r.ok and r.format == KERAS_KIND and r.runtime == "tensorflow" and r.board is None
        ),
        None,
    )


def default_baseline(rows: Sequence[BenchmarkRow]) -> BenchmarkRow | None:
    """The table's baseline: the run's reference row, else the first row that measured."""
    return reference_row(rows) or next((r for r in rows if r.ok), None)


def find_row(rows: Sequence[BenchmarkRow], label: str) -> BenchmarkRow | None:
    """The row ``label`` names: ``SOFTWARE@BOARD``, or ``SOFTWARE`` for this workstation."""
    software, _, board = label.partition("@")
    return next((r for r in rows if row_key(r) == (board or "local", software)), None)


def sort_rows(
    rows: Sequence[BenchmarkRow], key: str | None = None, *, reverse: bool = False
) -> list[BenchmarkRow]:
    """By ``key`` (a column key; best first unless ``reverse``), else by hardware: this
    workstation first, boards by name, each in the order it was measured. Rows without the
    figure and failed rows go last."""
    if key is None:
        order = sorted(rows, key=lambda r: (r.board is not None, r.board or ""))
        return list(reversed(order)) if reverse else order
    column = next((c for c in columns(rows) if c.key == key), None)
    if column is None:
        known = ", ".join(c.key for c in columns(rows))
        raise KeyError(f"no column {key!r} to sort by (one of: {known})")
    present = [r for r in rows if r.ok and column.value(r) is not None]
    present.sort(key=lambda r: column.value(r) or 0.0, reverse=column.higher_is_better)
    if reverse:
        present.reverse()
    placed = {id(r) for r in present}
    return present + [r for r in rows if id(r) not in placed]


@dataclass(frozen=True)
class ResultsTable:
    headers: list[str]
    body: list[list[str]]  # one list of cells per row, in ``rows`` order
    rows: list[BenchmarkRow]
    baseline: BenchmarkRow | None
    shared_hardware: str | None  # when every row ran on it: said once, not per row

    @property
    def caption(self) -> str:
        parts = [f"on {self.shared_hardware}"] if self.shared_hardware else []
        if self.baseline is not None:
            parts.append(f"Δ and p50 x against {row_label(self.baseline)}")
        return "; ".join(parts)


def results_table(
    rows: Sequence[BenchmarkRow],
    *,
    sort: str | None = None,
    reverse: bool = False,
    baseline: BenchmarkRow | None = None,
) -> ResultsTable:
    """The table: Hardware (when the rows span machines), Software, Images, the figures, the
    headline's change and the p50 ratio against ``baseline`` (default: ``default_baseline``),
    p99 and size. A failed row says why in place of its figures."""
    ordered = sort_rows(rows, sort, reverse=reverse)
    baseline = baseline or default_baseline(rows)
    hardware = {r.hardware for r in rows}
    shared = hardware.pop() if len(hardware) == 1 else None
    figures = columns(rows)
    metrics, latency = figures[:-3], figures[-3:]
    headers = [
        *([] if shared else ["Hardware"]),
        "Software",
        "Images",
        *(c.header for c in metrics),
        delta_label(r.task for r in rows),
        latency[0].header,
        "p50 x",
        *(c.header for c in latency[1:]),
    ]
    body = []
    for row in ordered:
        lead = [*([] if shared else [row.hardware]), row.label]
        if not row.ok:
            reason = f"{row.status}: {row.error or ''}"
            body.append([*lead, reason, *[""] * (len(headers) - len(lead) - 1)])
            continue
        headline, p50 = _deltas(row, baseline)
        body.append(
            [
                *lead,
                "-" if row.images is None else str(row.images),
                *(_fmt(c.value(row), c.digits) for c in metrics),
                _fmt(headline, 4, signed=True),
                _fmt(latency[0].value(row), 2),
                "-" if p50 is None else f"{p50:.2f}x",
                *(_fmt(c.value(row), c.digits) for c in latency[1:]),
            ]
        )
    return ResultsTable(headers, body, ordered, baseline, shared)


def per_class(row: BenchmarkRow, baseline: BenchmarkRow | None) -> list[tuple[str, str, str]]:
    """(class, the row's per-class figure, its change against the baseline's) per class."""
    key = TASKS[row.task].per_class[0]
    mine = row.metric(key) or {}
    theirs = (baseline.metric(key) if baseline is not None else None) or {}
    return [
        (name, _fmt(mine.get(name), 4), _fmt(_minus(mine.get(name), theirs.get(name)), 4, True))
        for name in row.classes or list(mine)
    ]


def histogram(latency: Latency) -> list[str]:
    """The latency histogram as three lines of text (50 columns at most): bars over
    ``HISTOGRAM_BINS`` equal bins from min to max, ``5``, ``9`` and ``P`` under the bins of
    p50, p90 and p99, and their values (older rows have no histogram: the values only)."""
    counts = latency.histogram
    values = (latency.min_ms, latency.max_ms, latency.p50_ms, latency.p90_ms, latency.p99_ms)
    if not any(counts) or not all(map(math.isfinite, values)) or latency.max_ms <= latency.min_ms:
        return [f"p50 {latency.p50_ms:.2f} p90 {latency.p90_ms:.2f} p99 {latency.p99_ms:.2f} ms"]
    top = max(counts)
    bars = "".join(BARS[-1] if n == top else BARS[round(n / top * 8)] for n in counts)
    marks = [" "] * len(counts)
    width = (latency.max_ms - latency.min_ms) / len(counts)
    for mark, value in (("5", latency.p50_ms), ("9", latency.p90_ms), ("P", latency.p99_ms)):
        marks[min(len(counts) - 1, max(0, int((value - latency.min_ms) / width)))] = mark
    return [
        f"{bars}  {latency.min_ms:.2f}-{latency.max_ms:.2f} ms, {latency.runs} calls",
        "".join(marks).rstrip(),
        f"5 p50 {latency.p50_ms:.2f}  9 p90 {latency.p90_ms:.2f}  P p99 {latency.p99_ms:.2f} ms",
    ]


def sparkline(values: Iterable[float | None]) -> str:
    """Values as bars from their min to their max (``·`` where one is missing)."""
    values = list(values)
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = high - low or 1.0
    return "".join("·" if v is None else BARS[1 + round((v - low) / span * 7)] for v in values)


def history(stored: Sequence[StoredRow], row: BenchmarkRow) -> list[StoredRow]:
    """The runs of ``row``'s key (same board, same software) over time, oldest first."""
    return [s for s in stored if s.row.ok and row_key(s.row) == row_key(row)]


def _deltas(row: BenchmarkRow, baseline: BenchmarkRow | None) -> tuple[float | None, float | None]:
    if baseline is None:
        return None, None
    headline = _minus(row.headline, baseline.headline)
    p50 = (
        row.latency.p50_ms / baseline.latency.p50_ms
        if row.latency and baseline.latency and baseline.latency.p50_ms > 0
        else None
    )
    return headline, p50


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 6)


def _fmt(value: float | None, digits: int, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
