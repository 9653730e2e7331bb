"""`ToSpatial` with fused max pooling: against MaxPooling2D, and what it keeps."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import cache
from keras_specnet.layers import ToSpatial, ToSpectral


@pytest.mark.parametrize("cache", ["bitmask", "sparse_tensor", "none"])
@pytest.mark.parametrize(
    "size,pool_size,pool_strides",
    [
        ((9, 7), 2, None),
        ((10, 10), 3, None),
        ((7, 10), (2, 3), None),
        ((8, 8), 3, 2),
        ((7, 10), (2, 3), (1, 2)),
    ],
)
def test_equals_max_pooling_of_the_inverse_fft(cache, size, pool_size, pool_strides):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *size, 3)).astype("float32")
    z = ToSpectral(2)(x)
    fused = ToSpatial(size, pool_size=pool_size, pool_strides=pool_strides, cache=cache)
    pool = keras.layers.MaxPooling2D(pool_size, pool_strides, padding="same")
    plain = ToSpatial(size)
    weights = None
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        got, want = fused(z), pool(plain(z))
        weights = tf.constant(rng.standard_normal(want.shape).astype("float32"))
        loss_got = tf.reduce_sum(got * weights)
        loss_want = tf.reduce_sum(want * weights)
    assert got.shape == want.shape == fused.compute_output_shape(z.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(loss_got, z).numpy(), tape.gradient(loss_want, z).numpy(), atol=1e-5
    )


def test_config_round_trip():
    layer = ToSpatial(
        (9, 7), pool_size=3, pool_strides=2, cache="sparse_tensor", cache_dtype="bfloat16"
    )
    clone = ToSpatial.from_config(layer.get_config())
    assert (clone.size, clone.pool_size, clone.pool_strides, clone.cache, clone.cache_dtype) == (
        (9, 7),
        (3, 3),
        (2, 2),
        "sparse_tensor",
        "bfloat16",
    )
    assert ToSpatial((4, 4)).get_config()["pool_size"] is None


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"pool_strides": 2},
            r"`pool_strides`. Expected None when `pool_size` is None. Received: pool_strides=2",
        ),
        (
            {"pool_size": 0},
            r"`pool_size`. Expected an integer >= 1 or a tuple of 2 such integers. Received: pool_size=0",
        ),
        ({"pool_size": 2, "cache": "zip"}, r"`cache`. Expected one of .*Received: cache='zip'"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ToSpatial((8, 8), **kwargs)


_HELD = """
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras, numpy as np
from keras_specnet import memory
from keras_specnet.layers import SpectralConv2D, ToSpatial

def model(fused):
    inputs = keras.Input((32, 32, 16))
    z = SpectralConv2D(16, 3, beta=1.0, activation="spectral_tanh")(inputs)
    if fused:
        x = ToSpatial((32, 32), pool_size=2)(z)
    else:
        x = keras.layers.MaxPooling2D(2, padding="same")(ToSpatial((32, 32))(z))
    x = keras.layers.GlobalAveragePooling2D()(x)
    m = keras.Model(inputs, keras.layers.Dense(2)(x))
    m.compile(optimizer="sgd",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m

x = np.random.default_rng(1).standard_normal((64, 32, 32, 16)).astype("float32")
y = np.arange(64) % 2
print(json.dumps(memory.held_bytes(model({fused}), x, y)))
"""


def _held(fused):
    # A fresh process: what earlier tests left to the allocator or to the
    # garbage collector must not enter the measurement.
    done = subprocess.run(
        [sys.executable, "-c", _HELD.replace("{fused}", str(fused))],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two fresh processes
def test_fused_pooling_keeps_less_than_a_separate_pooling_layer():
    # Batch 64: the maps (4 MiB) are well above the allocator's blind spot.
    fused, separate = _held(True), _held(False)
    # The separate pooling keeps its dense 64x32x32x16 float32 input (4 MiB)
    # and its output (1 MiB); the fused layer one byte per output entry
    # (0.25 MiB).
    map_bytes = 64 * 32 * 32 * 16 * 4
    assert separate > map_bytes, separate
    assert separate - fused > map_bytes, (fused / 2**20, separate / 2**20)


@pytest.mark.parametrize("cache", ["bitmask", "none"])
@pytest.mark.parametrize("pool_size,pool_strides", [(None, None), (2, None), ((2, 3), (1, 2))])
def test_channels_first_is_the_channels_last_map_transposed(cache, pool_size, pool_strides):
    rng = np.random.default_rng(3)
    z = ToSpectral(2)(rng.standard_normal((2, 7, 9, 3)).astype("float32"))
    kwargs = {"pool_size": pool_size, "pool_strides": pool_strides, "cache": cache}
    first = ToSpatial((7, 9), data_format="channels_first", **kwargs)
    last = ToSpatial((7, 9), **kwargs)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        got, want = first(z), last(z)
        weights = rng.standard_normal(want.shape).astype("float32")
        loss_got = tf.reduce_sum(got * weights.transpose(0, 3, 1, 2))
        loss_want = tf.reduce_sum(want * weights)
    np.testing.assert_array_equal(got.numpy(), want.numpy().transpose(0, 3, 1, 2))
    assert first.compute_output_shape(z.shape) == tuple(got.shape)
    np.testing.assert_allclose(
        tape.gradient(loss_got, z).numpy(), tape.gradient(loss_want, z).numpy(), atol=1e-6
    )


@pytest.mark.parametrize("size,pool_size", [((8, 8), (2, 2)), ((9, 7), (2, 2)), ((10, 11), (3, 2))])
def test_argmax_pooling_equals_max_pool2d_and_its_gradient(size, pool_size):
    rng = np.random.default_rng(4)
    x = tf.constant(rng.standard_normal((3, *size, 5)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        got = cache.max_pool_keeping_argmax(x, pool_size)
        want = tf.nn.max_pool2d(x, pool_size, pool_size, "SAME")
        weights = tf.constant(rng.standard_normal(want.shape).astype("float32"))
        loss_got, loss_want = tf.reduce_sum(got * weights), tf.reduce_sum(want * weights)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(
        tape.gradient(loss_got, x).numpy(), tape.gradient(loss_want, x).numpy()
    )
