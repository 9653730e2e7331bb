"""`spectralize`: existing Keras models with SpectralConv2D for Conv2D."""

import inspect
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_specnet
from keras_specnet import SpectralizeReport, spectralize
from keras_specnet.applications import VGG16, SpecVGG16
from keras_specnet.layers import SpectralConv2D, SpectralTanh, ToSpatial, ToSpectral

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def _takes(argument):
    return argument in inspect.signature(SpectralConv2D.__init__).parameters


def _images(shape, n=2, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype("float32")


def _randomize(model, seed=0):
    """Random biases and batch-norm statistics, so that copying them matters."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = variable.name
        if name in ("bias", "beta", "moving_mean"):
            value = rng.normal(0.0, 0.1, variable.shape)
        elif name == "gamma":
            value = rng.uniform(0.5, 1.5, variable.shape)
        elif name == "moving_variance":
            value = rng.uniform(0.5, 1.5, variable.shape)
        else:
            continue
        variable.assign(value.astype("float32"))
    return model


def _predict(model, x):
    return np.asarray(model(x, training=False))


def _conv2d_names(model):
    return [layer.name for layer in model.layers if type(layer) is keras.layers.Conv2D]


def _get(model, name):
    """A layer by its report name: `"outer/inner"` inside a nested model."""
    for part in name.split("/"):
        model = model.get_layer(part)
    return model


def _nested_convs(model, path=""):
    """`(report name, layer)` of every Conv2D, nested models included."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _nested_convs(layer, f"{path}{layer.name}/")
        elif type(layer) is keras.layers.Conv2D:
            yield f"{path}{layer.name}", layer


def _check_conversion(model, new, report):
    """Each converted conv is a SpectralConv2D with the original's weights;
    every other layer keeps its class, name and weights."""
    for name in report.converted:
        original, layer = _get(model, name), _get(new, name)
        assert isinstance(layer, SpectralConv2D)
        assert layer.output_domain == "spatial" and layer.activation is None
        assert layer.kernel_size == original.kernel_size
        assert layer.strides == original.strides
        assert layer.kernel is not original.kernel
        for mine, theirs in zip(layer.get_weights(), original.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)
        act = original.get_config()["activation"]
        if act != "linear":
            activation = _get(new, f"{name}_activation")
            assert type(activation) is keras.layers.Activation
            assert activation.get_config()["activation"] == act
            assert f"{name}_activation" in report.added
    for original in model.layers:
        if original.name in report.converted:
            continue
        layer = new.get_layer(original.name)
        assert type(layer) is type(original), original.name
        assert layer is not original
        for mine, theirs in zip(layer.get_weights(), original.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_vgg16_gives_the_original_outputs():
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    _randomize(model)
    new, report = spectralize(model, return_report=True)
    assert isinstance(report, SpectralizeReport)
    assert report.converted == tuple(_conv2d_names(model))
    assert len(report.converted) == 13
    assert report.left == {} and report.replaced == {}
    assert len(report.added) == 13  # one ReLU per convolution
    assert sum(isinstance(layer, SpectralConv2D) for layer in new.layers) == 13
    assert not any(type(layer) is keras.layers.Conv2D for layer in new.layers)
    assert all(
        type(layer) is keras.layers.Conv2D for layer in map(model.get_layer, report.converted)
    )
    _check_conversion(model, new, report)
    assert new.count_params() == model.count_params()
    x = _images((32, 32, 3))
    expected = _predict(model, x)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(_predict(new, x), expected, **TOLERANCE)


def test_mobilenet_leaves_the_depthwise_convolutions_and_reports_them():
    model = keras.applications.MobileNet(
        weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.25
    )
    _randomize(model)
    new, report = spectralize(model, return_report=True)
    depthwise = [x.name for x in model.layers if type(x) is keras.layers.DepthwiseConv2D]
    pointwise = [f"conv_pw_{i}" for i in range(1, 14)]
    assert len(depthwise) == 13
    assert set(pointwise) <= set(report.converted)
    assert set(report.converted) == {"conv1", *pointwise}
    assert set(report.left) == set(depthwise)
    for name in depthwise:
        assert report.left[name] == "DepthwiseConv2D: only keras.layers.Conv2D is converted"
        assert type(new.get_layer(name)) is keras.layers.DepthwiseConv2D
    assert report.added == ()  # MobileNet's convolutions are linear (BN, then ReLU6)
    _check_conversion(model, new, report)
    x = _images((32, 32, 3))
    np.testing.assert_allclose(_predict(new, x), _predict(model, x), **TOLERANCE)


def test_layers_left_as_they_are_are_named_in_a_warning():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.SeparableConv2D(4, 3, padding="same", name="sep")(x)
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same", name="up")(x)
    model = keras.Model(inputs, x)
    with pytest.warns(UserWarning, match="left 3 convolution layer") as record:
        new = spectralize(model)
    (message,) = [str(w.message) for w in record if "spectralize" in str(w.message)]
    assert "dw (DepthwiseConv2D: only keras.layers.Conv2D is converted)" in message
    assert "sep (SeparableConv2D" in message and "up (Conv2DTranspose" in message
    assert isinstance(new.get_layer("conv"), SpectralConv2D)
    x = _images((8, 8, 3))
    np.testing.assert_allclose(_predict(new, x), _predict(model, x), **TOLERANCE)


def _branchy_model():
    """Branches, a merge, a shared convolution, a nested Sequential model,
    an even and a non-square kernel, strides, a transposed and a dilated
    convolution, on a non-square image."""
    inputs = keras.Input((12, 10, 3), name="image")
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="stem")(inputs)
    a = keras.layers.Conv2D(4, 1, padding="same", name="a")(x)
    b = keras.layers.Conv2D(4, (1, 5), padding="same", activation="tanh", name="b")(x)
    shared = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="shared")
    x = keras.layers.Add(name="merge")([shared(a), shared(b)])
    x = keras.layers.Concatenate(name="concat")([x, a])
    x = x * 0.5 + 0.1  # operations, not layers, in the graph
    inner = keras.Sequential(
        [
            keras.Input((12, 10, 8)),
            keras.layers.Conv2D(5, 4, padding="same", name="even"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(name="relu"),
        ],
        name="inner",
    )
    x = inner(x)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="strided")(x)
    x = keras.layers.Conv2D(6, 3, dilation_rate=2, padding="same", name="dilated")(x)
    x = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="up")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs, name="branchy")


