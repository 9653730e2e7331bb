"""Edge cases of every spectral layer: tiny, odd and empty inputs, extreme
thresholds, and inputs in other dtypes.

For each layer and each cache mode that applies: 1x1, odd, even and
non-square maps, a batch of 1 and of 0, one channel, `beta=0` and a `beta`
that zeroes every entry give finite outputs and finite gradients with
respect to the inputs and every trainable weight. Half-precision and
float64 inputs are cast to the layer's compute dtype, as
`keras.layers.Conv2D` casts them, and complex128 spectra to complex64.
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import spectral
from keras_specnet.layers import (
    SpectralBatchNormalization,
    SpectralBlock,
    SpectralConcatenate,
    SpectralConv2D,
    SpectralDenseBlock,
    SpectralTanh,
    ToSpatial,
    ToSpectral,
)
from keras_specnet.layers import __all__ as LAYERS

#: (batch, H, W, C): 1x1 with a batch of 1, odd and non-square, even, an
#: empty batch.
SHAPES = [(1, 1, 1, 1), (2, 3, 5, 1), (1, 4, 4, 2), (0, 3, 3, 1)]
ZEROING_BETA = 1e9


def _spectrum(shape, padding=2, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    return ToSpectral(padding)(x)


def _real_input(shape):
    return tf.constant(np.random.default_rng(0).standard_normal(shape).astype("float32"))


def _conv(cache, domain, beta):
    def make(shape):
        return SpectralConv2D(
            2, 3, beta=beta, cache=cache, output_domain=domain, activation="spectral_tanh"
        )

    return (f"SpectralConv2D-{cache}-{domain}-beta{beta:g}", make, _real_input)


# Each case: (id, make(shape) -> layer, input(shape) -> tensor or list). Every
# cache mode and both thresholds appear; every mode gives the same gradients
# (tests/test_cache.py), so not every combination is repeated.
CASES = [
    _conv("bitmask", "spectral", 0.0),
    _conv("bitmask", "spatial", ZEROING_BETA),
    _conv("sparse_tensor", "spatial", 0.0),
    _conv("none", "spectral", ZEROING_BETA),
    (
        "SpectralConv2D-bitmask-spectral-input",
        lambda s: SpectralConv2D(2, 1, beta=ZEROING_BETA),
        _spectrum,
    ),
    (
        "SpectralBlock-pooled-beta0",
        lambda s: SpectralBlock([(2, 3), (2, 1)], pool_size=2, batch_chunks=2),
        _real_input,
    ),
    (
        "SpectralBlock-zeroing",
        lambda s: SpectralBlock([(2, 3)], beta=ZEROING_BETA, activation=None),
        _real_input,
    ),
    (
        "SpectralDenseBlock-zeroing",
        lambda s: SpectralDenseBlock(2, [(2, 1), (2, 3)], beta=ZEROING_BETA, batch_chunks=2),
        _real_input,
    ),
    ("ToSpectral", lambda s: ToSpectral(padding=2), _real_input),
    ("ToSpatial", lambda s: ToSpatial(s[1:3]), _spectrum),
    (
        "ToSpatial-bitmask-overlapping-pool",
        lambda s: ToSpatial(s[1:3], pool_size=2, pool_strides=1),
        _spectrum,
    ),
    ("ToSpatial-none-pool", lambda s: ToSpatial(s[1:3], pool_size=2, cache="none"), _spectrum),
    ("SpectralTanh", lambda s: SpectralTanh(), _spectrum),
    ("SpectralConcatenate", lambda s: SpectralConcatenate(), lambda s: [_spectrum(s)] * 2),
    ("SpectralBatchNormalization-bitmask", lambda s: SpectralBatchNormalization(), _spectrum),
    # Every entry zero: the normalisation divides by sqrt(0 + epsilon).
    (
        "SpectralBatchNormalization-none-zeros",
        lambda s: SpectralBatchNormalization(cache="none"),
        lambda s: tf.zeros_like(_spectrum(s)),
    ),
]


def test_every_spectral_layer_is_covered():
    covered = {case[0].split("-")[0] for case in CASES}
    assert covered == set(LAYERS) - {"ButterflyFusion"}, set(LAYERS) ^ covered


def _parts(y):
    """A real float32 view of an output (real and imaginary parts side by side)."""
    if y.dtype.is_complex:
        return tf.concat([tf.math.real(y), tf.math.imag(y)], axis=-1)
    return tf.cast(y, tf.float32)


def _finite(name, t):
    values = np.asarray(_parts(tf.convert_to_tensor(t)))
    assert np.all(np.isfinite(values)), f"{name}: {values[~np.isfinite(values)][:5]}"


def _call(layer, x):
    if isinstance(layer, SpectralBatchNormalization):
        return layer(x, training=True)
    return layer(x)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name,make,make_input", CASES, ids=[c[0] for c in CASES])
def test_outputs_and_gradients_are_finite(name, make, make_input, shape):
    layer = make(shape)
    inputs = make_input(shape)
    watched = inputs if isinstance(inputs, list) else [inputs]
    with tf.GradientTape() as tape:
        tape.watch(watched)
        y = _call(layer, inputs)
        loss = tf.reduce_sum(tf.square(_parts(y)))
    assert y.shape[0] == shape[0]
    _finite(name, y)
    grads = tape.gradient(loss, [*watched, *layer.trainable_weights])
    names = [f"input {i}" for i in range(len(watched))] + [w.path for w in layer.trainable_weights]
    for weight_name, grad in zip(names, grads):
        assert grad is not None, f"no gradient reaches {weight_name}"
        _finite(f"{name}: gradient of {weight_name}", grad)
    if "beta1e+09" in name or "spectral-input" in name:
        # The threshold zeroes every entry: nothing passes, nothing trains.
        np.testing.assert_array_equal(np.asarray(_parts(y)), 0.0)
        for grad in grads[len(watched) :]:
            np.testing.assert_array_equal(np.asarray(grad), 0.0)


def test_an_empty_training_batch_leaves_the_moving_statistics_unchanged():
    layer = SpectralBatchNormalization()
    z = _spectrum((4, 4, 4, 2))
    layer(z, training=True)
    before = [np.array(layer.moving_mean), np.array(layer.moving_variance)]
    step = tf.function(lambda t: layer(t, training=True))
    for empty in (z[:0], tf.zeros((0, *z.shape[1:]), z.dtype)):
        layer(empty, training=True)  # eager: a static empty batch
        step(tf.constant(empty))
    graph = tf.function(
        lambda t: layer(t, training=True),
        input_signature=[tf.TensorSpec((None, *z.shape[1:]), tf.complex64)],
    )
    graph(z[:0])  # a batch whose size is not static
    after = [np.array(layer.moving_mean), np.array(layer.moving_variance)]
    for old, new in zip(before, after):
        np.testing.assert_array_equal(new, old)
    graph(z)
    assert not np.array_equal(np.array(layer.moving_mean), before[0])


def _small_model(batch_chunks):
    inputs = keras.Input((5, 5, 1))
    z = SpectralConv2D(2, 3, beta=0.01, activation="spectral_tanh", batch_chunks=batch_chunks)(
        inputs
    )
    z = SpectralConv2D(2, 3, beta=0.01, batch_chunks=batch_chunks)(z)
    x = ToSpatial((5, 5), pool_size=2, pool_strides=1, batch_chunks=batch_chunks)(z)
    return keras.Model(inputs, keras.layers.Flatten()(x))


@pytest.mark.slow  # trains
def test_fit_with_fewer_samples_than_batch_chunks():
    """A compiled step cuts a batch of 3 into 4 slices, the first one empty."""
    batch = 3
    model = _small_model(batch_chunks=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=False)
    x = np.random.default_rng(0).standard_normal((batch, 5, 5, 1)).astype("float32")
    y = np.zeros((batch, *model.output.shape[1:]), "float32")
    before = [np.array(w) for w in model.trainable_weights]
    (loss,) = model.fit(x, y, batch_size=batch, epochs=1, verbose=0).history["loss"]
    assert np.isfinite(loss)
    moved = [not np.array_equal(np.array(w), b) for w, b in zip(model.trainable_weights, before)]
    assert all(moved), [w.path for w, m in zip(model.trainable_weights, moved) if not m]


def test_a_thresholded_chain_gives_zero_finite_gradients():
    """Everything zeroed by the first layer: the rest sees an all-zero spectrum."""
    inputs = keras.Input((4, 4, 1))
    z = ToSpectral(padding=4)(inputs)
    z = SpectralConv2D(3, 3, beta=ZEROING_BETA, activation="spectral_tanh")(z)
    z = SpectralBatchNormalization()(z)
    z = SpectralConv2D(2, 3, beta=0.0)(z)
    x = ToSpatial((4, 4), pool_size=2)(z)
    model = keras.Model(inputs, x)
    data = tf.constant(np.random.default_rng(0).standard_normal((2, 4, 4, 1)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(data)
        loss = tf.reduce_sum(tf.square(model(data, training=True)))
    grads = tape.gradient(loss, [data, *model.trainable_weights])
    assert all(g is not None for g in grads)
    for grad in grads:
        _finite("gradient", grad)
    np.testing.assert_array_equal(np.asarray(grads[0]), 0.0)


# ---- dtypes -----------------------------------------------------------------

REAL_INPUT_LAYERS = [
    ("ToSpectral", lambda: ToSpectral(padding=2)),
    ("SpectralConv2D-spectral", lambda: SpectralConv2D(2, 3, beta=0.1)),
    ("SpectralConv2D-spatial", lambda: SpectralConv2D(2, 3, output_domain="spatial")),
]


#: Each input dtype under the float32 policy, and the half types under the
#: mixed policies (one of them that of the policy, one not).
DTYPE_CASES = [
    ("float16", "float32"),
    ("bfloat16", "float32"),
    ("float64", "float32"),
    ("float16", "mixed_float16"),
    ("float16", "mixed_bfloat16"),
]


@functools.lru_cache(maxsize=None)
def _conv2d_output_dtype(input_dtype, policy):
    """What `keras.layers.Conv2D` makes of an input of `input_dtype` under `policy`."""
    conv = keras.layers.Conv2D(2, 3, dtype=policy)
    return keras.backend.standardize_dtype(conv(tf.ones((1, 4, 4, 2), input_dtype)).dtype)


@pytest.mark.parametrize("input_dtype,policy", DTYPE_CASES)
@pytest.mark.parametrize("name,make", REAL_INPUT_LAYERS, ids=[c[0] for c in REAL_INPUT_LAYERS])
def test_real_inputs_of_other_dtypes_are_cast_as_conv2d_casts_them(name, make, input_dtype, policy):
    x32 = tf.constant(np.random.default_rng(0).standard_normal((2, 4, 5, 2)), tf.float32)
    # Values the narrow dtype holds exactly, so that the cast loses nothing.
    x32 = tf.cast(tf.cast(x32, input_dtype), tf.float32)
    x = tf.cast(x32, input_dtype)
    keras.config.set_dtype_policy(policy)
    layer = make()
    reference = make()
    reference(x32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.square(_parts(y)))
    layer.set_weights(reference.get_weights())
    got = keras.backend.standardize_dtype(y.dtype)
    if spectral.is_spectral(y):
        assert got == spectral.SPECTRAL_DTYPE
    else:
        assert got == _conv2d_output_dtype(input_dtype, policy), (got, policy)
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(reference(x32)))
    grad = tape.gradient(loss, x)
    assert grad is not None and keras.backend.standardize_dtype(grad.dtype) == input_dtype
    _finite(f"{name}: input gradient", grad)


SPECTRAL_INPUT_LAYERS = [
    ("SpectralConv2D", lambda: SpectralConv2D(2, 3, beta=0.1)),
    (
        "SpectralConv2D-spatial",
        lambda: SpectralConv2D(2, 3, output_domain="spatial", output_size=4),
    ),
    ("SpectralTanh", SpectralTanh),
    ("SpectralBatchNormalization", SpectralBatchNormalization),
    ("ToSpatial", lambda: ToSpatial(4)),
    ("ToSpatial-pool", lambda: ToSpatial(4, pool_size=2, pool_strides=1)),
    ("SpectralConcatenate", SpectralConcatenate),
]


@pytest.mark.parametrize("policy", ["float32"])
@pytest.mark.parametrize(
    "name,make", SPECTRAL_INPUT_LAYERS, ids=[c[0] for c in SPECTRAL_INPUT_LAYERS]
)
def test_complex128_spectra_are_cast_to_complex64(name, make, policy):
    keras.config.set_dtype_policy(policy)
    z64 = _spectrum((2, 4, 4, 2))
    z128 = tf.cast(z64, tf.complex128)
    args = (lambda z: [z, z]) if name == "SpectralConcatenate" else (lambda z: z)
    layer, reference = make(), make()
    reference(args(z64))
    layer(args(z128))
    layer.set_weights(reference.get_weights())
    y = layer(args(z128))
    symbolic = make()(args(keras.Input(z64.shape[1:], dtype="complex128")))
    assert keras.backend.standardize_dtype(y.dtype) == symbolic.dtype
    np.testing.assert_array_equal(np.asarray(y), np.asarray(reference(args(z64))))
