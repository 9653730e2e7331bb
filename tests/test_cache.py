"""The spectral layers' backward-pass cache: same gradients, fewer bytes."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import cache, memory
from keras_specnet.layers import SpectralConv2D, ToSpatial


def _spectral_input(seed=0, shape=(2, 9, 8, 3), beta=0.3):
    """A thresholded spectral tensor, as a previous spectral layer makes."""
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    return SpectralConv2D(shape[-1], 3, beta=beta, activation="spectral_tanh", cache="none")(x)


# Largest error of one kept part, relative to the largest part of its group.
_QUANTIZATION_ERROR = {"bfloat16": 2.0**-8, "int8": 0.5 / 127, "int4": 1.0 / 7}


def _group_scales(z):
    """The largest |real| or |imag| part of each value's quantization group."""
    flat = z.numpy().reshape(-1)
    kept = flat[flat != 0]
    parts = np.abs(np.stack([kept.real, kept.imag], axis=-1)).max(axis=-1)
    groups = np.arange(kept.size) // cache.GROUP
    tops = np.array([parts[groups == g].max() for g in range(groups.max() + 1)])
    scales = np.zeros(flat.shape, "float32")
    scales[flat != 0] = tops[groups]
    return scales.reshape(z.shape)


@pytest.mark.parametrize("mode", ["bitmask", "sparse_tensor"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int8", "int4"])
def test_compress_round_trip(mode, dtype):
    z = _spectral_input(shape=(2, 9, 8, 16), beta=1.0)
    assert 0.2 < float(tf.reduce_mean(tf.cast(tf.equal(z, 0), tf.float32))) < 0.95
    assert int(tf.math.count_nonzero(z)) > 3 * cache.GROUP  # several groups, one partial
    saved = cache.compress(z, mode, dtype)
    back = cache.decompress(saved, mode, dtype).numpy()
    if dtype == "float32":
        np.testing.assert_array_equal(back, z.numpy())
        return
    np.testing.assert_array_equal(back[z.numpy() == 0], 0)
    if dtype == "bfloat16":
        np.testing.assert_allclose(back, z.numpy(), rtol=2 * _QUANTIZATION_ERROR[dtype])
        return
    bound = _QUANTIZATION_ERROR[dtype] * _group_scales(z) * (1 + 1e-5)
    for part in (np.real, np.imag):
        assert np.all(np.abs(part(back) - part(z.numpy())) <= bound)


def test_int4_rounding_is_unbiased():
    # Stochastic rounding: the mean of many roundings is the value itself,
    # where rounding to nearest would be off by up to half a step.
    values = tf.constant(np.linspace(0.01, 1.0, cache.GROUP), tf.float32)
    z = tf.reshape(tf.complex(values, -0.3 * values), (1, 8, 8, 1))
    runs = np.stack(
        [
            cache.decompress(cache.compress(z, "bitmask", "int4"), "bitmask", "int4")
            for _ in range(400)
        ]
    )
    step = 1.0 / 7
    assert np.abs(runs.mean(axis=0) - z.numpy()).max() < 0.1 * step
    assert np.abs(runs[0] - z.numpy()).max() > 0.2 * step  # each run is rounded


def test_quantized_values_take_their_bytes():
    z = _spectral_input(shape=(4, 16, 16, 8), beta=0.5)
    nonzero = int(tf.math.count_nonzero(z))
    bits_and_shape = -(-int(tf.size(z)) // 8) + 32
    scales = 4 * -(-nonzero // cache.GROUP)
    expected = {"bfloat16": 4 * nonzero, "int8": 2 * nonzero + scales, "int4": nonzero + scales}
    for dtype, values in expected.items():
        got = cache.saved_bytes(cache.compress(z, "bitmask", dtype))
        assert got == bits_and_shape + values, dtype


@pytest.mark.parametrize("mode", ["bitmask", "sparse_tensor"])
@pytest.mark.parametrize("shape", [(0, 5, 3, 2), (3, 5, 3, 2)])
def test_compress_round_trip_with_nothing_kept(mode, shape):
    # An empty batch slice, and a spectrum the threshold zeroed entirely.
    z = tf.zeros(shape, tf.complex64)
    back = cache.decompress(cache.compress(z, mode), mode)
    assert back.dtype == tf.complex64 and tuple(back.shape) == shape
    assert not np.any(back.numpy())


def test_bitmask_is_smaller_than_dense_and_sparse_tensor():
    z = _spectral_input(shape=(4, 16, 16, 8), beta=0.5)
    dense = int(tf.size(z)) * 8
    nonzero = int(tf.math.count_nonzero(z))
    bitmask = cache.saved_bytes(cache.compress(z, "bitmask"))
    # One bit per entry plus 8 bytes per non-zero (the shape is 4 int64).
    assert bitmask == -(-int(tf.size(z)) // 8) + 8 * nonzero + 32
    assert bitmask < dense
    assert bitmask < cache.saved_bytes(cache.compress(z, "sparse_tensor"))
    assert cache.saved_bytes(cache.compress(z, "bitmask", "bfloat16")) < bitmask


def _grads(layer, inputs, weights, compiled):
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x)
            loss = tf.reduce_sum(tf.math.real(out * tf.math.conj(tf.cast(weights, out.dtype))))
        return tape.gradient(loss, [x, layer.kernel, layer.bias])

    return (tf.function(run) if compiled else run)(tf.constant(inputs))


@pytest.mark.parametrize("mode", ["bitmask", "sparse_tensor"])
@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize(
    "spectral_in,output_domain,beta",
    [
        (True, "spectral", 0.3),
        (True, "spatial", 0.0),
        (False, "spectral", 0.5),
        (False, "spatial", 0.2),
    ],
)
def test_gradients_equal_plain_autodiff(mode, compiled, spectral_in, output_domain, beta):
    inputs = (
        _spectral_input().numpy()
        if spectral_in
        else np.random.default_rng(1).standard_normal((2, 9, 8, 3)).astype("float32")
    )
    kwargs = dict(
        beta=beta,
        activation="spectral_tanh",
        output_domain=output_domain,
        bias_initializer="random_normal",
    )
    if spectral_in and output_domain == "spatial":
        kwargs["output_size"] = (9, 8)
    plain = SpectralConv2D(4, 3, cache="none", **kwargs)
    cached = SpectralConv2D(4, 3, cache=mode, **kwargs)
    plain(inputs)
    cached(inputs)
    cached.set_weights(plain.get_weights())
    out = plain(inputs)
    np.testing.assert_array_equal(cached(inputs), out)
    weights = np.random.default_rng(2).standard_normal(out.shape).astype("float32")
    for got, expected in zip(
        _grads(cached, inputs, weights, compiled), _grads(plain, inputs, weights, compiled)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("spectral_in", [True, False])
def test_batch_chunks_give_the_same_outputs_and_gradients(batch_chunks, spectral_in):
    # Five samples: uneven slices, and empty ones when batch_chunks > 5.
    inputs = (
        _spectral_input(shape=(5, 9, 8, 3)).numpy()
        if spectral_in
        else np.random.default_rng(5).standard_normal((5, 9, 8, 3)).astype("float32")
    )
    kwargs = dict(beta=0.3, activation="spectral_tanh", bias_initializer="random_normal")
    plain = SpectralConv2D(4, 3, cache="none", **kwargs)
    chunked = SpectralConv2D(4, 3, batch_chunks=batch_chunks, **kwargs)
    plain(inputs)
    chunked(inputs)
    chunked.set_weights(plain.get_weights())
    out = plain(inputs)
    np.testing.assert_allclose(chunked(inputs), out, rtol=1e-6, atol=1e-6)
    weights = np.random.default_rng(6).standard_normal(out.shape).astype("float32")
    for got, expected in zip(
        _grads(chunked, inputs, weights, True), _grads(plain, inputs, weights, True)
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_batch_chunks_argument_error():
    with pytest.raises(ValueError, match=r"`batch_chunks`.*Received: batch_chunks=0"):
        SpectralConv2D(4, 3, batch_chunks=0)
    with pytest.raises(ValueError, match=r"`batch_chunks`.*Received: batch_chunks=0"):
        ToSpatial((8, 8), pool_size=2, batch_chunks=0)


def _quantized_and_plain_grads(dtype):
    inputs = _spectral_input().numpy()
    plain = SpectralConv2D(4, 3, beta=0.3, activation="spectral_tanh", cache="none")
    # One sample per slice: the quantization groups, and so which entries
    # round across the threshold, depend on how the batch is sliced.
    cached = SpectralConv2D(
        4, 3, beta=0.3, activation="spectral_tanh", cache_dtype=dtype, batch_chunks=2
    )
    plain(inputs)
    cached(inputs)
    cached.set_weights(plain.get_weights())
    weights = np.ones(plain(inputs).shape, "float32")
    return zip(_grads(cached, inputs, weights, False), _grads(plain, inputs, weights, False))


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_quantized_cache_gradients_are_close(dtype):
    for got, expected in _quantized_and_plain_grads(dtype):
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(got, expected, atol=2e-2 * scale)


def test_int4_cache_gradients_point_the_same_way():
    # 4-bit values move entries across the threshold and change the
    # activation's derivative, so single entries of the input's gradient
    # can be far off; the gradients as a whole stay aligned.
    tf.random.set_seed(0)  # the stochastic rounding
    for got, expected in _quantized_and_plain_grads("int4"):
        got, expected = np.ravel(got), np.ravel(expected)
        cosine = np.real(np.vdot(got, expected)) / np.linalg.norm(got) / np.linalg.norm(expected)
        assert cosine > 0.8, cosine


# Large enough that every kept tensor, the packed bitmask included, is above
# the size under which TensorFlow's CPU allocator statistics miss tensors.
SHAPE, WIDTH = (64, 32, 32, 64), 64


def _block_model(mode, spectral=True, batch_chunks=4):
    """Three 3x3 convolutions on 32x32x64 maps, spectral or spatial."""
    inputs = keras.Input(SHAPE[1:])
    if spectral:
        kwargs = dict(beta=1.0, activation="spectral_tanh", cache=mode, batch_chunks=batch_chunks)
        z = SpectralConv2D(WIDTH, 3, **kwargs)(inputs)
        z = SpectralConv2D(WIDTH, 3, **kwargs)(z)
        x = SpectralConv2D(WIDTH, 3, output_domain="spatial", output_size=(32, 32), **kwargs)(z)
    else:
        x = inputs
        for _ in range(3):
            x = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def test_bitmask_holds_fewer_bytes_than_autodiff_and_the_spatial_twin():
    x = np.random.default_rng(3).standard_normal(SHAPE).astype("float32")
    y = np.arange(SHAPE[0]) % 2
    held = {
        mode: memory.held_bytes(_block_model(mode), x, y)
        for mode in ["none", "bitmask", "sparse_tensor"]
    }
    spatial = memory.held_bytes(_block_model(None, spectral=False), x, y)
    # Spatial: three 16 MiB float32 maps. Autodiff through the spectral ops
    # keeps several dense complex tensors per layer; the bitmask cache keeps
    # the real input and two thresholded spectra, compressed.
    # (64 KiB: the allocator's reads move by a few KiB between calls.)
    assert spatial >= 3 * np.prod(SHAPE) * 4 - 64 * 1024, spatial
    assert held["bitmask"] < 0.4 * held["none"], held
    assert held["bitmask"] < 0.9 * spatial, (held, spatial)
    assert held["bitmask"] < held["sparse_tensor"], held


_STEP = """
import json, sys
sys.path.insert(0, {tests!r})
import numpy as np
import tensorflow as tf
# One op at a time: the peak then does not depend on which ops the
# scheduler happens to run side by side.
tf.config.threading.set_inter_op_parallelism_threads(1)
from keras_specnet import memory
from test_cache import SHAPE, _block_model

x = np.random.default_rng(3).standard_normal(SHAPE).astype("float32")
y = np.arange(SHAPE[0]) % 2
print(json.dumps(memory.step_peak(_block_model("bitmask", batch_chunks={chunks}), x, y)))
"""


def _step_bytes(chunks):
    # A fresh process for each count: what an earlier model left to the
    # allocator (its free lists, its fragmentation) must not enter the peak.
    script = _STEP.format(tests=os.path.dirname(os.path.abspath(__file__)), chunks=chunks)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CPU_ALLOCATOR_USE_BFC="true"),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["step_bytes"]


@pytest.mark.slow  # two fresh processes
def test_batch_chunks_lower_the_step_peak():
    step = {chunks: _step_bytes(chunks) for chunks in [1, 4]}
    # The backward pass's recomputation and gradients at a quarter of the
    # batch: its intermediates (several dense spectra) shrink fourfold,
    # while the full-batch gradients between layers stay. Which tensors
    # overlap at the peak depends on the order the executor picks, which
    # moves either peak by about one such spectrum from run to run, so the
    # saving is asserted in those units: more than one dense spectrum of
    # the whole batch (64 x 34 x 18 x 64 complex64, 20 MiB).
    spectrum = SHAPE[0] * 34 * 18 * WIDTH * 8
    assert step[1] - step[4] > spectrum, (step, spectrum)


def test_fit_with_each_cache():
    x = np.random.default_rng(4).standard_normal((16, 12, 12, 2)).astype("float32")
    y = np.arange(16) % 2
    losses = {}
    for mode in ["none", "bitmask", "sparse_tensor"]:
        keras.utils.set_random_seed(7)
        inputs = keras.Input((12, 12, 2))
        h = SpectralConv2D(4, 3, beta=0.1, activation="spectral_tanh", cache=mode)(inputs)
        h = SpectralConv2D(
            4,
            3,
            beta=0.1,
            activation="spectral_tanh",
            cache=mode,
            output_domain="spatial",
            output_size=(12, 12),
        )(h)
        outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(h))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        losses[mode] = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history[
            "loss"
        ]
    np.testing.assert_allclose(losses["bitmask"], losses["none"], rtol=1e-4)
    np.testing.assert_allclose(losses["sparse_tensor"], losses["none"], rtol=1e-4)


def test_cache_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"`cache`. Expected one of \['bitmask', 'none', 'sparse_tensor'\]. Received: cache='zip'",
    ):
        SpectralConv2D(4, 3, cache="zip")
    with pytest.raises(
        ValueError,
        match=r"`cache_dtype`. Expected one of \['bfloat16', 'float32', 'int4', 'int8'\]. Received: cache_dtype='float16'",
    ):
        SpectralConv2D(4, 3, cache_dtype="float16")
