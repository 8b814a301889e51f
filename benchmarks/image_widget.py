"""The image widget: frames/s drawing a 640x480 camera frame with a class overlay into an 80x30
region (half-block cells, 24-bit colour), each frame a new image, through to the bytes a
terminal receives; with the cost per frame by part. Target: >= 20 frames/s on this machine.

The baseline in the same run is the part no terminal drawing can skip: scaling the frame (and
its mask) down to the region, once per frame.

    .venv/bin/python -m benchmarks.image_widget [--frames 200]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
from rich.console import Console

from mllib_tui.widgets.image import ImageView, fit

WIDTH, HEIGHT = 80, 30


def frames(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Camera-like frames (texture, moving shapes) and 4-class masks of the shapes."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 160, (480, 640, 3), dtype=np.uint8)
    out = []
    for i in range(count):
        image = np.roll(texture, 5 * i, axis=1)
        mask = np.zeros((480, 640), np.uint8)
        cv2.circle(mask, (320 + int(200 * np.sin(i / 10)), 240), 90, 1, -1)
        cv2.rectangle(mask, (40, 300 - i % 100), (220, 460), 2, -1)
        out.append((image, mask))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    shots = frames(args.frames)
    console = Console(color_system="truecolor", width=WIDTH, force_terminal=True)
    view = ImageView()
    view.rows(WIDTH, HEIGHT)  # imports and caches warm
    for image, mask in shots[:5]:
        view.show(image, mask)
        view.rows(WIDTH, HEIGHT)

    start = time.perf_counter()
    for image, mask in shots:
        fit(image, mask, 255, WIDTH, HEIGHT * 2)
    scale = (time.perf_counter() - start) / len(shots)

    build = ansi = 0.0
    sent = 0
    for image, mask in shots:
        t0 = time.perf_counter()
        view.show(image, mask)
        strips = view.rows(WIDTH, HEIGHT)
        t1 = time.perf_counter()
        text = "".join(console._render_buffer(list(strip)) for strip in strips)
        t2 = time.perf_counter()
        build, ansi, sent = build + t1 - t0, ansi + t2 - t1, sent + len(text)
    per_frame = (build + ansi) / len(shots)
    print(
        f"{len(shots)} frames of 640x480 with a 3-class overlay into {WIDTH}x{HEIGHT} cells:\n"
        f"  {1 / per_frame:.0f} frames/s, {per_frame * 1000:.2f} ms a frame "
        f"(cells {build / len(shots) * 1000:.2f} ms, of which scaling "
        f"{scale * 1000:.2f} ms; escape codes {ansi / len(shots) * 1000:.2f} ms); "
        f"{sent / len(shots) / 1000:.0f} kB to the terminal a frame\n"
        f"  ratio to scaling alone: {per_frame / scale:.1f}x; target >= 20 frames/s"
    )


if __name__ == "__main__":
    main()
