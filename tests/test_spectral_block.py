"""`SpectralBlock` and `SpectralDenseBlock`: the same values and gradients as
the blocks of separate layers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet.applications import blocks, densenet
from keras_specnet.layers import SpectralBlock, SpectralDenseBlock, ToSpectral

# (input shape, convs, beta, activation, fft_padding, pool, batch, batch_chunks)
CASES = [
    ((16, 16, 8), [(8, 3), (8, 3)], 0.01, "spectral_tanh", None, (2, 2), 6, 1),
    ((12, 10, 3), [(4, 3), (6, 5)], 0.05, "spectral_tanh", "linear", None, 7, 3),
    ((9, 8, 2), [(4, 3), (3, 3), (2, 5)], 0.0, None, 1, (3, 2), 5, 4),
    ((8, 8, 4), [(5, 1)], 0.02, "spectral_tanh", None, (2, 2), 4, "auto"),
]


def _pair(shape, convs, beta, activation, fft_padding, pool, chunks):
    """The fused block and the block of separate layers (plain autodiff), same weights."""
    pool_size, pool_strides = (None, None) if pool is None else pool
    inputs = keras.Input(shape)
    fused = keras.Model(
        inputs,
        SpectralBlock(
            convs,
            beta=beta,
            activation=activation,
            fft_padding=fft_padding,
            pool_size=pool_size,
            pool_strides=pool_strides,
            batch_chunks=chunks,
            name="b1",
        )(inputs),
    )
    inputs = keras.Input(shape)
    separate = keras.Model(
        inputs,
        blocks.spectral_block(
            inputs,
            convs,
            beta,
            activation=activation,
            fft_padding=fft_padding,
            pool=pool,
            cache="none",
            name="b1",
        ),
    )
    separate.set_weights(fused.get_weights())
    return fused, separate


def _value_and_grads(model, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
        loss = tf.reduce_sum(y * tf.cos(y))
    grads = tape.gradient(loss, [x, *model.trainable_variables])
    return y, grads


def _assert_grads_close(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        scale = float(np.max(np.abs(b))) or 1.0
        np.testing.assert_allclose(a, b, atol=2e-5 * scale + 1e-6, rtol=1e-4)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{len(c[1])}convs-chunks{c[-1]}")
def test_fused_block_matches_the_separate_layers(case):
    shape, convs, beta, activation, fft_padding, pool, batch, chunks = case
    fused, separate = _pair(shape, convs, beta, activation, fft_padding, pool, chunks)
    x = tf.random.stateless_normal((batch, *shape), seed=(1, 2))
    y, grads = _value_and_grads(fused, x)
    y_ref, grads_ref = _value_and_grads(separate, x)
    assert y.shape == y_ref.shape
    assert tuple(y.shape) == tuple(fused.layers[-1].compute_output_shape((batch, *shape)))
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    _assert_grads_close(grads, grads_ref)
    # The same under a compiled function.
    y, grads = tf.function(_value_and_grads)(fused, x)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    _assert_grads_close(grads, grads_ref)


def test_one_linear_convolution_is_conv2d_then_max_pooling():
    """An independent reference: Keras's own layers with the same weights."""
    shape = (10, 9, 3)
    inputs = keras.Input(shape)
    block = SpectralBlock([(4, 3)], beta=0.0, activation=None, pool_size=2, batch_chunks=2)
    fused = keras.Model(inputs, block(inputs))
    conv = keras.layers.Conv2D(4, 3, padding="same")
    spatial = keras.Sequential(
        [keras.Input(shape), conv, keras.layers.MaxPooling2D(2, padding="same")]
    )
    conv.set_weights(block.get_weights())
    x = tf.random.stateless_normal((4, *shape), seed=(3, 4))
    np.testing.assert_allclose(fused(x), spatial(x), atol=1e-4)
    y, grads = _value_and_grads(fused, x)
    y_ref, grads_ref = _value_and_grads(spatial, x)
    _assert_grads_close(grads, grads_ref)


