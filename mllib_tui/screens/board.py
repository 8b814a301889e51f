"""One board: its manifest, a live benchmark table (updated by row key), heatmaps and a log."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, RichLog, Static
from textual.worker import get_current_worker

from backends import events as ev
from backends.bench.rows import BenchmarkRow
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.formats import Format, software_label
from backends.tasks import SEGMENTATION, task_of
from mllib_tui.screens.palette import ScreenCommands
from mllib_tui.widgets.heatmap import ConfusionHeatmap
from mllib_tui.widgets.image import ImageView
from mllib_tui.widgets.text import cell, plain


def row_key(artifact_id: int, runtime: str) -> str:
    return f"{artifact_id}:{runtime}"


class BoardScreen(Screen[None]):
    COMMANDS = {ScreenCommands}
    BINDINGS = [
        Binding(
            "b",
            "bench",
            "Benchmark",
            id="board-bench",
            tooltip="Benchmark the converted models on this board",
        ),
        Binding(
            "n",
            "toggle_normalised",
            "Raw/normalised",
            id="board-normalise",
            tooltip="Show the confusion matrix as counts or row-normalised",
        ),
        Binding(
            "a",
            "acquire",
            "Acquire",
            id="board-acquire",
            tooltip="Capture frames from the board's camera (devices.toml camera) into a dataset",
        ),
        Binding(
            "s",
            "serve",
            "Serve",
            id="board-serve",
            tooltip="Run the newest conversion live on the board's camera",
        ),
        Binding("escape", "app.pop_screen", "Back", id="board-back"),
    ]

    def __init__(
        self,
        board: str,
        dataset: DatasetRecord | None,
        facts: dict[str, Any] | None = None,
        last: list[BenchmarkRow] | None = None,
    ) -> None:
        """``dataset``: what the rows are measured on (its task picks the metric columns);
        ``last``: the rows of the newest run on this board, shown until new ones arrive."""
        super().__init__()
        self.board = board
        # not `self.task`: Screen already has one
        self.measure = task_of(dataset.manifest) if dataset else SEGMENTATION

        self.class_names = dataset.manifest["classes"] if dataset else []
        self.columns = (
            "Software",
            "Images",
            *(header for _, header in self.measure.metrics),
            "p50",
            "p90",
            "p99",
            "Status",
        )
        self.facts = facts
        self.last = last or []
        self.rows: dict[str, BenchmarkRow] = {}
        self.pending: list[str] = []  # planned rows not started yet, in run order
        self.running: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            table: DataTable = DataTable(cursor_type="row", id="bench")
            for column in self.columns:
                table.add_column(column, key=column)

            yield table
            with Vertical(id="side"):
                yield Static("not probed yet: press p on the dashboard", id="manifest")
                yield ConfusionHeatmap(id="heatmap")
                yield ImageView(id="live")
        yield RichLog(id="log", max_lines=500, wrap=True)
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 80 or self.size.height < 24, "narrow")

    def on_mount(self) -> None:
        self.title = f"mllib — board {self.board}"
        self.query_one("#manifest", Static).border_title = "manifest"
        self.show_manifest(self.facts)
        for row in self.last:
            self.show_row(row)

    def show_manifest(self, facts: dict[str, Any] | None) -> None:
        if facts:
            runtimes = ", ".join(f"{m} {v}" for m, v in facts.get("modules", {}).items())
            accelerators = ", ".join(f"{k}: {v}" for k, v in facts.get("accelerators", {}).items())
            self.query_one("#manifest", Static).update(
                plain(
                    f"{facts.get('arch')}  {facts.get('cpu')} ({facts.get('cores')} cores)\n"
                    f"{facts.get('os')}\nPython {facts.get('python')}\n"
                    f"{runtimes or 'no runtimes'}\n"
                    f"{accelerators or 'no accelerators'}  memory {facts.get('memory_mb')} MB"
                )
            )

    def plan(self, artifacts: list[ArtifactRecord]) -> None:
        """Rows for a benchmark that is about to run, in the order it runs them; rows of an
        earlier run that this one does not measure leave the table."""
        table = self.query_one("#bench", DataTable)
        self.pending = []
        for artifact in artifacts:
            for runtime in Format.of(artifact).runtimes:
                key = row_key(artifact.id, runtime)
                cells = (
                    cell(software_label(runtime, artifact.meta.get("precision", "fp32"))),
                    *["-"] * (len(self.columns) - 2),
                    "queued",
                )
                if key in self.rows or key in {k.value for k in table.rows}:
                    table.update_cell(key, "Status", "queued", update_width=True)
                else:
                    table.add_row(*cells, key=key)
                self.pending.append(key)
        for key in [k.value for k in table.rows if k.value not in self.pending]:
            table.remove_row(key)
            self.rows.pop(key or "", None)

    def on_engine(self, event: ev.Event) -> None:
        """Events about this board (the app forwards every event; others are not ours)."""
        if getattr(event, "board", None) != self.board:
            return
        table = self.query_one("#bench", DataTable)
        if isinstance(event, ev.StageStarted) and event.stage == "bench":
            self.running = self.pending.pop(0) if self.pending else None
            if self.running:
                table.update_cell(self.running, "Status", "running", update_width=True)
        elif isinstance(event, ev.Progress) and event.stage == "bench":
            if self.running:
                table.update_cell(
                    self.running, "Images", f"{event.done:.0f}/{event.total:.0f}", update_width=True
                )
        elif isinstance(event, ev.Result) and event.stage == "bench":
            self.show_row(BenchmarkRow.from_json(event.data))
        elif isinstance(event, ev.Frame) and event.path:
            self.add_class("capturing")
            self.thumbnail(event.path, event.index)
        elif isinstance(event, ev.Error | ev.Log):
            self.query_one(RichLog).write(Text(f"{event.stage}: {event.message}"))

    def on_job_ended(self, job: str, error: str | None, board: str | None) -> None:
        if error and board == self.board:
            self.board_lost(error)

    def show_row(self, row: BenchmarkRow) -> None:
        key = row_key(row.artifact, row.runtime)
        table = self.query_one("#bench", DataTable)
        status = row.status if row.ok else f"{row.status}: {row.error}"
        latency = row.latency
        cells = tuple(
            cell(value)
            for value in (
                row.software,
                "-" if row.images is None else str(row.images),
                *(_f(row.metric(key)) for key, _ in self.measure.metrics),
                _f(latency.p50_ms if latency else None, 2),
                _f(latency.p90_ms if latency else None, 2),
                _f(latency.p99_ms if latency else None, 2),
                status,
            )
        )
        if key not in {k.value for k in table.rows}:
            table.add_row(*cells, key=key)
        else:
            for column, value in zip(self.columns, cells, strict=True):
                table.update_cell(key, column, value, update_width=True)
        self.rows[key] = row
        self.query_one(RichLog).write(
            Text(
                f"{row.software}: {status}, {self.measure.primary_label} "
                f"{_f(row.metric(self.measure.primary))}"
            )
        )
        self._heatmap(key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._heatmap(event.row_key.value)

    def _heatmap(self, key: str | None) -> None:
        row = self.rows.get(key or "")
        if row and row.confusion:
            self.query_one(ConfusionHeatmap).show(
                row.confusion, list(row.classes) or self.class_names, row.software
            )

    def action_toggle_normalised(self) -> None:
        heatmap = self.query_one(ConfusionHeatmap)
        heatmap.normalised = not heatmap.normalised

    @work(thread=True, exclusive=True, group="thumbnail", exit_on_error=False)
    def thumbnail(self, path: str, index: int) -> None:
        """Decode the newest frame off the event loop; a newer frame replaces one not shown yet."""
        from backends.errors import MllibError
        from backends.uncertainty import decode_jpeg

        try:
            image = decode_jpeg((self.app.root / path).read_bytes())  # type: ignore[attr-defined]
        except (MllibError, OSError):
            return  # a frame that will not decode is not shown; the capture goes on
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_frame, image, index)

    def _show_frame(self, image: Any, index: int) -> None:
        live = self.query_one("#live", ImageView)
        live.border_title = f"camera: frame {index}"
        live.show(image)

    def action_serve(self) -> None:
        self.app.serve_board(self.board)  # type: ignore[attr-defined]

    def action_acquire(self) -> None:
        self.app.acquire_board(self.board)  # type: ignore[attr-defined]

    def action_bench(self) -> None:
        self.app.bench_board(self.board)  # type: ignore[attr-defined]

    def board_lost(self, message: str) -> None:
        self.query_one(RichLog).write(Text(message, style="red"))
        for key in [self.running, *self.pending]:
            if key:
                self.query_one("#bench", DataTable).update_cell(
                    key, "Status", "not run", update_width=True
                )
        self.pending, self.running = [], None


def _f(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
