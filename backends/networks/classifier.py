"""Classifiers: a small CNN for small images (28x28 Fashion-MNIST) and a MobileNetV2 for larger.

Both take float32 pixels 0..255 with any number of channels, normalise inside, and end in a
dense layer of logits named ``logits`` followed by the softmax ``probs``.
"""

from __future__ import annotations

from typing import Any

CNN_FILTERS = (32, 64)  # two blocks of two 3x3 convolutions, at width 1.0
CNN_DENSE = 128


def build_cnn(size: tuple[int, int], channels: int, num_classes: int, *, width: float) -> Any:
    """(B, H, W, C) -> (B, num_classes): conv-BN-ReLU x2, max-pool, per block; dense; softmax."""
    import keras
    from keras import layers

    from backends.errors import BadInput
    from backends.networks import settle_batchnorm

    if min(size) < 8:
        raise BadInput(f"the CNN needs images of at least 8x8, got {size[0]}x{size[1]}")
    if not 0 < width <= 4:
        raise BadInput(f"CNN width {width} must be above 0 and at most 4")
    inputs = keras.Input((*size, channels), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(inputs)
    for filters in CNN_FILTERS:
        for _ in range(2):
            x = layers.Conv2D(max(8, round(filters * width)), 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(max(16, round(CNN_DENSE * width)), activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    model = _head(inputs, x, num_classes, "cnn")
    settle_batchnorm(model)
    return model


def build_mobilenet(
    size: tuple[int, int],
    channels: int,
    num_classes: int,
    *,
    width: float,
    weights: str | None,
) -> Any:
    """Keras' MobileNetV2 features (alpha = ``width``), global average pooling, dense, softmax."""
    import keras
    from keras import layers

    from backends.errors import BadInput
    from backends.networks import MOBILENET_MIN_SIZE, check_alpha, settle_batchnorm

    check_alpha("MobileNetV2", width)
    if min(size) < MOBILENET_MIN_SIZE:
        raise BadInput(
            f"MobileNetV2 needs images of at least {MOBILENET_MIN_SIZE}x{MOBILENET_MIN_SIZE}, "
            f"got {size[0]}x{size[1]}: use network = 'cnn'"
        )
    if weights is not None and channels != 3:
        raise BadInput(f"pretrained weights need RGB images; this dataset has {channels} channel")
    inputs = keras.Input((*size, channels), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(inputs)
    features = keras.applications.MobileNetV2(
        input_shape=(*size, channels), include_top=False, weights=weights, alpha=width
    )
    x = layers.GlobalAveragePooling2D()(features(x))
    x = layers.Dropout(0.2)(x)
    model = _head(inputs, x, num_classes, "mobilenetv2")
    settle_batchnorm(model)
    return model


def _head(inputs: Any, x: Any, num_classes: int, name: str) -> Any:
    import keras
    from keras import layers

    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, layers.Softmax(name="probs")(logits), name=name)
