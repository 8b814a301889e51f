"""The app under Pilot: flows asserted on messages and screen state, real engine underneath."""

from pathlib import Path

import pytest
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable, Sparkline

from backends import events as ev
from mllib_tui.app import MllibApp
from mllib_tui.messages import EngineEvent, JobEnded
from mllib_tui.screens.board import BoardScreen
from mllib_tui.screens.dashboard import Dashboard
from mllib_tui.screens.modals import Confirm, DeployForm, Help
from mllib_tui.widgets.heatmap import ConfusionHeatmap
from tests.conftest import TINY, TINY_SOFTWARE


class Recorder:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def events(self, kind: type) -> list:
        return [
            m.event
            for m in self.messages
            if isinstance(m, EngineEvent) and isinstance(m.event, kind)
        ]

    def ended(self, job: str) -> JobEnded | None:
        return next((m for m in self.messages if isinstance(m, JobEnded) and m.job == job), None)


async def wait_for(pilot, condition, seconds: float = 120) -> None:
    for _ in range(int(seconds * 10)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out waiting for the app")


def rows(table: DataTable) -> list[list]:
    return [table.get_row(key) for key in table.rows]


async def test_empty_workspace_offers_the_demo_and_dims_what_cannot_run(tmp_path: Path) -> None:
    app = MllibApp(tmp_path / "empty")
    async with app.run_test(size=(120, 34)) as pilot:
        await wait_for(
            pilot, lambda: "Empty workspace" in str(app.dashboard.query_one("#status").render())
        )
        assert app.check_action("demo", ()) is True
        for action in ("train", "convert", "deploy", "cancel"):
            assert app.check_action(action, ()) is None  # shown dimmed, not hidden
        assert rows(app.dashboard.query_one("#boards-table", DataTable))[0][0] == "local"


@pytest.mark.slow
async def test_demo_streams_training_into_the_dashboard(tmp_path: Path) -> None:
    app, seen = MllibApp(tmp_path / "ws", pipeline=TINY), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await pilot.pause(0.5)
        await pilot.press("r")
        await wait_for(pilot, lambda: seen.ended("demo") is not None, 300)
        assert seen.ended("demo").error is None
        stages = [e.stage for e in seen.events(ev.StageFinished)]
        assert stages == ["dataset", "train", "convert", "bench"]
        epochs = [e.epoch for e in seen.events(ev.Metric) if e.name == "val_miou"]
        assert epochs == [1, 2]
        await wait_for(
            pilot, lambda: len(rows(app.dashboard.query_one("#artifacts-table", DataTable))) == 5
        )
        assert len(app.dashboard.query_one("#val", Sparkline).data) == 2
        assert rows(app.dashboard.query_one("#datasets-table", DataTable))[0][0] == "tiny"


async def test_what_a_headless_run_did_is_on_screen_when_the_app_opens(app_ws: Path) -> None:
    """The workspace was filled by `mllib-tui run --headless`: its training's epochs and the
    rows it measured here show without running anything in the app."""
    from textual.widgets import Label

    from backends.workspace import Workspace
    from mllib_tui.widgets.panes import TrainingPane

    catalog = Workspace.open(app_ws).catalog
    history = catalog.artifacts("model")[-1].meta["history"]
    measured = next(  # the newest run with rows of this machine
        here for run, _, _ in reversed(catalog.runs())
        if (here := [r for r in catalog.results(run) if r.board is None])
    )  # fmt: skip
    app = MllibApp(app_ws)
    async with app.run_test(size=(120, 34)) as pilot:
        training = app.dashboard.query_one(TrainingPane)
        status = training.query_one("#train-status", Label)
        await wait_for(pilot, lambda: "Last trained: unet-tiny@" in str(status.render()))
        assert "2 epoch(s)" in str(status.render())
        assert training.query_one("#val", Sparkline).data == history["val_miou"]
        assert training.query_one("#loss", Sparkline).data == history["loss"]
        boards = app.dashboard.query_one("#boards-table", DataTable)
        boards.focus()
        boards.move_cursor(row=boards.get_row_index("local"))
        await pilot.press("enter")
        assert isinstance(app.screen, BoardScreen)
        await pilot.pause(0.2)
        shown = [r[0] for r in rows(app.screen.query_one("#bench", DataTable))]
        assert shown == [r.software for r in measured]


@pytest.mark.slow
async def test_keyboard_deploy_then_benchmark_on_the_board_screen(app_ws: Path) -> None:
    app, seen = MllibApp(app_ws), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: bool(app.snapshot.converted))
        table = app.dashboard.query_one("#artifacts-table", DataTable)
        int8 = next(a for a in app.snapshot.converted if a.meta["precision"] == "int8")
        table.focus()
        table.move_cursor(row=table.get_row_index(f"a{int8.id}"))
        await pilot.press("d")
        assert isinstance(app.screen, DeployForm)
        await pilot.press("enter")  # `local` is preselected
        await wait_for(pilot, lambda: seen.ended("deploy:local") is not None)
        assert seen.ended("deploy:local").error is None
        current = app_ws / "boards" / "local" / "deployed" / "tflite-int8" / "current"
        assert (current / "model.tflite").exists()
        boards = app.dashboard.query_one("#boards-table", DataTable)
        assert rows(boards)[0][3] == "online"

        boards.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, BoardScreen)
        await pilot.press("b")
        await wait_for(pilot, lambda: seen.ended("bench:local") is not None, 300)
        assert seen.ended("bench:local").error is None
        bench = rows(app.screen.query_one("#bench", DataTable))
        assert sorted(r[0] for r in bench) == sorted(TINY_SOFTWARE[1:])  # all but TensorFlow
        assert all(r[-1] == "ok" and r[1] == "5" for r in bench)
        heatmap = app.screen.query_one(ConfusionHeatmap)
        assert heatmap.matrix and heatmap.class_names == ["void", "person", "vehicle", "animal"]
        await pilot.press("n")
        assert heatmap.normalised is False
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


async def test_failing_conversion_is_reported_and_the_app_stays_usable(app_ws: Path) -> None:
    app, seen = MllibApp(app_ws), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: bool(app.snapshot.models))
        model = app.snapshot.models[0]
        (app_ws / model.path).write_bytes(b"damaged")  # the conversion will refuse it
        await pilot.press("c")
        await pilot.click("#queue")
        job = next(iter(app.dashboard.queued))
        await wait_for(pilot, lambda: seen.ended(job) is not None)
        assert "does not match the catalog's sha256" in seen.ended(job).error
        status = app.dashboard.query_one("#status")  # updated on the next refresh
        await wait_for(pilot, lambda: "does not match" in str(status.render()))
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)


async def test_corrupt_catalog_is_a_message_not_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "catalog.sqlite").write_bytes(b"garbage" * 100)
    app, seen = MllibApp(root), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: seen.ended("load") is not None)
        assert "not a readable SQLite database" in seen.ended("load").error
        assert app.check_action("demo", ()) is None
        await pilot.press("r")  # dimmed: nothing happens, nothing crashes

        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)


async def test_offline_board_while_its_screen_is_open(app_ws: Path, tmp_path: Path) -> None:
    devices = tmp_path / "devices.toml"
    devices.write_text('[boards.gone]\nhost = "127.0.0.1"\nport = 9\nconnect_timeout = 1\n')
    app, seen = MllibApp(app_ws, devices), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: len(app.snapshot.boards) == 2)
        await pilot.press("p")
        await wait_for(pilot, lambda: seen.ended("probe") is not None)
        boards = app.dashboard.query_one("#boards-table", DataTable)
        assert {r[0]: r[3] for r in rows(boards)} == {"local": "online", "gone": "offline"}
        boards.focus()
        boards.move_cursor(row=boards.get_row_index("gone"))
        await pilot.press("enter")
        assert isinstance(app.screen, BoardScreen) and app.screen.board == "gone"
        await pilot.press("b")
        await wait_for(pilot, lambda: seen.ended("bench:gone") is not None)
        assert "unreachable" in seen.ended("bench:gone").error
        statuses = [r[-1] for r in rows(app.screen.query_one("#bench", DataTable))]
        assert statuses and all(s.startswith(("failed", "not run")) for s in statuses)
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


async def test_small_terminal_says_so_and_stacks_the_panes(tmp_path: Path) -> None:
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause(0.3)
        assert app.dashboard.has_class("narrow")
        assert "60x20 is small" in str(app.dashboard.query_one("#small").render())
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)
        keys = {description: key for key, description in app.screen.lines}
        assert keys["Help"] == "?" and "q" in keys["Quit"].split()  # not "question_mark"
        assert keys["Next pane (shift+tab: the one before)"] == "tab"


@pytest.mark.slow
async def test_quit_while_training_asks_and_cancels(tmp_path: Path) -> None:
    slow = tmp_path / "slow.toml"
    slow.write_text(TINY.read_text().replace("epochs = 2", "epochs = 50"))
    app, seen = MllibApp(tmp_path / "ws", pipeline=slow), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await pilot.pause(0.5)
        await pilot.press("r")
        await wait_for(pilot, lambda: any(e.stage == "train" for e in seen.events(ev.Progress)))
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await wait_for(pilot, lambda: seen.ended("demo") is not None, 30)
        assert "cancelled" in seen.ended("demo").error
    assert app.return_code == 0  # the app left by itself once the work had stopped
    from backends.workspace import Workspace

    states = [j.state for j in Workspace.open(tmp_path / "ws").catalog.jobs("train")]
    assert states == ["interrupted"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"[keys\n", "not valid TOML"),
        (b"[keys]\ndeploy = 3\n", "[keys] maps binding ids to keys"),
        (b"\xff\xfe", "not UTF-8 text (byte 0)"),
    ],
)
async def test_a_bad_keymap_is_one_line_and_the_app_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: bytes, said: str
) -> None:
    keymap = tmp_path / "home" / ".config" / "mllib" / "keymap.toml"
    keymap.parent.mkdir(parents=True)
    keymap.write_bytes(text)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.pause(0.3)
        (note,) = [n.message for n in app._notifications]
        assert note.startswith(f"{keymap}: ") and said in note
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)


async def test_a_keymap_rebinds_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keymap = tmp_path / "home" / ".config" / "mllib" / "keymap.toml"
    keymap.parent.mkdir(parents=True)
    keymap.write_text('[keys]\nhelp = "f1"\n')
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.pause(0.3)
        assert not list(app._notifications)
        await pilot.press("f1")
        assert isinstance(app.screen, Help)
        assert ("f1", "Help") in app.screen.lines  # the key that works, not the default


async def test_no_color_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert app.no_color


async def test_engine_and_board_messages_are_shown_as_text_not_markup(tmp_path: Path) -> None:
    """A message holding '[/]' used to raise MarkupError (the app died); '[red]' restyled it."""
    hostile = "[/] board said [red]boom[/red] [link=http://x]click[/link] [/bold]"
    app, seen = MllibApp(tmp_path / "ws"), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:

        def status() -> str:
            return str(app.dashboard.query_one("#status").render())

        await wait_for(pilot, lambda: "Empty workspace" in status())  # loaded: nothing overwrites
        app.post_message(
            EngineEvent(
                ev.Error(stage="bench", board="local", message=hostile, error_type="StageFailed"),
                "x",
            )
        )
        await wait_for(pilot, lambda: hostile in status(), 10)
        app.post_message(JobEnded("bench:local", hostile))
        await wait_for(pilot, lambda: f"bench:local: {hostile}" in status(), 10)
        app.push_screen(BoardScreen("local", None, {"arch": hostile, "modules": {}}))
        await pilot.pause(0.2)
        row = {"name": "r", "task": "segmentation", "software": hostile, "runtime": "litert",
               "precision": "fp32", "format": "tflite", "artifact": 1, "size_bytes": 1,
               "hardware": hostile, "machine": {}, "status": "failed", "error": hostile,
               "board": "local"}  # fmt: skip
        result = ev.Result(stage="bench", name="r", data=row, board="local")
        app.post_message(EngineEvent(result, "bench:local"))
        await pilot.pause(0.2)
        (shown,) = rows(app.screen.query_one("#bench", DataTable))
        rendered = [Text.from_markup(shown[i]).plain for i in (0, -1)]  # as the table draws it
        assert rendered == [hostile, f"failed: {hostile}"]
        assert hostile in str(app.screen.query_one("#manifest").render())
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


@pytest.mark.slow
async def test_conversions_queue_and_run_one_at_a_time(
    app_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from textual.widgets import Select
    from textual.worker import WorkerState

    from mllib_tui import jobs

    # The conversions are cached in this workspace and end at once; the first one is held at
    # its start until the queue has been looked at (the real conversion runs after that).
    release, real = threading.Event(), jobs.convert

    def held(ws, model, target):
        work = real(ws, model, target)
        return (lambda emit: (release.wait(60), work(emit))[1]) if target == "tflite:fp16" else work

    monkeypatch.setattr(jobs, "convert", held)
    app, seen = MllibApp(app_ws), Recorder()
    async with app.run_test(size=(120, 34), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: bool(app.snapshot.models))
        model = app.snapshot.models[0].id
        for target in ("tflite:fp16", "onnx:fp32"):
            await pilot.press("c")
            app.screen.query_one(Select).value = target
            await pilot.click("#queue")
        first, second = f"convert:{model}:tflite:fp16", f"convert:{model}:onnx:fp32"
        assert app.converting == first and [job for job, _ in app.conversions] == [second]
        queued = app.dashboard.queued
        assert queued[second][3] == "queued" and queued[first][3] == "running"
        release.set()
        most = 0
        for _ in range(3000):
            running = [w for w in app.workers if w.group == "convert"]
            most = max(most, sum(w.state is WorkerState.RUNNING for w in running))
            if seen.ended(second) is not None:
                break
            await pilot.pause(0.1)
        assert most == 1
        assert seen.ended(first).error is None and seen.ended(second).error is None
        ended = [
            m.job for m in seen.messages if isinstance(m, JobEnded) and m.job in (first, second)
        ]
        assert ended == [first, second]
