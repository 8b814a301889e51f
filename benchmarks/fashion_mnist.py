"""Fashion-MNIST end to end on this machine: the example pipeline (small CNN, a few minutes of
training on CPU) and its targets — test accuracy >= 0.90 and an int8 TFLite drop <= 0.5 points —
with the int8 speed-up over LiteRT fp32 measured in the same run.

    .venv/bin/python -m benchmarks.fashion_mnist [--workspace DIR]

Needs Debian's dataset-fashion-mnist (scripts/install --test installs it). A workspace given with
--workspace keeps the trained model, so a second run reuses it and only benchmarks.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from backends.events import Event, Metric, StageFinished
from backends.pipeline import load_pipeline, run
from backends.workspace import Workspace

PIPELINE = Path(__file__).resolve().parents[1] / "examples" / "fashion-mnist.toml"
MIN_ACCURACY, MAX_INT8_DROP_POINTS = 0.90, 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, default=None)
    args = parser.parse_args()
    root = args.workspace or Path(tempfile.mkdtemp()) / "ws"
    seconds: dict[str, float] = {}

    def show(event: Event) -> None:
        if isinstance(event, Metric) and event.name == "val_accuracy":
            print(f"  epoch {event.epoch}: val top-1 {event.value:.4f}", flush=True)
        if isinstance(event, StageFinished):
            seconds[event.stage] = event.seconds
            print(f"{event.stage}: {event.status} in {event.seconds:.1f} s", flush=True)

    start = time.monotonic()
    result = run(Workspace.open(root), load_pipeline(PIPELINE), show)
    rows = {r["name"]: r for r in result.rows if r["status"] == "ok"}
    print(
        f"\npipeline {PIPELINE.name}: {time.monotonic() - start:.0f} s in all; {result.report_dir}"
    )
    print(f"{'row':<18} {'top-1':>7} {'macro F1':>9} {'p50 ms':>8}")
    for name, row in rows.items():
        p50 = row["latency"]["p50_ms"]
        print(f"{name:<18} {row['accuracy']:>7.4f} {row['macro_f1']:>9.4f} {p50:>8.3f}")
    reference, int8, fp32 = rows["tensorflow-fp32"], rows["litert-int8"], rows["litert-fp32"]
    drop = (reference["accuracy"] - int8["accuracy"]) * 100
    speedup = fp32["latency"]["p50_ms"] / int8["latency"]["p50_ms"]
    print(
        f"\ntest accuracy (TensorFlow fp32, {reference['images']} images): "
        f"{reference['accuracy']:.4f} (target >= {MIN_ACCURACY}: "
        f"{'met' if reference['accuracy'] >= MIN_ACCURACY else 'MISSED'}); "
        f"training {seconds.get('train', 0):.0f} s"
    )
    print(
        f"int8 TFLite: top-1 {int8['accuracy']:.4f}, drop {drop:.2f} points (target <= "
        f"{MAX_INT8_DROP_POINTS}: {'met' if drop <= MAX_INT8_DROP_POINTS else 'MISSED'}); "
        f"p50 {speedup:.2f}x faster than LiteRT fp32"
    )


if __name__ == "__main__":
    main()