def test_a_functional_model_with_branches_and_a_nested_model():
    model = _randomize(_branchy_model())
    new, report = spectralize(model, return_report=True)
    expected = ["stem", "a", "b", "shared", "inner/even", "strided"]
    if _takes("dilation_rate"):
        expected.append("dilated")
    else:
        assert report.left["dilated"].startswith(
            "dilation_rate=(2, 2): SpectralConv2D takes no `dilation_rate`"
        )
    assert sorted(report.converted) == sorted(expected)
    assert report.left["up"] == "Conv2DTranspose: only keras.layers.Conv2D is converted"
    convolutions = len(list(_nested_convs(model))) + 1  # and the transposed one
    assert len(report.left) == convolutions - len(expected)
    # The shared convolution stays one layer, called twice, with one activation.
    layer = new.get_layer("shared")
    assert isinstance(layer, SpectralConv2D) and len(layer._inbound_nodes) == 2
    assert sorted(report.added) == ["b_activation", "shared_activation", "stem_activation"]
    inner = new.get_layer("inner")
    assert isinstance(inner, keras.Sequential) and inner is not model.get_layer("inner")
    assert isinstance(inner.get_layer("even"), SpectralConv2D)
    np.testing.assert_array_equal(
        inner.get_layer("even").kernel, model.get_layer("inner").get_layer("even").kernel
    )
    np.testing.assert_array_equal(
        inner.get_layer("bn").moving_variance,
        model.get_layer("inner").get_layer("bn").moving_variance,
    )
    x = _images((12, 10, 3), n=3)
    expected_outputs = _predict(model, x)
    np.testing.assert_allclose(_predict(new, x), expected_outputs, **TOLERANCE)
    # The original is left as it was.
    assert type(model.get_layer("stem")) is keras.layers.Conv2D
    assert type(model.get_layer("inner").get_layer("even")) is keras.layers.Conv2D


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["ResNet50", "ConvNeXtTiny"])
def test_larger_applications_give_the_original_outputs(architecture):
    """ResNet50 (strided "valid" convolutions after a ZeroPadding2D, batch
    norms, additions); ConvNeXtTiny (grouped 7x7 convolutions, LayerScale)."""
    model = getattr(keras.applications, architecture)(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    _randomize(model)
    new, report = spectralize(model, return_report=True)
    convs = list(_nested_convs(model))
    convertible = [
        name
        for name, layer in convs
        if (layer.padding == "same" or _takes("padding"))
        and (layer.groups == 1 or _takes("groups"))
    ]
    assert sorted(report.converted) == sorted(convertible)
    assert len(report.left) == len(convs) - len(convertible)
    _check_conversion(model, new, report)
    x = _images((32, 32, 3))
    expected = _predict(model, x)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(
        _predict(new, x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max()
    )


def _sequential():
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(8, 5, strides=2, padding="same", name="c2"),
            keras.layers.DepthwiseConv2D(3, padding="same", name="dw"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(4, activation="softmax", name="head"),
        ],
        name="seq",
    )


def test_a_sequential_model_stays_sequential():
    model = _randomize(_sequential())
    new, report = spectralize(model, beta=0.0, return_report=True)
    assert type(new) is keras.Sequential and new.name == "seq"
    assert [type(layer).__name__ for layer in new.layers] == [
        "SpectralConv2D",
        "Activation",
        "MaxPooling2D",
        "SpectralConv2D",
        "DepthwiseConv2D",
        "Flatten",
        "Dense",
    ]
    assert report.converted == ("c1", "c2")
    assert report.left == {"dw": "DepthwiseConv2D: only keras.layers.Conv2D is converted"}
    assert report.added == ("c1_activation",)
    _check_conversion(model, new, report)
    x = _images((16, 16, 3))
    np.testing.assert_allclose(_predict(new, x), _predict(model, x), **TOLERANCE)


def test_options_reach_every_spectral_layer():
    model = _sequential()
    new = spectralize(
        model, beta=0.25, cache="none", cache_dtype="bfloat16", batch_chunks=2, return_report=True
    )[0]
    layers = [layer for layer in new.layers if isinstance(layer, SpectralConv2D)]
    assert len(layers) == 2
    for layer in layers:
        assert (layer.beta, layer.cache, layer.cache_dtype, layer.batch_chunks) == (
            0.25,
            "none",
            "bfloat16",
            2,
        )
    x = _images((16, 16, 3))
    # The threshold changes the function.
    assert not np.allclose(_predict(new, x), _predict(model, x), **TOLERANCE)


def test_one_fit_step_matches_the_original_s():
    model = _randomize(_sequential())
    new = spectralize(model, return_report=True)[0]
    before = [np.array(w) for w in model.weights]
    x = _images((16, 16, 3), n=8, seed=1)
    y = np.random.default_rng(2).integers(0, 4, 8)
    histories = []
    for m in (new, model):
        m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        histories.append(m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history)
    assert np.isfinite(histories[0]["loss"][0])
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], **TOLERANCE)
    for name in ("c1", "c2", "dw", "head"):
        trained = new.get_layer(name).get_weights()
        reference = model.get_layer(name).get_weights()
        for mine, theirs in zip(trained, reference, strict=True):
            np.testing.assert_allclose(mine, theirs, **TOLERANCE)
    # Training the copy moved its weights (checked against the original's
    # step above), and the two models share no variable.
    assert not np.array_equal(np.array(model.get_layer("c1").kernel), before[0])
    assert not {id(w) for w in new.weights} & {id(w) for w in model.weights}


