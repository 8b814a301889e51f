"""A dataset version, one image at a time: the image with its ground truth over it, the class
legend and the image's class pixels; a capture's camera frames with their capture facts.

Keys step (right/left), jump (home/end, or g to type an index), toggle the overlay (o) and switch
the split (s). Images are read in a thread worker: a shard read never blocks the event loop."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from backends.catalog import DatasetRecord
from backends.datasets.browse import Browser, View
from backends.errors import MllibError
from backends.palette import PALETTE
from backends.workspace import Workspace
from mllib_tui.widgets.image import ImageView


class DatasetScreen(Screen[None]):
    DEFAULT_CSS = """
    DatasetScreen #side { width: 34; padding: 0 1; }
    DatasetScreen #jump { display: none; }
    DatasetScreen.jumping #jump { display: block; }
    """
    BINDINGS = [
        Binding("right,l", "step(1)", "Next", id="dataset-next"),
        Binding("left,h", "step(-1)", "Previous", id="dataset-previous"),
        Binding("home", "first", "First", show=False, id="dataset-first"),
        Binding("end", "last", "Last", show=False, id="dataset-last"),
        Binding("g", "jump", "Go to", id="dataset-jump"),
        Binding("o", "toggle_overlay", "Overlay", id="dataset-overlay"),
        Binding("s", "switch_split", "Split", id="dataset-split"),
        Binding("escape", "back", "Back", id="dataset-back"),
    ]

    def __init__(self, ws: Workspace, dataset: DatasetRecord) -> None:
        super().__init__()
        self.ws, self.dataset = ws, dataset
        self.browser = Browser(ws, dataset)
        self.index = 0
        self.overlay = True
        self.view: View | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ImageView(id="image")
            with Vertical(id="side"):
                yield Static("", id="caption")
                yield Static("", id="legend")
                # disabled (never focused) until g asks for a number: the keys are the screen's
                yield Input(
                    placeholder="image number, enter", id="jump", type="integer", disabled=True
                )
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"{self.dataset.name}@{self.dataset.version[:8]}"
        self.load(self.browser, self.index)

    @work(thread=True, exclusive=True, group="dataset-image", exit_on_error=False)
    def load(self, browser: Browser, index: int) -> None:
        try:
            view = browser[index]
        except (MllibError, OSError) as exc:  # a frame's file gone, a shard damaged
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show, browser, view)

    def show(self, browser: Browser, view: View) -> None:
        if browser is not self.browser or view.index != self.index:
            return  # a key was pressed since: the image it asked for is on its way
        self.view = view
        self.query_one(ImageView).show(
            view.image, view.mask if self.overlay else None, self.browser.ignore
        )
        total = len(self.browser)
        where = f"{self.browser.split_name} {view.index + 1}/{total}"
        self.query_one("#caption", Static).update(Text(f"{where}\n{view.caption}"))
        self.query_one("#legend", Static).update(self.legend(view))

    def legend(self, view: View) -> Text:
        """Each class in its overlay colour, with its share of this image's labelled pixels."""
        if not self.browser.classes:
            capture = self.dataset.manifest.get("capture", {})
            partial = " (partial)" if self.dataset.manifest.get("partial") else ""
            return Text(
                f"\nUnlabelled camera frames{partial}\nboard {capture.get('board')}\n"
                f"camera {capture.get('camera')}",
                style="dim",
            )
        shares = view.shares(len(self.browser.classes), self.browser.ignore)
        text = Text("\nClass        pixels\n", style="bold")
        for i, name in enumerate(self.browser.classes):
            r, g, b = (int(c) for c in PALETTE[i % len(PALETTE)])
            swatch = "  " if i == 0 else "██"
            text.append(swatch, style=f"rgb({r},{g},{b})")
            share = f"{shares[i]:6.1%}" if shares else ("  <-" if view.label == i else "")
            text.append(f" {name[:11]:<11} {share}\n")
        return text

    def action_step(self, delta: int) -> None:
        self.go(self.index + delta)

    def action_first(self) -> None:
        self.go(0)

    def action_last(self) -> None:
        self.go(len(self.browser) - 1)

    def go(self, index: int) -> None:
        self.index = min(max(index, 0), len(self.browser) - 1)
        self.load(self.browser, self.index)

    def action_jump(self) -> None:
        self.add_class("jumping")
        box = self.query_one("#jump", Input)
        box.disabled = False
        box.focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.value.strip().lstrip("-").isdigit():
            self.go(int(message.value) - 1)  # people count images from 1
        self._end_jump()

    def _end_jump(self) -> None:
        self.remove_class("jumping")
        box = self.query_one("#jump", Input)
        box.value = ""
        box.disabled = True
        self.set_focus(None)

    def action_toggle_overlay(self) -> None:
        self.overlay = not self.overlay
        if self.view is not None:
            self.show(self.browser, self.view)

    def action_switch_split(self) -> None:
        splits = self.browser.splits
        following = splits[(splits.index(self.browser.split_name) + 1) % len(splits)]
        self.browser = Browser(self.ws, self.dataset, following)
        self.go(0)

    def action_back(self) -> None:
        if self.has_class("jumping"):
            self._end_jump()
            return
        self.app.pop_screen()
