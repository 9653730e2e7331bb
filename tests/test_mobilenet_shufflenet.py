"""MobileNetV1 and ShuffleNetV2, pointwise and with the Butterfly Transform."""

import keras
import numpy as np
import pytest

from keras_specnet import applications
from keras_specnet.applications import (
    MobileNetV1,
    MobileNetV1BFT,
    ShuffleNetV2,
    ShuffleNetV2BFT,
)
from keras_specnet.applications.shufflenet import channel_shuffle
from keras_specnet.layers import ButterflyFusion

NAMES = ["mobilenet_v1", "mobilenet_v1_bft", "shufflenet_v2", "shufflenet_v2_bft"]
SMALL = {
    "mobilenet_v1": {"alpha": 0.125},
    "mobilenet_v1_bft": {"alpha": 0.125},
    "shufflenet_v2": {"scale": 0.25},
    "shufflenet_v2_bft": {"scale": 0.25},
}


def _build(name, **kwargs):
    return applications.build(name, **{**SMALL[name], **kwargs})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_builds_and_predicts(name, shape):
    model = _build(name, input_shape=shape, classes=7)
    x = np.random.default_rng(0).random((4, *shape)).astype("float32")
    out = keras.ops.convert_to_numpy(model(x))
    assert out.shape == (4, 7)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)


def test_butterfly_model_fits_one_batch():
    # (test_applications fits every registered model; this checks the stages.)
    model = _build("mobilenet_v1_bft", input_shape=(28, 28, 1), classes=7)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert np.isfinite(model.train_on_batch(x, np.arange(4)))
    moved = [
        not np.array_equal(b, keras.ops.convert_to_numpy(w))
        for b, w in zip(before, model.trainable_weights)
        if "butterfly" in w.path
    ]
    assert moved and all(moved)  # every butterfly stage received a gradient


@pytest.mark.parametrize(
    "builder,kwargs,last_size",
    [
        (MobileNetV1, {"alpha": 0.125}, {32: 2, 224: 7}),
        (ShuffleNetV2, {"scale": 0.25}, {32: 4, 224: 7}),
    ],
)
def test_strides_follow_the_input_size(builder, kwargs, last_size):
    for side, size in last_size.items():
        model = builder(input_shape=(side, side, 3), include_top=False, classes=1000, **kwargs)
        assert model.output_shape[1:3] == (size, size)


@pytest.mark.parametrize(
    "builder,kwargs,count",
    [
        (MobileNetV1, {"alpha": 0.25}, 13),
        # 3 fusions per downsampling unit, 2 per other unit, and conv5.
        (ShuffleNetV2, {"scale": 0.5}, 3 * 3 + 2 * (3 + 7 + 3) + 1),
    ],
)
def test_butterfly_fusion_replaces_every_pointwise_convolution(builder, kwargs, count):
    pointwise = builder(input_shape=(32, 32, 3), **kwargs)
    butterfly = builder(input_shape=(32, 32, 3), fusion="butterfly", butterfly_base=8, **kwargs)
    ones = [
        layer
        for layer in pointwise.layers
        if isinstance(layer, keras.layers.Conv2D)
        and layer.kernel_size == (1, 1)
        and not isinstance(layer, keras.layers.DepthwiseConv2D)
    ]
    fusions = [f for f in butterfly.layers if isinstance(f, ButterflyFusion)]
    assert len(ones) == len(fusions) == count
    # Same names, same widths: only the fusion differs.
    assert [c.name for c in ones] == [f.name for f in fusions]
    assert [c.filters for c in ones] == [f.filters for f in fusions]
    assert {f.base for f in fusions} == {8}
    assert all(f.kernel_regularizer is None and not f.use_bias for f in fusions)
    assert not butterfly.losses  # no weight decay anywhere
    assert butterfly.count_params() < pointwise.count_params()


def test_mobilenet_parameter_count_matches_keras_applications():
    ours = MobileNetV1(input_shape=(224, 224, 3), alpha=0.25, classes=1000)
    reference = keras.applications.MobileNet(
        input_shape=(224, 224, 3), alpha=0.25, weights=None, classes=1000
    )
    assert ours.count_params() == reference.count_params()


def test_shufflenet_stage_widths():
    model = ShuffleNetV2(input_shape=(32, 32, 3), scale=0.5, include_top=False)
    widths = [model.get_layer(f"stage{s}_unit1_concat").output.shape[-1] for s in (2, 3, 4)]
    assert widths == [48, 96, 192]
    assert model.output_shape[-1] == 1024


def test_channel_shuffle_interleaves_the_two_halves():
    inputs = keras.Input((1, 1, 6))
    model = keras.Model(inputs, channel_shuffle(inputs, "s"))
    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)
    out = keras.ops.convert_to_numpy(model(x)).ravel()
    np.testing.assert_array_equal(out, [0, 3, 1, 4, 2, 5])


@pytest.mark.parametrize("name", ["mobilenet_v1_bft", "shufflenet_v2_bft"])
def test_keras_file_round_trip(name, tmp_path):
    model = _build(name, input_shape=(28, 28, 1))
    x = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_feature_extractor(pooling):
    model = MobileNetV1BFT(include_top=False, pooling=pooling, input_shape=(32, 32, 3), alpha=0.125)
    assert len(model.output_shape) == (4 if pooling is None else 2)


def test_registry_and_twins():
    assert applications.get("mobilenet_v1_bft") is MobileNetV1BFT
    assert applications.get("shufflenet_v2_bft") is ShuffleNetV2BFT
    assert applications.twin("mobilenet_v1") == "mobilenet_v1_bft"
    assert applications.twin("mobilenet_v1_bft") == "mobilenet_v1"
    assert applications.twin("shufflenet_v2") == "shufflenet_v2_bft"
    assert applications.twin("shufflenet_v2_bft") == "shufflenet_v2"
    assert applications.twin("vgg16") == "spec_vgg16"
    assert not set(NAMES) & set(applications.registry.names("spectral"))
    # Only the butterfly forms take a base.
    assert "butterfly_base" not in applications.registry.spec("mobilenet_v1").arguments
    assert "butterfly_base" in applications.registry.spec("mobilenet_v1_bft").arguments
    with pytest.raises(ValueError, match=r"Received: kwargs=\{'butterfly_base': 4\}"):
        applications.build("mobilenet_v1", butterfly_base=4)
    assert MobileNetV1BFT(input_shape=(32, 32, 3), alpha=0.125).name == "mobilenet_v1_bft"


@pytest.mark.parametrize(
    "builder,kwargs,message",
    [
        (
            MobileNetV1,
            {"fusion": "dense"},
            r"`fusion`. Expected one of \['butterfly', 'pointwise'\]. Received: fusion='dense'",
        ),
        (
            MobileNetV1,
            {"fusion": "butterfly", "butterfly_base": 1},
            r"`butterfly_base`. Expected an integer >= 2. Received: butterfly_base=1",
        ),
        (MobileNetV1, {"alpha": 0}, r"`alpha`. Expected a finite number > 0. Received: alpha=0"),
        (
            MobileNetV1,
            {"dropout": 1.5},
            r"`dropout`. Expected a number in \[0, 1\). Received: dropout=1.5",
        ),
        (ShuffleNetV2, {"scale": -1}, r"`scale`. Expected a finite number > 0. Received: scale=-1"),
        (
            ShuffleNetV2,
            {"input_shape": (8, 8, 3)},
            r"`input_shape`. Expected .* >= 16.* Received: input_shape=\(8, 8, 3\)",
        ),
    ],
)
def test_errors(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)
