"""The same benchmark on 1 board and on N real sshd boards (default 20) at once: wall time.

All boards here share this machine's cores, so N boards do N times the CPU work on 2 cores; the
script prints the wall-time ratio and, next to it, the floor that CPU sharing alone imposes
(N x single-board CPU time / cores), so what is left is mllib's fan-out overhead. On real boards
each board has its own CPU and the floor is 1.

    .venv/bin/python -m benchmarks.fleet [--boards 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from backends.bench.stage import BenchStep
from backends.boards import fleet as board_fleet
from backends.boards.inventory import load_inventory
from backends.datasets.build import synth_dataset
from backends.workspace import Workspace
from tests.sshd import Fleet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=20)
    args = parser.parse_args()
    os.makedirs("/run/sshd", exist_ok=True)
    root = Path(tempfile.mkdtemp())
    ws = Workspace.open(root / "ws")
    dataset = synth_dataset(ws, name="fleet", images=40, size=(64, 64), emit=lambda e: None)
    from benchmarks.models import build

    paths = build(root / "models", (64, 64), 0.35)
    artifact = ws.import_file(
        paths["tflite-int8"], "tflite", {"precision": "int8", "input_size": [64, 64]}
    )
    step = BenchStep(warmup_runs=5, warmup_seconds=0, min_runs=20, min_seconds=0, threads=1)
    boards = Fleet()
    try:
        for i in range(args.boards):
            boards.add(f"b{i:02d}", i)
        boards.trust_all()
        os.environ["MLLIB_KNOWN_HOSTS"] = str(boards.known_hosts)
        inventory = load_inventory(boards.devices_toml(root / "devices.toml"), ws.root)
        names = list(boards.boards)
        timings = {}
        for count in (1, args.boards):
            run_id = f"fleet-{count}"
            start, own_cpu = time.perf_counter(), time.process_time()
            rows = asyncio.run(
                board_fleet.bench_run(
                    ws,
                    inventory,
                    artifact,
                    names[:count],
                    None,
                    ["litert"],
                    dataset,
                    step,
                    lambda e: None,
                    run_id=run_id,
                    limit=count,
                )
            )
            wall = time.perf_counter() - start
            assert all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
            timings[count] = (wall, sum(r["agent_cpu_seconds"] for r in rows))
            print(
                f"{count} board(s): workstation CPU {time.process_time() - own_cpu:.2f} s "
                "(SSH handshakes, encryption, events)"
            )
        (one_wall, _), (many_wall, many_cpu) = timings[1], timings[args.boards]
        cores = os.cpu_count() or 1
        floor = max(1.0, many_cpu / cores / one_wall)
        print(f"tiny int8 model, 40 validation images, 20 timed runs per board, {cores} cores")
        print(f"1 board:        {one_wall:6.2f} s wall")
        print(
            f"{args.boards} boards:      {many_wall:6.2f} s wall, "
            f"{many_cpu:6.1f} s CPU in the boards' agents"
        )
        print(
            f"wall-time ratio {args.boards} / 1: {many_wall / one_wall:.2f} (target <= 1.5 on real"
            f" boards); CPU-sharing floor here: {floor:.2f}; ratio over the floor: "
            f"{many_wall / one_wall / floor:.2f}"
        )
    finally:
        boards.stop()


if __name__ == "__main__":
    main()
