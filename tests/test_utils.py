"""count_flops: hand-counted small models and the published MobileNet/ShuffleNet figures."""

import keras
import pytest

from keras_specnet.applications import MobileNetV1, ShuffleNetV2
from keras_specnet.layers import ButterflyFusion, SpectralConv2D
from keras_specnet.utils import count_flops


def _model(shape, *layers):
    inputs = keras.Input(shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def test_convolutions_dense_and_butterfly_by_hand():
    model = _model(
        (16, 16, 8),
        keras.layers.Conv2D(12, 3, strides=2, padding="same", name="conv"),  # 8x8 out
        keras.layers.Conv2D(12, 1, groups=3, name="grouped"),
        keras.layers.DepthwiseConv2D(3, padding="same", name="dw"),
        keras.layers.SeparableConv2D(16, 3, padding="valid", name="sep"),  # 6x6 out
        ButterflyFusion(16, base=4, name="bft"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dense(5, name="dense"),  # on every position
    )
    expected = {
        "conv": 8 * 8 * 3 * 3 * 8 * 12,
        "grouped": 8 * 8 * 4 * 12,
        "dw": 8 * 8 * 3 * 3 * 12,
        "sep": 6 * 6 * (3 * 3 * 12 + 12 * 16),
        "bft": 6 * 6 * 16 * (4 + 4),
        "dense": 6 * 6 * 16 * 5,
    }
    assert count_flops(model, per_layer=True) == expected
    assert count_flops(model) == sum(expected.values())


def test_butterfly_counts_the_padded_stages():
    # 20 -> 12 channels with base 3: 27 channels, radices 3 x 3 x 3.
    model = _model((5, 20), ButterflyFusion(12, base=3, name="bft"))
    assert count_flops(model) == 5 * 27 * 9


def test_spectral_conv2d_counts_its_spectral_product():
    model = _model((10, 10, 3), SpectralConv2D(4, 3, output_domain="spatial", name="spec"))
    # FFT size 12 x 12: 12 x 7 frequencies, 4 real multiply-adds each.
    assert count_flops(model) == 4 * 12 * 7 * 3 * 4


def test_nested_models_are_counted():
    inner = _model((4, 4, 2), keras.layers.Conv2D(3, 1, name="c"))
    outer = _model((4, 4, 2), inner, keras.layers.Flatten(), keras.layers.Dense(2, name="d"))
    counts = count_flops(outer, per_layer=True)
    assert counts == {f"{inner.name}/c": 16 * 2 * 3, "d": 48 * 2}


@pytest.mark.parametrize(
    "builder,kwargs,published",
    [
        # MobileNets paper, Table 6/7 (224x224): 569 M and 41 M mult-adds.
        (MobileNetV1, {"alpha": 1.0}, 569e6),
        (MobileNetV1, {"alpha": 0.25}, 41e6),
        # ShuffleNet V2 paper, Table 5: 146 M (1x) and 41 M (0.5x) FLOPs.
        (ShuffleNetV2, {"scale": 1.0}, 146e6),
        (ShuffleNetV2, {"scale": 0.5}, 41e6),
    ],
)
def test_published_figures_of_the_pointwise_models(builder, kwargs, published):
    model = builder(input_shape=(224, 224, 3), classes=1000, **kwargs)
    assert count_flops(model) == pytest.approx(published, rel=0.02)


def test_butterfly_models_cost_a_fraction_of_the_pointwise_ones():
    pointwise = count_flops(MobileNetV1(input_shape=(32, 32, 3), alpha=1.0))
    butterfly = count_flops(MobileNetV1(input_shape=(32, 32, 3), alpha=1.0, fusion="butterfly"))
    depthwise = sum(
        v
        for k, v in count_flops(
            MobileNetV1(input_shape=(32, 32, 3), alpha=1.0), per_layer=True
        ).items()
        if "conv_pw" not in k
    )
    assert depthwise < butterfly < pointwise / 5


def test_errors():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `model`. Expected a keras.Model. Received: model=3",
    ):
        count_flops(3)
