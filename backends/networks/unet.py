"""UNet as in the original mllib: a Keras MobileNetV2 encoder and a pix2pix decoder.

Skips at ``block_1/3/6/13_expand_relu``, bottleneck ``block_16_project``; four upsample blocks of
Conv2DTranspose + BatchNorm + ReLU (512/256/128/64 filters at width 1.0) and a Conv2DTranspose head
to N classes. Differences from the original, on purpose:
- input normalisation lives inside the model (float32 pixels 0..255 in), so every runtime is fed
  identical bytes;
- the head ends in a softmax named ``probs`` (the loss takes probabilities), so every converted
  format returns class probabilities;
- BatchNorm momentum 0.9 instead of MobileNetV2's 0.999, so models trained from scratch for a
  few hundred steps (no ImageNet weights here) evaluate as well as they train;
- ``width`` scales the encoder (MobileNetV2 alpha) and the decoder filters together, for small
  demo and test models.
"""

from __future__ import annotations

from typing import Any

SKIPS = (
    "block_1_expand_relu",
    "block_3_expand_relu",
    "block_6_expand_relu",
    "block_13_expand_relu",
)
BOTTLENECK = "block_16_project"
DECODER_FILTERS = (512, 256, 128, 64)


def build_unet(
    input_size: tuple[int, int],
    num_classes: int,
    *,
    width: float = 1.0,
    weights: str | None = None,
) -> Any:
    """A ``keras.Model``: (B, H, W, 3) float32 0..255 -> (B, H, W, num_classes) probabilities."""
    import keras
    from keras import layers

    from backends.errors import BadInput
    from backends.networks import check_alpha, settle_batchnorm

    height, width_px = input_size
    if height % 32 or width_px % 32:
        raise BadInput(
            f"UNet input size {height}x{width_px} must be a multiple of 32 (e.g. 480x512)"
        )
    check_alpha("UNet", width)

    inputs = keras.Input((height, width_px, 3), name="image")
    scaled = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(inputs)
    encoder = keras.applications.MobileNetV2(
        input_shape=(height, width_px, 3), include_top=False, weights=weights, alpha=width
    )
    features = keras.Model(
        encoder.input,
        [encoder.get_layer(name).output for name in (*SKIPS, BOTTLENECK)],
        name="encoder",
    )
    *skips, x = features(scaled)
    for filters, skip in zip(DECODER_FILTERS, reversed(skips), strict=True):
        x = _upsample(x, max(8, int(filters * width) // 8 * 8))
        x = layers.Concatenate()([x, skip])
    logits = layers.Conv2DTranspose(num_classes, 3, strides=2, padding="same", name="head")(x)
    probs = layers.Softmax(name="probs")(logits)
    model = keras.Model(inputs, probs, name="unet")
    settle_batchnorm(model)
    return model


def _upsample(x: Any, filters: int) -> Any:
    from keras import layers

    x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)
