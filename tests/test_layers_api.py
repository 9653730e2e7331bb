"""Shapes, the NumPy references of the small layers, serialisation, errors, dtypes."""

import keras
import numpy as np
import pytest

from keras_specnet import layers, spectral
from keras_specnet.layers import (
    ButterflyFusion,
    SpectralBatchNormalization,
    SpectralConcatenate,
    SpectralConv2D,
    SpectralTanh,
    ToSpatial,
    ToSpectral,
)

from helpers import run_layer_test


def _complex(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype("complex64")


def test_spectral_tanh_matches_numpy():
    z = _complex((2, 6, 4, 3)) * 3
    got = SpectralTanh()(z).numpy()
    expected = np.tanh(z.real) + 1j * np.tanh(z.imag)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert got.dtype == np.complex64


def test_spectral_tanh_gradient_matches_equation_9():
    import tensorflow as tf

    z = tf.constant(_complex((1, 4, 3, 2)))
    w = tf.constant(_complex((1, 4, 3, 2), seed=1))
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = SpectralTanh()(z)
        loss = tf.reduce_sum(tf.math.real(out * tf.math.conj(w)))
    grad = tape.gradient(loss, z).numpy()
    zn, wn = z.numpy(), w.numpy()
    expected = (1 - np.tanh(zn.real) ** 2) * wn.real + 1j * ((1 - np.tanh(zn.imag) ** 2) * wn.imag)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,padding", [((7, 9), 2), ((8, 8), (3, 0)), ((5, 6), 0)])
def test_to_spectral_matches_numpy_rfft2(size, padding):
    x = np.random.default_rng(2).standard_normal((2, *size, 3)).astype("float32")
    layer = ToSpectral(padding)
    got = layer(x).numpy()
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    rows, cols = size[0] + ph, size[1] + pw
    cols += cols % 2
    expected = np.fft.rfft2(x, s=(rows, cols), axes=(1, 2), norm="ortho")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert layer.compute_output_shape((None, *size, 3)) == (None, rows, cols // 2 + 1, 3)
    # Orthonormal: energy is preserved (count the mirrored columns twice).
    weights = np.full(got.shape[2], 2.0)
    weights[0] = 1.0
    weights[-1] = 1.0
    energy = np.sum(np.abs(got) ** 2 * weights[None, None, :, None])
    np.testing.assert_allclose(energy, np.sum(x**2), rtol=1e-4)


def test_to_spatial_inverts_to_spectral():
    x = np.random.default_rng(3).standard_normal((2, 7, 5, 3)).astype("float32")
    back = ToSpatial((7, 5))(ToSpectral(3)(x)).numpy()
    np.testing.assert_allclose(back, x, atol=1e-5)
    assert back.dtype == np.float32


def _layer_cases():
    """Name -> (new layer, input): every public layer, some in several forms."""
    x = np.random.default_rng(4).standard_normal((2, 9, 8, 2)).astype("float32")
    z = ToSpectral(2)(x).numpy()
    return {
        "SpectralConv2D": (SpectralConv2D(3, 3, beta=0.2, activation="spectral_tanh"), x),
        "SpectralConv2D-strided-spatial": (
            SpectralConv2D(
                3,
                (3, 5),
                strides=2,
                output_domain="spatial",
                use_bias=False,
                kernel_regularizer="l2",
                name="custom",
            ),
            x,
        ),
        "SpectralConv2D-spectral-input": (
            SpectralConv2D(2, 1, output_domain="spatial", output_size=(9, 8)),
            z,
        ),
        "ToSpectral": (ToSpectral((1, 3)), x),
        "ToSpatial": (ToSpatial((9, 8)), z),
        "ToSpatial-pooled": (ToSpatial((9, 8), pool_size=2), z),
        "SpectralTanh": (SpectralTanh(), z),
        "SpectralConcatenate": (SpectralConcatenate(), [z, z[..., :1]]),
        "SpectralBatchNormalization": (SpectralBatchNormalization(), z),
        "ButterflyFusion": (ButterflyFusion(4, base=2), x),
    }


CASES = sorted(_layer_cases())


def test_every_public_layer_has_a_serialisation_case():
    covered = {name.split("-")[0] for name in CASES}
    assert covered == set(layers.__all__)


@pytest.mark.parametrize("name", CASES)
def test_serialisation_round_trips(name, tmp_path):
    layer, data = _layer_cases()[name]
    loaded = run_layer_test(layer, data, tmp_path)
    assert loaded.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"filters": 0, "kernel_size": 3},
            r"`filters`. Expected a positive integer. Received: filters=0",
        ),
        (
            {"filters": 2.5, "kernel_size": 3},
            r"`filters`. Expected a positive integer. Received: filters=2.5",
        ),
        (
            {"filters": 4, "kernel_size": 0},
            r"`kernel_size`. Expected an integer >= 1 or a tuple of 2 such integers. Received: kernel_size=0",
        ),
        ({"filters": 4, "kernel_size": (3,)}, r"`kernel_size`.*Received: kernel_size=\(3,\)"),
        (
            {"filters": 4, "kernel_size": 3, "beta": -1},
            r"`beta`. Expected a finite number >= 0. Received: beta=-1",
        ),
        (
            {"filters": 4, "kernel_size": 3, "activation": "relu"},
            r"`activation`. Expected one of \[None, 'linear', 'spectral_tanh'\]. Received: activation='relu'",
        ),
        (
            {"filters": 4, "kernel_size": 3, "output_domain": "fourier"},
            r"`output_domain`. Expected one of \['spatial', 'spectral'\]. Received: output_domain='fourier'",
        ),
        (
            {"filters": 4, "kernel_size": 3, "strides": 2},
            r"`strides`. Expected \(1, 1\) with output_domain='spectral'.*Received: strides=2",
        ),
        (
            {"filters": 4, "kernel_size": 3, "strides": 0, "output_domain": "spatial"},
            r"`strides`.*Received: strides=0",
        ),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpectralConv2D(**kwargs)


def test_other_constructor_errors():
    with pytest.raises(
        ValueError, match=r"`padding`. Expected an integer >= 0.*Received: padding=-1"
    ):
        ToSpectral(-1)
    with pytest.raises(
        ValueError, match=r"`size`. Expected an integer >= 1.*Received: size=\(0, 4\)"
    ):
        ToSpatial((0, 4))


def test_input_errors():
    with pytest.raises(
        ValueError, match=r"Expected a rank-4 tensor.*Received: input shape=\(None, 28, 28\)"
    ):
        SpectralConv2D(4, 3)(keras.Input((28, 28)))
    with pytest.raises(
        ValueError, match=r"height and width must be known.*\(None, None, None, 1\)"
    ):
        SpectralConv2D(4, 3)(keras.Input((None, None, 1)))
    with pytest.raises(ValueError, match=r"height and width must be known"):
        ToSpectral()(keras.Input((None, 8, 1)))
    z = keras.Input((6, 4, 2), dtype="complex64")  # P = 6, Q = 6
    with pytest.raises(
        ValueError,
        match=r"kernel \(7, 7\) does not fit the spectral input's FFT size \(P, Q\)=\(6, 6\)",
    ):
        SpectralConv2D(4, 7)(z)
    with pytest.raises(
        ValueError, match=r"`output_size`. Expected the \(height, width\) to crop to"
    ):
        SpectralConv2D(4, 3, output_domain="spatial")(z)
    with pytest.raises(
        ValueError, match=r"`size`. Expected at most the input's FFT size \(P, Q\)=\(6, 6\)"
    ):
        ToSpatial((7, 6))(z)
    with pytest.raises(
        ValueError,
        match=r"ToSpatial.*Expected a spectral \(complex64\) tensor.*Received: a real tensor",
    ):
        ToSpatial((4, 4))(keras.Input((4, 4, 1)))
    with pytest.raises(ValueError, match=r"SpectralTanh.*Expected a spectral \(complex64\) tensor"):
        SpectralTanh()(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(
        ValueError, match=r"ToSpectral.*Expected a real \(float\) tensor.*Received: a spectral"
    ):
        ToSpectral()(z)
    layer = SpectralConv2D(4, 3)
    layer(np.zeros((1, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"Expected 2 input channels.*shape \(1, 8, 8, 3\)"):
        layer(np.zeros((1, 8, 8, 3), "float32"))


@pytest.mark.parametrize(
    "policy,dtype", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]
)
def test_mixed_precision(policy, dtype):
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 3)).astype("float32")
    reference = SpectralConv2D(4, 3, beta=0.1, activation="spectral_tanh", output_domain="spatial")
    expected = reference(x).numpy()
    keras.config.set_dtype_policy(policy)
    layer = SpectralConv2D(4, 3, beta=0.1, activation="spectral_tanh", output_domain="spatial")
    spec = SpectralConv2D(4, 3)
    out = layer(x)
    layer.set_weights(reference.get_weights())
    out = layer(x)
    assert layer.kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_allclose(np.asarray(out, "float32"), expected, atol=2e-2)
    assert keras.backend.standardize_dtype(spec(x).dtype) == "complex64"
    back = ToSpatial((8, 8))(ToSpectral()(x))
    assert keras.backend.standardize_dtype(back.dtype) == dtype
    # A model trains one step under the policy.
    inputs = keras.Input((8, 8, 3))
    h = SpectralConv2D(4, 3, activation="spectral_tanh", output_domain="spatial")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(2, activation="softmax", dtype="float32")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, np.array([0, 1]))
    assert np.isfinite(loss)


def test_format_helpers():
    assert spectral.padded_size(28, 28, 4, 4) == (32, 32)
    assert spectral.padded_size(7, 7, 2, 2) == (9, 10)
    assert spectral.fft_size_of((None, 9, 6, 3)) == (9, 10)
    assert spectral.spectral_shape(None, (9, 10), 3) == (None, 9, 6, 3)
    # TensorFlow's "same" offsets, e.g. 28 rows, kernel 3, stride 2 -> 0.
    assert spectral.same_padding_offset(28, 3, 2) == 0
    assert spectral.same_padding_offset(28, 3, 1) == 1
    assert spectral.same_padding_offset(9, 4, 1) == 1