def test_weights_are_the_convolutions_in_order():
    inputs = keras.Input((8, 8, 3))
    block = SpectralBlock([(4, 3), (6, 5)], name="blk")
    block(inputs)
    assert [layer.name for layer in block.convolutions] == ["blk_conv1", "blk_conv2"]
    shapes = [tuple(w.shape) for w in block.weights]
    assert shapes == [(3, 3, 3, 4), (4,), (5, 5, 4, 6), (6,)]


def test_fit_reduces_the_loss():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = SpectralBlock([(4, 3), (4, 3)], beta=0.01, pool_size=2, batch_chunks=2)(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 64)
    images = rng.normal(0, 0.1, (64, 8, 8, 1)).astype("float32")
    images[labels == 1, 2:6, 2:6] += 1.0
    history = model.fit(images, labels, batch_size=16, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.7 * losses[0]


def test_config_and_saving_round_trip(tmp_path):
    inputs = keras.Input((8, 8, 2))
    block = SpectralBlock(
        [(3, 3), (2, 3)],
        beta=0.02,
        fft_padding="linear",
        pool_size=3,
        pool_strides=2,
        batch_chunks="auto",
        name="blk",
    )
    model = keras.Model(inputs, block(inputs))
    clone = SpectralBlock.from_config(block.get_config())
    assert clone.get_config() == block.get_config()
    path = str(tmp_path / "block.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 2)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert isinstance(loaded.get_layer("blk"), SpectralBlock)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"convs": []}, r"`convs`.*Received: convs=\[\]"),
        ({"convs": [(4, 0)]}, r"`convs`.*Received: convs=\[\(4, 0\)\]"),
        ({"convs": [(4, 3)], "beta": -1.0}, r"`beta`.*Received: beta=-1.0"),
        ({"convs": [(4, 3)], "pool_strides": 2}, r"`pool_strides`.*Received: pool_strides=2"),
        ({"convs": [(4, 3)], "batch_chunks": 0}, r"`batch_chunks`.*Received: batch_chunks=0"),
        ({"convs": [(4, 3)], "fft_padding": -2}, r"`fft_padding`.*Received: fft_padding=-2"),
        (
            {"convs": [(4, 3)], "activation": "relu"},
            r"`activation`.*Received: activation='relu'",
        ),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpectralBlock(**kwargs)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"rank-4 tensor.*Received: input shape=\(None, 8, 3\)"):
        SpectralBlock([(4, 3)])(keras.Input((8, 3)))
    with pytest.raises(
        ValueError, match=r"height and width must be known.*shape \(None, None, None, 3\)"
    ):
        SpectralBlock([(4, 3)])(keras.Input((None, None, 3)))
    spectrum = ToSpectral(2)(keras.Input((8, 8, 3)))
    with pytest.raises(ValueError, match=r"Expected a real \(float\) tensor.*complex64"):
        SpectralBlock([(4, 3)])(spectrum)


def test_builder_block_cache_makes_one_layer_per_block_and_refuses_batch_norm():
    inputs = keras.Input((8, 8, 3))
    out = blocks.spectral_block(inputs, [(4, 3), (4, 3)], 0.01, pool=(2, 2), cache="block")
    model = keras.Model(inputs, out)
    assert [type(layer).__name__ for layer in model.layers[1:]] == ["SpectralBlock"]
    with pytest.raises(ValueError, match=r"`cache`.*batch_norm=True.*Received: cache='block'"):
        blocks.spectral_block(inputs, [(4, 3)], 0.01, batch_norm=True, cache="block")
    with pytest.raises(ValueError, match=r"`strides`.*cache='block'.*Received: strides=2"):
        blocks.spectral_block(inputs, [(4, 3)], 0.01, strides=2, cache="block")
    with pytest.raises(ValueError, match=r"`cache_dtype`.*Received: cache_dtype='int8'"):
        blocks.spectral_block(inputs, [(4, 3)], 0.01, cache="block", cache_dtype="int8")
    with pytest.raises(ValueError, match=r"`cache`.*Received: cache='blocks'"):
        blocks.spectral_block(inputs, [(4, 3)], 0.01, cache="blocks")


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers[1:]]


