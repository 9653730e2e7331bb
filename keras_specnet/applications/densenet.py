"""The DenseNet of the SpecNet paper's Table 1, and SpecDenseNet."""

import keras

from keras_specnet import _checks
from keras_specnet.applications import _common, blocks
from keras_specnet.layers import (
    SpectralBatchNormalization,
    SpectralConcatenate,
    SpectralConv2D,
    SpectralDenseBlock,
    ToSpatial,
    ToSpectral,
)

#: SpecDenseNet's default threshold (orthonormal spectrum).
SPEC_DENSENET_BETA = 0.1


def _dense_layer_convs(bottleneck, growth):
    return ((bottleneck, 1), (growth, 3))


def dense_block(x, num_layers, convs, activation="relu", batch_norm=True, name="dense"):
    """Spatial dense block: each layer's `conv_block` output joins the input.

    Args:
        x: real NHWC tensor.
        num_layers: number of layers.
        convs: `(filters, kernel_size)` of each layer's convolutions.
        activation: activation after each convolution.
        batch_norm: bool. Batch normalisation after each convolution.
        name: prefix of the layer names (`f"{name}_layer{i}_conv{j}"`).
    """
    for i in range(1, num_layers + 1):
        y = blocks.conv_block(x, convs, activation, batch_norm, name=f"{name}_layer{i}")
        x = keras.layers.Concatenate(name=f"{name}_layer{i}_concat")([x, y])
    return x


def spectral_dense_block(
    x,
    num_layers,
    convs,
    beta,
    activation=blocks.SPECTRAL_ACTIVATION,
    fft_padding=2,
    batch_norm=False,
    cache="bitmask",
    cache_dtype="float32",
    batch_chunks=4,
    name="dense",
    beta_mode="absolute",
):
    """Spectral dense block: one FFT, every layer and concatenation spectral.

    Args:
        x: real NHWC tensor with known height and width.
        num_layers: number of layers.
        convs: `(filters, kernel_size)` of each layer's `SpectralConv2D`s.
        beta: spectral threshold of every convolution.
        activation: `"spectral_tanh"`, or `None` for a linear block.
        fft_padding: int, zero rows and columns added before the FFT.
        batch_norm: bool. A `SpectralBatchNormalization` before each
            convolution (`f"{name}_layer{i}_sbn{j}"`).
        cache: `"block"` (the whole block one `SpectralDenseBlock`, named
            `name`, which keeps only its real input for the backward pass
            and recomputes itself there), `"auto"` (`"block"` without batch
            normalisation and with a float32 cache, else `"bitmask"`) or a
            cache mode of every separate layer (see `keras_specnet.cache`).
        cache_dtype, batch_chunks: the dtype of what the separate layers
            keep, and the batch slices the block or each layer works in
            (see `SpectralConv2D`).
        name: prefix of the layer names (`f"{name}_layer{i}_conv{j}"`).
        beta_mode: how the convolutions read `beta` (see `SpectralConv2D`).

    Returns:
        The real map after the inverse FFT, cropped to the input's size.
    """
    cache = blocks.block_cache(cache, cache_dtype, batch_norm)
    if cache == blocks.BLOCK_CACHE:
        return SpectralDenseBlock(
            num_layers,
            convs,
            beta=beta,
            beta_mode=beta_mode,
            activation=activation,
            fft_padding=fft_padding,
            batch_chunks=batch_chunks,
            name=name,
        )(x)
    size = tuple(x.shape[1:3])
    z = ToSpectral(fft_padding, name=f"{name}_fft")(x)
    for i in range(1, num_layers + 1):
        y = z
        for j, (filters, kernel) in enumerate(convs, start=1):
            if batch_norm:
                y = SpectralBatchNormalization(
                    cache=cache, cache_dtype=cache_dtype, name=f"{name}_layer{i}_sbn{j}"
                )(y)
            y = SpectralConv2D(
                filters,
                kernel,
                beta=beta,
                beta_mode=beta_mode,
                activation=activation,
                cache=cache,
                cache_dtype=cache_dtype,
                batch_chunks=batch_chunks,
                name=f"{name}_layer{i}_conv{j}",
            )(y)
        z = SpectralConcatenate(name=f"{name}_layer{i}_concat")([z, y])
    return ToSpatial(size, name=f"{name}_ifft")(z)


