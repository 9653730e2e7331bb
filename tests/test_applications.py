"""The model builders: shapes, twins, serialisation, training, errors."""

import keras
import numpy as np
import pytest

from keras_specnet import applications
from keras_specnet.applications import (
    VGG16,
    AlexNet,
    DenseNet,
    LeNet5,
    SpecAlexNet,
    SpecDenseNet,
    SpecLeNet5,
    SpecVGG16,
)
from keras_specnet.applications.vgg import SPEC_VGG16_BETA
from keras_specnet.layers import SpectralBlock, SpectralConv2D
from keras_specnet.utils import spectral_convolutions

from helpers import SMALL_MODEL_ARGS

SMALL = SMALL_MODEL_ARGS
NAMES = list(applications.REGISTRY)


def _build(name, **kwargs):
    return applications.build(name, **{**SMALL[name], **kwargs})


# The slowest builders fit at one input shape; the others cover both.
_ONE_SHAPE = {"shufflenet_v2", "shufflenet_v2_bft", "spec_vgg16"}


@pytest.mark.parametrize(
    "name,shape",
    [
        (name, shape)
        for name in NAMES
        for shape in [(28, 28, 1), (32, 32, 3)]
        if shape == (32, 32, 3) or name not in _ONE_SHAPE
    ],
)
def test_builds_predicts_and_fits_one_batch(name, shape):
    model = _build(name, input_shape=shape, classes=7)
    x = np.random.default_rng(0).random((4, *shape)).astype("float32")
    out = model(x)
    assert out.shape == (4, 7)
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, np.arange(4))
    assert np.isfinite(loss)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_feature_extractor(name, pooling):
    model = _build(name, include_top=False, pooling=pooling, input_shape=(32, 32, 3))
    out = model(np.zeros((2, 32, 32, 3), "float32"))
    assert len(out.shape) == (4 if pooling is None else 2)
    assert out.shape[-1] == model.layers[-1].output.shape[-1]


@pytest.mark.parametrize(
    "name", ["alexnet", "spec_alexnet", "vgg16", "spec_vgg16", "densenet", "spec_densenet"]
)
def test_imagenet_sized_input_builds(name):
    model = _build(name, input_shape=(224, 224, 3), classes=1000)
    assert model.output_shape == (None, 1000)


def test_alexnet_stem_follows_the_input_size():
    small = AlexNet(input_shape=(32, 32, 3), width=0.125, fc_units=8)
    large = SpecAlexNet(input_shape=(224, 224, 3), width=0.125, fc_units=8)
    assert small.get_layer("block1_conv1").kernel.shape[:2] == (5, 5)
    stem = large.get_layer("block1_conv1")
    assert stem.kernel.shape[:2] == (11, 11) and stem.strides == (4, 4)
    assert stem.output.shape[1:3] == (56, 56)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "spatial,spectral,kwargs",
    [
        (LeNet5, SpecLeNet5, {}),
        (AlexNet, SpecAlexNet, {"width": 0.25, "fc_units": 64}),
        (VGG16, SpecVGG16, {"width": 0.25, "fc_units": 64}),
    ],
)
def test_twins_have_the_same_parameters(spatial, spectral, kwargs):
    a, b = spatial(**kwargs), spectral(**kwargs)
    assert a.count_params() == b.count_params()
    # Layer and weight names, as fused blocks nest their convolutions.
    shapes_a = [("/".join(w.path.split("/")[-2:]), tuple(w.shape)) for w in a.weights]
    shapes_b = [("/".join(w.path.split("/")[-2:]), tuple(w.shape)) for w in b.weights]
    assert shapes_a == shapes_b  # same names, same shapes, same order
    b.set_weights(a.get_weights())


