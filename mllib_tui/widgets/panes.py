"""The dashboard's four panes. They only render what they are given; tables update by row key."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, ProgressBar, Sparkline

from backends.boards.inventory import Board
from backends.catalog import ArtifactRecord, DatasetRecord
from backends.formats import Format
from backends.tasks import HEADLINES, Task
from mllib_tui.state import Snapshot
from mllib_tui.widgets.text import cell, plain


def _sync(table: DataTable, rows: dict[str, tuple[Any, ...]]) -> None:
    """Make ``table`` hold exactly ``rows`` (key -> cells), updating cells in place."""
    existing = {key.value for key in table.rows}
    for key in existing - rows.keys():
        table.remove_row(key)
    columns = list(table.columns)
    for key, values in rows.items():
        cells = tuple(cell(value) for value in values)
        if key in existing:
            for column, value in zip(columns, cells, strict=True):
                if table.get_cell(key, column) != value:
                    table.update_cell(key, column, value, update_width=True)
        else:
            table.add_row(*cells, key=key)
    if rows.keys() - existing:
        table.call_after_refresh(_repaint_when_sized, table)


def _repaint_when_sized(table: DataTable) -> None:
    """Textual 8.2.8's DataTable widens its columns for new rows when idle, but keeps lines it
    rendered before that at the old (header) width; drop them once the widths are known."""
    if table._require_update_dimensions:
        table.call_after_refresh(_repaint_when_sized, table)
        return
    table._clear_caches()
    table.refresh()


class Pane(Vertical):
    DEFAULT_CSS = """
    Pane { border: round $primary 50%; height: 1fr; }
    Pane:focus-within { border: round $accent; }
    Pane > DataTable { height: 1fr; }
    """

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__(id=id)
        self.border_title = title


class DatasetsPane(Pane):
    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(cursor_type="row", id="datasets-table")
        table.add_columns("Name", "Version", "Train", "Val", "Classes")
        yield table

    def show(self, datasets: list[DatasetRecord]) -> None:
        _sync(
            self.query_one(DataTable),
            {
                f"d{d.id}": (
                    d.name,
                    d.version[:8],
                    str(d.images.get("train", d.images.get("frames"))),
                    str(d.images.get("val", "-")),
                    ", ".join(d.manifest.get("classes", [])) or "camera frames, unlabelled",
                )
                for d in datasets
            },
        )


class TrainingPane(Pane):
    DEFAULT_CSS = """
    TrainingPane Label { width: 1fr; }
    TrainingPane Sparkline { height: 2; margin: 0 1; }
    TrainingPane ProgressBar { margin: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Label("No training running. Press r for the demo, t to train.", id="train-status")
        yield ProgressBar(total=100, show_eta=True, id="train-progress")

        yield Label("loss", id="loss-label")
        yield Sparkline([], id="loss")
        yield Label("val mIoU", id="val-label")
        yield Sparkline([], id="val")

    trained_here = False  # a training ran in this app: its own figures stay shown

    def recall(self, task: Task, model: ArtifactRecord | None, label: str) -> None:
        """Until a training runs here: the newest model's epochs as it recorded them (a
        headless run's too), else the validation figure named after the workspace's task."""
        if self.trained_here:
            return
        history = (model.meta.get("history") or {}) if model else {}
        figures = {
            name: [v for v in history.get(key) or [] if isinstance(v, int | float) and v == v]
            for name, key in (("loss", "loss"), ("val", f"val_{task.primary}"))
        }
        labels = {"loss": "loss", "val": f"val {task.primary_label}"}
        for name, values in figures.items():
            self.query_one(f"#{name}", Sparkline).data = values
            last = f" {values[-1]:.4f} (epoch {len(values)})" if values else ""
            self.query_one(f"#{name}-label", Label).update(labels[name] + last)
        if figures["loss"]:
            epochs = len(figures["loss"])
            self.query_one("#train-status", Label).update(
                plain(f"Last trained: {label}, {epochs} epoch(s). t trains again.")
            )

    def start(self, title: str) -> None:
        self.trained_here = True
        self.query_one("#train-status", Label).update(plain(title))
        self.query_one("#loss", Sparkline).data = []
        self.query_one("#val", Sparkline).data = []
        self.query_one(ProgressBar).update(total=None, progress=0)

    def progress(self, done: float, total: float | None, message: str) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)
        if message:
            self.query_one("#train-status", Label).update(plain(message))

    def metric(self, name: str, value: float, epoch: int) -> None:
        task = HEADLINES.get(name)
        if name != "loss" and task is None:
            return
        target = "loss" if task is None else "val"
        sparkline = self.query_one(f"#{target}", Sparkline)
        sparkline.data = [*sparkline.data, value]
        label = "loss" if task is None else f"val {task.primary_label}"
        self.query_one(f"#{target}-label", Label).update(f"{label} {value:.4f} (epoch {epoch})")

    def finish(self, text: str) -> None:
        self.query_one("#train-status", Label).update(plain(text))


class ConversionsPane(Pane):
    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(cursor_type="row", id="artifacts-table")
        # what tells conversions apart first; the model's name where the pane is wide enough
        table.add_columns("Id", "Format", "Precision", "State", "Fidelity", "Model")
        yield table

    def show(self, snapshot: Snapshot, queued: dict[str, tuple[str, ...]]) -> None:
        rows: dict[str, tuple[Any, ...]] = {}
        for a in snapshot.models + snapshot.converted:
            fidelity = a.meta.get("fidelity")
            verdict = (
                "-"
                if fidelity is None
                else f"{'ok' if fidelity['passed'] else 'FAILED'} {fidelity['delta']:+.4f}"
            )
            rows[f"a{a.id}"] = (
                str(a.id),
                Format.of(a).name,
                a.meta.get("precision", "fp32"),
                "done",
                verdict,
                snapshot.model_label(a),
            )
        rows.update(queued)
        _sync(self.query_one(DataTable), rows)

    def selected_artifact(self) -> int | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        return int(key[1:]) if key.startswith("a") else None


class BoardsPane(Pane):
    def compose(self) -> ComposeResult:
        table: DataTable = DataTable(cursor_type="row", id="boards-table")
        table.add_columns("Board", "Arch", "Runtimes", "State", "p50 ms")
        yield table

    def show(
        self,
        boards: list[Board],
        probes: dict[str, dict[str, Any]],
        states: dict[str, str],
        p50: dict[str, float],
    ) -> None:
        _sync(
            self.query_one(DataTable),
            {
                b.name: (
                    b.name,
                    probes.get(b.name, {}).get("arch", "?"),
                    ", ".join(probes.get(b.name, {}).get("runtimes", [])) or "?",
                    states.get(b.name, "unknown"),
                    f"{p50[b.name]:.2f}" if b.name in p50 else "-",
                )
                for b in boards
            },
        )
