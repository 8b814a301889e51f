"""What does mllib's benchmark harness add to the latency it reports?

For each runtime: p50 of ``bench.time_calls`` around the adapter's ``run`` vs p50 of a bare loop
calling the runtime's own API on the same input, same session, same process, interleaved in
rounds so drift hits both. Target: ratio <= 1.03.

    .venv/bin/python -m benchmarks.harness_overhead [--size 128] [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backends.bench.protocol import Protocol, time_calls
from backends.runtimes import load
from benchmarks.models import ROWS, build


def bare_call(runtime: object, prepared: np.ndarray) -> Callable[[], object]:
    """The runtime's own API, reached through the adapter's session/interpreter/function."""
    if runtime.name == "onnxruntime":
        session, feed = runtime._session, {runtime._input: prepared}
        return lambda: session.run(None, feed)[0]
    if runtime.name == "litert":
        interpreter, i, o = runtime._interpreter, runtime._in["index"], runtime._out["index"]

        def call() -> object:
            interpreter.set_tensor(i, prepared)
            interpreter.invoke()
            return interpreter.get_tensor(o)

        return call
    function = runtime._call
    return lambda: function(prepared).numpy()


def bare_p50(call: Callable[[], object], runs: int) -> float:
    for _ in range(10):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return float(np.percentile(samples, 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--width", type=float, default=0.35)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    paths = build(Path(tempfile.mkdtemp()), (args.size, args.size), args.width)
    protocol = Protocol(warmup_runs=10, warmup_seconds=0, min_runs=args.runs, min_seconds=0)
    image = np.random.default_rng(1).integers(0, 256, (1, args.size, args.size, 3), np.uint8)
    print(
        f"UNet width {args.width}, {args.size}x{args.size}, batch 1, {args.threads} threads, "
        f"{args.runs} runs x {args.rounds} rounds (median of round p50s)"
    )
    print(f"{'runtime':<20} {'bare p50 ms':>12} {'harness p50 ms':>15} {'ratio':>7}")
    for label, name, key in ROWS:
        runtime = load(name, paths[key], threads=args.threads)
        prepared = runtime.prepare(image)
        bare, harness = [], []
        for _ in range(args.rounds):
            bare.append(bare_p50(bare_call(runtime, prepared), args.runs))
            samples = time_calls(lambda r=runtime, p=prepared: r.run(p), protocol)
            harness.append(float(np.percentile(samples, 50)))
        b, h = statistics.median(bare), statistics.median(harness)
        print(f"{label:<20} {b * 1000:12.3f} {h * 1000:15.3f} {h / b:7.3f}")


if __name__ == "__main__":
    main()