def test_builders_default_fuses_the_blocks_that_can_be_fused():
    from keras_specnet.applications import SpecDenseNet, SpecLeNet5, SpecVGG16

    assert _kinds(SpecLeNet5())[:2] == ["SpectralBlock", "SpectralBlock"]
    assert _kinds(SpecVGG16(width=0.125, fc_units=8)).count("SpectralBlock") == 5
    # Batch normalisation and quantized caches keep separate layers.
    assert "SpectralBlock" not in _kinds(SpecVGG16(width=0.125, fc_units=8, batch_norm=True))
    assert "SpectralBlock" not in _kinds(SpecLeNet5(cache_dtype="int8"))
    assert "SpectralBlock" not in _kinds(SpecLeNet5(cache="bitmask"))
    # DenseNet: the stem and the dense block are fused, unless BN is asked for.
    dense = SpecDenseNet(width=0.125, num_layers=2)
    assert _kinds(dense)[:2] == ["SpectralBlock", "SpectralDenseBlock"]
    normalised = SpecDenseNet(width=0.125, num_layers=2, batch_norm=True)
    assert normalised.get_layer("dense_layer1_conv1").cache == "bitmask"
    with pytest.raises(ValueError, match=r"`cache`.*batch_norm=True.*Received: cache='block'"):
        SpecDenseNet(width=0.125, num_layers=2, batch_norm=True, cache="block")


def test_a_strided_stem_stays_separate_under_auto():
    from keras_specnet.applications import SpecAlexNet
    from keras_specnet.layers import SpectralConv2D

    model = SpecAlexNet(input_shape=(224, 224, 3), width=0.0625, fc_units=8)
    stem = model.layers[1]
    assert isinstance(stem, SpectralConv2D) and stem.strides == (4, 4)
    assert "SpectralBlock" in _kinds(model)
    with pytest.raises(ValueError, match=r"`strides`.*Received: strides=4"):
        SpecAlexNet(input_shape=(224, 224, 3), width=0.0625, fc_units=8, cache="block")


