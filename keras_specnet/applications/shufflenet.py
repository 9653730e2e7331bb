"""ShuffleNetV2, with pointwise convolutions or the Butterfly Transform."""

import keras

from keras_specnet import _checks
from keras_specnet.applications import _common
from keras_specnet.applications.mobilenet import (
    DEFAULT_BUTTERFLY_BASE,
    SMALL_INPUT,
    check_fusion,
    fusion_layer,
)

#: Output channels of stages 2-4 for the published scales.
STAGE_CHANNELS = {
    0.5: (48, 96, 192),
    1.0: (116, 232, 464),
    1.5: (176, 352, 704),
    2.0: (244, 488, 976),
}

#: Units per stage; the first unit of each stage has stride 2.
REPEATS = (4, 8, 4)


def stage_channels(scale):
    """Stage widths: the published ones, else `116 * scale` rounded to even."""
    if scale in STAGE_CHANNELS:
        return STAGE_CHANNELS[scale]
    first = 2 * max(1, round(58 * scale))
    return (first, 2 * first, 4 * first)


def channel_shuffle(x, name):
    """ShuffleNet's shuffle of two groups: channel `g * c/2 + k` -> `2k + g`."""
    h, w, c = x.shape[1:]
    x = keras.layers.Reshape((h, w, 2, c // 2), name=f"{name}_shuffle_split")(x)
    x = keras.layers.Permute((1, 2, 4, 3), name=f"{name}_shuffle_swap")(x)
    return keras.layers.Reshape((h, w, c), name=f"{name}_shuffle_merge")(x)


def _fuse_bn_relu(x, filters, fusion, base, name):
    x = fusion_layer(x, filters, fusion, base, name)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _depthwise_bn(x, strides, name):
    x = keras.layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=name)(
        x
    )
    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)


def shuffle_unit(x, filters, strides, fusion, base, name):
    """ShuffleNetV2's unit: a split (stride 1) or a downsampling (stride 2)."""
    half = filters // 2
    if strides == 1:
        left, right = keras.ops.split(x, 2, axis=-1)
    else:
        left = _depthwise_bn(x, 2, f"{name}_left_dw")
        left = _fuse_bn_relu(left, half, fusion, base, f"{name}_left_pw")
        right = x
    right = _fuse_bn_relu(right, half, fusion, base, f"{name}_pw1")
    right = _depthwise_bn(right, strides, f"{name}_dw")
    right = _fuse_bn_relu(right, filters - half, fusion, base, f"{name}_pw2")
    x = keras.layers.Concatenate(name=f"{name}_concat")([left, right])
    return channel_shuffle(x, name)


def ShuffleNetV2(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    scale=1.0,
    fusion="pointwise",
    butterfly_base=DEFAULT_BUTTERFLY_BASE,
    name=None,
):
    """ShuffleNetV2, its 1x1 convolutions optionally Butterfly Transforms.

    A 3x3 convolution of 24 filters and 3x3 max pooling (both stride 2),
    three stages of 4, 8 and 4 units (each stage's first unit halves the
    size), a 1x1 convolution to 1024 channels (2048 at `scale >= 2`),
    global average pooling and the classifier. A unit splits its channels
    in two, passes one half through 1x1 conv, 3x3 depthwise conv and 1x1
    conv (BN after each, ReLU after the 1x1s), concatenates and shuffles;
    the downsampling unit puts both branches through stride-2 depthwise
    convs. Stage widths: 48/96/192 (scale 0.5), 116/232/464 (1.0),
    176/352/704 (1.5), 244/488/976 (2.0), otherwise `116 * scale`
    rounded to even, doubling. With `fusion="butterfly"` every 1x1
    convolution, the final one included, is a `ButterflyFusion`.

    Inputs smaller than 128 (32x32, 28x28) start with a stride-1 conv and
    no max pooling: 32x32 goes 32, 16, 8, 4; 224x224 goes 112, 56, 28, 14, 7.

    Args:
        include_top: bool. Whether to include the pooling and classifier.
            Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 16. Defaults to `(224, 224, 3)`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
            Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        scale: float > 0. Width scale (ShuffleNetV2 0.5x, 1x, ...). The BFT
            paper compares ShuffleNetV2-1.25 with BFT to 0.5 pointwise.
            Defaults to `1.0`.
        fusion: `"pointwise"` or `"butterfly"`. Defaults to `"pointwise"`.
        butterfly_base: int >= 2. Base of the butterfly layers. Defaults to
            `4`.
        name: str. Model name. Defaults to `"shufflenet_v2"` or
            `"shufflenet_v2_bft"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import ShuffleNetV2

    model = ShuffleNetV2(input_shape=(32, 32, 3), scale=0.5, fusion="butterfly")
    ```

    Reference:
        N. Ma, X. Zhang, H.-T. Zheng, J. Sun. "ShuffleNet V2: Practical
        Guidelines for Efficient CNN Architecture Design", ECCV 2018.
        K. Alizadeh Vahid et al. "Butterfly Transform: An Efficient FFT
        Based Neural Architecture Design", CVPR 2020, arXiv:1906.02256.
    """
    _common.check_head(include_top, pooling, classes)
    scale = _checks.positive_number("scale", scale)
    check_fusion(fusion, butterfly_base)
    if name is None:
        name = "shufflenet_v2_bft" if fusion == "butterfly" else "shufflenet_v2"
    inputs, x = _common.model_input(input_tensor, input_shape, (224, 224, 3), 16, name)
    small = min(x.shape[1], x.shape[2]) < SMALL_INPUT

    x = keras.layers.Conv2D(
        24, 3, strides=1 if small else 2, padding="same", use_bias=False, name="conv1"
    )(x)
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    if not small:
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for stage, (filters, repeats) in enumerate(zip(stage_channels(scale), REPEATS), start=2):
        for unit in range(1, repeats + 1):
            x = shuffle_unit(
                x,
                filters,
                2 if unit == 1 else 1,
                fusion,
                butterfly_base,
                f"stage{stage}_unit{unit}",
            )
    x = _fuse_bn_relu(x, 2048 if scale >= 2 else 1024, fusion, butterfly_base, "conv5")
    outputs = _common.head(x, include_top, pooling, classes, classifier_activation, top="avg")
    return keras.Model(inputs, outputs, name=name)


def ShuffleNetV2BFT(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    scale=1.0,
    butterfly_base=DEFAULT_BUTTERFLY_BASE,
    name="shufflenet_v2_bft",
):
    """`ShuffleNetV2(fusion="butterfly")`: ShuffleNetV2 with the Butterfly Transform.

    The registry's `"shufflenet_v2_bft"`. Arguments as in `ShuffleNetV2`.

    Example:

    ```python
    from keras_specnet.applications import ShuffleNetV2BFT

    model = ShuffleNetV2BFT(input_shape=(32, 32, 3), scale=1.25)
    ```
    """
    return ShuffleNetV2(
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        scale=scale,
        fusion="butterfly",
        butterfly_base=butterfly_base,
        name=name,
    )