def test_the_converted_model_saves_and_loads(tmp_path):
    model = _randomize(_branchy_model())
    new = spectralize(model, return_report=True)[0]
    path = tmp_path / "spectral.keras"
    new.save(path)
    loaded = keras.saving.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in new.layers]
    assert isinstance(loaded.get_layer("inner").get_layer("even"), SpectralConv2D)
    x = _images((12, 10, 3))
    np.testing.assert_allclose(_predict(loaded, x), _predict(new, x), rtol=1e-6, atol=1e-6)


def test_an_unknown_image_size_leaves_the_convolution():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    new, report = spectralize(model, return_report=True)
    assert report.converted == ()
    assert report.left["conv"].startswith("input shape (None, None, None, 3): SpectralConv2D")
    assert "known height and width" in report.left["conv"]
    assert type(new.get_layer("conv")) is keras.layers.Conv2D


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_padding_passes_through_when_the_layer_takes_it(padding):
    inputs = keras.Input((9, 11, 2))
    x = keras.layers.Conv2D(3, 4, strides=2, padding=padding, name="conv")(inputs)
    model = _randomize(keras.Model(inputs, x))
    new, report = spectralize(model, return_report=True)
    if padding == "same" or _takes("padding"):
        assert report.converted == ("conv",)
        if _takes("padding"):
            assert new.get_layer("conv").padding == padding
    else:
        assert report.converted == ()
        assert "padding='valid'" in report.left["conv"]
    x = _images((9, 11, 2))
    np.testing.assert_allclose(_predict(new, x), _predict(model, x), **TOLERANCE)


