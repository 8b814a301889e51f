"""How unsure a model is of an image: the mean over its pixels of the entropy of the class
probabilities (nats; 0 is certain, ln C is a uniform guess). The frames worth labelling first are
the ones it is least sure of. The board (choosing frames as they arrive) and the workstation
(ranking stored frames) both score through :func:`score_jpeg`, on the same JPEG bytes, so their
rankings agree.
"""

from __future__ import annotations

import numpy as np

from backends.datasets.preprocess import letterbox_image
from backends.errors import BadInput
from backends.runtimes import LoadedModel, infer


def entropy(probabilities: np.ndarray) -> float:
    """Mean over pixels (or over the batch, for a classifier) of the entropy of the last axis."""
    p = np.clip(probabilities.astype(np.float64), 1e-12, 1.0)
    return float(np.mean(-np.sum(p * np.log(p), axis=-1)))


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 RGB (H, W, 3)."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadInput("a frame is not a decodable JPEG")
    return np.ascontiguousarray(bgr[..., ::-1])


def score_jpeg(runtime: LoadedModel, jpeg: bytes) -> float:
    """The model's mean pixel entropy on the frame, letterboxed to its input as evaluation is."""
    image = letterbox_image(decode_jpeg(jpeg), runtime.input_size)
    return entropy(infer(runtime, image[None]))
