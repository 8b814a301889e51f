"""A camera for board tests: an MJPEG video the test writes, which the board opens with the
same ``VideoCapture`` call as a device; and this machine's decode of it (the board venv's
OpenCV is the same build, so frames decode to the same pixels there)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import cv2
import numpy as np

FRAMES = 24


def write_video(path: Path, frames: int) -> None:
    """Frames a camera might see: a textured scene with shapes that move and change."""
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 60, (480, 640, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(frames):
        image = texture.copy()
        cv2.rectangle(image, (40 + 12 * i, 60), (200 + 12 * i, 300), (30, 200, 90), -1)
        cv2.circle(image, (500 - 9 * i, 250 + 3 * i), 40 + 2 * i, (220, 40, 40), -1)
        image[:: 3 + i % 4] //= 2
        writer.write(image)
    writer.release()


def video_frames(path: Path) -> list[np.ndarray]:
    """The video as this machine decodes it, BGR."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while (got := capture.read())[0]:
        frames.append(got[1])
    return frames


def watch(root: Path, devices: Path, settings: Any) -> tuple[dict, list[Any]]:
    """Serve ``settings`` (a ``Serve``) from workspace ``root``: the run's figures and every
    ``Live`` the viewer was handed."""
    from backends.boards.inventory import load_inventory
    from backends.serve.run import serve
    from backends.workspace import Workspace

    ws = Workspace.open(root)
    seen: list[Any] = []
    figures = asyncio.run(
        serve(ws, load_inventory(devices, ws.root), settings, lambda _e: None, seen.append)
    )
    return figures, seen
