"""Engine progress on screen: once a frame, and held by a dashboard another screen covers."""

from pathlib import Path

from backends import events as ev
from mllib_tui.app import MllibApp
from mllib_tui.messages import EngineEvent
from mllib_tui.screens.board import BoardScreen
from tests.test_app import wait_for


async def test_progress_is_shown_once_a_frame_and_held_while_the_dashboard_is_covered(
    tmp_path: Path,
) -> None:
    """A flood of progress reaches the dashboard as its newest figure; while a board screen is
    on top the dashboard's widgets are left alone (updating them re-rendered the board screen
    every frame) and it shows the newest progress when it is back; a finish that came in
    between is not overwritten by the progress before it."""
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 34)) as pilot:
        status = app.dashboard.query_one("#status")
        await wait_for(pilot, lambda: "Empty workspace" in str(status.render()))
        calls: list[ev.Event] = []
        shown = app.dashboard.on_engine
        app.dashboard.on_engine = lambda event: (calls.append(event), shown(event))[1]

        def progress(done: int, stage: str = "convert") -> EngineEvent:
            return EngineEvent(ev.Progress(stage=stage, done=done, total=100, unit="x"), "job")

        for done in range(1, 51):
            app.route(progress(done))  # as fast as a worker can post them, between two frames
        await wait_for(pilot, lambda: "convert: 50/100 x" in str(status.render()), 10)
        assert len(calls) < 10  # the newest once a frame, not fifty times
        app.push_screen(BoardScreen("b1", None))
        await pilot.pause(0.2)
        calls.clear()
        app.route(progress(70))
        app.route(progress(5, "train"))
        app.route(EngineEvent(ev.StageFinished(stage="train", status="done", seconds=1.0), "job"))
        await pilot.pause(0.2)
        assert [type(e) for e in calls] == [ev.Progress, ev.Progress, ev.StageFinished]
        (held,) = app.dashboard.held.values()  # the train progress gave way to its finish
        assert (held.stage, held.done) == ("convert", 70)  # held, not drawn under the board
        await pilot.press("escape")
        await wait_for(pilot, lambda: "convert: 70/100 x" in str(status.render()), 10)
        training = str(app.dashboard.query_one("#train-status").render())
        assert "Training done" in training and "5/" not in training
