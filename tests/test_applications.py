"""LeNet5 and SpecLeNet5: shapes, parameters, serialisation, training."""

import numpy as np
import pytest

import keras
from keras_specnet import applications
from keras_specnet.applications import LeNet5, SpecLeNet5
from keras_specnet.layers import SpectralConv2D

BUILDERS = [LeNet5, SpecLeNet5]


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_builds_and_predicts(builder, shape):
    model = builder(input_shape=shape, classes=7)
    out = model(np.zeros((2, *shape), "float32"))
    assert out.shape == (2, 7)
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert names[1:] == [
        "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2", "predictions"
    ]


def test_twins_have_the_same_parameters():
    spatial, spec = LeNet5(), SpecLeNet5()
    convs = (5 * 5 * 1 + 1) * 6 + (5 * 5 * 6 + 1) * 16
    dense = (7 * 7 * 16 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    assert spatial.count_params() == spec.count_params() == convs + dense
    for a, b in zip(spatial.weights, spec.weights):
        assert tuple(a.shape) == tuple(b.shape)
    assert isinstance(spec.get_layer("conv1"), SpectralConv2D)
    assert spec.get_layer("conv2").beta == applications.lenet.SPEC_LENET5_BETA


def test_spec_lenet_with_spatial_weights_and_no_threshold_is_a_spatial_net():
    """beta=0: each SpectralConv2D + tanh stage equals Conv2D on the same weights
    up to the activation, so copying weights reproduces the first conv exactly."""
    spatial = LeNet5(activation=None)
    spec = SpecLeNet5(beta=0.0)
    spec.set_weights(spatial.get_weights())
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    conv_spec = spec.get_layer("conv1")
    linear = SpectralConv2D.from_config(
        {**conv_spec.get_config(), "activation": None, "name": "linear"}
    )
    linear.build(x.shape)
    linear.set_weights(conv_spec.get_weights())
    np.testing.assert_allclose(
        linear(x), spatial.get_layer("conv1")(x), atol=1e-4
    )


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("pooling,shape", [(None, (2, 7, 7, 16)), ("avg", (2, 16)), ("max", (2, 16))])
def test_feature_extractor(builder, pooling, shape):
    model = builder(include_top=False, pooling=pooling)
    assert model(np.zeros((2, 28, 28, 1), "float32")).shape == shape


def test_input_tensor():
    inputs = keras.Input((28, 28, 1))
    model = SpecLeNet5(input_tensor=inputs, classes=3)
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 3)


@pytest.mark.parametrize("builder", BUILDERS)
def test_keras_file_round_trip(builder, tmp_path):
    model = builder()
    x = np.random.default_rng(1).random((3, 28, 28, 1)).astype("float32")
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"classes": 0}, r"`classes`. Expected a positive integer. Received: classes=0"),
        ({"pooling": "sum"}, r"`pooling`. Expected one of \[None, 'avg', 'max'\]. Received: pooling='sum'"),
        ({"input_shape": (2, 2, 1)}, r"`input_shape`. Expected .* >= 4.* Received: input_shape=\(2, 2, 1\)"),
        ({"input_shape": (28, 28)}, r"`input_shape`.*Received: input_shape=\(28, 28\)"),
        ({"beta": -0.5}, r"`beta`. Expected a finite number >= 0. Received: beta=-0.5"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpecLeNet5(**kwargs)


def test_registry():
    assert applications.get("spec_lenet5") is SpecLeNet5
    assert applications.SPECTRAL_MODELS == {"spec_lenet5"}
    with pytest.raises(ValueError, match=r"`model`. Expected one of \['lenet5', 'spec_lenet5'\]"):
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
