"""The dashboard: datasets, training, the conversion queue and the boards at a glance."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from mllib_tui.widgets.panes import BoardsPane, ConversionsPane, DatasetsPane, TrainingPane
from mllib_tui.widgets.text import plain


class Dashboard(Screen[None]):
    CSS = """
    Dashboard Grid { grid-size: 2 2; grid-columns: 1fr 1fr; grid-rows: 1fr 1fr; }
    Dashboard.narrow Grid { grid-size: 1 4; grid-columns: 1fr; grid-rows: auto; }
    Dashboard.narrow Pane { height: 9; }
    Dashboard #status { height: 1; padding: 0 1; background: $boost; }
    Dashboard #small { display: none; height: 1; background: $warning; color: $text; }
    Dashboard.narrow #small { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="small")
        with Grid():
            yield DatasetsPane("Datasets", id="datasets")
            yield TrainingPane("Training", id="training")
            yield ConversionsPane(
                "Models and conversions (d deploys, c converts)", id="conversions"
            )
            yield BoardsPane("Boards (enter opens, p probes)", id="boards")
        yield Static("Loading the workspace…", id="status")
        yield Footer()

    def on_resize(self) -> None:
        width, height = self.size
        narrow = width < 80 or height < 24
        self.set_class(narrow, "narrow")
        self.query_one("#small", Static).update(
            f"Terminal {width}x{height} is small: panes are stacked; 80x24 or more shows the grid"
        )

    def status(self, text: str, style: str = "") -> None:
        """One line of plain text (never parsed as markup: it holds engine messages)."""
        self.query_one("#status", Static).update(plain(text, style))
