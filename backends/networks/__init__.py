"""Keras networks, one builder per task. TensorFlow is imported inside the builders, never at
module import.

Every network takes float32 pixels 0..255 (normalisation inside) and ends in a softmax named
``probs``, so every converted format returns class probabilities; :func:`loss_for` reads the head
to pick the matching loss (the original mllib paired a logits head with a probability loss).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from backends.errors import BadInput

BN_MOMENTUM = 0.9
NETWORKS = {"unet": "segmentation", "cnn": "classification", "mobilenetv2": "classification"}
MOBILENET_MIN_SIZE = 32  # Keras' MobileNetV2 refuses smaller inputs
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)  # the widths Keras builds


def choose(network: str, task: str, size: tuple[int, int]) -> str:
    """The network for ``task``: ``auto`` picks UNet for segmentation, the small CNN for
    classification below 64 pixels and the MobileNetV2 classifier from there."""
    if network == "auto":
        if task == "segmentation":
            return "unet"
        return "cnn" if min(size) < 2 * MOBILENET_MIN_SIZE else "mobilenetv2"
    if network not in NETWORKS:
        raise BadInput(f"unknown network {network!r}: use auto or one of {', '.join(NETWORKS)}")
    if NETWORKS[network] != task:
        fits = ", ".join(n for n, t in NETWORKS.items() if t == task)
        raise BadInput(f"network {network} is for {NETWORKS[network]}, this is {task}: use {fits}")
    return network


def build(
    network: str,
    size: tuple[int, int],
    channels: int,
    num_classes: int,
    *,
    width: float,
    weights: str | None,
) -> Any:
    if network == "unet":
        from backends.networks.unet import build_unet

        if channels != 3:
            raise BadInput(f"UNet takes RGB images; this dataset has {channels} channel(s)")
        return build_unet(size, num_classes, width=width, weights=weights)
    from backends.networks import classifier

    if network == "cnn":
        return classifier.build_cnn(size, channels, num_classes, width=width)
    return classifier.build_mobilenet(size, channels, num_classes, width=width, weights=weights)


def loss_for(model: Any) -> Any:
    """Sparse categorical cross-entropy that matches the head: on probabilities when the model
    ends in a softmax, on logits otherwise."""
    import keras

    head = model.layers[-1]
    softmax = isinstance(head, keras.layers.Softmax) or (
        getattr(head, "activation", None) is keras.activations.softmax
    )
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax)


def check_alpha(network: str, width: float) -> None:
    if width not in MOBILENET_ALPHAS:
        raise BadInput(
            f"{network} width {width} is not one of {', '.join(map(str, MOBILENET_ALPHAS))}"
        )


def settle_batchnorm(model: Any) -> None:
    """BatchNorm momentum 0.9 everywhere (nested models too). Keras' MobileNetV2 uses 0.999:
    after a few hundred steps from scratch the moving statistics are still mostly their initial
    values and inference collapses to one class; 0.9 tracks the batch within a few dozen steps."""
    import keras

    for layer in walk(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM


def walk(layer: Any) -> Iterator[Any]:
    """Every layer, descending into nested models."""
    yield layer
    for child in getattr(layer, "layers", []):
        yield from walk(child)
