"""VGG-16 and its SpecNet twin, SpecVGG-16."""

from keras_specnet import _checks
from keras_specnet.applications import _common
from keras_specnet.applications.plain import plain_cnn

#: SpecVGG16's default threshold (orthonormal spectrum).
SPEC_VGG16_BETA = 0.01

#: Filters of the 13 3x3 convolutions, one tuple per block.
FILTERS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16(
    spectral,
    width=1.0,
    activation="relu",
    fc_units=512,
    batch_norm=False,
    beta=SPEC_VGG16_BETA,
    fft_padding=None,
    **kwargs,
):
    """The configurable VGG-16 builder behind `VGG16` and `SpecVGG16`.

    `kwargs` are the `keras.applications` arguments, passed to `plain_cnn`.
    """
    width = _checks.positive_number("width", width)
    fc_units = _checks.positive_int("fc_units", fc_units)
    convs = [[(_common.scaled(f, width), 3) for f in block] for block in FILTERS]
    return plain_cnn(
        convs,
        spectral=spectral,
        beta=beta,
        pool=(2, 2),
        fc_units=(fc_units, fc_units),
        activation=activation,
        dense_activation="relu",
        batch_norm=batch_norm,
        fft_padding=fft_padding,
        default_shape=(32, 32, 3),
        min_size=8,
        **kwargs,
    )


def VGG16(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    width=1.0,
    fc_units=512,
    batch_norm=False,
    activation="relu",
    name="vgg16",
):
    """VGG-16 for small and large images, the spatial twin of `SpecVGG16`.

    Five blocks of 3x3 convolutions with ReLU (64, 64 | 128, 128 | 256 x 3 |
    512 x 3 | 512 x 3 filters, times `width`), each followed by 2x2 max
    pooling with "same" padding (28x28 inputs go 14, 7, 4, 2, 1; 32x32 go
    16, 8, 4, 2, 1; 224x224 end at 7x7), then two dense layers of
    `fc_units` with ReLU and the classifier. `fc_units=512` is the usual
    CIFAR-10 head; `keras.applications.VGG16` uses 4096 for ImageNet.

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
        width: float > 0. Multiplies every convolution's filters (small
            models for tests and CPUs). Defaults to `1.0`.
        fc_units: int. Units of the two dense layers. Defaults to `512`.
        batch_norm: bool. Batch normalisation after each convolution (the
            original VGG-16 has none). Defaults to `False`.
        activation: Activation of the convolutions (the dense layers use
            ReLU). Defaults to `"relu"`; `"tanh"` is the spatial counterpart
            of the Spec model's spectral tanh.
        name: str. Model name. Defaults to `"vgg16"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import VGG16

    model = VGG16(input_shape=(32, 32, 3), classes=10, width=0.5)
    ```

    Reference:
        K. Simonyan, A. Zisserman. "Very Deep Convolutional Networks for
        Large-Scale Image Recognition", ICLR 2015.
    """
    return vgg16(
        False,
        width=width,
        activation=activation,
        fc_units=fc_units,
        batch_norm=batch_norm,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )


def SpecVGG16(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    beta=SPEC_VGG16_BETA,
    width=1.0,
    fc_units=512,
    fft_padding=None,
    batch_norm=False,
    cache="auto",
    cache_dtype="float32",
    batch_chunks="auto",
    beta_mode="absolute",
    name="spec_vgg16",
):
    """SpecVGG-16: each VGG-16 block as one spectral block.

    The five runs of convolutions between poolings of `VGG16` become
    spectral blocks: the FFT of the block's input, its 3x3 convolutions as
    `SpectralConv2D` with threshold `beta` and spectral tanh, the inverse
    FFT and crop, then the same spatial max pooling. The dense layers are
    `VGG16`'s. With the same `width` and `fc_units` it has exactly the
    parameters of `VGG16(batch_norm=False)`.

    Batch normalisation: none by default, as in the SpecNet papers (the
    ICASSP version removes the spatial model's BN). `batch_norm=True` puts
    an exact `SpectralBatchNormalization` before each convolution, which
    keeps the spectra of deep blocks at the scale `beta` is defined on
    (without it, `beta=0.1` zeroes every spectrum from the fourth block on
    at initialisation and the model does not train; hence the low default
    `beta`). It adds 2 trainable parameters per input channel of each
    convolution. `VGG16(batch_norm=True)` has 2 trainable parameters more
    per output channel of each convolution and no convolution biases.

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
            Defaults to `SPEC_VGG16_BETA` (0.01; see docs/benchmarks/twins.md on why not
            more without normalisation).
        width: float > 0. Multiplies every convolution's filters. Defaults
            to `1.0`.
        fc_units: int. Units of the two dense layers. Defaults to `512`.
        fft_padding: `None` (Algorithm 1: pad by 2 before each block's FFT;
            the block's later convolutions are circular over that size),
            `"linear"` (pad by 2 per convolution: exactly linear, larger
            spectra) or an int. Defaults to `None`.
        batch_norm: bool. `SpectralBatchNormalization` before each
            convolution. Defaults to `False`.
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
            its size and the batch's. Defaults to `"auto"`: each block
            works in slices of a bounded size
            (`keras_specnet.cache.AUTO_SLICE_BYTES`), so that the deep
            blocks, whose spectra are small, run in fewer slices than the
            first, and a larger batch in more slices, up to eight.
        beta_mode: `"absolute"` (the paper's threshold, on the orthonormal
            spectrum) or `"relative"` (`beta` times the RMS of each
            sample's and channel's spectrum; see `SpectralConv2D`).
            Defaults to `"absolute"`.
        name: str. Model name. Defaults to `"spec_vgg16"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import SpecVGG16

    model = SpecVGG16(input_shape=(32, 32, 3), beta=0.1, width=0.5)
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915.
    """
    return vgg16(
        True,
        width=width,
        fc_units=fc_units,
        beta=beta,
        cache=cache,
        cache_dtype=cache_dtype,
        batch_chunks=batch_chunks,
        beta_mode=beta_mode,
        fft_padding=fft_padding,
        batch_norm=batch_norm,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )
