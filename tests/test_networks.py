"""The classifiers, the network choice by task and size, and the loss that matches the head."""

from __future__ import annotations

import numpy as np
import pytest

from backends.errors import BadInput
from backends.networks import choose


@pytest.fixture(scope="module")
def keras():
    from backends.runtimes.tensorflow import import_tensorflow

    import_tensorflow()
    import keras

    return keras


def test_auto_picks_by_task_and_size() -> None:
    assert choose("auto", "segmentation", (128, 128)) == "unet"
    assert choose("auto", "classification", (28, 28)) == "cnn"
    assert choose("auto", "classification", (96, 96)) == "mobilenetv2"
    with pytest.raises(BadInput, match="network unet is for segmentation, this is classification"):
        choose("unet", "classification", (28, 28))
    with pytest.raises(BadInput, match="use unet"):
        choose("cnn", "segmentation", (64, 64))


@pytest.mark.parametrize(
    ("network", "size", "channels"), [("cnn", (28, 28), 1), ("mobilenetv2", (32, 48), 3)]
)
def test_classifiers_end_in_probabilities(keras, network: str, size, channels: int) -> None:
    from backends.networks import BN_MOMENTUM, build, walk

    model = build(network, size, channels, 10, width=0.35, weights=None)
    assert model.input_shape == (None, *size, channels) and model.output_shape == (None, 10)
    assert [layer.name for layer in model.layers[-2:]] == ["logits", "probs"]
    probs = np.asarray(model(np.full((2, *size, channels), 255, np.float32)))
    assert np.allclose(probs.sum(-1), 1, atol=1e-5) and (probs >= 0).all()
    norms = [x for x in walk(model) if isinstance(x, keras.layers.BatchNormalization)]
    assert norms and {n.momentum for n in norms} == {BN_MOMENTUM}


def test_mobilenet_refuses_what_keras_cannot_build(keras) -> None:
    from backends.networks import build

    with pytest.raises(BadInput, match="at least 32x32, got 28x28: use network = 'cnn'"):
        build("mobilenetv2", (28, 28), 1, 10, width=0.35, weights=None)
    with pytest.raises(BadInput, match="width 0.6 is not one of"):
        build("mobilenetv2", (64, 64), 3, 10, width=0.6, weights=None)


def test_loss_matches_the_head(keras) -> None:
    """The original paired a logits head with a loss on probabilities: the softmax was applied
    twice in effect, and training stalled. loss_for reads the head instead."""
    from backends.networks import build, loss_for

    inputs = keras.Input((4,))
    logits_head = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    softmax_head = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    assert loss_for(logits_head).get_config()["from_logits"] is True
    assert loss_for(softmax_head).get_config()["from_logits"] is False
    model = build("cnn", (28, 28), 1, 10, width=0.35, weights=None)
    assert loss_for(model).get_config()["from_logits"] is False

    # And it matters: on a confident correct prediction the matched loss is near 0, the
    # mismatched one (probabilities treated as logits) cannot go below ~log(3) - 1 / 3.
    labels = np.array([0])
    probs = np.array([[0.98, 0.01, 0.01]], np.float32)
    matched = float(loss_for(softmax_head)(labels, probs))
    wrong = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, probs))
    assert matched < 0.03 and wrong > 0.5
