"""SpectralBatchNormalization against keras.layers.BatchNormalization."""

import keras
import numpy as np
import pytest

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


def _padded_grads(x, padding, spectral_path, gamma, offset, weights, cache="bitmask"):
    """Gradients of sum(W * normalised padded maps) w.r.t. x, gamma and offset."""
    import tensorflow as tf

    x = tf.constant(x)
    if spectral_path:
        layer = SpectralBatchNormalization(cache=cache)
        layer.build(ToSpectral(padding)(x).shape)
    else:
        layer = keras.layers.BatchNormalization(epsilon=1e-3)
        rows, cols = spectral.padded_size(x.shape[1], x.shape[2], padding, padding)
        layer.build((None, rows, cols, x.shape[3]))
    layer.gamma.assign(gamma)
    (layer.offset if spectral_path else layer.beta).assign(offset)
    shift = layer.offset if spectral_path else layer.beta

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if spectral_path:
                z = ToSpectral(padding)(x)
                maps = ToSpatial(spectral.fft_size_of(z.shape))(layer(z, training=True))
            else:
                rows, cols = spectral.padded_size(x.shape[1], x.shape[2], padding, padding)
                padded = tf.pad(x, [[0, 0], [0, rows - x.shape[1]], [0, cols - x.shape[2]], [0, 0]])
                maps = layer(padded, training=True)
            loss = tf.reduce_sum(maps * tf.constant(weights))
        return tape.gradient(loss, [x, layer.gamma, shift])

    return [g.numpy() for g in run(x)]


@pytest.mark.parametrize("cache", ["bitmask", "sparse_tensor", "none"])
def test_gradients_match_batch_normalization_in_every_cache_mode(cache):
    x = _maps((4, 7, 6, 3))
    rng = np.random.default_rng(2)
    gamma, offset = rng.random(3) + 0.5, rng.standard_normal(3)
    weights = rng.standard_normal((4, 10, 10, 3)).astype("float32")  # 7x6 padded by 3, Q even
    got = _padded_grads(x, 3, True, gamma, offset, weights, cache)
    expected = _padded_grads(x, 3, False, gamma, offset, weights)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-3 * np.max(np.abs(e)))


def test_bitmask_cache_keeps_less_than_autodiff():
    from keras_specnet import memory
    from keras_specnet.layers import SpectralConv2D

    def model(cache):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((32, 32, 32))
        z = SpectralConv2D(32, 3, beta=1.0, activation="spectral_tanh")(inputs)
        z = SpectralBatchNormalization(cache=cache)(z)
        z = SpectralConv2D(32, 3, beta=1.0, activation="spectral_tanh")(z)
        x = keras.layers.GlobalAveragePooling2D()(ToSpatial((32, 32))(z))
        m = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        return m

    x = np.random.default_rng(3).standard_normal((32, 32, 32, 32)).astype("float32")
    y = np.arange(32) % 2
    held = {cache: memory.held_bytes(model(cache), x, y) for cache in ["none", "bitmask"]}
    # Autodiff keeps SBN's dense input spectrum (8 bytes per entry, 34 x 18
    # x 32 per sample); the cache keeps it compressed.
    dense = 32 * 34 * 18 * 32 * 8
    assert held["none"] - held["bitmask"] > 0.5 * dense, held
