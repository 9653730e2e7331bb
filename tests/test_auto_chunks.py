"""`batch_chunks="auto"`: the slice count chosen from the layer's and the batch's sizes."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_cache import _spectral_input

from keras_specnet import cache
from keras_specnet.layers import SpectralConv2D, ToSpatial

MIB = 2**20


@pytest.mark.parametrize(
    "batch,sample_bytes,expected",
    [
        (64, 1024, 1),  # 64 KiB fits one slice
        (64, MIB // 16, 1),  # exactly the budget
        (64, MIB // 16 + 1, 2),
        (64, MIB // 8, 2),
        (64, MIB // 4, 4),
        (63, MIB // 4, 4),  # ceil(63 / 4) = 16 rows
        (64, MIB // 2, 8),
        (64, 64 * MIB, 8),  # past the largest count
        (1, 64 * MIB, 1),  # one row cannot be cut
        (3, 64 * MIB, 3),  # never more slices than rows
        (3, 3 * MIB // 2, 2),  # ceil(3 / 2) = 2 rows of 1.5 MiB fit 4 MiB
        (0, MIB, 1),  # an empty batch
    ],
)
def test_auto_chunks_takes_the_fewest_slices_that_fit(batch, sample_bytes, expected):
    assert cache.AUTO_SLICE_BYTES == 4 * MIB
    assert cache.auto_chunks(batch, sample_bytes) == expected
    assert cache.auto_chunks(batch, sample_bytes, budget=4 * MIB) == expected
    assert cache.auto_chunks(batch, sample_bytes, budget=1) == max(1, min(8, batch))
    # The same choice made as a step runs, from a batch size in a tensor.
    assert int(cache.auto_count(tf.constant(batch), sample_bytes)) == expected
    assert int(cache.auto_count(tf.constant(batch), sample_bytes, budget=1)) == max(
        1, min(8, batch)
    )


@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("batch", [0, 2, 13])
def test_slices_of_a_counted_batch_cover_it_in_order(batch, count):
    bounds = cache._chunk_bounds(tf.constant(batch), 8, tf.constant(count))
    assert len(bounds) == 8
    cuts = [int(start) for start, _ in bounds] + [int(bounds[-1][1])]
    assert cuts[0] == 0 and cuts[-1] == batch
    sizes = np.diff(cuts)
    assert np.all(sizes >= 0)
    # The rows go to the first `count` slices, as evenly as possible.
    assert np.all(sizes[count:] == 0)
    assert sizes[:count].max() - sizes[:count].min() <= 1


def _record_chunks(monkeypatch):
    seen = []
    real = cache._recompute

    def recording(fn, inputs, params, mode, dtype, chunks, prepare, count=None):
        if mode != "none":
            seen.append(chunks)
        return real(fn, inputs, params, mode, dtype, chunks, prepare, count)

    monkeypatch.setattr(cache, "_recompute", recording)
    return seen


def test_the_layer_passes_its_spectra_bytes(monkeypatch):
    # 9x8 map, 3x3 kernel: padded to 11x10, 11 * 6 = 66 frequencies; 3 in, 4 out.
    assert SpectralConv2D(4, 3).batch_chunks == 4
    layer = SpectralConv2D(4, 3, beta=0.1, batch_chunks="auto")
    x = np.zeros((5, 9, 8, 3), "float32")
    per_sample = 8 * 66 * (3 + 4)
    seen = _record_chunks(monkeypatch)
    layer(x)
    assert seen == [1]
    monkeypatch.setattr(cache, "AUTO_SLICE_BYTES", 2 * per_sample)
    layer(x)  # ceil(5 / 4) = 2 rows per slice fit, ceil(5 / 2) = 3 do not
    assert seen == [1, 4]
    monkeypatch.setattr(cache, "AUTO_SLICE_BYTES", 2 * per_sample - 1)
    layer(x)  # one row per slice: as many slices as rows
    assert seen == [1, 4, 5]


def _grads(layer, inputs, weights, signature):
    @tf.function(input_signature=signature)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x)
            loss = tf.reduce_sum(tf.math.real(out * tf.math.conj(tf.cast(weights, out.dtype))))
        return [out, *tape.gradient(loss, [x, layer.kernel, layer.bias])]

    return run(tf.constant(inputs))


@pytest.mark.parametrize("budget_rows", [None, 1])
@pytest.mark.parametrize("spectral_in", [True, False])
def test_an_unknown_batch_size_chooses_as_it_runs(monkeypatch, budget_rows, spectral_in):
    # The batch size is unknown when the function is traced: the step has
    # eight slices and fills one when the batch fits the budget, as many as
    # it has rows (five) when one row does, with the outputs and gradients
    # of plain autodiff either way.
    inputs = (
        _spectral_input(shape=(5, 9, 8, 3)).numpy()
        if spectral_in
        else np.random.default_rng(5).standard_normal((5, 9, 8, 3)).astype("float32")
    )
    kwargs = dict(beta=0.3, activation="spectral_tanh", bias_initializer="random_normal")
    plain = SpectralConv2D(4, 3, cache="none", **kwargs)
    auto = SpectralConv2D(4, 3, batch_chunks="auto", **kwargs)
    plain(inputs)
    auto(inputs)
    auto.set_weights(plain.get_weights())
    if budget_rows is not None:
        per_sample = auto._sample_bytes(3, auto._plan(inputs.shape, spectral_in))
        monkeypatch.setattr(cache, "AUTO_SLICE_BYTES", budget_rows * per_sample)
    seen = _record_chunks(monkeypatch)
    weights = np.random.default_rng(6).standard_normal(plain(inputs).shape).astype("float32")
    signature = [tf.TensorSpec((None,) + inputs.shape[1:], tf.as_dtype(inputs.dtype))]
    got = _grads(auto, inputs, weights, signature)
    assert seen == [cache.AUTO_CHUNKS[-1]]
    expected = _grads(plain, inputs, weights, signature)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_fit_with_an_unknown_batch_size_trains():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            SpectralConv2D(4, 3, beta=0.01, activation="spectral_tanh", batch_chunks="auto"),
            SpectralConv2D(
                4, 3, beta=0.01, output_domain="spatial", output_size=(12, 12), batch_chunks="auto"
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 12, 12, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("value", ["Auto", "4", 0, 2.5, True])
def test_batch_chunks_must_be_a_positive_int_or_auto(value):
    for make in (
        lambda: SpectralConv2D(4, 3, batch_chunks=value),
        lambda: ToSpatial((8, 8), pool_size=3, pool_strides=2, batch_chunks=value),
    ):
        with pytest.raises(ValueError, match=r'`batch_chunks`.*positive integer|"auto"'):
            make()


def test_the_auto_setting_round_trips_through_the_config():
    layer = SpectralConv2D(4, 3, batch_chunks="auto")
    assert SpectralConv2D.from_config(layer.get_config()).batch_chunks == "auto"
    layer = SpectralConv2D(4, 3, batch_chunks=2)
    assert SpectralConv2D.from_config(layer.get_config()).batch_chunks == 2
