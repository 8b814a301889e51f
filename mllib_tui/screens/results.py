"""Results: one model's rows across every board and runtime x precision (the table of
``mllib-tui results --model``), sortable, with deltas against a chosen baseline row; for the
row under the cursor its per-class figures, latency histogram, confusion heatmap and history
across runs; on request the images where it fails, or where it differs from the baseline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from backends.bench import compare
from backends.bench.rows import BenchmarkRow
from backends.catalog import ArtifactRecord
from backends.errors import BadInput, Cancelled, MllibError
from backends.tasks import TASKS
from backends.workspace import Workspace
from mllib_tui.screens.palette import ScreenCommands
from mllib_tui.widgets.heatmap import ConfusionHeatmap
from mllib_tui.widgets.image import ImageView
from mllib_tui.widgets.text import plain

if TYPE_CHECKING:
    import numpy as np

IMAGES = 3  # failure images shown at once: stacked, each image | truth | prediction


class ResultsScreen(Screen[None]):
    COMMANDS = {ScreenCommands}
    BINDINGS = [
        Binding("s", "sort", "Sort", id="results-sort", tooltip="Sort by the next column"),
        Binding("o", "reverse", "Order", id="results-order", tooltip="Reverse the order"),
        Binding(
            "b",
            "baseline",
            "Baseline",
            id="results-baseline",
            tooltip="Compare every row with the row under the cursor",
        ),
        Binding(
            "f",
            "failures",
            "Failures",
            id="results-failures",
            tooltip="The validation images where the row under the cursor scores lowest",
        ),
        Binding(
            "i",
            "differences",
            "Differs",
            id="results-differences",
            tooltip="The images where the row under the cursor differs most from the baseline",
        ),
        Binding("n", "toggle_normalised", "Raw/normalised", id="results-normalise"),
        Binding("escape", "app.pop_screen", "Back", id="results-back"),
    ]

    def __init__(self, ws: Workspace, model: ArtifactRecord, label: str) -> None:
        super().__init__()
        self.ws, self.model, self.label = ws, model, label
        self.rows: list[BenchmarkRow] = []
        self.stored: list[compare.StoredRow] = []  # the family's rows: history
        self.sort: str | None = None
        self.reverse = False
        self.baseline: BenchmarkRow | None = None
        self.shown: list[BenchmarkRow] = []  # in table order

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            with Vertical(id="main"):
                yield DataTable(cursor_type="row", id="results")
                yield Static("", id="history")
            with Vertical(id="side"):
                yield Static("", id="detail")
                yield ConfusionHeatmap(id="heatmap")
        yield ImageView(id="images")
        yield Static("Loading the results…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"mllib — results of {self.label}"
        self.query_one("#history", Static).border_title = "history"
        self.query_one("#detail", Static).border_title = "row"
        self.load()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100 or self.size.height < 30, "narrow")

    def status(self, text: str, style: str = "") -> None:
        self.query_one("#status", Static).update(plain(text, style))

    # -- the rows ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="results", exit_on_error=False)
    def load(self) -> None:
        try:
            rows, stored = self.ws.catalog.model_results(self.model.id)
        except MllibError as exc:
            self.app.call_from_thread(self.status, str(exc), "red")
            return
        self.app.call_from_thread(self.show_rows, rows, stored)

    def show_rows(self, rows: list[BenchmarkRow], stored: list[compare.StoredRow]) -> None:
        self.rows, self.stored = rows, stored
        if not rows:
            self.status(
                f"No benchmark rows of model {self.model.id} yet: run the demo (r) or "
                "benchmark a board (its screen, b)."
            )
            return
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#results", DataTable)
        selected = self.selected
        compared = compare.results_table(
            self.rows, sort=self.sort, reverse=self.reverse, baseline=self.baseline
        )
        self.baseline, self.shown = compared.baseline, compared.rows
        table.clear(columns=True)
        for header in compared.headers:
            table.add_column(header, key=header)
        for row, cells in zip(compared.rows, compared.body, strict=True):
            style = "bold" if row is compared.baseline else ("red" if not row.ok else "")
            table.add_row(*(Text(c, style=style) for c in cells))
        # the cursor stays on its row wherever the new order puts it
        at = next((i for i, r in enumerate(compared.rows) if r is selected), 0)
        table.move_cursor(row=at)
        order = "by hardware" if self.sort is None else f"by {self.sort}"
        self.status(
            f"{len(self.rows)} rows, {order}{' (reversed)' if self.reverse else ''}; "
            f"{compared.caption}"
        )
        self._detail()

    @property
    def selected(self) -> BenchmarkRow | None:
        row = self.query_one("#results", DataTable).cursor_row
        return self.shown[row] if 0 <= row < len(self.shown) else None

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._detail()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a figure's header sorts by it (again: the other way)."""
        header = str(event.label).removesuffix(" x")  # "p50 x" sorts as p50
        column = next((c for c in compare.columns(self.rows) if c.header.startswith(header)), None)
        if column is not None:
            self.reverse = self.sort == column.key and not self.reverse
            self.sort = column.key
            self._fill()

    def _detail(self) -> None:
        row = self.selected
        if row is None:
            return
        self.query_one("#detail", Static).update(row_detail(row, self.baseline))
        self.query_one("#history", Static).update(self._history(row))
        self.query_one(ConfusionHeatmap).show(row.confusion, list(row.classes), row.software)

    def _history(self, row: BenchmarkRow) -> Text:
        runs = compare.history(self.stored, row)
        if len(runs) < 2:
            return plain(f"{compare.row_label(row)}: one run so far; history builds with reruns")
        p50 = [s.row.latency.p50_ms if s.row.latency else None for s in runs]
        headline = [s.row.headline for s in runs]
        label = TASKS[row.task].primary_label
        return plain(
            f"{compare.row_label(row)} over {len(runs)} runs ({runs[0].run_id} … "
            f"{runs[-1].run_id})\n"
            f"p50 ms {compare.sparkline(p50)}  {_ends(p50, 2)}\n"
            f"{label:<6} {compare.sparkline(headline)}  {_ends(headline, 4)}"
        )

    # -- actions ----------------------------------------------------------------------------

    def action_sort(self) -> None:
        keys = [None, *(c.key for c in compare.columns(self.rows))]
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)]
        self._fill()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._fill()

    def action_baseline(self) -> None:
        row = self.selected
        if row is not None and row.ok:
            self.baseline = row
            self._fill()

    def action_toggle_normalised(self) -> None:
        heatmap = self.query_one(ConfusionHeatmap)
        heatmap.normalised = not heatmap.normalised

    def action_failures(self) -> None:
        row = self.selected
        if row is not None:
            self.status(f"Finding the {IMAGES} images where {compare.row_label(row)} fails…")
            self.images(row, None)

    def action_differences(self) -> None:
        row, baseline = self.selected, self.baseline
        if row is None or baseline is None or row is baseline:
            self.status("Choose a baseline (b) and another row to compare it with")
            return
        self.status(
            f"Finding where {compare.row_label(row)} differs most from "
            f"{compare.row_label(baseline)}…"
        )
        self.images(row, baseline)

    @work(thread=True, exclusive=True, group="images", exit_on_error=False)
    def images(self, row: BenchmarkRow, other: BenchmarkRow | None) -> None:
        """Run the rows' models over the validation split here (a worker: never the event
        loop) and show the images found."""
        from backends import events as ev
        from backends.failures import lowest_iou, most_different

        worker = get_current_worker()

        def emit(event: Any) -> None:
            if worker.is_cancelled:  # another row asked for images: this scan stops
                raise Cancelled("superseded")
            if isinstance(event, ev.Progress):
                done = f"{event.done:.0f}/{event.total:.0f} images"
                self.app.call_from_thread(self.status, f"Scanning {compare.row_label(row)}: {done}")

        try:
            catalog = self.ws.catalog
            artifact = catalog.artifact(row.artifact)
            if self.model.dataset_id is None:
                raise BadInput(f"model {self.model.id} was imported: it has no validation split")
            dataset = catalog.dataset_by_id(self.model.dataset_id)
            if other is None:
                found = lowest_iou(self.ws, artifact, dataset, emit, runtime=row.runtime)
                caption = f"{compare.row_label(row)}: lowest mIoU " + ", ".join(
                    f"#{f.index} {f.miou:.3f}" for f in found[:IMAGES]
                )
                caption += " — image | truth | prediction"
            else:
                mine = (artifact, row.runtime)
                theirs = (catalog.artifact(other.artifact), other.runtime)
                found = most_different(self.ws, theirs, mine, dataset, emit)
                caption = (
                    f"{compare.row_label(other)} | {compare.row_label(row)} | differing pixels "
                    "white: " + ", ".join(f"#{f.index} {f.differing:.1%}" for f in found[:IMAGES])
                )
        except Cancelled:
            return
        except Exception as exc:  # shown on the status line: the screen stays usable
            if isinstance(exc, BadInput):  # it says what is wrong (a classification model...)
                message = f"{compare.row_label(row)}: no images: {exc}"
            else:
                reason = str(exc) if isinstance(exc, MllibError) else type(exc).__name__
                message = f"{compare.row_label(row)}: no images ({reason.splitlines()[0]}); "
                message += "rows of a board's own runtime (TensorRT, the Edge TPU) run there only"
            self.app.call_from_thread(self.status, message, "red")
            return
        if not worker.is_cancelled:
            panels = [f.panel() for f in found[:IMAGES]]
            self.app.call_from_thread(self._show_images, panels, caption)

    def _show_images(self, panels: list[np.ndarray], caption: str) -> None:
        view = self.query_one("#images", ImageView)
        self.add_class("images")
        if not panels:
            view.show(None)
            self.status("The two rows agree on every pixel of every validation image")
            return
        view.border_title = caption
        import numpy as np

        view.show(np.concatenate(panels, axis=0))
        self.status(caption)


def row_detail(row: BenchmarkRow, baseline: BenchmarkRow | None) -> Group | Text:
    """A row's per-class figures against the baseline's, and its latency histogram."""
    if not row.ok:
        return plain(f"{compare.row_label(row)}: {row.status}: {row.error}", "red")
    figure = TASKS[row.task].per_class[0]  # iou, recall
    against = "-" if baseline is None else compare.row_label(baseline)
    table = Table(
        title=compare.row_label(row),
        title_justify="left",
        caption=f"Δ against {against}",
        caption_justify="left",
        box=None,
        pad_edge=False,
        expand=True,
    )
    table.add_column("class")
    table.add_column("IoU" if figure == "iou" else figure, justify="right")
    table.add_column("Δ", justify="right")
    for name, value, delta in compare.per_class(row, baseline):
        table.add_row(Text(name, justify="left"), value, delta)
    if row.latency is None:
        return Group(table)
    lines = compare.histogram(row.latency)
    return Group(table, Text("\nlatency, inference only"), *(Text(line) for line in lines))


def _ends(values: list[float | None], digits: int) -> str:
    present = [v for v in values if v is not None]
    return f"{present[0]:.{digits}f} → {present[-1]:.{digits}f}" if present else ""