# -- spectral blocks -----------------------------------------------------------


def test_chained_vgg16_is_spec_vgg16():
    """The package's VGG16 in spectral blocks computes SpecVGG16."""
    model = _randomize(VGG16(input_shape=(32, 32, 3), width=0.125, include_top=False))
    new, report = spectralize(model, beta=0.05, chain=True, return_report=True)
    reference = SpecVGG16(
        input_shape=(32, 32, 3), width=0.125, include_top=False, beta=0.05, cache="bitmask"
    )
    assert new.count_params() == reference.count_params() == model.count_params()
    assert len(report.converted) == 13 and report.left == {}
    for layer in reference.layers:
        if isinstance(layer, SpectralConv2D):
            mine = new.get_layer(layer.name)
            assert (mine.activation, mine.output_domain, mine.beta) == (
                layer.activation,
                layer.output_domain,
                layer.beta,
            )
            layer.set_weights(mine.get_weights())
    # Each block's ReLUs are the convolutions' spectral tanh; each pooling
    # closes its block.
    for block, size in enumerate((2, 2, 3, 3, 3), start=1):
        for i in range(1, size + 1):
            assert report.replaced[f"block{block}_relu{i}"] == f"fused into block{block}_conv{i}"
        assert report.replaced[f"block{block}_pool"] == "ToSpatial"
        pool = new.get_layer(f"block{block}_pool")
        assert isinstance(pool, ToSpatial) and pool.pool_size == (2, 2)
    assert report.added == ()
    x = _images((32, 32, 3))
    expected = _predict(reference, x)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(_predict(new, x), expected, **TOLERANCE)
    # Not the spatial model's function any more.
    assert not np.allclose(_predict(model, x), expected, **TOLERANCE)


def _linear_chain():
    inputs = keras.Input((12, 9, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inputs)
    x = keras.layers.Conv2D(4, 5, padding="same", name="c2")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="c3")(x)
    return _randomize(keras.Model(inputs, x))