def test_lenet_parameter_count():
    convs = (5 * 5 * 1 + 1) * 6 + (5 * 5 * 6 + 1) * 16
    dense = (7 * 7 * 16 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert LeNet5().count_params() == SpecLeNet5().count_params() == convs + dense


@pytest.mark.parametrize("width,num_layers", [(1.0, 6), (0.25, 3)])
def test_densenet_difference_is_the_documented_one(width, num_layers):
    spatial = DenseNet(width=width, num_layers=num_layers)
    spectral = SpecDenseNet(width=width, num_layers=num_layers)
    filters = max(1, round(64 * width))
    convs = 1 + 2 * num_layers
    # BN: scale + offset per channel, against one bias per channel.
    assert _trainable(spatial) - _trainable(spectral) == filters * convs
    plain = DenseNet(width=width, num_layers=num_layers, batch_norm=False)
    assert plain.count_params() == spectral.count_params()


def test_vgg_batch_norm_difference():
    plain = VGG16(width=0.25, fc_units=16)
    bn = VGG16(width=0.25, fc_units=16, batch_norm=True)
    conv_channels = sum(
        layer.filters for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)
    )
    assert _trainable(bn) - _trainable(plain) == conv_channels


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_round_trip(name, tmp_path):
    model = _build(name, input_shape=(28, 28, 1))
    x = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_deterministic_layer_names():
    names = [layer.name for layer in SpecVGG16(width=0.125, fc_units=8, cache="bitmask").layers]
    assert names == [
        layer.name for layer in SpecVGG16(width=0.125, fc_units=8, cache="bitmask").layers
    ]
    assert names[1:5] == ["block1_conv1", "block1_conv2", "block1_ifft", "block2_conv1"]
    lenet = [layer.name for layer in SpecLeNet5(cache="bitmask").layers]
    tail = ["flatten", "fc1", "fc2", "predictions"]
    assert lenet[1:] == ["block1_conv1", "block1_ifft", "block2_conv1", "block2_ifft", *tail]
    assert isinstance(SpecLeNet5(cache="bitmask").get_layer("block1_conv1"), SpectralConv2D)
    # Fused blocks: one layer per block, the convolutions named as above.
    fused = SpecLeNet5()
    assert [layer.name for layer in fused.layers][1:] == ["block1", "block2", *tail]
    assert isinstance(fused.get_layer("block1"), SpectralBlock)
    assert [c.name for c in spectral_convolutions(fused)] == ["block1_conv1", "block2_conv1"]
    vgg = spectral_convolutions(SpecVGG16(width=0.125, fc_units=8))
    assert [c.name for c in vgg[:3]] == ["block1_conv1", "block1_conv2", "block2_conv1"]


