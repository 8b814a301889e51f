"""Capture over SSH: frames/s of 640x480 JPEGs from a real sshd board (``acquire``: the agent
reads the camera, streams each frame as an event line and its raw JPEG bytes, the workstation
checks each frame's sha256 and stores it) vs OpenSSH's ``ssh board cat`` of the same frames'
bytes, in the same run.

The camera is an MJPEG video file the board opens with ``VideoCapture``, as it would a webcam,
so frames pass through as the camera encoded them; a second run asks for another size, so the
board decodes, resizes and encodes each frame (its CPU, not the link, is then the bound).

On loopback every process shares this machine's two cores, so the figure there is CPU: the
workstation decrypts SSH in Python (asyncssh) where ``ssh`` is C. ``--link MBIT`` also runs both
through a link of that rate (``tc`` shaping loopback for the run; 1000 is a board's Gigabit
Ethernet), which is what a board on the bench has.

    .venv/bin/python -m benchmarks.capture_throughput [--frames 3000] [--link 1000]
    (root: real sshd boards, and tc for --link)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from backends import events as ev
from backends.acquire.frames import frame_path
from backends.acquire.run import Acquire, acquire
from backends.boards.inventory import load_inventory
from backends.workspace import Workspace
from tests.sshd import CAMERA_PACKAGES, Fleet, board_python


def write_video(path: Path, frames: int) -> None:
    """A textured, changing scene: JPEGs of a realistic size (about 60-90 kB at 640x480)."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 120, (480, 640, 3), dtype=np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(frames):
        image = np.roll(texture, 3 * i, axis=1)
        cv2.circle(image, (320 + int(200 * np.sin(i / 20)), 240), 80, (40, 200, 90), -1)
        writer.write(image)
    writer.release()


def capture(ws: Workspace, devices: Path, frames: int, size: tuple[int, int] | None) -> dict:
    arrivals: list[float] = []

    def emit(event: ev.Event) -> None:
        if isinstance(event, ev.Frame):
            arrivals.append(time.perf_counter())

    settings = Acquire(board="cam", frames=frames, interval=0.0, size=size, dataset="bench")
    start = time.perf_counter()
    record = asyncio.run(acquire(ws, load_inventory(devices, ws.root), settings, emit))
    wall = time.perf_counter() - start
    stream = arrivals[-1] - arrivals[0]
    return {
        "record": record,
        "wall": wall,
        "first": arrivals[0] - start,
        "stream_fps": (len(arrivals) - 1) / stream,
        "wall_fps": len(arrivals) / wall,
    }


def ssh_cat(fleet: Fleet, remote: Path) -> float:
    """Seconds for OpenSSH's client to read ``remote`` from the board and discard it."""
    board = fleet.boards["cam"]
    start = time.perf_counter()
    subprocess.run(
        [
            *("ssh", "-i", str(fleet.client_key), "-p", str(board.port)),
            *("-o", f"UserKnownHostsFile={fleet.known_hosts}", "-o", "BatchMode=yes"),
            f"{board.user}@127.0.0.1",
            "cat",
            str(remote),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--link", type=int, default=1000, help="Mbit/s of the shaped run; 0: none")
    args = parser.parse_args()
    os.makedirs("/run/sshd", exist_ok=True)
    root = Path(tempfile.mkdtemp())
    fleet = Fleet()
    try:
        fleet.add("cam", 0)
        fleet.trust_all()
        os.environ["MLLIB_KNOWN_HOSTS"] = str(fleet.known_hosts)
        video = fleet.root / "camera.avi"
        write_video(video, args.frames)
        os.chmod(video, 0o644)
        devices = fleet.devices_toml(
            root / "devices.toml",
            cam={"python": board_python(CAMERA_PACKAGES), "camera": str(video)},
        )
        ws = Workspace.open(root / "ws")
        capture(ws, devices, 20, None)  # the agent uploaded and the caches warm
        runs = [("loopback", "camera's own JPEG", None), ("loopback", "board encodes", (320, 240))]
        if args.link:
            runs.append((f"{args.link} Mbit/s link", "camera's own JPEG", None))
        for link, label, size in runs:
            with shaped(args.link if link != "loopback" else 0):
                measure(fleet, ws, devices, args.frames, f"{link}, {label}", size)
    finally:
        fleet.stop()


@contextlib.contextmanager
def shaped(mbit: int) -> Iterator[None]:
    """Loopback limited to ``mbit`` Mbit/s while the block runs (nothing when 0)."""
    if not mbit:
        yield
        return
    rule = ["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", f"{mbit}mbit"]
    subprocess.run([*rule, "burst", "1mb", "latency", "50ms"], check=True)
    try:
        yield
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=True)


def measure(
    fleet: Fleet, ws: Workspace, devices: Path, count: int, label: str, size: tuple | None
) -> None:
    mllib = capture(ws, devices, count, size)
    frames = mllib["record"].manifest["frames"]
    blob = fleet.root / "frames.bin"  # the same bytes, one file, for `cat`
    with open(blob, "wb") as out:
        for frame in frames:
            out.write(frame_path(ws.root, frame["sha256"]).read_bytes())
    os.chmod(blob, 0o644)
    ssh_cat(fleet, blob)  # warm the page cache
    cat = min(ssh_cat(fleet, blob) for _ in range(3))
    cat_fps = len(frames) / cat
    mean_kb = blob.stat().st_size / len(frames) / 1000
    print(
        f"{label}: {len(frames)} frames of {mean_kb:.0f} kB\n"
        f"  mllib acquire: {mllib['stream_fps']:.0f} frames/s streaming, "
        f"{mllib['wall_fps']:.0f} frames/s over the whole {mllib['wall']:.2f} s "
        f"(first frame after {mllib['first']:.2f} s: connect, agent start, camera open)\n"
        f"  ssh board cat: {cat_fps:.0f} frames/s ({cat:.2f} s, connect included)\n"
        f"  ratio (streaming / cat): {mllib['stream_fps'] / cat_fps:.2f}  "
        f"(whole run / cat: {mllib['wall_fps'] / cat_fps:.2f}; target >= 0.8)"
    )


if __name__ == "__main__":
    main()
