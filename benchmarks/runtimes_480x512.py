"""Every runtime and precision at the original mllib's input size (480x512, full-width UNet),
against TensorFlow fp32 in the same run: p50 latency and speed-up ratios.

    .venv/bin/python -m benchmarks.runtimes_480x512 [--threads 2] [--seconds 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from backends.bench.protocol import Latency, Protocol, time_calls
from backends.runtimes import load
from backends.stdio import native_stderr_silenced
from benchmarks.models import ROWS, build

ORIGINAL = (
    "original mllib, RTX 6000: TensorFlow fp32 76.956 ms, ONNX fp32 153.856 ms, "
    "TensorRT fp16 8.323 ms"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    size = (480, 512)
    with native_stderr_silenced():
        paths = build(Path(tempfile.mkdtemp()), size, args.width)
    protocol = Protocol(
        warmup_runs=3, warmup_seconds=0, min_runs=args.runs, min_seconds=args.seconds
    )
    image = np.random.default_rng(1).integers(0, 256, (1, *size, 3), np.uint8)
    print(
        f"UNet width {args.width} at 480x512, batch 1, {args.threads} threads; "
        f"at least {args.runs} runs and {args.seconds} s per row"
    )
    print(f"{'software':<20} {'p50 ms':>9} {'p99 ms':>9} {'MB':>6} {'speed-up vs TF fp32':>20}")
    reference = None
    for label, name, key in ROWS:
        runtime = load(name, paths[key], threads=args.threads)
        prepared = runtime.prepare(image)
        latency = Latency.from_seconds(
            time_calls(lambda r=runtime, p=prepared: r.run(p), protocol), 1
        )
        reference = reference or latency.p50_ms
        size_mb = sum(f.stat().st_size for f in [paths[key]] if f.is_file()) / 1e6
        print(
            f"{label:<20} {latency.p50_ms:9.1f} {latency.p99_ms:9.1f} {size_mb:6.1f} "
            f"{reference / latency.p50_ms:19.2f}x"
        )
    print(f"for comparison, {ORIGINAL} (different hardware: a GPU)")


if __name__ == "__main__":
    main()
