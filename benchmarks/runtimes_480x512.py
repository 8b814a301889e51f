"""Every CPU runtime and precision at the original mllib's input size (480x512, full-width UNet),
against TensorFlow fp32 in the same run: p50 latency, the speed-up, and beside it each row's
fidelity against the Keras model on the same validation images (argmax agreement and the change
of mIoU), measured with mllib's own check.

The model is trained briefly on a synthetic set first (fidelity means little on random
weights, where class probabilities are nearly tied), then converted by mllib's converters:
ONNX fp32 and int8 (QDQ), TFLite fp32, fp16 and int8.

    .venv/bin/python -m benchmarks.runtimes_480x512 [--threads 2] [--seconds 3] [--epochs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from backends.bench.protocol import Latency, Protocol, time_calls
from backends.bench.stage import BenchStep
from backends.convert.fidelity import check
from backends.convert.job import gates_of
from backends.convert.stage import ConvertStep, convert_all
from backends.datasets.build import synth_dataset
from backends.datasets.shards import split
from backends.formats import Format, Precision, software_label
from backends.runtimes import installed, load
from backends.tasks import task_of
from backends.train.stage import TrainConfig
from backends.workspace import Workspace

ORIGINAL = (
    "original mllib, RTX 6000: TensorFlow fp32 76.956 ms, ONNX fp32 153.856 ms, "
    "TensorRT fp16 8.323 ms"
)
TARGETS = ("onnx:fp32", "onnx:int8", "tflite:fp32", "tflite:fp16", "tflite:int8")


def quiet(event: object) -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--images", type=int, default=48, help="synthetic images (16 for val)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    ws = Workspace.open(Path(tempfile.mkdtemp()) / "ws")
    size = (480, 512)
    started = time.perf_counter()
    dataset = synth_dataset(
        ws, name="r480", images=args.images, size=size, val_fraction=16 / args.images, emit=quiet
    )
    from backends.train.loop import train  # Keras

    config = TrainConfig(epochs=args.epochs, batch_size=4, width=args.width)
    model = train(ws, dataset, config, quiet).keras
    step = ConvertStep(targets=TARGETS, representative_images=16, fidelity_images=16)
    built = convert_all(ws, model, step, BenchStep(), quiet).artifacts
    print(
        f"UNet width {args.width} at 480x512 trained {args.epochs} epochs on "
        f"{dataset.images['train']} synthetic images, converted by mllib "
        f"({time.perf_counter() - started:.0f} s); batch 1, {args.threads} threads, at least "
        f"{args.runs} runs and {args.seconds} s per row; fidelity on {dataset.images['val']} "
        "validation images against the Keras model"
    )
    protocol = Protocol(warmup_runs=3, warmup_seconds=0, min_runs=args.runs,
                        min_seconds=args.seconds)  # fmt: skip
    image = np.random.default_rng(1).integers(0, 256, (1, *size, 3), np.uint8)
    val = split(ws.path(dataset.path), "val")
    classes, ignore = dataset.manifest["classes"], dataset.manifest["ignore"]
    reference = load("tensorflow", ws.verify(model), threads=args.threads)
    print(
        f"{'software':<20} {'p50 ms':>8} {'p99 ms':>8} {'MB':>6} {'vs TF fp32':>10} "
        f"{'agreement':>10} {'mIoU':>7} {'ΔmIoU':>8}  gate"
    )
    baseline = None
    for artifact in [model, *built]:
        precision = Precision(artifact.meta.get("precision", "fp32"))
        for runtime in Format.of(artifact).runtimes:
            if not installed(runtime):
                print(f"{software_label(runtime, precision):<20} not installed here")
                continue
            loaded = load(runtime, ws.verify(artifact), threads=args.threads)
            prepared = loaded.prepare(image)
            latency = Latency.from_seconds(
                time_calls(lambda r=loaded, p=prepared: r.run(p), protocol), 1
            )
            baseline = baseline or latency.p50_ms
            fidelity = check(
                reference, loaded, val, images=val.size, precision=precision,
                task=task_of(dataset.manifest), classes=classes, ignore=ignore,
                gates=gates_of(step),
            )  # fmt: skip
            print(
                f"{software_label(runtime, precision):<20} {latency.p50_ms:8.1f} "
                f"{latency.p99_ms:8.1f} {artifact.size / 1e6:6.1f} "
                f"{baseline / latency.p50_ms:9.2f}x {fidelity.argmax_agreement:10.4f} "
                f"{fidelity.value:7.4f} {fidelity.delta:+8.4f}  "
                f"{'passed' if fidelity.passed else 'MISSED'} ({fidelity.gate})"
            )
    print(f"for comparison, {ORIGINAL} (different hardware: a GPU)")


if __name__ == "__main__":
    main()
