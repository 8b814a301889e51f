"""Is the app's event loop ever blocked? Drive it headless while a training run and 8 simulated
boards stream events (a feeder thread posting as fast as workers would), with a board screen
open, and measure how late a 5 ms timer fires on the loop: max and p99 stall. Also the start to
first frame in a fresh process. Targets: stall max 50 ms, p99 16 ms; first frame 0.5 s.

``--slower 3`` runs it all as on a machine three times slower: the process (and the fresh ones
it starts) moves into a cgroup whose CPU quota is a third of this machine's cores, in 2 ms
slices so the throttling itself adds at most about 1.3 ms to a stall (Linux cgroup v1 or v2,
as root).

    .venv/bin/python -m benchmarks.tui_responsiveness [--seconds 5] [--rate 2000] [--slower 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from backends import events as ev
from mllib_tui.app import MllibApp
from mllib_tui.messages import EngineEvent
from mllib_tui.screens.board import BoardScreen

FIRST_FRAME = """
import time; start = time.perf_counter()
import asyncio
from mllib_tui.app import MllibApp
async def main():
    app = MllibApp({root!r})
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - start)
asyncio.run(main())
"""


def feed(app: MllibApp, stop: threading.Event, rate: int, boards: list[str]) -> int:
    """Events as workers send them: training progress and metrics, 8 boards benchmarking."""
    sent, step, confusion = 0, 0, [[900, 5, 5, 5], [10, 80, 5, 5], [10, 5, 80, 5], [5, 5, 5, 85]]
    while not stop.is_set():
        step += 1
        app.post_message(
            EngineEvent(
                ev.Progress(
                    stage="train", done=step, total=10**6, unit="steps", message=f"step {step}"
                ),
                "demo",
            )
        )
        if step % 100 == 0:
            app.post_message(
                EngineEvent(
                    ev.Metric(stage="train", name="val_miou", value=step % 1000 / 1000, epoch=step),
                    "demo",
                )
            )
        board = boards[step % len(boards)]
        app.post_message(
            EngineEvent(
                ev.Progress(stage=f"{board}/bench", done=step % 64, total=64, unit="images"),
                f"bench:{board}",
            )
        )
        if step % 50 == 0:
            row = {
                "software": "LiteRT int8",
                "runtime": "litert",
                "artifact": step % 7,
                "images": 64,
                "pixel_accuracy": 0.98,
                "similarity": 0.81,
                "miou": 0.84,
                "status": "ok",
                "latency": {"p50_ms": 1.0, "p90_ms": 1.1, "p99_ms": 1.3},
                "confusion": confusion,
                "board": board,
            }
            app.post_message(
                EngineEvent(ev.Result(stage="bench", name="x", data=row), f"bench:{board}")
            )
        sent += 3
        time.sleep(1 / rate)
    return sent


async def measure(root: Path, seconds: float, rate: int) -> tuple[list[float], int]:
    boards = [f"b{i}" for i in range(8)]
    (root / "devices.toml").write_text(
        "".join(f'[boards.{b}]\nhost = "10.0.0.{i + 1}"\n' for i, b in enumerate(boards))
    )
    app = MllibApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.5)
        await app.push_screen(BoardScreen("b0", None))
        stop, result = threading.Event(), {}
        thread = threading.Thread(target=lambda: result.update(sent=feed(app, stop, rate, boards)))
        thread.start()
        lateness = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lateness.append((time.perf_counter() - before - 0.005) * 1000)
        stop.set()
        thread.join()
        await pilot.pause(0.2)
    return lateness, result["sent"]


PERIOD_US = 2000


def slow_down(factor: float) -> str:
    """Move this process into a CPU cgroup with 1/``factor`` of the machine's cores."""
    cores = os.cpu_count() or 1
    quota = max(1000, int(PERIOD_US * cores / factor))
    v2 = Path("/sys/fs/cgroup/cgroup.controllers")
    try:
        if v2.exists() and "cpu" in v2.read_text().split():
            group = Path("/sys/fs/cgroup/mllib-slower")
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            group = Path("/sys/fs/cgroup/cpu/mllib-slower")
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError as exc:
        raise SystemExit(f"--slower needs a writable CPU cgroup (run as root): {exc}") from None
    return f"{quota / PERIOD_US:.2f} of {cores} cores ({factor:g}x slower), cgroup {group}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=2000, help="feeder iterations per second")
    parser.add_argument(
        "--slower", type=float, metavar="FACTOR", help="as on a machine FACTOR times slower"
    )
    args = parser.parse_args()
    if args.slower:
        print(f"CPU: {slow_down(args.slower)}")
    root = Path(tempfile.mkdtemp()) / "ws"
    first = [
        float(
            subprocess.run(
                [sys.executable, "-c", FIRST_FRAME.format(root=str(root))],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(3)
    ]
    lateness, sent = asyncio.run(measure(root, args.seconds, args.rate))
    stalls = np.asarray(lateness)
    print(
        f"start to first frame (fresh process, imports included): "
        f"median {np.median(first):.3f} s of 3 (target 0.5 s)"
    )
    print(
        f"{sent} events in {args.seconds:.0f} s ({sent / args.seconds:.0f}/s): training "
        "progress and metrics, 8 boards benchmarking, a board screen open"
    )
    print(
        f"event-loop stall: max {stalls.max():.1f} ms (target 50), p99 "
        f"{np.percentile(stalls, 99):.1f} ms (target 16), median {np.median(stalls):.2f} ms "
        f"over {len(stalls)} timer ticks"
    )


if __name__ == "__main__":
    main()
