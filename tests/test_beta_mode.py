"""`beta_mode="relative"`: a threshold relative to each map's RMS, against NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import spectral
from keras_specnet.layers import SpectralBlock, SpectralConv2D


def _numpy_relative_mask(x, fft_size, beta):
    """Which entries of the orthonormal half spectrum of `x` a relative threshold keeps.

    The RMS is the map's own over the zero-padded `P x Q` plane (Parseval),
    computed in the spatial domain: independent of the package's spectrum.
    """
    rows, cols = fft_size
    padded = np.zeros((x.shape[0], rows, cols, x.shape[-1]), np.float64)
    padded[:, : x.shape[1], : x.shape[2]] = x
    spectrum = np.fft.rfft2(padded, axes=(1, 2), norm="ortho")
    rms = np.sqrt(np.mean(padded**2, axis=(1, 2)))  # (batch, channels)
    return np.abs(spectrum) > beta * rms[:, None, None, :], spectrum


@pytest.mark.parametrize("shape,fft_size", [((3, 6, 5, 2), (8, 6)), ((2, 7, 7, 3), (9, 10))])
def test_relative_threshold_keeps_what_numpy_keeps(shape, fft_size):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    x[0] *= 10.0  # one sample at another scale
    beta = 0.8
    keep, expected = _numpy_relative_mask(x, fft_size, beta)
    z = spectral.to_spectral(x, fft_size)
    got = spectral.threshold(z, beta, "relative").numpy()
    np.testing.assert_array_equal(got != 0, keep)
    np.testing.assert_allclose(got, np.where(keep, expected, 0), atol=1e-4)
    # The frequency-major form zeroes the same entries.
    real, imag = spectral.threshold_parts(
        *spectral.frequency_major_of_map(x, fft_size), beta, "relative", fft_size
    )
    parts = spectral.from_frequency_major(real, imag, fft_size).numpy()
    np.testing.assert_allclose(parts, got, atol=1e-6)
    # Neither form zeroes everything nor nothing at this beta.
    assert 0.05 < 1 - keep.mean() < 0.95


def test_relative_threshold_ignores_the_maps_scale_and_absolute_does_not():
    x = np.random.default_rng(1).standard_normal((4, 8, 8, 2)).astype("float32")
    z, z_scaled = spectral.to_spectral(x, (10, 10)), spectral.to_spectral(100 * x, (10, 10))

    def zeros(t, mode):
        return float(spectral.zero_fraction(spectral.threshold(t, 0.5, mode)))

    assert zeros(z, "relative") == pytest.approx(zeros(z_scaled, "relative"), abs=1e-6)
    assert zeros(z, "relative") > 0.05
    assert zeros(z_scaled, "absolute") < zeros(z, "absolute") - 0.05


@pytest.mark.parametrize("cache", ["none", "bitmask"])
def test_layer_relative_mode_is_the_relative_threshold_of_its_output(cache):
    x = tf.random.stateless_normal((5, 9, 8, 3), seed=(2, 3))
    dense = SpectralConv2D(4, 3, beta=0.0, cache=cache, batch_chunks=2)
    relative = SpectralConv2D(4, 3, beta=0.7, beta_mode="relative", cache=cache, batch_chunks=2)
    dense(x), relative(x)
    relative.set_weights(dense.get_weights())
    np.testing.assert_allclose(
        relative(x), spectral.threshold(dense(x), 0.7, "relative"), atol=1e-5
    )
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(relative(x)) ** 2)
    grads = tape.gradient(loss, relative.trainable_weights)
    assert all(np.isfinite(g.numpy()).all() and np.abs(g.numpy()).max() > 0 for g in grads)


def test_beta_mode_is_checked_saved_and_passed_by_the_builders():
    from keras_specnet import utils
    from keras_specnet.applications import SpecDenseNet, SpecVGG16

    with pytest.raises(ValueError, match=r"`beta_mode`.*Received: beta_mode='rms'"):
        SpectralConv2D(4, 3, beta_mode="rms")
    with pytest.raises(ValueError, match=r"`beta_mode`.*Received: beta_mode='rms'"):
        SpectralBlock([(4, 3)], beta_mode="rms")
    layer = SpectralConv2D(4, 3, beta=0.5, beta_mode="relative")
    assert SpectralConv2D.from_config(layer.get_config()).beta_mode == "relative"
    block = SpectralBlock([(4, 3)], beta_mode="relative")
    assert SpectralBlock.from_config(block.get_config()).beta_mode == "relative"
    for model in (
        SpecVGG16(width=0.125, fc_units=8, beta_mode="relative"),
        SpecVGG16(width=0.125, fc_units=8, beta_mode="relative", cache="bitmask"),
        SpecDenseNet(width=0.125, num_layers=2, beta_mode="relative"),
    ):
        convs = utils.spectral_convolutions(model)
        assert convs and {c.beta_mode for c in convs} == {"relative"}
    assert {c.beta_mode for c in utils.spectral_convolutions(SpecVGG16(width=0.125))} == {
        "absolute"
    }


def test_relative_mode_fused_block_matches_its_separate_layers():
    from keras_specnet.applications import blocks

    inputs = keras.Input((8, 8, 3))
    kwargs = dict(beta=0.6, beta_mode="relative", pool=(2, 2), name="b")
    fused = keras.Model(
        inputs, blocks.spectral_block(inputs, [(4, 3), (4, 3)], cache="block", **kwargs)
    )
    inputs = keras.Input((8, 8, 3))
    separate = keras.Model(
        inputs, blocks.spectral_block(inputs, [(4, 3), (4, 3)], cache="none", **kwargs)
    )
    separate.set_weights(fused.get_weights())
    x = tf.random.stateless_normal((6, 8, 8, 3), seed=(4, 5))
    np.testing.assert_allclose(fused(x), separate(x), atol=1e-5)
