"""Renderers for the engine's event stream, and the results table on stdout.

- ``JsonLines``: every event as one JSON line on stdout (for CI and scripts).
- ``RichProgress``: progress bars and stage lines on stderr, so stdout holds only results.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from backends import events as ev
from backends.bench import compare
from backends.bench.rows import BenchmarkRow
from backends.tasks import HEADLINES
from mllib_tui.console import new_console


class JsonLines:
    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stdout

    def __call__(self, event: ev.Event) -> None:
        self._stream.write(ev.encode(event) + "\n")
        self._stream.flush()

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RichProgress:
    """One bar per stage with rate and ETA; epoch summaries and stage results as lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or new_console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("[dim]{task.fields[message]}"),
            console=self.console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._epoch: dict[str, float] = {}
        self.timings: list[tuple[str, float]] = []  # the run's stages here, as they finished

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: ev.Event) -> None:
        where = _where(event)  # boards work side by side: one bar per board and stage
        match event:
            case ev.StageStarted(title=title):
                self._tasks[where] = self._progress.add_task(
                    f"{event.board} {title}" if event.board else title,
                    total=None,
                    unit="",
                    message="",
                )
            case ev.Progress(done=done, total=total, unit=unit, message=message):
                if where not in self._tasks and event.worker:  # a Ray task: a bar of its own
                    self._tasks[where] = self._progress.add_task(
                        f"{event.stage} {event.worker}", total=total, unit=unit, message=""
                    )
                if where in self._tasks:
                    self._progress.update(
                        self._tasks[where], completed=done, total=total, unit=unit, message=message
                    )
            case ev.Metric(name=name, value=value, epoch=epoch) if epoch is not None:
                self._epoch[name] = value
                if (task := HEADLINES.get(name)) is not None:
                    figures = "  ".join(
                        f"val {label} {self._epoch.get(f'val_{key}', float('nan')):.4f}"
                        for key, label in task.metrics
                    )
                    loss = self._epoch.get("loss", float("nan"))
                    self.console.print(f"  epoch {epoch:>3}  loss {loss:.4f}  {figures}")
            case ev.Log(level=level, message=message):
                worker = f" ({event.worker})" if event.worker else ""
                self.console.print(f"  [dim]{level}{escape(worker)}: {escape(message)}[/]")
            case ev.StageFinished(status=status, seconds=seconds, detail=detail):
                for key in [k for k in self._tasks if k == where or k.startswith(f"{where}@")]:
                    self._progress.remove_task(self._tasks.pop(key))
                if event.board is None and event.worker is None:
                    self.timings.append((event.stage, seconds))
                mark = {"done": "[green]done[/]", "skipped": "[dim]skipped[/]"}.get(
                    status, f"[red]{status}[/]"
                )
                self.console.print(
                    f"{escape(where):<10} {mark} in {seconds:.1f}s  [dim]{escape(detail)}[/]"
                )
            case _:
                pass

    def print_timings(self) -> None:
        """Where the run's time went, one line: each stage's seconds and the total."""
        if self.timings:
            stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.timings)
            total = sum(seconds for _, seconds in self.timings)
            self.console.print(f"stages: {stages}; total {total:.1f} s", highlight=False)


def _where(event: ev.Event) -> str:
    """A bar's key: the stage, per board (``rpi4/bench``) and per Ray worker (``train@host:42``)."""
    board, worker = getattr(event, "board", None), getattr(event, "worker", None)
    where = f"{board}/{event.stage}" if board else event.stage
    return f"{where}@{worker}" if worker else where


def results_table(rows: list[BenchmarkRow], **how: Any) -> Table:
    """The comparison table (``backends.bench.compare``; ``how``: its sort, reverse and
    baseline) as Rich renders it: compact enough for 80 columns when the rows share a machine
    (it goes in the caption), failed rows in red with their reason."""
    compared = compare.results_table(rows, **how)
    table = Table(
        title="Results (validation split)",
        title_justify="left",
        caption=compared.caption or None,
        caption_justify="left",
    )
    for header in compared.headers:
        table.add_column(header, justify="left" if header in LEFT else "right")
    for row, cells in zip(compared.rows, compared.body, strict=True):
        cells = [escape(c) for c in cells]
        if not row.ok:  # its reason follows Software
            reason = 1 if compared.shared_hardware else 2
            cells[reason] = f"[red]{cells[reason]}[/]"
        table.add_row(*cells)
    return table


LEFT = ("Hardware", "Software")


def print_results(stdout: Console, report_dir: Path) -> None:
    """A Rich table on a terminal; the report's Markdown in a pipe or a CI log."""
    if stdout.is_terminal:
        rows = json.loads((report_dir / "results.json").read_text())["rows"]
        stdout.print(results_table([BenchmarkRow.from_json(row) for row in rows]))
    else:
        print((report_dir / "results.md").read_text())
    stdout.print(f"report: {report_dir / 'results.md'}")