def densenet(
    spectral,
    width=1.0,
    num_layers=6,
    batch_norm=True,
    beta=SPEC_DENSENET_BETA,
    fft_padding=None,
    cache="auto",
    cache_dtype="float32",
    batch_chunks="auto",
    beta_mode="absolute",
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="densenet",
):
    """The configurable builder behind `DenseNet` and `SpecDenseNet`."""
    _common.check_head(include_top, pooling, classes)
    width = _checks.positive_number("width", width)
    num_layers = _checks.positive_int("num_layers", num_layers)
    filters = _common.scaled(64, width)
    layer_convs = _dense_layer_convs(filters, filters)
    if spectral:
        beta = _checks.non_negative_number("beta", beta)
        padding = blocks.fft_padding_of(layer_convs * num_layers, fft_padding)
        blocks.block_cache(cache, cache_dtype, batch_norm)
    inputs, x = _common.model_input(input_tensor, input_shape, (32, 32, 3), 4, name)
    if spectral:
        x = blocks.spectral_block(
            x,
            [(filters, 3)],
            beta,
            batch_norm=batch_norm,
            cache=cache,
            cache_dtype=cache_dtype,
            batch_chunks=batch_chunks,
            beta_mode=beta_mode,
            pool=(2, 2),
            name="stem",
        )
    else:
        x = blocks.conv_block(x, [(filters, 3)], "relu", batch_norm, name="stem")
        x = keras.layers.MaxPooling2D(2, padding="same", name="stem_pool")(x)

    if spectral:
        x = spectral_dense_block(
            x,
            num_layers,
            layer_convs,
            beta,
            fft_padding=padding,
            batch_norm=batch_norm,
            cache=cache,
            cache_dtype=cache_dtype,
            batch_chunks=batch_chunks,
            beta_mode=beta_mode,
            name="dense",
        )
    else:
        x = dense_block(x, num_layers, layer_convs, batch_norm=batch_norm, name="dense")

    outputs = _common.head(x, include_top, pooling, classes, classifier_activation, top="avg")
    return keras.Model(inputs, outputs, name=name)


def DenseNet(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    width=1.0,
    num_layers=6,
    batch_norm=True,
    name="densenet",
):
    """The DenseNet of the SpecNet paper's Table 1, twin of `SpecDenseNet`.

    A 3x3 convolution (64 filters) with BN and ReLU, 2x2 max pooling, one
    dense block of `num_layers` layers, each a 1x1 convolution (64 filters)
    and a 3x3 convolution (64 filters), each with BN and ReLU, whose output
    is concatenated to the block's running input (64 + 6 x 64 = 448
    channels), then global average pooling and the classifier. Filters are
    multiplied by `width`.

    Args:
        include_top: bool. Whether to include the pooling and classifier.
            Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 4. Defaults to `(32, 32, 3)`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
            Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        width: float > 0. Multiplies every convolution's filters. Defaults
            to `1.0`.
        num_layers: int. Layers of the dense block. Defaults to `6`.
        batch_norm: bool. Batch normalisation after each convolution, as in
            Table 1 (the convolutions then have no bias). Defaults to
            `True`.
        name: str. Model name. Defaults to `"densenet"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import DenseNet

    model = DenseNet(input_shape=(32, 32, 3), classes=10)
    ```

    Reference:
        G. Huang, Z. Liu, L. van der Maaten, K. Q. Weinberger. "Densely
        Connected Convolutional Networks", CVPR 2017; the SpecNet paper's
        Table 1 for this configuration.
    """
    return densenet(
        False,
        width=width,
        num_layers=num_layers,
        batch_norm=batch_norm,
        include_top=include_top,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name,
    )


