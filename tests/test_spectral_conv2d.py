"""SpectralConv2D against keras.layers.Conv2D and a NumPy FFT reference."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import spectral
from keras_specnet.layers import SpectralConv2D, SpectralTanh, ToSpatial, ToSpectral

SIZES = [(8, 8), (7, 7), (6, 9), (9, 5)]
KERNELS = [1, 2, 3, 4, 5, 7]


def _pair(h, w, k, strides=1, cin=3, filters=4, **kwargs):
    """A Conv2D and a SpectralConv2D with the same random weights."""
    rng = np.random.default_rng(h * 100 + w * 10 + k)
    conv = keras.layers.Conv2D(filters, k, strides=strides, padding="same")
    spec = SpectralConv2D(filters, k, strides=strides, output_domain="spatial", **kwargs)
    conv.build((None, h, w, cin))
    spec.build((None, h, w, cin))
    conv.bias.assign(rng.standard_normal(filters).astype("float32") * 0.1)
    spec.kernel.assign(conv.kernel)
    spec.bias.assign(conv.bias)
    x = rng.standard_normal((2, h, w, cin)).astype("float32")
    return conv, spec, x


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("k", KERNELS)
def test_matches_conv2d_same(size, k):
    conv, spec, x = _pair(*size, k)
    expected = conv(x).numpy()
    got = spec(x).numpy()
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-4


@pytest.mark.parametrize("size", [(8, 8), (9, 7), (10, 11)])
@pytest.mark.parametrize("k", [1, 3, 4, 5])
@pytest.mark.parametrize("strides", [2, 3, (2, 1)])
def test_strides_match_conv2d_same(size, k, strides):
    conv, spec, x = _pair(*size, k, strides=strides)
    expected = conv(x).numpy()
    got = spec(x).numpy()
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-4


@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
@pytest.mark.parametrize("k", [1, 3, 4, 7])
def test_gradients_match_conv2d(size, k):
    conv, spec, x = _pair(*size, k)
    x = tf.constant(x)
    w = tf.random.stateless_normal((2, *size, 4), seed=(1, 2))

    def grads(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * w)
        return tape.gradient(loss, [x, layer.kernel, layer.bias])

    for got, expected in zip(grads(spec), grads(conv)):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-4, rtol=1e-4)


def _numpy_spectrum(x, kernel, bias, fft_size):
    """Orthonormal half spectrum of Conv2D(padding="same") by np.fft alone."""
    rows, cols = fft_size
    kh, kw, cin, cout = kernel.shape
    xs = np.fft.rfft2(x, s=(rows, cols), axes=(1, 2), norm="ortho")
    # Tap (a, b) sits at ((c_h - a) mod P, (c_w - b) mod Q): the circular
    # convolution then centres outputs as "same" padding does.
    g = np.zeros((rows, cols, cin, cout))
    ch, cw = (kh - 1) // 2, (kw - 1) // 2
    for a in range(kh):
        for b in range(kw):
            g[(ch - a) % rows, (cw - b) % cols] += kernel[a, b]
    ks = np.fft.rfft2(g, axes=(0, 1))
    y = np.einsum("bpqi,pqio->bpqo", xs, ks)
    y[:, 0, 0, :] += bias * np.sqrt(rows * cols)
    return y


@pytest.mark.parametrize("size,k", [((8, 8), 3), ((7, 6), 5), ((6, 7), 2)])
def test_spectral_output_matches_numpy_fft(size, k):
    h, w = size
    layer = SpectralConv2D(3, k, bias_initializer="random_normal")
    x = np.random.default_rng(0).standard_normal((2, h, w, 2)).astype("float32")
    got = layer(x).numpy()
    fft_size = spectral.padded_size(h, w, k - 1, k - 1)
    assert fft_size[1] % 2 == 0
    expected = _numpy_spectrum(x, layer.kernel.numpy(), layer.bias.numpy(), fft_size)
    assert got.dtype == np.complex64
    assert got.shape == (2, fft_size[0], fft_size[1] // 2 + 1, 3)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_threshold_against_numpy():
    x = np.random.default_rng(1).standard_normal((2, 9, 9, 2)).astype("float32")
    free = SpectralConv2D(3, 3)
    dense = free(x).numpy()
    magnitudes = np.abs(dense)
    for beta in [0.3, 1.0]:
        layer = SpectralConv2D(3, 3, beta=beta)
        layer.build(x.shape)
        layer.set_weights(free.get_weights())
        got = layer(x).numpy()
        expected = np.where(magnitudes > beta, dense, 0)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_threshold_extremes_and_monotone_zero_fraction():
    x = np.random.default_rng(2).standard_normal((4, 12, 12, 3)).astype("float32")
    base = SpectralConv2D(4, 3)
    base.build(x.shape)

    def fraction(beta):
        layer = SpectralConv2D(4, 3, beta=beta)
        layer.build(x.shape)
        layer.set_weights(base.get_weights())
        return float(spectral.zero_fraction(layer(x)))

    assert fraction(0.0) == 0.0
    assert fraction(1e9) == 1.0
    fractions = [fraction(b) for b in [0.0, 0.25, 0.5, 1.0, 2.0]]
    assert all(a < b for a, b in zip(fractions, fractions[1:]))


@pytest.mark.parametrize("size,padding", [((8, 8), 4), ((7, 9), (4, 5))])
def test_spectral_chain_is_linear_convolution(size, padding):
    """Two 3x3 spectral convolutions = the untruncated composition of two Conv2D."""
    h, w = size
    x = np.random.default_rng(3).standard_normal((2, h, w, 2)).astype("float32")
    s1, s2 = SpectralConv2D(3, 3), SpectralConv2D(2, 3)
    c1 = keras.layers.Conv2D(3, 3, padding="same")
    c2 = keras.layers.Conv2D(2, 3, padding="same")
    z = s1(ToSpectral(padding)(x))
    got = ToSpatial((h, w))(s2(z)).numpy()
    for c, s in [(c1, s1), (c2, s2)]:
        c.build((None, h + 4, w + 4, s.kernel.shape[2]))
        c.set_weights(s.get_weights())
    # Room on every side keeps the first convolution's spill for the second.
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    expected = c2(c1(padded)).numpy()[:, 2 : 2 + h, 2 : 2 + w]
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("shape, fft_size", [((5, 6), (8, 8)), ((4, 4), (5, 6)), ((3, 7), (7, 10))])
def test_to_spectral_gradient_is_the_dense_transpose(shape, fft_size):
    # The transform as a dense matrix, column by column from np.fft: the
    # gradient of <Re Z, gr> + <Im Z, gi> is M_re^T gr + M_im^T gi.
    h, w = shape
    basis = np.eye(h * w).reshape(h * w, h, w)
    columns = np.fft.rfft2(basis, s=fft_size, axes=(1, 2), norm="ortho").reshape(h * w, -1)
    rng = np.random.default_rng(h * w)
    x = rng.standard_normal((2, h, w, 1)).astype("float32")
    gr, gi = (rng.standard_normal((2, columns.shape[1])).astype("float32") for _ in range(2))
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = tf.reshape(spectral.to_spectral(x, fft_size), (2, -1))
        loss = tf.reduce_sum(tf.math.real(z) * gr + tf.math.imag(z) * gi)
    got = tape.gradient(loss, x).numpy().reshape(2, -1)
    expected = gr @ columns.real.T + gi @ columns.imag.T
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_to_spectral_gradient_of_an_empty_batch():
    x = tf.zeros((0, 4, 4, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.abs(spectral.to_spectral(x, (6, 6))))
    assert tape.gradient(loss, x).shape == (0, 4, 4, 2)


def _round_trips(z):
    fft_size = spectral.fft_size_of(z.shape)
    back = spectral.to_spectral(spectral.to_spatial(z, fft_size), fft_size)
    return np.allclose(back.numpy(), np.asarray(z), atol=1e-4)


@pytest.mark.parametrize("beta", [0.0, 0.2])
def test_outputs_keep_conjugate_symmetry(beta):
    x = np.random.default_rng(4).standard_normal((2, 9, 7, 2)).astype("float32")
    z1 = SpectralConv2D(3, 3, beta=beta, activation="spectral_tanh")(x)
    z2 = SpectralConv2D(2, 3, beta=beta, activation="spectral_tanh")(z1)
    for z in [z1, z2, SpectralTanh()(z2)]:
        assert _round_trips(z)
    # The check can fail: a random half spectrum is not that of a real map.
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(z2.shape) + 1j * rng.standard_normal(z2.shape)
    assert not _round_trips(tf.constant(noise.astype("complex64")))


def test_functional_model_with_spectral_tensors():
    inputs = keras.Input((28, 28, 1))
    z = ToSpectral(padding=4)(inputs)
    assert z.dtype == "complex64" and tuple(z.shape) == (None, 32, 17, 1)
    z = SpectralConv2D(8, 3, beta=0.1, activation="spectral_tanh")(z)
    z = SpectralConv2D(8, 3, beta=0.1, activation="spectral_tanh")(z)
    assert z.dtype == "complex64" and tuple(z.shape) == (None, 32, 17, 8)
    x = ToSpatial((28, 28))(z)
    assert x.dtype == "float32" and tuple(x.shape) == (None, 28, 28, 8)
    y = SpectralConv2D(4, 5, output_domain="spatial", strides=2)(x)
    assert tuple(y.shape) == (None, 14, 14, 4)
    model = keras.Model(inputs, y)
    out = model(np.zeros((3, 28, 28, 1), "float32"))
    assert out.shape == (3, 14, 14, 4)


def test_spectral_input_with_spatial_output_crops_to_output_size():
    x = np.random.default_rng(6).standard_normal((1, 10, 10, 2)).astype("float32")
    z = ToSpectral(2)(x)
    layer = SpectralConv2D(3, 3, output_domain="spatial", output_size=(10, 10))
    y = layer(z)
    assert y.shape == (1, 10, 10, 3)
    # Equal to the spectral output taken back by ToSpatial.
    spec = SpectralConv2D(3, 3)
    spec.build(z.shape)
    spec.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, ToSpatial((10, 10))(spec(z)), atol=1e-5)


def test_output_shape_and_compute_output_shape():
    layer = SpectralConv2D(5, 3)
    assert layer.compute_output_shape((None, 28, 28, 1)) == (None, 30, 16, 5)
    spatial = SpectralConv2D(5, 3, strides=2, output_domain="spatial")
    assert spatial.compute_output_shape((None, 7, 9, 1)) == (None, 4, 5, 5)
    assert spatial(np.zeros((2, 7, 9, 1), "float32")).shape == (2, 4, 5, 5)


@pytest.mark.parametrize("cache", ["bitmask", "none"])
@pytest.mark.parametrize("spectral_in", [False, True])
def test_unknown_batch_size_in_a_compiled_function(cache, spectral_in):
    # As `model.fit` traces its step for a last, smaller batch: the batch
    # dimension is None inside the graph.
    x = np.random.default_rng(5).standard_normal((6, 9, 8, 3)).astype("float32")
    if spectral_in:
        x = spectral.to_spectral(x, (11, 10))
    layer = SpectralConv2D(4, 3, beta=0.05, activation="spectral_tanh", cache=cache)
    layer.build(x.shape)
    shape = (None, *x.shape[1:])

    def loss_and_grads(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = layer(inputs)
            loss = tf.reduce_sum(tf.abs(out) ** 2)
        return loss, tape.gradient(loss, [inputs, layer.kernel])

    compiled = tf.function(loss_and_grads, input_signature=[tf.TensorSpec(shape, x.dtype)])
    got, expected = compiled(tf.constant(x)), loss_and_grads(tf.constant(x))
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    for g, e in zip(got[1], expected[1]):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_non_finite_input_is_not_hidden_by_the_threshold(value):
    x = np.random.default_rng(6).standard_normal((2, 8, 8, 3)).astype("float32")
    x[0, 3, 4, 1] = value
    layer = SpectralConv2D(4, 3, beta=0.5, activation="spectral_tanh", output_domain="spatial")
    out = layer(x).numpy()
    # The bad sample's output is not finite; the other sample is untouched.
    assert not np.all(np.isfinite(out[0]))
    assert np.all(np.isfinite(out[1]))
