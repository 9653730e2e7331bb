"""Seeded training of a spectral model is bit-identical under op determinism.

`tf.config.experimental.enable_op_determinism()` is process-wide, so the
two trainings run in one child process, leaving this one as it was.
"""

import subprocess
import sys

import numpy as np
import pytest

_CHILD = """
import sys
import numpy as np
import keras
import tensorflow as tf
from keras_specnet.layers import SpectralBatchNormalization, SpectralConv2D, ToSpatial, ToSpectral

tf.config.experimental.enable_op_determinism()


def train():
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            ToSpectral(padding=2),
            SpectralConv2D(4, 3, beta=0.05, activation="spectral_tanh", cache="bitmask"),
            SpectralBatchNormalization(cache="bitmask"),
            SpectralConv2D(4, 3, beta=0.05, cache="sparse_tensor", batch_chunks=2),
            ToSpatial((8, 8), pool_size=2, pool_strides=1, cache="bitmask"),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 12)
    # Three shuffled batches of 4, each cut into `batch_chunks` slices.
    model.fit(x, y, batch_size=4, epochs=1, shuffle=True, verbose=0)
    return model.get_weights()


first, second = train(), train()
np.savez(sys.argv[1], *first)
np.savez(sys.argv[2], *second)
"""


@pytest.mark.slow  # trains, in a child process
def test_two_seeded_trainings_give_bit_identical_weights(tmp_path):
    runs = [tmp_path / "first.npz", tmp_path / "second.npz"]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, runs)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = (np.load(run) for run in runs)
    assert len(first.files) == len(second.files) > 0
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
