"""The results screen on a workspace a headless run filled: real inference for its images."""

from pathlib import Path

from textual.widgets import DataTable

from mllib_tui.app import MllibApp
from tests.test_app import wait_for


async def test_results_show_where_a_row_fails_and_where_int8_differs(app_ws: Path) -> None:
    """Real inference over the validation split, in a worker: the lowest-IoU images of the
    selected row, then where LiteRT int8 differs from the TensorFlow fp32 baseline."""
    from backends.workspace import Workspace
    from mllib_tui.screens.results import IMAGES, ResultsScreen
    from mllib_tui.widgets.image import ImageView

    catalog = Workspace.open(app_ws).catalog
    (model,) = catalog.artifacts("model")
    app = MllibApp(app_ws)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: bool(app.snapshot.models))
        await pilot.press("v")
        screen = app.screen
        assert isinstance(screen, ResultsScreen) and screen.model.id == model.id
        await wait_for(pilot, lambda: bool(screen.shown))
        table = screen.query_one("#results", DataTable)
        softwares = [str(c) for c in table.get_column("Software")]
        assert {"TensorFlow fp32", "LiteRT int8"} <= set(softwares)
        assert screen.baseline is not None and screen.baseline.software == "TensorFlow fp32"
        status = screen.query_one("#status")
        view = screen.query_one("#images", ImageView)
        await pilot.press("f")  # the baseline row is under the cursor
        await wait_for(pilot, lambda: "lowest mIoU" in str(status.render()))
        assert view.display and view._image is not None
        assert view._image.shape == (IMAGES * 64, 3 * 64, 3)  # image | truth | prediction each
        table.move_cursor(row=softwares.index("LiteRT int8"))
        await pilot.press("i")
        await wait_for(pilot, lambda: "differing pixels" in str(status.render()))
        assert "TensorFlow fp32@local | LiteRT int8@local" in str(status.render())
