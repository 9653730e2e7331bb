"""LeNet-5 and its SpecNet twin, SpecLeNet-5."""

from keras_specnet.applications.plain import plain_cnn

#: SpecLeNet5's default threshold (orthonormal spectrum; see SpectralConv2D).
SPEC_LENET5_BETA = 0.1

#: Two blocks of one 5x5 convolution (6 and 16 filters).
CONVS = (((6, 5),), ((16, 5),))
FC_UNITS = (120, 84)


def _lenet5(spectral, beta, activation, **kwargs):
    return plain_cnn(
        CONVS,
        spectral=spectral,
        beta=beta,
        pool=(2, 2),
        fc_units=FC_UNITS,
        activation=activation,
        dense_activation=activation,
        default_shape=(28, 28, 1),
        min_size=4,
        **kwargs,
    )


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
    return _lenet5(
        False,
        None,
        activation,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
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
    fft_padding=None,
    cache="auto",
    cache_dtype="float32",
    batch_chunks="auto",
    beta_mode="absolute",
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
            orthonormal spectrum. Defaults to `SPEC_LENET5_BETA` (0.1).
        activation: Activation of the dense layers (as in `LeNet5`).
            Defaults to `"tanh"`.
        fft_padding: `None` (pad each map by `k - 1` before its FFT),
            `"linear"` (the same for one-convolution blocks) or an int.
            Defaults to `None`.
        cache: what the backward pass keeps. `"auto"`: each block of
            stride 1 without batch normalisation is one `SpectralBlock`,
            which keeps only its real input and runs again over
            `batch_chunks` slices of the batch in the backward pass; the
            other blocks (and every block with a `cache_dtype` other than
            `"float32"`) keep their layers' `"bitmask"` cache. `"block"`:
            the same, refused where a block cannot take it. Or a cache mode
            of every spectral layer: `"bitmask"`, `"sparse_tensor"` or
            `"none"` (see `keras_specnet.cache`). Defaults to `"auto"`.
        cache_dtype: dtype of the kept values: `"float32"` (exact),
            `"bfloat16"`, `"int8"` or `"int4"` (quantized; see
            `keras_specnet.cache`). Defaults to `"float32"`.
        batch_chunks: int >= 1 or `"auto"`. Slices of the batch each
            spectral layer works on one after the other, to lower the step
            peak (see `SpectralConv2D`); `"auto"` chooses per layer from
            its size and the batch's. Defaults to `"auto"`: slices of a
            bounded size (`keras_specnet.cache.AUTO_SLICE_BYTES`): one
            slice for a batch of up to 128 images of 28x28.
        beta_mode: `"absolute"` (the paper's threshold, on the orthonormal
            spectrum) or `"relative"` (`beta` times the RMS of each
            sample's and channel's spectrum; see `SpectralConv2D`).
            Defaults to `"absolute"`.
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
        Network", arXiv:1905.10915.
    """
    return _lenet5(
        True,
        beta,
        activation,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        cache=cache,
        cache_dtype=cache_dtype,
        batch_chunks=batch_chunks,
        beta_mode=beta_mode,
        fft_padding=fft_padding,
        name=name,
    )
