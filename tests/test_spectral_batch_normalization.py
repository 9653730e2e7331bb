"""SpectralBatchNormalization against keras.layers.BatchNormalization."""

import numpy as np
import pytest

import keras
from keras_specnet import spectral
from keras_specnet.layers import SpectralBatchNormalization, ToSpatial, ToSpectral


def _maps(shape=(4, 7, 6, 3), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * [1.0, 3.0, 0.2] + [0.5, -2.0, 4.0]).astype("float32")


@pytest.mark.parametrize("padding", [0, 3])
@pytest.mark.parametrize("training", [True, False])
def test_matches_batch_normalization_on_the_padded_maps(padding, training):
    x = _maps()
    z = ToSpectral(padding)(x)
    fft_size = spectral.fft_size_of(z.shape)
    padded = np.asarray(ToSpatial(fft_size)(z))  # the P x Q maps
    sbn = SpectralBatchNormalization(momentum=0.5)
    bn = keras.layers.BatchNormalization(momentum=0.5, epsilon=1e-3)
    sbn.build(z.shape)
    bn.build(padded.shape)
    rng = np.random.default_rng(1)
    gamma, offset = rng.random(3) + 0.5, rng.standard_normal(3)
    sbn.gamma.assign(gamma)
    sbn.offset.assign(offset)
    bn.set_weights([gamma, offset, np.full(3, 0.3), np.full(3, 2.0)])
    sbn.moving_mean.assign(np.full(3, 0.3))
    sbn.moving_variance.assign(np.full(3, 2.0))
    got = sbn(z, training=training)
    expected = ToSpectral(0)(bn(padded, training=training))
    np.testing.assert_allclose(got, expected, atol=2e-4)
    np.testing.assert_allclose(sbn.moving_mean, bn.moving_mean, atol=1e-4)
    np.testing.assert_allclose(sbn.moving_variance, bn.moving_variance, rtol=1e-4)


def test_normalised_maps_have_unit_variance():
    z = ToSpectral(2)(_maps((8, 9, 9, 3)))
    out = SpectralBatchNormalization(scale=False, center=False, epsilon=0.0)(z, training=True)
    mean, square = spectral.plane_moments(out)
    np.testing.assert_allclose(np.mean(mean, axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.mean(square, axis=0), 1.0, rtol=1e-4)


def test_round_trip_and_errors(tmp_path):
    inputs = keras.Input((9, 6, 3), dtype="complex64")
    model = keras.Model(inputs, SpectralBatchNormalization(momentum=0.9)(inputs))
    z = np.asarray(ToSpectral(2)(_maps((2, 7, 8, 3))))
    path = tmp_path / "sbn.keras"
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path)(z), model(z))
    layer = SpectralBatchNormalization.from_config(model.layers[-1].get_config())
    assert layer.momentum == 0.9
    with pytest.raises(ValueError, match=r"Expected a spectral \(complex64\) tensor"):
        SpectralBatchNormalization()(np.zeros((1, 4, 4, 2), "float32"))
