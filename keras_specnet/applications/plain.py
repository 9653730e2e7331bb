"""One configurable builder for the plain CNNs: LeNet-5, AlexNet, VGG-16.

A plain CNN is a stack of blocks (convolutions, then max pooling) and a
head. `plain_cnn` builds the spatial network (`spectral=False`) or its
SpecNet twin (`spectral=True`) from the same description, so the twins
differ only in how each block convolves and activates.
"""

import keras

from keras_specnet import _checks
from keras_specnet.applications import _common, blocks


def plain_cnn(
    convs,
    *,
    spectral,
    beta,
    pool,
    fc_units,
    activation,
    dense_activation,
    batch_norm=False,
    fft_padding=None,
    first_strides=1,
    cache="auto",
    cache_dtype="float32",
    batch_chunks=4,
    beta_mode="absolute",
    include_top=True,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    default_shape=(32, 32, 3),
    min_size=8,
    name="model",
):
    """Builds a plain CNN or its SpecNet twin.

    Args:
        convs: one sequence of `(filters, kernel_size)` per block.
        spectral: bool. `True` for the SpecNet twin: each block is a
            `blocks.spectral_block` (threshold `beta`, spectral tanh,
            `fft_padding`) with the max pooling fused into its inverse FFT.
        beta: float >= 0, the spectral threshold (ignored if not spectral).
        pool: `(pool_size, strides)` of the max pooling after each block
            ("same" padding, so any input size works).
        fc_units: units of the dense layers before the classifier.
        activation: activation of the spatial convolutions.
        dense_activation: activation of the dense layers (both twins).
        batch_norm: bool. Batch normalisation: after each convolution in a
            spatial block, `SpectralBatchNormalization` before each
            convolution in a spectral block.
        fft_padding: see `blocks.fft_padding_of`.
        first_strides: strides of the first convolution.
        cache, cache_dtype, batch_chunks: what the spectral blocks keep for
            the backward pass and in how many batch slices they work (see
            `blocks.spectral_block`; `"block"` makes each block one
            `SpectralBlock`).
        beta_mode: how the spectral convolutions read `beta` (see
            `SpectralConv2D`).
        include_top, input_tensor, input_shape, pooling, classes,
        classifier_activation, name: as in `keras.applications`.
        default_shape: input shape when neither `input_tensor` nor
            `input_shape` is given.
        min_size: smallest height and width accepted.
    """
    _common.check_head(include_top, pooling, classes)
    if spectral:
        beta = _checks.non_negative_number("beta", beta)
        blocks.check_fft_padding(fft_padding)
        blocks.block_cache(cache, cache_dtype, batch_norm, first_strides)
    inputs, x = _common.model_input(input_tensor, input_shape, default_shape, min_size, name)
    pool_size, pool_strides = pool
    for i, block in enumerate(convs, start=1):
        strides = first_strides if i == 1 else 1
        if spectral:
            x = blocks.spectral_block(
                x,
                block,
                beta,
                fft_padding=fft_padding,
                strides=strides,
                batch_norm=batch_norm,
                cache=cache,
                cache_dtype=cache_dtype,
                batch_chunks=batch_chunks,
                beta_mode=beta_mode,
                pool=(pool_size, pool_strides),
                name=f"block{i}",
            )
        else:
            x = blocks.conv_block(x, block, activation, batch_norm, strides, name=f"block{i}")
            x = keras.layers.MaxPooling2D(
                pool_size, pool_strides, padding="same", name=f"block{i}_pool"
            )(x)
    hidden = [(units, dense_activation) for units in fc_units]
    outputs = _common.head(x, include_top, pooling, classes, classifier_activation, hidden=hidden)
    return keras.Model(inputs, outputs, name=name)