def test_a_linear_chain_with_enough_fft_padding_is_the_linear_convolution():
    """Without crops between its convolutions: the spatial model run on the
    image zero-padded on every side, then cropped."""
    model = _linear_chain()
    new, report = spectralize(model, chain=True, fft_padding=2 + 4 + 2, return_report=True)
    assert report.converted == ("c1", "c2", "c3")
    assert report.added == ("c1_fft",)
    assert isinstance(new.get_layer("c1_fft"), ToSpectral)
    assert new.get_layer("c1_fft").padding == (8, 8)
    domains = [new.get_layer(name).output_domain for name in report.converted]
    assert domains == ["spectral", "spectral", "spatial"]
    assert new.get_layer("c3").output_size == (12, 9)
    assert all(new.get_layer(name).activation is None for name in report.converted)
    margin = 5  # more than the chain's spill on each side, 1 + 2 + 1
    padded = keras.models.clone_model(
        model, input_tensors=keras.Input((12 + 2 * margin, 9 + 2 * margin, 2))
    )
    padded.set_weights(model.get_weights())
    x = _images((12, 9, 2))
    big = np.pad(x, ((0, 0), (margin, margin), (margin, margin), (0, 0)))
    expected = _predict(padded, big)[:, margin : margin + 12, margin : margin + 9]
    np.testing.assert_allclose(_predict(new, x), expected, **TOLERANCE)
    # The spatial model crops after each convolution: it differs at the borders.
    spatial = _predict(model, x)
    assert np.abs(spatial - expected).max() > 1e-2
    np.testing.assert_allclose(spatial[:, 4:-4, 4:-4], expected[:, 4:-4, 4:-4], **TOLERANCE)
    # Algorithm 1's padding (k - 1 of the first kernel) makes the later
    # convolutions circular: another function.
    circular = spectralize(model, chain=True, return_report=True)[0]
    assert circular.get_layer("c1").output_domain == "spectral"
    assert np.abs(_predict(circular, x) - expected).max() > 1e-2


def test_a_chain_matches_the_same_blocks_built_by_hand():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    x = keras.layers.MaxPooling2D(padding="same", name="pool")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c3")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="sigmoid", name="c4")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="c5")(x)
    x = keras.layers.Activation("relu", name="act5")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(2, name="head")(keras.layers.Flatten(name="flat")(x))
    model = _randomize(keras.Model(inputs, outputs))
    new, report = spectralize(model, beta=0.1, chain=True, return_report=True)
    assert report.converted == ("c1", "c2", "c3", "c4", "c5")
    assert report.replaced == {"pool": "ToSpatial", "act5": "fused into c5"}
    assert report.added == ("c4_activation",)

    # The same layers, written out.
    def conv(filters, **kwargs):
        return SpectralConv2D(filters, 3, beta=0.1, **kwargs)

    z = conv(8, activation="spectral_tanh")(inputs)
    z = conv(8, activation="spectral_tanh")(z)
    y = ToSpatial((16, 16), pool_size=2)(z)
    y = conv(8, strides=2, activation="spectral_tanh", output_domain="spatial")(y)
    y = keras.layers.Activation("sigmoid")(conv(4, output_domain="spatial")(y))
    y = conv(4, activation="spectral_tanh", output_domain="spatial")(y)
    y = keras.layers.BatchNormalization()(y)
    by_hand = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(y)))
    by_hand.set_weights(model.get_weights())
    x = _images((16, 16, 3))
    np.testing.assert_allclose(_predict(new, x), _predict(by_hand, x), **TOLERANCE)


