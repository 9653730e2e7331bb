"""AlexNet and its SpecNet twin, SpecAlexNet."""

from keras_specnet import _checks
from keras_specnet.applications import _common
from keras_specnet.applications.plain import plain_cnn

#: SpecAlexNet's default threshold (orthonormal spectrum).
SPEC_ALEXNET_BETA = 0.1

#: Inputs at least this high and wide get the ImageNet stem (11x11, stride 4).
LARGE_INPUT = 64


def alexnet(
    spectral,
    width=1.0,
    activation="relu",
    fc_units=4096,
    beta=SPEC_ALEXNET_BETA,
    fft_padding=None,
    **kwargs,
):
    """The configurable AlexNet builder behind `AlexNet` and `SpecAlexNet`.

    `kwargs` are the `keras.applications` arguments, passed to `plain_cnn`.
    """
    width = _checks.positive_number("width", width)
    fc_units = _checks.positive_int("fc_units", fc_units)
    input_shape, input_tensor = kwargs.get("input_shape"), kwargs.get("input_tensor")
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    sides = tuple(input_shape or ())[:2]
    large = len(sides) == 2 and all(isinstance(d, int) and d >= LARGE_INPUT for d in sides)
    stem = (11, 4) if large else (5, 1)

    def f(n):
        return _common.scaled(n, width)

    convs = [
        [(f(64), stem[0])],
        [(f(192), 5)],
        [(f(384), 3), (f(256), 3), (f(256), 3)],
    ]
    return plain_cnn(
        convs,
        spectral=spectral,
        beta=beta,
        pool=(3, 2),
        fc_units=(fc_units, fc_units),
        activation=activation,
        dense_activation="relu",
        fft_padding=fft_padding,
        first_strides=stem[1],
        default_shape=(32, 32, 3),
        min_size=8,
        **kwargs,
    )


def AlexNet(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    width=1.0,
    fc_units=4096,
    activation="relu",
    name="alexnet",
):
    """AlexNet, the spatial twin of `SpecAlexNet`.

    Three blocks of convolutions with ReLU, each followed by 3x3 max pooling
    of stride 2 ("same" padding): 64 filters (5x5 for inputs under 64x64,
    the ImageNet 11x11 with stride 4 from 64x64 up), 192 (5x5), then 384,
    256, 256 (3x3), all times `width` (the filter counts of the
    single-GPU AlexNet); two dense layers of `fc_units` with ReLU; the
    classifier. No local response normalisation and no dropout.

    Args:
        include_top: bool. Whether to include the dense layers and the
            classifier. Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 8. Defaults to `(32, 32, 3)`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
            Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        width: float > 0. Multiplies every convolution's filters. Defaults
            to `1.0`.
        fc_units: int. Units of the two dense layers. Defaults to `4096`.
        activation: Activation of the convolutions (the dense layers use
            ReLU). Defaults to `"relu"`; `"tanh"` is the spatial counterpart
            of the Spec model's spectral tanh.
        name: str. Model name. Defaults to `"alexnet"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import AlexNet

    model = AlexNet(input_shape=(32, 32, 3), fc_units=1024)
    ```

    Reference:
        A. Krizhevsky, I. Sutskever, G. E. Hinton. "ImageNet Classification
        with Deep Convolutional Neural Networks", NeurIPS 2012; A.
        Krizhevsky, "One weird trick for parallelizing convolutional neural
        networks", arXiv:1404.5997.
    """
    return alexnet(
        False,
        width=width,
        activation=activation,
        fc_units=fc_units,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )


def SpecAlexNet(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    beta=SPEC_ALEXNET_BETA,
    width=1.0,
    fc_units=4096,
    fft_padding=None,
    cache="auto",
    cache_dtype="float32",
    batch_chunks=4,
    beta_mode="absolute",
    name="spec_alexnet",
):
    """SpecAlexNet: AlexNet with each block as one spectral block.

    `AlexNet`'s three blocks become spectral blocks (FFT, `SpectralConv2D`s
    with threshold `beta` and spectral tanh, inverse FFT and crop), each
    followed by the same spatial max pooling; the dense layers are
    `AlexNet`'s. The ImageNet stem's stride 4 is a downsampling after the
    inverse FFT. Same parameters as `AlexNet` with the same `width` and
    `fc_units`. Neither has batch normalisation.

    Args:
        include_top: bool. Whether to include the dense layers and the
            classifier. Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 8. Defaults to `(32, 32, 3)`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
            Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        beta: float >= 0. Spectral threshold, on the orthonormal spectrum.
            Defaults to `SPEC_ALEXNET_BETA` (0.1).
        width: float > 0. Multiplies every convolution's filters. Defaults
            to `1.0`.
        fc_units: int. Units of the two dense layers. Defaults to `4096`.
        fft_padding: `None` (Algorithm 1: pad by `k - 1` of the block's
            largest kernel), `"linear"` or an int. Defaults to `None`.
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
            its size and the batch's. Defaults to `4`.
        beta_mode: `"absolute"` (the paper's threshold, on the orthonormal
            spectrum) or `"relative"` (`beta` times the RMS of each
            sample's and channel's spectrum; see `SpectralConv2D`).
            Defaults to `"absolute"`.
        name: str. Model name. Defaults to `"spec_alexnet"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import SpecAlexNet

    model = SpecAlexNet(input_shape=(32, 32, 3), beta=0.1, fc_units=1024)
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915.
    """
    return alexnet(
        True,
        width=width,
        fc_units=fc_units,
        beta=beta,
        cache=cache,
        cache_dtype=cache_dtype,
        batch_chunks=batch_chunks,
        beta_mode=beta_mode,
        fft_padding=fft_padding,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )
