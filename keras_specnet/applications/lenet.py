"""LeNet-5 and its SpecNet twin, SpecLeNet-5."""

import keras

from keras_specnet import _checks
from keras_specnet.applications import _common
from keras_specnet.layers import SpectralConv2D

#: SpecLeNet5's default threshold (orthonormal spectrum; see SpectralConv2D).
SPEC_LENET5_BETA = 0.1

# (filters, kernel size) of the two convolutions, and the dense layers.
_CONVS = ((6, 5), (16, 5))
_DENSE = (120, 84)


def lenet5(
    spectral,
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    activation="tanh",
    beta=SPEC_LENET5_BETA,
    name="lenet5",
):
    """Builds LeNet-5 (`spectral=False`) or SpecLeNet-5 (`spectral=True`).

    Both have two 5x5 convolutions (6 and 16 filters, "same" size), each
    followed by 2x2 max pooling, then dense layers of 120 and 84 units and
    the classifier. In the spectral model each convolution is a
    `SpectralConv2D` with SpecNet's spectral tanh and threshold `beta`,
    returning to the spatial domain before its pooling; the dense layers
    are the same in both.
    """
    _common.check_head(include_top, pooling, classes)
    if spectral:
        beta = _checks.non_negative_number("beta", beta)
    inputs, x = _common.model_input(input_tensor, input_shape, (28, 28, 1), 4, name)
    for i, (filters, size) in enumerate(_CONVS, start=1):
        if spectral:
            x = SpectralConv2D(
                filters,
                size,
                beta=beta,
                activation="spectral_tanh",
                output_domain="spatial",
                name=f"conv{i}",
            )(x)
        else:
            x = keras.layers.Conv2D(
                filters, size, padding="same", activation=activation, name=f"conv{i}"
            )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    hidden = [(units, activation) for units in _DENSE]
    outputs = _common.head(
        x, include_top, pooling, classes, classifier_activation, hidden
    )
    return keras.Model(inputs, outputs, name=name)


def LeNet5(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    activation="tanh",
    name="lenet5",
):
    """LeNet-5 with "same" convolutions, the spatial twin of `SpecLeNet5`.

    Two 5x5 convolutions (6 and 16 filters) with `activation`, each followed
    by 2x2 max pooling, then dense layers of 120 and 84 units with
    `activation`, then the classifier. On 28x28 inputs the feature maps are
    28x28x6, 14x14x6, 14x14x16 and 7x7x16 (107,786 parameters with 10
    classes).

    Args:
        include_top: bool. Whether to include the dense layers and the
            classifier. Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 4. Defaults to `(28, 28, 1)`.
        pooling: `None`, `"avg"` or `"max"`: the global pooling of the
            feature extractor when `include_top=False`. Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        activation: Activation of the convolutions and dense layers.
            Defaults to `"tanh"`, LeNet-5's own and the spatial counterpart
            of SpecNet's spectral tanh.
        name: str. Model name. Defaults to `"lenet5"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import LeNet5

    model = LeNet5(input_shape=(28, 28, 1), classes=10)
    ```

    Reference:
        Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. "Gradient-based learning
        applied to document recognition", Proc. IEEE 86(11), 1998.
    """
    return lenet5(
        False,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        activation=activation,
        name=name,
    )


def SpecLeNet5(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    beta=SPEC_LENET5_BETA,
    activation="tanh",
    name="spec_lenet5",
):
    """SpecLeNet-5: LeNet-5 with its convolutions in the spectral domain.

    Identical hyper-parameters to `LeNet5`; each 5x5 convolution is a
    `SpectralConv2D` (FFT, per-frequency product, threshold `beta`, spectral
    tanh, inverse FFT and crop), followed by the same spatial 2x2 max
    pooling. It has exactly as many parameters as `LeNet5`.

    Args:
        include_top: bool. Whether to include the dense layers and the
            classifier. Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 4. Defaults to `(28, 28, 1)`.
        pooling: `None`, `"avg"` or `"max"`: the global pooling of the
            feature extractor when `include_top=False`. Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        beta: float >= 0. Spectral threshold of both convolutions, on the
            orthonormal spectrum. Defaults to `SPEC_LENET5_BETA`.
        activation: Activation of the dense layers (as in `LeNet5`).
            Defaults to `"tanh"`.
        name: str. Model name. Defaults to `"spec_lenet5"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import SpecLeNet5

    model = SpecLeNet5(beta=0.1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:2103.10274.
    """
    return lenet5(
        True,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        activation=activation,
        beta=beta,
        name=name,
    )