def test_input_tensor():
    inputs = keras.Input((28, 28, 1))
    model = SpecVGG16(input_tensor=inputs, classes=3, width=0.125, fc_units=8)
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize(
    "builder,kwargs,message",
    [
        (
            SpecLeNet5,
            {"classes": 0},
            r"`classes`. Expected a positive integer. Received: classes=0",
        ),
        (
            SpecLeNet5,
            {"pooling": "sum"},
            r"`pooling`. Expected one of \[None, 'avg', 'max'\]. Received: pooling='sum'",
        ),
        (
            SpecLeNet5,
            {"input_shape": (2, 2, 1)},
            r"`input_shape`. Expected .* >= 4.* Received: input_shape=\(2, 2, 1\)",
        ),
        (SpecVGG16, {"input_shape": (28, 28)}, r"`input_shape`.*Received: input_shape=\(28, 28\)"),
        (SpecLeNet5, {"beta": -0.5}, r"`beta`. Expected a finite number >= 0. Received: beta=-0.5"),
        (SpecVGG16, {"width": 0}, r"`width`. Expected a finite number > 0. Received: width=0"),
        (
            AlexNet,
            {"fc_units": 0},
            r"`fc_units`. Expected a positive integer. Received: fc_units=0",
        ),
        (
            SpecDenseNet,
            {"num_layers": 0},
            r"`num_layers`. Expected a positive integer. Received: num_layers=0",
        ),
        (
            SpecVGG16,
            {"fft_padding": "wide"},
            r"`fft_padding`. Expected None, 'linear' or an integer >= 0. Received: fft_padding='wide'",
        ),
        (
            SpecVGG16,
            {"cache": "dense"},
            r"`cache`. Expected one of \['auto', 'bitmask', 'block', 'none', 'sparse_tensor'\]. Received: cache='dense'",
        ),
        (
            SpecDenseNet,
            {"cache_dtype": "float16"},
            r"`cache_dtype`. Expected one of \['bfloat16', 'float32', 'int4', 'int8'\]. Received: cache_dtype='float16'",
        ),
    ],
)
def test_errors(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


@pytest.mark.parametrize("name", applications.registry.names("spectral"))
def test_cache_reaches_every_spectral_convolution(name):
    model = _build(name, cache="sparse_tensor", cache_dtype="bfloat16")
    convs = [layer for layer in model.layers if isinstance(layer, SpectralConv2D)]
    assert convs and len(convs) == len(spectral_convolutions(model))
    assert {(c.cache, c.cache_dtype) for c in convs} == {("sparse_tensor", "bfloat16")}
    # The default fuses the blocks that can be; the others keep a bitmask.
    default = _build(name)
    assert any(isinstance(layer, SpectralBlock) for layer in default.layers)
    unfused = [layer for layer in default.layers if isinstance(layer, SpectralConv2D)]
    assert {(c.cache, c.cache_dtype) for c in unfused} <= {("bitmask", "float32")}
    assert len(spectral_convolutions(default)) == len(convs)


def test_registry():
    assert applications.get("spec_densenet") is SpecDenseNet
    assert applications.twin("vgg16") == "spec_vgg16"
    assert applications.twin("spec_alexnet") == "alexnet"
    assert set(applications.registry.names("spectral")) == {
        n for n in NAMES if n.startswith("spec_")
    }
    assert applications.registry.spec("spec_vgg16").default_beta == SPEC_VGG16_BETA
    assert applications.registry.spec("vgg16").default_beta is None
    with pytest.raises(
        ValueError,
        match=r"`model`. Expected one of \[.*'spec_densenet'.*\]. Received: model='resnet'",
    ):
        applications.get("resnet")


def _learnable_data(n=512, seed=0):
    """Ten classes: a bright 7x7 patch at one of ten places, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    x = rng.normal(0.0, 0.3, (n, 28, 28, 1)).astype("float32")
    for i, c in enumerate(labels):
        r, col = divmod(int(c), 5)
        x[i, 3 + 12 * r : 10 + 12 * r, 1 + 5 * col : 6 + 5 * col] += 1.0
    return x, labels


def test_short_fit_lowers_the_loss():
    x, y = _learnable_data()
    model = SpecLeNet5()
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    before, _ = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    after, accuracy = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < 0.5 * before
    assert accuracy > 0.5


@pytest.mark.parametrize(
    "builder,kwargs",
    [
        (SpecVGG16, {"width": 0.125, "fc_units": 16}),
        (SpecDenseNet, {"width": 0.125, "num_layers": 2}),
    ],
)
def test_spectral_batch_norm_option(builder, kwargs, tmp_path):
    plain = builder(**kwargs)
    normed = builder(batch_norm=True, **kwargs)
    in_channels = sum(layer.kernel.shape[2] for layer in spectral_convolutions(plain))
    # A scale and an offset per input channel of each spectral convolution.
    assert _trainable(normed) - _trainable(plain) == 2 * in_channels
    x = np.random.default_rng(2).random((4, 32, 32, 3)).astype("float32")
    normed.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert np.isfinite(normed.train_on_batch(x, np.arange(4)))
    path = tmp_path / "normed.keras"
    normed.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path)(x), normed(x))


def test_spectral_batch_norm_keeps_deep_spectra_alive():
    """Without normalisation a threshold of 0.1 zeroes the deep blocks of a
    fresh SpecVGG16; with it their spectra stay at unit scale."""
    x = np.random.default_rng(3).random((16, 32, 32, 3)).astype("float32")

    def deep_rms(model):
        z = keras.Model(model.input, model.get_layer("block4_conv3").output)(x, training=True)
        return float(np.sqrt(np.mean(np.abs(np.asarray(z)) ** 2)))

    kwargs = {"width": 0.25, "fc_units": 16, "beta": 0.1}
    assert deep_rms(SpecVGG16(cache="bitmask", **kwargs)) < 1e-3
    assert deep_rms(SpecVGG16(batch_norm=True, **kwargs)) > 0.1
