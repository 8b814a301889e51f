"""A dataset version, one image at a time: the image with its ground truth over it, the class
legend and the image's class pixels; a capture's camera frames with their capture facts.

Keys step (right/left), jump (home/end, or g to type an index), toggle the overlay (o) and switch
the split (s); e exports the version for labelling and i pulls a Label Studio project's labels
back, with their progress in the side panel. Images are read in a thread worker: a shard read
never blocks the event loop."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, ProgressBar, Static
from textual.worker import get_current_worker

from backends import events as ev
from backends.catalog import DatasetRecord
from backends.datasets.browse import Browser, View
from backends.errors import MllibError
from backends.formats import FORMATS
from backends.palette import PALETTE
from backends.workspace import Workspace
from mllib_tui import jobs
from mllib_tui.screens.annotate import ExportForm, PullForm
from mllib_tui.widgets.image import ImageView


class Status(Message):
    """Progress or a line of the screen's labelling job, posted from its worker thread."""

    def __init__(self, event: ev.Progress | ev.Log) -> None:
        super().__init__()
        self.event = event


class DatasetScreen(Screen[None]):
    DEFAULT_CSS = """
    DatasetScreen #side { width: 34; padding: 0 1; }
    DatasetScreen #jump { display: none; }
    DatasetScreen.jumping #jump { display: block; }
    DatasetScreen #progress { display: none; }
    DatasetScreen.working #progress { display: block; }
    """
    BINDINGS = [
        Binding("right,l", "step(1)", "Next", id="dataset-next"),
        Binding("left,h", "step(-1)", "Previous", id="dataset-previous"),
        Binding("home", "first", "First", show=False, id="dataset-first"),
        Binding("end", "last", "Last", show=False, id="dataset-last"),
        Binding("g", "jump", "Go to", id="dataset-jump"),
        Binding("o", "toggle_overlay", "Overlay", id="dataset-overlay"),
        Binding("s", "switch_split", "Split", id="dataset-split"),
        Binding("e", "export", "Export", id="dataset-export"),
        Binding("i", "pull_labels", "Pull labels", id="dataset-pull-labels"),
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
                yield ProgressBar(id="progress", show_eta=True)
                yield Static("", id="status")
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

    def action_export(self) -> None:
        ref = self.dataset.ref
        output = Path.cwd() / f"{self.dataset.name}-{self.dataset.version[:8]}-labelling"
        models = [
            (f"{a.kind} {a.id} ({a.meta.get('precision', '')})", a.id)
            for a in self.app.snapshot.artifacts  # type: ignore[attr-defined]
            if a.kind in {f.kind for f in FORMATS.values() if f.runtimes}
        ]

        def chosen(answer: tuple[str, Path, int | None] | None) -> None:
            if answer is not None:
                fmt, out, prelabel = answer
                self._run(f"export:{ref}", jobs.export(self.ws, ref, fmt, out, prelabel))

        self.app.push_screen(ExportForm(ref, output, models), chosen)

    def action_pull_labels(self) -> None:
        def chosen(answer: tuple[str, int, str] | None) -> None:
            if answer is not None:
                url, project, name = answer
                self._run(f"pull-labels:{project}", jobs.pull_labels(self.ws, url, project, name))

        self.app.push_screen(PullForm(f"{self.dataset.name}-labelled"), chosen)

    def _run(self, job: str, work_: jobs.Work) -> None:
        """``work_`` as an app job (the dashboard tracks it); its progress and lines also
        come here."""

        def work(emit: ev.Emit) -> None:
            def both(event: ev.Event) -> None:
                emit(event)
                if isinstance(event, ev.Progress | ev.Log):
                    self.post_message(Status(event))

            work_(both)

        self.query_one("#status", Static).update(Text(f"{job}: starting", style="dim"))
        self.app.start(job, work, group="annotate")  # type: ignore[attr-defined]

    @on(Status)
    def show_status(self, message: Status) -> None:
        event, status = message.event, self.query_one("#status", Static)
        if isinstance(event, ev.Progress):
            self.set_class(event.total is None or event.done < event.total, "working")
            self.query_one(ProgressBar).update(total=event.total, progress=event.done)
            status.update(
                Text(f"{event.stage}: {event.done:.0f}/{event.total or 0:.0f} {event.unit}")
            )
        else:
            status.update(Text(event.message, style="yellow" if event.level == "warning" else ""))

    def action_back(self) -> None:
        if self.has_class("jumping"):
            self._end_jump()
            return
        self.app.pop_screen()