@pytest.mark.parametrize(
    "builder,kwargs",
    [("SpecVGG16", {"fc_units": 8}), ("SpecDenseNet", {"num_layers": 2})],
)
def test_fused_and_separate_models_count_and_threshold_the_same(builder, kwargs):
    from keras_specnet import applications, memory, utils

    kwargs = dict(kwargs, width=0.125, beta=0.05, input_shape=(16, 16, 3))
    build = getattr(applications, builder)
    fused, separate = build(**kwargs), build(cache="bitmask", **kwargs)
    separate.set_weights(fused.get_weights())
    assert utils.count_flops(fused) == utils.count_flops(separate)
    x = np.random.default_rng(1).random((4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(fused(x), separate(x), rtol=1e-4, atol=1e-5)
    got, expected = memory.zero_fractions(fused, x), memory.zero_fractions(separate, x)
    names = [c.name for c in utils.spectral_convolutions(fused)]
    assert list(got) == names
    for name in names:
        assert got[name] == pytest.approx(expected[name], abs=1e-3), name
    assert max(got.values()) > 0.01


def test_spectral_convolutions_finds_nested_and_fused_convolutions():
    from keras_specnet.layers import SpectralConv2D
    from keras_specnet.utils import spectral_convolutions

    inputs = keras.Input((8, 8, 3))
    block = SpectralBlock([(4, 3), (4, 3)], pool_size=2, name="fused")
    inner = keras.Sequential([keras.Input((4, 4, 4)), SpectralConv2D(2, 3, name="inner_conv")])
    outputs = inner(keras.layers.Conv2D(4, 1)(block(inputs)))
    model = keras.Model(inputs, outputs)
    names = [c.name for c in spectral_convolutions(model)]
    assert names == ["fused_conv1", "fused_conv2", "inner_conv"]
    with pytest.raises(ValueError, match=r"`model`.*Received: model="):
        spectral_convolutions(block)


# (input shape, num_layers, convs, beta, fft_padding, batch, batch_chunks)
DENSE_CASES = [
    ((8, 8, 4), 2, [(4, 1), (3, 3)], 0.02, None, 6, 4),
    ((7, 9, 3), 3, [(2, 3)], 0.0, "linear", 5, 1),
    ((6, 6, 2), 2, [(3, 1), (2, 3)], 0.05, 1, 4, "auto"),
]


def _dense_pair(shape, num_layers, convs, beta, fft_padding, chunks):
    """The fused dense block and the separate layers (plain autodiff), same weights."""
    inputs = keras.Input(shape)
    block = SpectralDenseBlock(
        num_layers, convs, beta=beta, fft_padding=fft_padding, batch_chunks=chunks, name="d"
    )
    fused = keras.Model(inputs, block(inputs))
    inputs = keras.Input(shape)
    padding = blocks.fft_padding_of(list(convs) * num_layers, fft_padding)
    out = densenet.spectral_dense_block(
        inputs, num_layers, convs, beta, fft_padding=padding, cache="none", name="d"
    )
    separate = keras.Model(inputs, out)
    separate.set_weights(fused.get_weights())
    return fused, separate


@pytest.mark.parametrize("case", DENSE_CASES, ids=lambda c: f"{c[0]}-{c[1]}layers-chunks{c[-1]}")
def test_fused_dense_block_matches_the_separate_layers(case):
    shape, num_layers, convs, beta, fft_padding, batch, chunks = case
    fused, separate = _dense_pair(shape, num_layers, convs, beta, fft_padding, chunks)
    assert [w.path.split("/", 1)[1] for w in fused.weights] == [w.path for w in separate.weights]
    x = tf.random.stateless_normal((batch, *shape), seed=(5, 6))
    y, grads = _value_and_grads(fused, x)
    y_ref, grads_ref = _value_and_grads(separate, x)
    expected_channels = shape[-1] + num_layers * convs[-1][0]
    assert tuple(y.shape) == (batch, *shape[:2], expected_channels)
    assert tuple(y.shape) == tuple(fused.layers[-1].compute_output_shape((batch, *shape)))
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    _assert_grads_close(grads, grads_ref)
    y, grads = tf.function(_value_and_grads)(fused, x)
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    _assert_grads_close(grads, grads_ref)


def test_linear_dense_layer_is_conv2d_and_concatenate():
    """An independent reference: a 1-layer linear dense block with "linear"
    padding is `Concatenate([x, Conv2D(x)])` with the same weights."""
    shape = (7, 6, 3)
    inputs = keras.Input(shape)
    block = SpectralDenseBlock(
        1, [(4, 3)], beta=0.0, activation=None, fft_padding="linear", batch_chunks=2
    )
    fused = keras.Model(inputs, block(inputs))
    inputs = keras.Input(shape)
    conv = keras.layers.Conv2D(4, 3, padding="same")
    spatial = keras.Model(inputs, keras.layers.Concatenate()([inputs, conv(inputs)]))
    conv.set_weights(block.get_weights())
    x = tf.random.stateless_normal((4, *shape), seed=(7, 8))
    y, grads = _value_and_grads(fused, x)
    y_ref, grads_ref = _value_and_grads(spatial, x)
    np.testing.assert_allclose(y, y_ref, atol=1e-4)
    _assert_grads_close(grads, grads_ref)


def test_dense_block_config_saving_and_names(tmp_path):
    inputs = keras.Input((6, 6, 2))
    block = SpectralDenseBlock(2, [(3, 1), (2, 3)], beta=0.03, batch_chunks="auto", name="dn")
    model = keras.Model(inputs, block(inputs))
    names = [layer.name for layer in block.convolutions]
    assert names == ["dn_layer1_conv1", "dn_layer1_conv2", "dn_layer2_conv1", "dn_layer2_conv2"]
    config = block.get_config()
    assert (config["num_layers"], config["convs"]) == (2, [[3, 1], [2, 3]])
    clone = SpectralDenseBlock.from_config(config)
    assert clone.get_config() == config
    path = str(tmp_path / "dense.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).standard_normal((3, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert isinstance(loaded.get_layer("dn"), SpectralDenseBlock)
    with pytest.raises(ValueError, match=r"`num_layers`.*Received: num_layers=0"):
        SpectralDenseBlock(0, [(3, 1)])
    with pytest.raises(ValueError, match=r"`convs`.*Received: convs=\[\]"):
        SpectralDenseBlock(2, [])
