"""The block-level pieces that make a spectral model with beta=0 and no
activation a linear function of its input up to its first pooling."""

import keras
import numpy as np
import pytest

from keras_specnet.applications import blocks, densenet
from keras_specnet.layers import SpectralConcatenate, ToSpectral


def _model(fn, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, fn(inputs))


def _assert_linear(model, shape):
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal((2, *shape)).astype("float32") for _ in range(2))
    a, b = 0.7, -1.3
    np.testing.assert_allclose(model(a * x + b * y), a * model(x) + b * model(y), atol=1e-4)


def _copy_weights(source, target):
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


CONVS = [(4, 3), (3, 3), (2, 5)]


@pytest.mark.parametrize("fft_padding", [None, "linear", 1])
def test_linear_spectral_block_is_linear(fft_padding):
    shape = (9, 8, 2)
    model = _model(
        lambda x: blocks.spectral_block(x, CONVS, 0.0, activation=None, fft_padding=fft_padding),
        shape,
    )
    _assert_linear(model, shape)


def test_thresholded_or_activated_block_is_not_linear():
    """The linearity check above can fail."""
    shape = (9, 8, 2)
    for beta, activation in [(0.5, None), (0.0, "spectral_tanh")]:
        model = _model(
            lambda x, beta=beta, activation=activation: blocks.spectral_block(
                x, CONVS, beta, activation=activation
            ),
            shape,
        )
        with pytest.raises(AssertionError):
            _assert_linear(model, shape)


def test_linear_block_with_linear_padding_equals_the_spatial_block():
    """With room for every convolution's spill, the spectral block is the
    spatial block's convolutions composed without truncation at the border."""
    h, w, c = 9, 8, 2
    spill = sum((k - 1) // 2 for _, k in CONVS)
    spectral = _model(
        lambda x: blocks.spectral_block(x, CONVS, 0.0, activation=None, fft_padding="linear"),
        (h, w, c),
    )
    spatial = _model(
        lambda x: blocks.conv_block(x, CONVS, activation="linear"),
        (h + 2 * spill, w + 2 * spill, c),
    )
    _copy_weights(spatial, spectral)
    x = np.random.default_rng(1).standard_normal((2, h, w, c)).astype("float32")
    padded = np.pad(x, ((0, 0), (spill, spill), (spill, spill), (0, 0)))
    expected = np.asarray(spatial(padded))[:, spill : spill + h, spill : spill + w]
    np.testing.assert_allclose(spectral(x), expected, atol=1e-4)


def test_one_convolution_block_is_conv2d_same():
    shape = (7, 9, 3)
    spectral = _model(lambda x: blocks.spectral_block(x, [(4, 5)], 0.0, activation=None), shape)
    spatial = _model(lambda x: blocks.conv_block(x, [(4, 5)], activation="linear"), shape)
    _copy_weights(spatial, spectral)
    x = np.random.default_rng(2).standard_normal((2, *shape)).astype("float32")
    np.testing.assert_allclose(spectral(x), spatial(x), atol=1e-4)


def test_spectral_concatenate_is_the_spectrum_of_the_concatenation():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 6, 5, 2)).astype("float32")
    b = rng.standard_normal((2, 6, 5, 3)).astype("float32")
    to = ToSpectral(2)
    got = SpectralConcatenate()([to(a), to(b)])
    np.testing.assert_allclose(got, to(np.concatenate([a, b], axis=-1)), atol=1e-6)


def test_spectral_concatenate_errors():
    z1 = keras.Input((6, 4, 2), dtype="complex64")
    z2 = keras.Input((8, 4, 2), dtype="complex64")
    with pytest.raises(ValueError, match=r"Expected spectral tensors of one FFT size"):
        SpectralConcatenate()([z1, z2])
    with pytest.raises(ValueError, match=r"Expected a spectral \(complex64\) tensor"):
        SpectralConcatenate()([z1, keras.Input((6, 4, 2))])


DENSE_CONVS = ((3, 1), (2, 3))


def test_linear_spectral_dense_block_is_linear_and_equals_the_spatial_one():
    h, w, c, layers = 6, 7, 2, 3
    spill = layers  # one 3x3 per layer
    spectral = _model(
        lambda x: densenet.spectral_dense_block(
            x, layers, DENSE_CONVS, 0.0, activation=None, fft_padding=2 * spill
        ),
        (h, w, c),
    )
    _assert_linear(spectral, (h, w, c))
    spatial = _model(
        lambda x: densenet.dense_block(
            x, layers, DENSE_CONVS, activation="linear", batch_norm=False
        ),
        (h + 2 * spill, w + 2 * spill, c),
    )
    _copy_weights(spatial, spectral)
    x = np.random.default_rng(4).standard_normal((2, h, w, c)).astype("float32")
    padded = np.pad(x, ((0, 0), (spill, spill), (spill, spill), (0, 0)))
    expected = np.asarray(spatial(padded))[:, spill : spill + h, spill : spill + w]
    assert expected.shape[-1] == c + layers * 2
    np.testing.assert_allclose(spectral(x), expected, atol=1e-4)


def test_fft_padding_of():
    assert blocks.fft_padding_of(CONVS, None) == 4
    assert blocks.fft_padding_of(CONVS, "linear") == 8
    assert blocks.fft_padding_of(CONVS, 3) == 3
    with pytest.raises(ValueError, match=r"`fft_padding`.*Received: fft_padding=-1"):
        blocks.fft_padding_of(CONVS, -1)
