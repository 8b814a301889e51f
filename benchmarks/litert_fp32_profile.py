"""Why LiteRT fp32 loses to TensorFlow fp32 on the 480x512 UNet: the same model timed whole,
its MobileNetV2 encoder alone, and each decoder Conv2DTranspose alone at the shape it has in the
model, on TensorFlow and on LiteRT (XNNPACK), with 1 and 2 threads; and how many of the model's
nodes XNNPACK takes. The parts' sum is set against the whole to show where the gap is.

    .venv/bin/python -m benchmarks.litert_fp32_profile [--seconds 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from backends.bench.protocol import Latency, Protocol, time_calls
from backends.stdio import native_stderr_silenced

SIZE = (480, 512)


def p50(call: Any, seconds: float) -> float:
    protocol = Protocol(warmup_runs=3, warmup_seconds=0, min_runs=10, min_seconds=seconds)
    return Latency.from_seconds(time_calls(call, protocol), 1).p50_ms


def tflite_of(model: Any, path: Path) -> Path:
    """``model`` as mllib converts it: exported as a SavedModel, then through mllib's TFLite
    converter (batch 1, variables frozen) at fp32."""
    from backends.convert import tflite
    from backends.convert.stage import ConvertStep
    from backends.formats import Precision

    saved = path.with_suffix(".savedmodel")
    model.export(str(saved), verbose=False)
    tflite.convert(saved, path, Precision.FP32, ConvertStep())
    return path


def litert(path: Path, threads: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


def time_both(model: Any, path: Path, threads: int, seconds: float) -> tuple[float, float]:
    """(TensorFlow p50, LiteRT p50) in ms for ``model`` and its TFLite file."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    feeds = [rng.uniform(-1, 1, (1, *i.shape[1:])).astype(np.float32) for i in model.inputs]
    call = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    tensors = [tf.constant(f) for f in feeds]
    tf_ms = p50(lambda: call(*tensors), seconds)
    interpreter = litert(path, threads)
    for detail, feed in zip(interpreter.get_input_details(), feeds, strict=True):
        interpreter.set_tensor(detail["index"], feed)
    return tf_ms, p50(interpreter.invoke, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    with native_stderr_silenced():
        from backends.runtimes.tensorflow import import_tensorflow

        tf = import_tensorflow()
        import keras

        from backends.networks.unet import build_unet
    out = Path(tempfile.mkdtemp())
    model = build_unet(SIZE, 4, width=1.0)
    encoder = model.get_layer("encoder")
    transposed = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    parts: list[tuple[str, Any]] = [("whole UNet", model), ("encoder (MobileNetV2)", encoder)]
    for layer in transposed:
        single = keras.Sequential([keras.Input(layer.input.shape[1:]), layer])
        shape = "x".join(str(d) for d in layer.input.shape[1:])
        parts.append((f"{layer.name} {shape} -> {layer.filters}", single))
    with native_stderr_silenced():
        files = [tflite_of(m, out / f"part-{i}.tflite") for i, (_, m) in enumerate(parts)]
    interpreter = litert(files[0], 2)
    ops = interpreter._get_ops_details()  # after XNNPACK took what it could
    delegated = sum(op["op_name"] == "DELEGATE" for op in ops)
    kinds = sorted({op["op_name"] for op in ops if op["op_name"] != "DELEGATE"})
    print(
        f"XNNPACK: {delegated} delegate partition(s) over the model's "
        f"{len(ops) - delegated} nodes ({', '.join(kinds)}): one partition is the whole graph"
    )
    print(
        f"TensorFlow {tf.__version__} (oneDNN, its pool on both cores) and LiteRT (XNNPACK) with "
        "2 and 1 threads, batch 1, p50 ms"
    )
    print(f"{'part':<44} {'TF':>8} {'LiteRT 2':>9} {'LiteRT 1':>9} {'2-thr/TF':>9}")
    gaps = []
    for (name, part), path in zip(parts, files, strict=True):
        tf_ms, two = time_both(part, path, 2, args.seconds)
        one = time_both(part, path, 1, args.seconds)[1]
        if name != "whole UNet":
            gaps.append(two - tf_ms)
        print(f"{name:<44} {tf_ms:8.2f} {two:9.2f} {one:9.2f} {two / tf_ms:9.2f}")
    print(
        f"LiteRT - TF, 2 threads, over the parts: {sum(gaps):+.1f} ms: the encoder "
        f"{gaps[0]:+.1f} ms, the transposed convolutions {sum(gaps[1:]):+.1f} ms"
    )


if __name__ == "__main__":
    main()
