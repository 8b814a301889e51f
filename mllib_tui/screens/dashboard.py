"""The dashboard: datasets, training, the conversion queue and the boards at a glance.

It owns what it shows: the workspace snapshot, each board's state (online, deploying...), the
status line; the app forwards engine events and job endings here, and this screen updates its
own panes."""

from __future__ import annotations

import contextlib

from textual.app import ComposeResult
from textual.containers import Grid
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from backends import events as ev
from backends.tasks import SEGMENTATION, task_of
from mllib_tui.state import Snapshot
from mllib_tui.widgets.panes import BoardsPane, ConversionsPane, DatasetsPane, TrainingPane
from mllib_tui.widgets.text import plain


class Dashboard(Screen[None]):
    def __init__(self, workspace_name: str) -> None:
        super().__init__()
        self.workspace_name = workspace_name
        self.snapshot = Snapshot()
        self.board_states: dict[str, str] = {}
        self.queued: dict[str, tuple[str, ...]] = {}  # conversion rows not in the catalog yet
        self.last_error: str | None = None  # stays on the status line until the next job
        self.ready = False  # mounted: its panes exist
        self.unshown: Snapshot | None = None
        # progress that came while another screen covered this one: shown when it is back
        # (updating hidden widgets re-laid out and re-rendered the screen on top every frame)
        self.held: dict[tuple[str, str | None], ev.Progress] = {}

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

    # -- what the app hands over -----------------------------------------------------------

    def on_mount(self) -> None:
        self.ready = True
        if self.unshown is not None:  # the workspace loaded before this screen had its panes
            self.show_workspace(self.unshown)

    def show_workspace(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.unshown = None if self.ready else snap  # on_mount shows it (seen under load)
        if self.unshown is not None:
            return
        with contextlib.suppress(NoMatches):  # a load that ended as the app closed: panes gone
            self._show(snap)

    def _show(self, snap: Snapshot) -> None:
        self.query_one(DatasetsPane).show(snap.datasets)
        focus = snap.focus_dataset()
        newest = snap.models[-1] if snap.models else None
        self.query_one(TrainingPane).recall(
            task_of(focus.manifest) if focus else SEGMENTATION,
            newest,
            snap.model_label(newest) if newest else "",
        )
        self.query_one(ConversionsPane).show(snap, self.queued)
        self._show_boards()
        if self.last_error:
            self.status(self.last_error, "red")
        elif snap.problem:
            self.status(snap.problem, "red")
        elif not snap.datasets:
            self.status(
                "Empty workspace: press r to run the demo (synthetic dataset, UNet, "
                "conversions, benchmark on this machine)."
            )
        else:
            self.status(
                f"{self.workspace_name}: {len(snap.datasets)} dataset(s), {len(snap.models)} "
                f"model(s), {len(snap.converted)} conversion(s), {len(snap.boards)} "
                "board(s)"
            )

    def show_conversion(self, job: str, row: tuple[str, ...] | None) -> None:
        """A queued or running conversion's row (None: it ended, the catalog shows it now)."""
        if row is None:
            self.queued.pop(job, None)
        else:
            self.queued[job] = row
        self.query_one(ConversionsPane).show(self.snapshot, self.queued)

    def board_state(self, board: str, text: str) -> None:
        self.board_states[board] = text
        self._show_boards()

    @property
    def covered(self) -> bool:
        """Another full screen is on top (a modal dialog leaves this one in view). Textual's
        ``is_current`` stays true for the screen just under the top one."""
        top = self.app.screen
        return top is not self and not top.is_modal

    def on_screen_resume(self) -> None:
        held, self.held = self.held, {}
        for event in held.values():
            self.on_engine(event)

    def on_engine(self, event: ev.Event) -> None:
        board = getattr(event, "board", None)
        if isinstance(event, ev.Progress) and self.covered:
            self.held[(event.stage, board)] = event
            return
        self.held.pop((event.stage, board), None)  # a finish or an error supersedes it
        if event.stage == "train" and board is None:
            self._training(event)
        if isinstance(event, ev.Progress) and event.stage != "train":
            total = f"/{event.total:.0f}" if event.total else ""
            self.status(f"{_subject(event)}: {event.done:.0f}{total} {event.unit} {event.message}")
            if event.stage == "deploy" and board:
                self.board_state(board, f"deploying {event.done / (event.total or 1):.0%}")
        elif isinstance(event, ev.Error) and event.stage == "probe" and board:
            self.board_state(board, "offline")
            self.status(event.message)
        elif isinstance(event, ev.Log | ev.Error):
            self.status(f"{_subject(event)}: {event.message}")
        elif isinstance(event, ev.Result) and event.stage in ("probe", "deploy") and board:
            self.board_state(board, "online")

    def on_job_started(self) -> None:
        self.last_error = None

    def on_job_ended(self, job: str, error: str | None, board: str | None) -> None:
        if error:
            self.last_error = f"{job}: {error}"
        if board is not None and job.startswith(("bench", "deploy")):
            self.board_state(board, "offline" if error and "board" in error else "online")

    def _training(self, event: ev.Event) -> None:
        training = self.query_one(TrainingPane)
        if isinstance(event, ev.StageStarted):
            training.start(f"{event.title}…")
        elif isinstance(event, ev.Progress):
            where = f" on {event.worker}" if event.worker else ""
            training.progress(event.done, event.total, event.message + where)
        elif isinstance(event, ev.Metric) and event.epoch is not None:
            training.metric(event.name, event.value, event.epoch)
        elif isinstance(event, ev.StageFinished):
            training.finish(f"Training {event.status} in {event.seconds:.0f} s {event.detail}")

    def _show_boards(self) -> None:
        snap = self.snapshot
        self.query_one(BoardsPane).show(snap.boards, snap.probes, self.board_states, snap.last_p50)


def _subject(event: ev.Event) -> str:
    """What an event is about: ``rpi4 bench``, ``convert on host:4242`` (a Ray worker)."""
    board, worker = getattr(event, "board", None), getattr(event, "worker", None)
    return f"{board + ' ' if board else ''}{event.stage}{f' on {worker}' if worker else ''}"