def test_a_sequential_model_in_spectral_blocks():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv2D(4, 3, padding="same", name="c2"),
            keras.layers.ReLU(name="relu2"),
            keras.layers.MaxPooling2D(padding="same", name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="head"),
        ]
    )
    _randomize(model)
    model.compile(optimizer="adam", loss="mse")
    new, report = spectralize(model, chain=True, return_report=True)
    assert type(new) is keras.Sequential and new.compiled
    assert new.get_compile_config() == model.get_compile_config()
    assert [type(layer) for layer in new.layers] == [
        SpectralConv2D,
        SpectralConv2D,
        ToSpatial,
        keras.layers.Flatten,
        keras.layers.Dense,
    ]
    assert report.replaced == {"relu2": "fused into c2", "pool": "ToSpatial"}
    inputs = keras.Input((12, 12, 2))
    z = SpectralConv2D(4, 3, activation="spectral_tanh")(inputs)
    z = SpectralConv2D(4, 3, activation="spectral_tanh")(z)
    y = keras.layers.Flatten()(ToSpatial((12, 12), pool_size=2)(z))
    by_hand = keras.Model(inputs, keras.layers.Dense(3)(y))
    by_hand.set_weights(model.get_weights())
    x = _images((12, 12, 2))
    np.testing.assert_allclose(_predict(new, x), _predict(by_hand, x), **TOLERANCE)


def test_a_chain_returns_to_the_spatial_domain_where_needed():
    """A spectral output going to a model output or to a non-spectral layer."""
    inputs = keras.Input((10, 10, 2))
    a = keras.layers.Conv2D(3, 3, padding="same", name="c1")(inputs)
    b = keras.layers.Activation("relu", name="r1")(a)
    c = keras.layers.Conv2D(3, 3, padding="same", name="c2")(a)
    model = _randomize(keras.Model(inputs, [b, keras.layers.Add(name="add")([b, c])]))
    new, report = spectralize(model, chain=True, return_report=True)
    # c1 feeds an activation and a convolution: spectral; r1 is then a
    # SpectralTanh whose output goes back through a ToSpatial.
    assert new.get_layer("c1").output_domain == "spectral"
    assert report.replaced == {"r1": "SpectralTanh"}
    assert isinstance(new.get_layer("r1"), SpectralTanh)
    assert report.added == ("r1_ifft",)
    assert new.get_layer("c2").output_domain == "spatial"
    outputs = new(_images((10, 10, 2)))
    assert [tuple(o.shape) for o in outputs] == [(2, 10, 10, 3)] * 2
    assert all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in outputs)


# -- arguments -----------------------------------------------------------------


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(2, 3)

    def call(self, x):
        return self.conv(x)


@pytest.mark.parametrize(
    "model, kwargs, message",
    [
        ("vgg", {}, "`model`. Expected a keras.Sequential or a functional keras.Model"),
        (None, {"beta": -1.0}, "`beta`. Expected a finite number >= 0. Received: beta=-1.0"),
        (None, {"chain": "yes"}, "`chain`. Expected True or False. Received: chain='yes'"),
        (None, {"fft_padding": 2}, "`fft_padding`. Expected None when chain=False"),
        (None, {"chain": True, "fft_padding": -1}, "`fft_padding`. Expected an integer >= 0"),
        (None, {"batch_chunks": 0}, "`batch_chunks`. Expected a positive integer"),
        (None, {"cache": "disk"}, "cache"),
        (None, {"return_report": 1}, "`return_report`. Expected True or False"),
    ],
)
def test_bad_arguments_are_named(model, kwargs, message):
    model = _sequential() if model is None else model
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spectralize(model, **kwargs)


def test_a_model_must_be_a_built_graph():
    with pytest.raises(ValueError, match="Expected a keras.Sequential or a functional"):
        spectralize(_Subclassed())
    unbuilt = keras.Sequential([keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="`model`. Expected a built model, with known inputs"):
        spectralize(unbuilt)


def test_spectralize_is_a_lazy_name_of_the_package():
    assert keras_specnet.spectralize is spectralize
    assert {"spectralize", "SpectralizeReport"} <= set(keras_specnet.__all__)
    assert "spectralize" in dir(keras_specnet)
    code = (
        "import sys, keras_specnet\n"
        "print('keras' in sys.modules)\n"
        "print(keras_specnet.spectralize.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "keras_specnet.convert"]
