import numpy as np
import pytest

from backends.errors import BadInput


@pytest.fixture(scope="module")
def keras():
    from backends.runtimes.tensorflow import import_tensorflow

    import_tensorflow()
    import keras

    return keras


def test_unet_follows_the_original_layout(keras) -> None:
    from backends.networks.unet import BOTTLENECK, SKIPS, build_unet

    model = build_unet((64, 96), 4, width=0.35)
    assert model.input_shape == (None, 64, 96, 3) and model.output_shape == (None, 64, 96, 4)
    encoder = model.get_layer("encoder")
    assert [t.name for t in encoder.outputs] and len(encoder.outputs) == len(SKIPS) + 1
    names = {layer.name for layer in encoder.layers}
    assert set(SKIPS) | {BOTTLENECK} <= names
    assert model.get_layer("normalise").scale == pytest.approx(1 / 127.5)
    assert model.layers[-1].name == "probs"
    probs = model(np.random.default_rng(0).uniform(0, 255, (2, 64, 96, 3)).astype("float32"))
    assert np.allclose(np.asarray(probs).sum(-1), 1, atol=1e-5)


def test_width_scales_encoder_and_decoder(keras) -> None:
    from backends.networks.unet import build_unet

    small, full = build_unet((64, 64), 4, width=0.35), build_unet((64, 64), 4, width=1.0)
    assert small.count_params() * 4 < full.count_params()
    # the original's decoder filters at full width
    transposed = [
        layer.filters for layer in full.layers if isinstance(layer, keras.layers.Conv2DTranspose)
    ]
    assert transposed == [512, 256, 128, 64, 4]


def test_batchnorm_tracks_short_runs(keras) -> None:
    from backends.networks import BN_MOMENTUM, walk
    from backends.networks.unet import build_unet

    model = build_unet((64, 64), 4, width=0.35)
    bns = [x for x in walk(model) if isinstance(x, keras.layers.BatchNormalization)]
    assert len(bns) > 40 and {b.momentum for b in bns} == {BN_MOMENTUM}


@pytest.mark.parametrize(
    ("size", "width", "message"),
    [((100, 64), 0.35, "must be a multiple of 32"), ((64, 64), 0.6, "width 0.6 is not one of")],
)
def test_bad_shapes(keras, size, width, message) -> None:
    from backends.networks.unet import build_unet

    with pytest.raises(BadInput, match=message):
        build_unet(size, 4, width=width)
