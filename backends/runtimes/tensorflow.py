"""TensorFlow runtime: a Keras model called through ``tf.function`` (``model.predict`` adds ~40 ms
of per-call overhead at batch 1, which would swamp the figures)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from backends.stdio import native_stderr_silenced


def import_tensorflow() -> Any:
    """Import TensorFlow without its start-up banner on stderr.

    TensorFlow's C++ side prints oneDNN/absl notices while it loads, before any log setting can
    apply; an import error is still raised (and shown) afterwards.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        import tensorflow as tf

        tf.constant(0)  # the second notice comes with the first op
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    return tf


class TensorFlowRuntime:
    name = "tensorflow"

    def __init__(self, model: Any) -> None:
        tf = import_tensorflow()
        self.version = tf.__version__
        # TF's thread pools are process-wide and fixed once TF has run an op: report the truth.
        self.threads = tf.config.threading.get_intra_op_parallelism_threads()
        self.options: dict[str, Any] = {
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()
        }
        self._model = model
        self._call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @property
    def input_size(self) -> tuple[int, int]:
        _, height, width, _ = self._model.input_shape
        return int(height), int(width)

    def prepare(self, images: np.ndarray) -> Any:
        return images.astype(np.float32)

    def run(self, prepared: Any) -> np.ndarray:
        return self._call(prepared).numpy()

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        return raw


def load(path: Path, threads: int = 0) -> TensorFlowRuntime:
    """A ``.keras`` file. ``threads`` > 0 pins TF's pools, which works only before TensorFlow
    first runs an op in this process; the runtime reports the threads actually in force."""
    tf = import_tensorflow()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # already initialised: TensorFlowRuntime records what is in force
    import keras

    return TensorFlowRuntime(keras.models.load_model(path, compile=False))
