"""TensorFlow runtime: a Keras model called through ``tf.function`` (``model.predict`` adds ~40 ms
of per-call overhead at batch 1, which would swamp the figures)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def import_tensorflow() -> Any:
    """Import TensorFlow with its start-up chatter silenced (it would drown our own output)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    return tf


class TensorFlowRuntime:
    name = "tensorflow"

    def __init__(self, model: Any, threads: int = 0) -> None:
        tf = import_tensorflow()
        self.version = tf.__version__
        self.threads = threads
        self._model = model
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @classmethod
    def load(cls, path: Path, threads: int = 0) -> TensorFlowRuntime:
        """Load a ``.keras`` file; ``threads`` > 0 pins TF's intra/inter-op pools (process-wide,
        and only before TensorFlow first runs an op)."""
        tf = import_tensorflow()
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass  # already initialised in this process; the recorded figure says what we asked
        import keras

        return cls(keras.models.load_model(path, compile=False), threads)

    @property
    def input_size(self) -> tuple[int, int]:
        _, height, width, _ = self._model.input_shape
        return int(height), int(width)

    def infer(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._call(images.astype(np.float32)))
