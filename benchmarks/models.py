"""Untrained UNets converted to every workstation format, for latency benchmarks.

Latency does not depend on the weights, so the benchmarks skip training; accuracy figures come
from the pipeline, not from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backends.convert import onnx, tflite
from backends.convert.stage import ConvertStep
from backends.formats import Precision


def build(out: Path, size: tuple[int, int], width: float) -> dict[str, Path]:
    """Paths by key: ``keras``, ``savedmodel``, ``onnx``, ``tflite-fp32|fp16|int8``."""

    from backends.runtimes.tensorflow import import_tensorflow

    import_tensorflow()
    import keras

    from backends.networks.unet import build_unet

    out.mkdir(parents=True, exist_ok=True)
    model = build_unet(size, 4, width=width)
    paths = {"keras": out / "unet.keras", "savedmodel": out / "unet.savedmodel"}
    model.save(paths["keras"])
    model.export(str(paths["savedmodel"]), verbose=False)
    keras.backend.clear_session()
    step = ConvertStep()
    paths["onnx"] = out / "model.onnx"
    onnx.convert(paths["keras"], paths["onnx"], Precision.FP32, step)
    representative = np.random.default_rng(0).integers(0, 256, (8, *size, 3), dtype=np.uint8)
    for precision in Precision:
        paths[f"tflite-{precision}"] = out / f"model-{precision}.tflite"
        tflite.convert(
            paths["savedmodel"], paths[f"tflite-{precision}"], precision, step, representative
        )
    return paths


# (label, runtime, file key) for every row the benchmarks measure
ROWS = [
    ("TensorFlow fp32", "tensorflow", "keras"),
    ("ONNX Runtime fp32", "onnxruntime", "onnx"),
    ("LiteRT fp32", "litert", "tflite-fp32"),
    ("LiteRT fp16", "litert", "tflite-fp16"),
    ("LiteRT int8", "litert", "tflite-int8"),
]
