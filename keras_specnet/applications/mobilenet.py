"""MobileNetV1, with pointwise convolutions or the Butterfly Transform."""

import keras

from keras_specnet import _checks
from keras_specnet.applications import _common
from keras_specnet.layers import ButterflyFusion

FUSIONS = ("pointwise", "butterfly")

#: The BFT paper's base (same multiply-adds as base 2, fewer stages).
DEFAULT_BUTTERFLY_BASE = 4

#: Filters and strides of the 13 depthwise-separable blocks (alpha = 1).
BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)

#: Inputs smaller than this (height or width) start with a stride-1 conv.
SMALL_INPUT = 128


def check_fusion(fusion, butterfly_base):
    _checks.one_of("fusion", fusion, FUSIONS)
    if (
        isinstance(butterfly_base, bool)
        or not isinstance(butterfly_base, int)
        or (butterfly_base < 2)
    ):
        raise _checks.invalid("butterfly_base", "an integer >= 2", butterfly_base)


def fusion_layer(x, filters, fusion, butterfly_base, name):
    """A 1x1 channel fusion without bias: `Conv2D` or `ButterflyFusion`.

    No regularizer either way: the BFT paper finds weight decay harmful on
    butterfly weights.
    """
    if fusion == "butterfly":
        return ButterflyFusion(filters, base=butterfly_base, use_bias=False, name=name)(x)
    return keras.layers.Conv2D(filters, 1, use_bias=False, name=name)(x)


def MobileNetV1(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    alpha=1.0,
    fusion="pointwise",
    butterfly_base=DEFAULT_BUTTERFLY_BASE,
    dropout=1e-3,
    name=None,
):
    """MobileNetV1, its pointwise convolutions optionally Butterfly Transforms.

    A 3x3 convolution of `32 * alpha` filters, then 13 depthwise-separable
    blocks (3x3 depthwise conv, BN, ReLU6, 1x1 fusion to `64, 128, 128,
    256, 256, 512, 512 x 5, 1024, 1024` times `alpha` channels, BN, ReLU6),
    global average pooling, dropout and the classifier, as in
    `keras.applications.MobileNet`. With `fusion="butterfly"` every 1x1
    fusion is a `ButterflyFusion` of base `butterfly_base` (the BFT paper's
    MobileNet+BFT: batch norm only after the whole transform, no
    regulariser on the butterfly weights).

    Strides: 224x224 inputs go 112, 56, 28, 14, 7 (the first conv and four
    blocks have stride 2). Inputs smaller than 128 (CIFAR's 32x32,
    Fashion-MNIST's 28x28) start with a stride-1 conv: 32x32 goes 32, 16,
    8, 4, 2.

    Widths at matched multiply-adds (`keras_specnet.utils.count_flops`):
    the paper compares MobileNetV1-0.25 with pointwise convolutions to
    MobileNetV1-1.0 with BFT at about the same FLOPs (a lower resolution
    for BFT); at one resolution, pick `alpha` for each so that
    `count_flops` matches.

    Args:
        include_top: bool. Whether to include the pooling, dropout and
            classifier. Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 16 (inputs under 128 use the stride-1 start). Defaults
            to `(224, 224, 3)`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
            Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        alpha: float > 0. Width multiplier of every layer's channels.
            Defaults to `1.0`.
        fusion: `"pointwise"` (`Conv2D(filters, 1)`) or `"butterfly"`
            (`ButterflyFusion`). Defaults to `"pointwise"`.
        butterfly_base: int >= 2. Base of the butterfly layers (ignored
            with pointwise fusion). Defaults to `4`, the paper's.
        dropout: float in [0, 1). Dropout before the classifier. Defaults
            to `1e-3`, as in `keras.applications.MobileNet`.
        name: str. Model name. Defaults to `"mobilenet_v1"` or
            `"mobilenet_v1_bft"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import MobileNetV1

    model = MobileNetV1(input_shape=(32, 32, 3), alpha=0.5, fusion="butterfly")
    ```

    Reference:
        A. G. Howard et al. "MobileNets: Efficient Convolutional Neural
        Networks for Mobile Vision Applications", arXiv:1704.04861.
        K. Alizadeh Vahid et al. "Butterfly Transform: An Efficient FFT
        Based Neural Architecture Design", CVPR 2020, arXiv:1906.02256.
    """
    _common.check_head(include_top, pooling, classes)
    alpha = _checks.positive_number("alpha", alpha)
    check_fusion(fusion, butterfly_base)
    if not 0 <= dropout < 1:
        raise _checks.invalid("dropout", "a number in [0, 1)", dropout)
    if name is None:
        name = "mobilenet_v1_bft" if fusion == "butterfly" else "mobilenet_v1"
    inputs, x = _common.model_input(input_tensor, input_shape, (224, 224, 3), 16, name)
    small = min(x.shape[1], x.shape[2]) < SMALL_INPUT

    x = keras.layers.Conv2D(
        _common.scaled(32, alpha),
        3,
        strides=1 if small else 2,
        padding="same",
        use_bias=False,
        name="conv1",
    )(x)
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, strides) in enumerate(BLOCKS, start=1):
        x = keras.layers.DepthwiseConv2D(
            3, strides=strides, padding="same", use_bias=False, name=f"conv_dw_{i}"
        )(x)
        x = keras.layers.BatchNormalization(name=f"conv_dw_{i}_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"conv_dw_{i}_relu")(x)
        x = fusion_layer(x, _common.scaled(filters, alpha), fusion, butterfly_base, f"conv_pw_{i}")
        x = keras.layers.BatchNormalization(name=f"conv_pw_{i}_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"conv_pw_{i}_relu")(x)
    outputs = _common.head(
        x, include_top, pooling, classes, classifier_activation, top="avg", dropout=dropout
    )
    return keras.Model(inputs, outputs, name=name)


def MobileNetV1BFT(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    alpha=1.0,
    butterfly_base=DEFAULT_BUTTERFLY_BASE,
    dropout=1e-3,
    name="mobilenet_v1_bft",
):
    """`MobileNetV1(fusion="butterfly")`: MobileNetV1 with the Butterfly Transform.

    The registry's `"mobilenet_v1_bft"`. Arguments as in `MobileNetV1`.

    Example:

    ```python
    from keras_specnet.applications import MobileNetV1BFT

    model = MobileNetV1BFT(input_shape=(32, 32, 3), butterfly_base=4)
    ```
    """
    return MobileNetV1(
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        alpha=alpha,
        fusion="butterfly",
        butterfly_base=butterfly_base,
        dropout=dropout,
        name=name,
    )
