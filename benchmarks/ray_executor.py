"""The Ray executor against the local one, on a real local Ray cluster (2 CPUs, token auth)
started once before anything is timed:

1. overhead: the tiny pipeline (examples/tiny.toml) on the running cluster vs the local
   executor, each as `mllib-tui run --headless` in a fresh workspace (target <= 1.25);
2. a sweep of 4 trainings on the cluster's 2 CPUs vs the same 4 one after another on the local
   executor (target <= 0.65).

Each figure is the best of ``--repeat`` runs (default 2), the two sides taking turns.

    .venv/bin/python -m benchmarks.ray_executor [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.raycluster import RayCluster

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny.toml"
SWEEP = """
stages = ["dataset", "train"]

[dataset]
source = "synth"
name = "sweep"
images = 64
size = [96, 96]

[train]
epochs = 3
batch_size = 8

[sweep]
learning_rate = [0.001, 0.002, 0.003, 0.004]
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    exe = Path(sys.executable).with_name("mllib-tui")
    start = time.perf_counter()
    out = subprocess.run([str(exe), *argv], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"mllib-tui {' '.join(argv)} failed:\n{out.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mllib-ray-bench-"))
    cluster = RayCluster(root)
    started = time.perf_counter()
    cluster.start()
    print(f"ray cluster up in {time.perf_counter() - started:.1f} s (not counted)")
    env = {**os.environ, **cluster.env}
    sweep = root / "sweep.toml"
    sweep.write_text(SWEEP)
    ray = ["--ray-address", cluster.address]
    figures: dict[str, list[float]] = {}
    try:
        for i in range(args.repeat):
            for name, argv in (
                ("pipeline local", ["run", "--headless", str(TINY)]),
                ("pipeline ray", ["run", "--headless", str(TINY), *ray]),
                ("sweep local", ["run", "--headless", str(sweep)]),
                ("sweep ray", ["run", "--headless", str(sweep), *ray]),
            ):
                ws = root / f"ws-{name.replace(' ', '-')}-{i}"
                seconds = timed([*argv, "-w", str(ws)], env)
                figures.setdefault(name, []).append(seconds)
                print(f"  {name:<15} run {i + 1}: {seconds:6.1f} s", flush=True)
    finally:
        cluster.stop()
    best = {name: min(values) for name, values in figures.items()}
    overhead = best["pipeline ray"] / best["pipeline local"]
    sweep_ratio = best["sweep ray"] / best["sweep local"]
    print()
    print("| benchmark | ray | local | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| tiny pipeline, running cluster vs local executor | {best['pipeline ray']:.1f} s | "
        f"{best['pipeline local']:.1f} s | {overhead:.2f} | <= 1.25 |"
    )
    print(
        f"| sweep of 4 trainings, 2 worker CPUs vs one after another | {best['sweep ray']:.1f} s "
        f"| {best['sweep local']:.1f} s | {sweep_ratio:.2f} | <= 0.65 |"
    )


if __name__ == "__main__":
    main()
