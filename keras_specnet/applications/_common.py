"""Argument handling shared by the model builders (keras.applications style)."""

import keras

from keras_specnet import _checks

POOLINGS = (None, "avg", "max")


def model_input(input_tensor, input_shape, default_shape, min_size, name):
    """The `Input` of a builder, from `input_tensor` or `input_shape`.

    Returns `(inputs, x)`: the tensors that the model starts from and the
    tensor that its first layer takes.
    """
    if input_shape is None:
        input_shape = tuple(input_tensor.shape[1:]) if input_tensor is not None else default_shape
    input_shape = tuple(input_shape)
    if (
        len(input_shape) != 3
        or any(d is None for d in input_shape)
        or input_shape[0] < min_size
        or input_shape[1] < min_size
        or input_shape[2] < 1
    ):
        raise _checks.invalid(
            "input_shape",
            f"(height, width, channels) with known sizes, height and width "
            f">= {min_size}, for {name}",
            input_shape,
        )
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="input")
        return inputs, inputs
    if keras.backend.is_keras_tensor(input_tensor):
        return keras.utils.get_source_inputs(input_tensor), input_tensor
    inputs = keras.Input(tensor=input_tensor, shape=input_shape, name="input")
    return inputs, inputs


def check_head(include_top, pooling, classes):
    _checks.one_of("pooling", pooling, POOLINGS)
    _checks.positive_int("classes", classes)
    if not isinstance(include_top, bool):
        raise _checks.invalid("include_top", "True or False", include_top)


def head(
    x,
    include_top,
    pooling,
    classes,
    classifier_activation,
    top="flatten",
    hidden=(),
    dropout=0.0,
):
    """The classifier on top of a builder's features, or its pooling.

    With `include_top`, the features are reduced by `top` (`"flatten"`, as
    in LeNet-5, AlexNet and VGG, or `"avg"`, global average pooling, as in
    DenseNet, MobileNet and ShuffleNet), go through the dense layers of
    `hidden` (`(units, activation)` pairs, named `fc1`, `fc2`, ...), a
    dropout of rate `dropout` when it is not 0, and the classifier
    `predictions`. Without it, `pooling` (`None`, `"avg"` or `"max"`) is
    applied as in `keras.applications`.
    """
    if include_top:
        if top == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        else:
            x = keras.layers.Flatten(name="flatten")(x)
        for i, (units, activation) in enumerate(hidden, start=1):
            x = keras.layers.Dense(units, activation=activation, name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        return keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def scaled(filters, multiplier):
    """`filters * multiplier` rounded down, at least 1.

    The one width rule of every builder (`width`, `alpha`, `scale`), the
    rule of `keras.applications.MobileNet`: the published multipliers
    (0.25, 0.5, 0.75, 1.0 on the usual channel counts) give exact widths.
    """
    return max(1, int(filters * multiplier))
