"""``mllib-tui``: the Textual app on the engine. Work runs in thread workers that only post
messages; handlers here own all state. The engine functions are the CLI's."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import WorkerState, get_current_worker

from backends import events as ev
from backends.errors import Cancelled, MllibError
from backends.formats import KERAS_KIND
from backends.workspace import Workspace, default_root
from mllib_tui import jobs, state
from mllib_tui.keymap import read_keymap
from mllib_tui.messages import EngineEvent, JobEnded, WorkspaceLoaded
from mllib_tui.screens.board import BoardScreen
from mllib_tui.screens.dashboard import Dashboard
from mllib_tui.screens.modals import Confirm, ConvertForm, DeployForm, Help, TrainForm
from mllib_tui.screens.results import ResultsScreen
from mllib_tui.widgets.panes import ConversionsPane

FRAME = 1 / 30  # seconds: how often progress reaches the screen


class MllibApp(App[None]):
    TITLE = "mllib"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("r", "demo", "Demo", id="demo", tooltip="Run the demo pipeline on this machine"),
        Binding("t", "train", "Train", id="train", tooltip="Train a UNet on a dataset"),
        Binding("c", "convert", "Convert", id="convert", tooltip="Queue a conversion"),
        Binding("x", "cancel", "Cancel", id="cancel", tooltip="Cancel running work"),
        Binding("d", "deploy", "Deploy", id="deploy", tooltip="Deploy the selected model"),
        Binding("p", "probe", "Probe", id="probe", tooltip="Probe every board"),
        Binding("v", "results", "Results", id="results", tooltip="Compare a model's rows"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit_app", "Quit", id="quit"),
    ]

    def __init__(
        self,
        workspace: Path | None = None,
        devices: Path | None = None,
        pipeline: Path | None = None,
    ) -> None:
        super().__init__()
        self.root = default_root(workspace)
        self.devices = devices
        self.pipeline_file = pipeline
        self.ws: Workspace | None = None
        self.snapshot = state.Snapshot()
        self.conversions: deque[tuple[str, jobs.Work]] = deque()  # waiting their turn
        self.converting: str | None = None  # the one conversion running (they run one by one)
        self.quitting = False
        # the newest progress of each (job, stage, board) not yet shown: see ``route``
        self.progress: dict[tuple[str, str, str | None], ev.Progress] = {}

    # -- start-up ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(Dashboard(self.root.name))
        self.set_interval(FRAME, self.show_progress)
        try:
            self.set_keymap(read_keymap())
        except MllibError as exc:
            self.notify(str(exc), severity="error", markup=False)
        # After the first refresh: rows reaching a DataTable before it is mounted can keep their
        # columns at header width; and what that frame made, living as long as the app, leaves
        # the cyclic GC's full passes (each scanned it all: 70 ms stalls on a third of 2 cores)
        self.call_after_refresh(self.reload)
        self.call_after_refresh(gc.freeze)

    @work(thread=True, group="load", exclusive=True, exit_on_error=False)
    def reload(self) -> None:
        try:
            self.ws = self.ws or Workspace.open(self.root)
            snapshot = state.load(self.ws, self.devices)
        except MllibError as exc:
            self.post_message(JobEnded("load", str(exc)))
            return
        self.post_message(WorkspaceLoaded(snapshot))

    @property
    def dashboard(self) -> Dashboard:
        return next(s for s in self.screen_stack if isinstance(s, Dashboard))

    @on(WorkspaceLoaded)
    def show_workspace(self, message: WorkspaceLoaded) -> None:
        self.snapshot = message.snapshot
        self.dashboard.show_workspace(message.snapshot)
        self.refresh_bindings()

    # -- running engine work ----------------------------------------------------------------

    def start(self, job: str, work_: jobs.Work, group: str, board: str | None = None) -> None:
        """Run engine work in a thread; its events come back as ``EngineEvent`` messages."""

        def run() -> None:
            worker = get_current_worker()

            def emit(event: ev.Event) -> None:
                if worker.is_cancelled:
                    raise Cancelled("cancelled from the app")
                self.post_message(EngineEvent(event, job))

            error = None
            try:
                work_(emit)
            except MllibError as exc:
                error = str(exc)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.post_message(JobEnded(job, error, board))

        self.dashboard.on_job_started()
        self.run_worker(run, thread=True, group=group, name=job, exit_on_error=False)
        self.refresh_bindings()

    @on(EngineEvent)
    def route(self, message: EngineEvent) -> None:
        """Every screen that shows engine work gets the event. Progress is shown once a frame:
        the newest of each job's stage (a training and eight boards send hundreds a second);
        any other event first shows the progress before it, so the order is the engine's."""
        event = message.event
        if isinstance(event, ev.Progress):
            self.progress[(message.job, event.stage, event.board)] = event
            return
        self.show_progress()
        if isinstance(event, ev.StageFinished | ev.ArtifactWritten):
            self.reload()
        self._dispatch(event)

    def show_progress(self) -> None:
        pending, self.progress = self.progress, {}
        for event in pending.values():
            self._dispatch(event)

    def _dispatch(self, event: ev.Event) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, Dashboard | BoardScreen):
                screen.on_engine(event)

    @on(JobEnded)
    def job_ended(self, message: JobEnded) -> None:
        self.show_progress()  # the job's last progress, before its end
        if message.job == self.converting:
            self.converting = None
            self.dashboard.show_conversion(message.job, None)
            self._next_conversion()
        if message.error:
            self.notify(
                message.error,
                title=f"{message.job} failed",
                severity="error",
                timeout=15,
                markup=False,
            )
        for screen in self.screen_stack:
            if isinstance(screen, Dashboard | BoardScreen):
                screen.on_job_ended(message.job, message.error, message.board)
        if self.quitting and not self.running(excluding=message.job):
            self.exit()
            return
        self.reload()

    def running(self, group: str | None = None, excluding: str | None = None) -> bool:
        return any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            and (group is None or w.group == group)
            and w.group != "load"
            and w.name != excluding
            for w in self.workers
        )

    # -- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dim what cannot run now (None) instead of failing after the key press."""
        snap = self.snapshot
        if self.ws is None and action in ("demo", "train", "convert", "deploy", "probe"):
            return None  # no workspace loaded (yet, or a broken catalog)
        if action in ("demo", "train") and self.running("train"):
            return None
        if action == "train" and not any(d.labelled for d in snap.datasets):
            return None
        if action == "convert" and not snap.models:
            return None
        if action == "deploy" and not (snap.converted or snap.models):
            return None
        if action == "results" and (
            self.ws is None or not snap.models or isinstance(self.screen, ResultsScreen)
        ):
            return None
        return None if action == "cancel" and not self.running() else True

    def action_demo(self) -> None:
        assert self.ws is not None
        self.start("demo", jobs.demo(self.ws, self.pipeline_file, self.devices), group="train")

    def action_train(self) -> None:
        names = [f"{d.name}@{d.version}" for d in self.snapshot.datasets if d.labelled]

        def chosen(answer: tuple[str, int] | None) -> None:
            if answer is None:
                return
            assert self.ws is not None
            self.start("train", jobs.train(self.ws, *answer), group="train")

        self.push_screen(TrainForm(names), chosen)

    def action_convert(self) -> None:
        model = self._selected("model") or self.snapshot.models[-1]

        def chosen(target: str | None) -> None:
            if target is None:
                return
            job = f"convert:{model.id}:{target}"
            if job == self.converting or job in dict(self.conversions):
                self.notify(f"{target} of model {model.id} is already queued")
                return
            assert self.ws is not None
            self.conversions.append((job, jobs.convert(self.ws, model, target)))
            self._show_conversion(job, "queued")
            self._next_conversion()

        self.push_screen(ConvertForm(f"model {model.id}"), chosen)

    def _next_conversion(self) -> None:
        """Start the oldest queued conversion unless one is running (the queue's one rule)."""
        if self.converting is None and self.conversions:
            job, work_ = self.conversions.popleft()
            self.converting = job
            self._show_conversion(job, "running")
            self.start(job, work_, group="convert")

    def _show_conversion(self, job: str, state: str) -> None:
        _, model, target = job.split(":", 2)
        fmt, _, precision = target.partition(":")
        source = [a for a in self.snapshot.artifacts if str(a.id) == model]
        label = self.snapshot.model_label(source[0]) if source else model
        self.dashboard.show_conversion(job, ("…", fmt, precision, state, "-", label))

    def action_cancel(self) -> None:
        for job, _ in self.conversions:  # not started: dropped
            self.dashboard.show_conversion(job, None)
        self.conversions.clear()
        self.workers.cancel_group(self, "train")
        self.workers.cancel_group(self, "convert")
        self.workers.cancel_group(self, "boards")
        self.workers.cancel_group(self, "acquire")  # a capture keeps the frames it has
        self.workers.cancel_group(self, "annotate")  # an export is written whole or not at all
        self.notify("Cancelling: running work stops at its next step")

    def action_probe(self) -> None:
        for board in self.snapshot.boards:
            self.dashboard.board_state(board.name, "probing")
        assert self.ws is not None
        self.start("probe", jobs.probe(self.ws, self.devices), group="boards")

    def action_deploy(self) -> None:
        artifact = self._selected(None)
        if artifact is None:
            self.notify("Select a model or conversion first", severity="warning")
            return

        def chosen(boards: list[str] | None) -> None:
            if not boards:
                return
            assert self.ws is not None
            for name in boards:
                self.dashboard.board_state(name, "deploying")
                self.start(
                    f"deploy:{name}",
                    jobs.deploy(self.ws, self.devices, artifact, name),
                    group="boards",
                    board=name,
                )

        label = f"{artifact.kind} {artifact.meta.get('precision', 'fp32')} (artifact {artifact.id})"
        self.push_screen(DeployForm(label, [b.name for b in self.snapshot.boards]), chosen)

    @on(DataTable.RowSelected, "#datasets-table")
    def open_dataset(self, message: DataTable.RowSelected) -> None:
        key = message.row_key.value or ""
        chosen = [d for d in self.snapshot.datasets if f"d{d.id}" == key]
        if chosen and self.ws is not None:
            from mllib_tui.screens.dataset import DatasetScreen  # numpy and OpenCV: when opened

            self.push_screen(DatasetScreen(self.ws, chosen[0]))

    @on(DataTable.RowSelected, "#boards-table")
    def open_board(self, message: DataTable.RowSelected) -> None:
        name = message.row_key.value
        if name is None:
            return
        snap = self.snapshot
        last = snap.last_rows.get(name, [])  # the newest run's rows, a headless one's too
        self.push_screen(BoardScreen(name, snap.focus_dataset(), snap.probes.get(name), last))

    def serve_board(self, board: str) -> None:
        """The newest conversion this board can run, live on its devices.toml camera."""
        from backends.serve.run import Serve
        from mllib_tui.screens.serve import ServeScreen

        snap = self.snapshot
        runnable = snap.runnable_on(board, snap.converted)
        if not runnable or self.ws is None:
            self.notify("No conversion this board can run yet: convert one first (c)")
            return
        chosen = runnable[-1]
        dataset = next((d for d in snap.datasets if d.id == chosen.dataset_id), None)
        classes = list(dataset.manifest.get("classes", [])) if dataset else []
        settings = Serve(artifact=chosen.id, board=board)
        self.push_screen(ServeScreen(self.ws, self.devices, settings, classes))

    def acquire_board(self, board: str) -> None:
        """Capture frames from ``board``'s camera (from its screen); x stops it, keeping them."""
        job = f"acquire:{board}"
        if any(w.name == job and w.state == WorkerState.RUNNING for w in self.workers):
            self.notify(f"{board} is capturing already: x stops it (the frames are kept)")
            return
        assert self.ws is not None
        self.start(job, jobs.acquire(self.ws, self.devices, board), group="acquire")

    def bench_board(self, board: str) -> None:
        """Benchmark the newest model's conversions on ``board`` (from its screen)."""
        snap = self.snapshot
        trained = [a for a in snap.converted if snap.model_of(a).kind == KERAS_KIND]
        if not trained:  # only imported files: no lineage, no dataset to measure against
            self.notify(
                "No conversion of a trained model yet: convert one first (c)", severity="warning"
            )
            return
        newest = max(snap.model_of(a).id for a in trained)
        artifacts = snap.runnable_on(board, [a for a in trained if snap.model_of(a).id == newest])
        for screen in self.screen_stack:
            if isinstance(screen, BoardScreen) and screen.board == board:
                screen.plan(artifacts)
        self.dashboard.board_state(board, "busy")
        assert self.ws is not None
        self.start(
            f"bench:{board}",
            jobs.bench(self.ws, self.devices, board, artifacts),
            group="boards",
            board=board,
        )

    def _selected(self, kind: str | None) -> Any:
        artifact_id = self.dashboard.query_one(ConversionsPane).selected_artifact()
        found = [a for a in self.snapshot.artifacts if a.id == artifact_id]
        if found and (kind is None or found[0].kind == kind):
            return found[0]
        return None

    def action_results(self) -> None:
        """The results screen of the model under the cursor (or of the one a conversion under
        it comes from), else of the newest model."""
        chosen = self._selected(None)
        model = self.snapshot.model_of(chosen) if chosen else self.snapshot.models[-1]
        assert self.ws is not None
        self.push_screen(ResultsScreen(self.ws, model, self.snapshot.model_label(model)))

    def action_help(self) -> None:
        extra = [("tab", "Next pane (shift+tab: the one before)")]
        if isinstance(self.screen, Dashboard):
            extra.append(("enter", "Open the board or dataset under the cursor"))
        self.push_screen(Help.of(self, self.screen, extra))

    def action_quit_app(self) -> None:
        if not self.running():
            self.exit()
            return

        def answer(stop: bool | None) -> None:
            if stop:  # cancel, let the workers record it, then leave (or after 10 s anyway)
                self.quitting = True
                self.action_cancel()
                self.set_timer(10, self.exit)

        self.push_screen(Confirm("Work is still running. Cancel it and quit?"), answer)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.tooltip:
                yield SystemCommand(
                    binding.description,
                    binding.tooltip,
                    lambda action=binding.action: self.run_action(action),
                )