def SpecDenseNet(
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    beta=SPEC_DENSENET_BETA,
    width=1.0,
    num_layers=6,
    fft_padding=None,
    batch_norm=False,
    cache="auto",
    cache_dtype="float32",
    batch_chunks="auto",
    beta_mode="absolute",
    name="spec_densenet",
):
    """SpecDenseNet, as in Table 1 of the SpecNet paper.

    A spectral convolutional block (a 3x3 `SpectralConv2D` with threshold
    `beta` and spectral tanh, inverse FFT and crop), spatial 2x2 max
    pooling, then the FFT of the pooled map and a spectral dense block: each
    of its `num_layers` layers is a 1x1 and a 3x3 `SpectralConv2D` (64
    filters each, spectral tanh), and its output is concatenated to the
    running input in the spectral domain (`SpectralConcatenate`). An
    inverse FFT and crop, global average pooling and the classifier end it.

    Parameters against `DenseNet`: with `DenseNet(batch_norm=False)` (and
    the same `width` and `num_layers`) the two have exactly the same
    parameters. The default `DenseNet(batch_norm=True)` has no convolution
    biases but a BN scale and offset per channel of each convolution: one
    trainable parameter more per output channel of each convolution
    (`64 x (1 + 2 x num_layers)` = 832 at width 1), plus the BN moving
    statistics (non-trainable). SpecDenseNet has no BN by default: as in
    the SpecNet papers, it is removed. `batch_norm=True` puts an exact
    `SpectralBatchNormalization` before each spectral convolution instead.

    Args:
        include_top: bool. Whether to include the pooling and classifier.
            Defaults to `True`.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional `(height, width, channels)`, height and width
            at least 4. Defaults to `(32, 32, 3)`.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
            Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        classifier_activation: Activation of the classifier. Defaults to
            `"softmax"`.
        beta: float >= 0. Spectral threshold, on the orthonormal spectrum.
            Defaults to `SPEC_DENSENET_BETA` (0.1).
        width: float > 0. Multiplies every convolution's filters. Defaults
            to `1.0`.
        num_layers: int. Layers of the dense block. Defaults to `6`.
        fft_padding: padding before the dense block's FFT: `None`
            (Algorithm 1: 2, the later convolutions circular over that
            size; the paper's Table 1 pads by 3), `"linear"` (2 per 3x3
            convolution: exactly linear, much larger spectra) or an int.
            Defaults to `None`.
        batch_norm: bool. `SpectralBatchNormalization` before each
            convolution. Defaults to `False`.
        cache: what the backward pass keeps. `"block"`: the stem block is
            one `SpectralBlock` and the dense block one
            `SpectralDenseBlock`; each keeps only its real input and runs
            again over `batch_chunks` slices of the batch in the backward
            pass. `"auto"`: `"block"` without batch normalisation and with a
            float32 `cache_dtype`, else `"bitmask"`. Or a cache mode of every
            spectral layer: `"bitmask"`, `"sparse_tensor"` or `"none"` (see
            `keras_specnet.cache`). Defaults to `"auto"`.
        cache_dtype: dtype of the kept values: `"float32"` (exact),
            `"bfloat16"`, `"int8"` or `"int4"` (quantized; see
            `keras_specnet.cache`). Defaults to `"float32"`.
        batch_chunks: int >= 1 or `"auto"`. Slices of the batch each
            spectral layer works on one after the other, to lower the step
            peak (see `SpectralConv2D`); `"auto"` chooses per layer from
            its size and the batch's. Defaults to `"auto"`: each block
            works in slices of a bounded size
            (`keras_specnet.cache.AUTO_SLICE_BYTES`), more of them for a
            larger batch, up to eight.
        beta_mode: `"absolute"` (the paper's threshold, on the orthonormal
            spectrum) or `"relative"` (`beta` times the RMS of each
            sample's and channel's spectrum; see `SpectralConv2D`).
            Defaults to `"absolute"`.
        name: str. Model name. Defaults to `"spec_densenet"`.

    Returns:
        A `keras.Model`.

    Example:

    ```python
    from keras_specnet.applications import SpecDenseNet

    model = SpecDenseNet(input_shape=(32, 32, 3), beta=0.1)
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915, Table 1.
    """
    return densenet(
        True,
        width=width,
        num_layers=num_layers,
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
