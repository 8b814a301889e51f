"""The dataset screen under Pilot: a labelled version's images with their masks, and a capture's
camera frames; keys step, jump, toggle the overlay and switch the split."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from textual.widgets import Static

from backends.datasets.build import synth_dataset
from backends.workspace import Workspace
from mllib_tui.app import MllibApp
from mllib_tui.screens.dataset import DatasetScreen
from mllib_tui.widgets.image import ImageView


def synth_ws(root: Path) -> Workspace:
    ws = Workspace.open(root)
    synth_dataset(ws, name="demo", images=24, size=(64, 64), emit=lambda _e: None)  # val: 5
    return ws


async def _open(pilot, root: Path) -> DatasetScreen:
    for _ in range(100):
        if pilot.app.snapshot.datasets:
            break
        await pilot.pause(0.05)
    await pilot.press("enter")  # the datasets table has the focus
    for _ in range(100):
        screen = pilot.app.screen
        if isinstance(screen, DatasetScreen) and screen.view is not None:
            return screen
        await pilot.pause(0.05)
    raise AssertionError("the dataset screen did not open")


def caption(screen: DatasetScreen) -> str:
    return str(screen.query_one("#caption", Static).render())


async def _until(pilot, condition) -> None:
    for _ in range(100):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def test_browse_a_labelled_version(tmp_path: Path) -> None:
    synth_ws(tmp_path / "ws")
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, tmp_path / "ws")
        total = len(screen.browser)
        assert screen.browser.split_name == "val" and total >= 4
        assert caption(screen).startswith(f"val 1/{total}")
        legend = str(screen.query_one("#legend", Static).render())
        for name in ("void", "person", "vehicle", "animal"):
            assert name in legend
        shares = screen.view.shares(4, 255)
        assert sum(shares) == pytest.approx(1.0)
        assert f"{shares[0]:6.1%}" in legend  # this image's class pixels

        await pilot.press("right")
        await _until(pilot, lambda: screen.view.index == 1)
        assert caption(screen).startswith(f"val 2/{total}")
        await pilot.press("end")
        await _until(pilot, lambda: screen.view.index == total - 1)
        assert caption(screen).startswith(f"val {total}/{total}")
        await pilot.press("g", "3", "enter")  # people count from 1: the third image
        await _until(pilot, lambda: screen.view.index == 2)
        await pilot.press("home")
        await _until(pilot, lambda: screen.view.index == 0)

        image = screen.query_one(ImageView)
        width, height = image.size
        with_overlay = [strip.text for strip in image.rows(width, height)]
        styled = [list(strip) for strip in image.rows(width, height)]
        await pilot.press("o")
        plain = [list(strip) for strip in image.rows(width, height)]
        assert styled != plain  # the mask's colours are gone
        assert any("\u2580" in line for line in with_overlay)

        await pilot.press("s")
        await _until(pilot, lambda: screen.view.caption.startswith("train image 0"))
        assert caption(screen).startswith(f"train 1/{len(screen.browser)}")
        assert len(screen.browser) > total
        await pilot.press("question_mark")  # the keys of the screen the user is on
        assert ("o", "Overlay") in app.screen.lines and ("g", "Go to") in app.screen.lines
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, DatasetScreen)


def test_the_widget_draws_the_image_it_is_given() -> None:
    """Half-block cells: the upper pixel is the glyph's colour, the lower its background."""
    image = np.zeros((40, 40, 3), np.uint8)
    image[:20] = (250, 10, 10)  # red top half
    image[20:] = (10, 10, 250)  # blue bottom half
    view = ImageView()
    view._image = image
    strips = view.rows(20, 10)
    colours = {
        (seg.style.color.triplet, seg.style.bgcolor.triplet)
        for strip in strips
        for seg in strip
        if seg.style and seg.style.color
    }
    assert ((250, 10, 10), (250, 10, 10)) in {(tuple(a), tuple(b)) for a, b in colours}
    assert ((10, 10, 250), (10, 10, 250)) in {(tuple(a), tuple(b)) for a, b in colours}
    assert all(strip.cell_length == 20 for strip in strips)


async def test_browse_a_capture(tmp_path: Path) -> None:
    import hashlib

    from backends import events as ev
    from backends.acquire.frames import CaptureWriter

    ws = Workspace.open(tmp_path / "ws")
    writer = CaptureWriter(ws, "bench", {"board": "cam", "camera": "0"})
    for i in range(3):
        frame = np.full((48, 64, 3), 40 * i, np.uint8)
        data = cv2.imencode(".jpg", frame)[1].tobytes()
        writer.add(
            ev.Frame(
                stage="acquire", index=i, sha256=hashlib.sha256(data).hexdigest(),
                size=len(data), width=64, height=48, captured=1.0 + i, score=0.5 - i / 10,
                board="cam",
            ),
            data,
        )  # fmt: skip
    writer.finish(partial=True, reason="the workstation stopped it", job_id=None)
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, tmp_path / "ws")
        assert caption(screen) == "frames 1/3\nframe 0, 64x48, entropy 0.500"
        legend = str(screen.query_one("#legend", Static).render())
        assert "Unlabelled camera frames (partial)" in legend and "board cam" in legend
        await pilot.press("right")
        await _until(pilot, lambda: screen.view.index == 1)
        assert int(screen.view.image.mean()) == pytest.approx(40, abs=2)


async def test_export_from_the_dataset_screen_with_progress(tmp_path: Path) -> None:
    """e: the export form (format, directory, pre-labels), the export runs as a job, its
    progress and its last line show in the side panel, and the catalog records it."""
    from textual.widgets import Input, ProgressBar, Select

    from backends.formats import EXPORT

    ws = synth_ws(tmp_path / "ws")
    app = MllibApp(tmp_path / "ws")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, tmp_path / "ws")
        await pilot.press("e")
        await _until(pilot, lambda: pilot.app.screen.query("#output"))
        form = pilot.app.screen
        form.query_one("#format", Select).value = "coco"
        form.query_one("#output", Input).value = str(tmp_path / "out")
        await pilot.click("#export")
        status = screen.query_one("#status", Static)
        await _until(pilot, lambda: "exported 24 images" in str(status.render()))
        assert screen.query_one(ProgressBar).progress == 24
        assert not screen.has_class("working")
    (record,) = ws.catalog.artifacts(EXPORT)
    assert record.meta["format"] == "coco" and record.meta["output"] == str(tmp_path / "out")
    assert len(list((tmp_path / "out/images").iterdir())) == 24
