"""keras_specnet.memory.step_peak."""

import keras
import numpy as np
import pytest

from keras_specnet import memory


def _model(width):
    inputs = keras.Input((16,))
    x = keras.layers.Dense(width, activation="relu")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_step_peak_reads_the_allocator_and_restores_the_model():
    model = _model(512)
    x = np.random.default_rng(0).random((512, 16)).astype("float32")
    y = np.zeros(512, "int64")
    model.train_on_batch(x, y)  # creates the optimizer state
    before = [np.array(v) for v in model.variables + model.optimizer.variables]
    info = memory.step_peak(model, x, y)
    after = [np.array(v) for v in model.variables + model.optimizer.variables]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert info["device"] == "CPU:0"
    assert info["peak_bytes"] >= info["resident_bytes"] >= 0
    assert info["step_bytes"] == info["peak_bytes"] - info["resident_bytes"]
    # The activations of the hidden layer alone (512 x 512 float32, 1 MiB)
    # are live during the step.
    assert info["step_bytes"] >= 512 * 512 * 4


def test_step_peak_takes_the_median_over_repeated_steps():
    import statistics

    model = _model(256)
    x = np.random.default_rng(0).random((256, 16)).astype("float32")
    y = np.zeros(256, "int64")
    model.train_on_batch(x, y)
    before = [np.array(v) for v in model.variables + model.optimizer.variables]
    info = memory.step_peak(model, x, y, repeats=3)
    for a, b in zip(before, [np.array(v) for v in model.variables + model.optimizer.variables]):
        np.testing.assert_array_equal(a, b)
    assert len(info["step_bytes_each"]) == 3
    assert info["step_bytes"] == statistics.median(info["step_bytes_each"]) >= 256 * 256 * 4
    with pytest.raises(ValueError, match=r"`repeats`.*Received: repeats=0"):
        memory.step_peak(model, x, y, repeats=0)


def test_step_peak_grows_with_the_activations():
    x = np.random.default_rng(0).random((256, 16)).astype("float32")
    y = np.zeros(256, "int64")
    small = memory.step_peak(_model(32), x, y)["step_bytes"]
    large = memory.step_peak(_model(1024), x, y)["step_bytes"]
    # 256 x 1024 float32 activations (1 MiB) against 256 x 32.
    assert large - small > 256 * (1024 - 32) * 4


def test_step_peak_needs_a_compiled_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match=r"Expected a compiled model"):
        memory.step_peak(model, np.zeros((1, 4)), np.zeros((1, 1)))


def test_held_bytes_counts_what_the_backward_pass_keeps():
    x = np.random.default_rng(1).random((512, 16)).astype("float32")
    y = np.zeros(512, "int64")
    model = _model(1024)
    weights = [np.array(v) for v in model.variables]
    small = memory.held_bytes(_model(32), x, y)
    large = memory.held_bytes(model, x, y)
    # Each model keeps its hidden activations (512 x width float32) for the
    # backward pass, and little else. Reads of the allocator move by a few
    # KiB either way between calls (small tensors allocated or freed
    # meanwhile; seen in CI: +14 KiB, -2.5 KiB), hence `noise`. And the BFC
    # allocator counts the whole free chunk it hands out, which it does not
    # split when it is smaller than twice the request: a tensor can be
    # counted at up to twice its size (seen: the 2 MiB read as 4 MiB).
    noise = 64 * 1024
    for held, width in [(small, 32), (large, 1024)]:
        activations = 512 * width * 4
        assert activations - noise <= held <= 2 * activations + noise, (held, width)
    for a, b in zip(weights, model.variables):
        np.testing.assert_array_equal(a, np.array(b))
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match=r"Expected a compiled model"):
        memory.held_bytes(keras.Model(inputs, keras.layers.Dense(1)(inputs)), x[:1, :4], y[:1])
    with pytest.raises(
        ValueError, match=r"Expected `repeats` to be a positive int, received: repeats=0"
    ):
        memory.held_bytes(model, x, y, repeats=0)


def test_memory_profiler_logs_peaks_into_the_history():
    from keras_specnet.callbacks import MemoryProfiler

    model = _model(512)
    x = np.random.default_rng(2).random((256, 16)).astype("float32")
    y = np.zeros(256, "int64")
    history = model.fit(x, y, batch_size=128, epochs=2, verbose=0, callbacks=[MemoryProfiler()])
    peaks = history.history["memory_peak_bytes"]
    means = history.history["memory_mean_bytes"]
    assert len(peaks) == len(means) == 2
    # A step holds at least the 128 x 512 float32 hidden activations.
    assert all(p >= m >= 128 * 512 * 4 for p, m in zip(peaks, means))


def test_zero_fractions_of_spectral_outputs():
    from keras_specnet.layers import SpectralConv2D, ToSpatial

    inputs = keras.Input((16, 16, 1))
    z = SpectralConv2D(4, 3, beta=0.0, name="free")(inputs)
    z = SpectralConv2D(4, 3, beta=1e9, name="all_zero")(z)
    model = keras.Model(inputs, ToSpatial((16, 16))(z))
    x = np.random.default_rng(3).random((2, 16, 16, 1)).astype("float32")
    fractions = memory.zero_fractions(model, x)
    assert list(fractions) == ["free", "all_zero"]
    assert fractions["free"] < 0.05 and fractions["all_zero"] == 1.0
