"""Training step time at batch 8: mllib's ``fit`` (shard streaming, augmentation, per-step
events, per-epoch validation and checkpoint) vs a bare ``train_on_batch`` on one in-memory batch.

    .venv/bin/python benchmarks/train_step.py [--size 128 | 480x512] [--width 0.35] [--steps 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from backends.datasets.build import synth_dataset
from backends.train.stage import TrainConfig
from backends.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="128", help="SIDE or HEIGHTxWIDTH")
    parser.add_argument("--width", type=float, default=0.35)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch (batch 8)")
    args = parser.parse_args()
    height, width = (int(v) for v in (args.size.split("x") * 2)[:2])
    import keras

    from backends.networks.unet import build_unet
    from backends.train.loop import train  # imports Keras

    ws = Workspace.open(Path(tempfile.mkdtemp()) / "ws")
    images = args.steps * 8 + 8
    dataset = synth_dataset(
        ws,
        name="bench",
        images=images,
        size=(height, width),
        val_fraction=8 / images,
        emit=lambda e: None,
    )

    # Baseline: the same network, one fixed batch, no input pipeline, no events.
    model = build_unet((height, width), 4, width=args.width)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy()
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, height, width, 3)).astype(np.float32)
    y = rng.integers(0, 4, (8, height, width)).astype(np.int32)
    weights = np.ones(y.shape, np.float32)
    start = time.perf_counter()
    model.train_on_batch(x, y, sample_weight=weights)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, y, sample_weight=weights)
    bare = (time.perf_counter() - start) / args.steps

    # mllib: epoch 1 includes tracing; epoch 2 is the steady state we compare.
    marks: dict[int, float] = {}

    def emit(event: object) -> None:
        if getattr(event, "name", None) == "loss":
            marks[event.epoch] = time.perf_counter()

    begin = time.perf_counter()
    train(ws, dataset, TrainConfig(epochs=2, width=args.width), emit)
    ours = (marks[2] - marks[1]) / args.steps
    total_first = marks[1] - begin
    print(
        f"network: UNet width {args.width}, {height}x{width}, batch 8, "
        f"{model.count_params():,} parameters"
    )
    print(f"bare train_on_batch      {bare * 1000:7.1f} ms/step (first step {first:.1f} s)")
    print(
        f"mllib fit (epoch 2)      {ours * 1000:7.1f} ms/step (epoch 1 incl. tracing "
        f"{total_first:.1f} s)"
    )
    print(
        f"ratio mllib / bare: {ours / bare:.2f} (input pipeline, augmentation, events, "
        "validation and checkpoint included)"
    )


if __name__ == "__main__":
    main()
