"""Building blocks shared by the model builders: spatial and spectral twins.

A *block* is a run of convolutions between two poolings. The spatial block
is `Conv2D(padding="same")` (+ batch normalisation) + activation per
convolution. Its spectral twin, as in SpecNet's Algorithm 1, takes the FFT
of the block's input once, applies every convolution as a
`SpectralConv2D` with threshold `beta` and spectral tanh, and returns to
the spatial domain (inverse FFT and crop) for the pooling that follows.
Both name their layers `f"{name}_conv{i}"`, so the twins' weights line up
by name.
"""

import keras

from keras_specnet import _checks
from keras_specnet import cache as cache_module
from keras_specnet.layers import (
    SpectralBatchNormalization,
    SpectralBlock,
    SpectralConv2D,
    ToSpatial,
    ToSpectral,
)
from keras_specnet.spectral import check_fft_padding, fft_padding_of  # noqa: F401 (the builders' names)

#: Activation of the spectral blocks; `None` makes a block linear.
SPECTRAL_ACTIVATION = "spectral_tanh"

#: The builders' `cache` that makes each block one `SpectralBlock`.
BLOCK_CACHE = "block"
#: The builders' default: `BLOCK_CACHE` where a block can take it, else `"bitmask"`.
AUTO_CACHE = "auto"
#: Every `cache` a builder takes: those two or a layer's cache mode.
BUILDER_CACHES = (AUTO_CACHE, BLOCK_CACHE, *cache_module.CACHES)


def block_cache(cache, cache_dtype="float32", batch_norm=False, strides=1):
    """What one block's `cache` is: a layer cache mode or `BLOCK_CACHE`.

    `"auto"` is `BLOCK_CACHE` for a block without batch normalisation, of
    stride 1 and with `cache_dtype="float32"`, and `"bitmask"` otherwise.
    An explicit `"block"` that the block cannot take raises a `ValueError`
    naming the argument that prevents it.
    """
    _checks.one_of("cache", cache, BUILDER_CACHES)
    _checks.one_of("cache_dtype", cache_dtype, cache_module.CACHE_DTYPES)
    fusable = not batch_norm and strides == 1 and cache_dtype == "float32"
    if cache == AUTO_CACHE:
        return BLOCK_CACHE if fusable else "bitmask"
    if cache != BLOCK_CACHE or fusable:
        return cache
    if batch_norm:
        raise _checks.invalid(
            "cache",
            "'auto' or a layer cache mode ('bitmask', 'sparse_tensor', 'none') "
            "with batch_norm=True: a block recomputed over batch slices would "
            "normalise each slice by its own statistics",
            cache,
        )
    if strides != 1:
        raise _checks.invalid(
            "strides",
            "1 with cache='block' (a strided block, such as AlexNet's ImageNet "
            "stem, takes 'auto' or a layer cache mode)",
            strides,
        )
    raise _checks.invalid(
        "cache_dtype",
        "'float32' with cache='block' (a block keeps its real input, exactly)",
        cache_dtype,
    )


def conv_block(x, convs, activation="relu", batch_norm=False, strides=1, name="block"):
    """Spatial block: per convolution `Conv2D(padding="same")` [+ BN] + activation.

    Args:
        x: real NHWC tensor.
        convs: sequence of `(filters, kernel_size)`.
        activation: activation after each convolution (after BN if any).
        batch_norm: bool. Batch normalisation after each convolution (the
            convolution then has no bias).
        strides: strides of the first convolution.
        name: prefix of the layer names.
    """
    for i, (filters, size) in enumerate(convs, start=1):
        x = keras.layers.Conv2D(
            filters,
            size,
            strides=strides if i == 1 else 1,
            padding="same",
            use_bias=not batch_norm,
            name=f"{name}_conv{i}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = keras.layers.Activation(activation, name=f"{name}_{activation}{i}")(x)
    return x


def spectral_block(
    x,
    convs,
    beta,
    activation=SPECTRAL_ACTIVATION,
    fft_padding=None,
    strides=1,
    batch_norm=False,
    pool=None,
    cache="bitmask",
    cache_dtype="float32",
    batch_chunks=4,
    name="block",
    beta_mode="absolute",
):
    """Spectral block: FFT, `SpectralConv2D`s, inverse FFT and crop [+ pooling].

    When the block's FFT padding is Algorithm 1's `k - 1` of its first
    kernel (and there is no batch normalisation), the first
    `SpectralConv2D` takes the real map itself and does the FFT, so its
    backward pass keeps that map (which the previous pooling holds anyway)
    instead of a dense spectrum. Otherwise a `ToSpectral` (`f"{name}_fft"`)
    opens the block. A `ToSpatial` (`f"{name}_ifft"`) closes it, with the
    max pooling `pool` fused in, so that the backward pass keeps the
    compressed last spectrum instead of the dense map a pooling layer
    would keep. A strided one-convolution block (AlexNet's ImageNet stem)
    is a single `SpectralConv2D` with `output_domain="spatial"`, and
    `pool`, if any, a `keras.layers.MaxPooling2D` (`f"{name}_pool"`).

    Args:
        x: real NHWC tensor with known height and width.
        convs: sequence of `(filters, kernel_size)`.
        beta: spectral threshold of every convolution.
        activation: `"spectral_tanh"`, or `None` for a linear block.
        fft_padding: see `fft_padding_of`.
        strides: strides of a one-convolution block (downsampling after the
            inverse FFT).
        batch_norm: bool. A `SpectralBatchNormalization` before each
            convolution (named `f"{name}_sbn{i}"`), so that every
            convolution sees unit-variance maps and `beta` keeps its meaning
            at any depth.
        pool: `None`, or `(pool_size, pool_strides)` of a max pooling
            (`"same"` padding) after the block.
        cache: what the backward pass keeps. `"block"`: the block is one
            `SpectralBlock` (named `name`), which keeps only its real input
            and runs again, slice by slice, in the backward pass; it takes
            neither `batch_norm=True` nor `strides`. `"auto"`: `"block"`
            where the block takes it, `"bitmask"` otherwise (see
            `block_cache`). Otherwise a cache mode of every layer
            (`"bitmask"`, `"sparse_tensor"`, `"none"`; see
            `keras_specnet.cache`).
        cache_dtype: dtype of what the layers keep (`"float32"` with
            `"block"`).
        batch_chunks: slices of the batch the block (`"block"`) or each
            layer works in (see `SpectralConv2D`).
        name: prefix of the layer names.
        beta_mode: how the convolutions read `beta` (see `SpectralConv2D`).

    Returns:
        The real map, of the input's height and width divided by `strides`
        and by the pooling strides.
    """
    padding = fft_padding_of(convs, fft_padding)
    cache = block_cache(cache, cache_dtype, batch_norm, strides)
    if cache == BLOCK_CACHE:
        pool_size, pool_strides = (None, None) if pool is None else pool
        return SpectralBlock(
            convs,
            beta=beta,
            beta_mode=beta_mode,
            activation=activation,
            fft_padding=fft_padding,
            pool_size=pool_size,
            pool_strides=pool_strides,
            batch_chunks=batch_chunks,
            name=name,
        )(x)
    saving = {
        "cache": cache,
        "cache_dtype": cache_dtype,
        "batch_chunks": batch_chunks,
    }
    if strides != 1:
        if len(convs) != 1 or padding != convs[0][1] - 1 or batch_norm:
            raise _checks.invalid(
                "strides",
                "1 for a spectral block of several convolutions, with extra "
                "FFT padding or with batch normalisation",
                strides,
            )
        filters, size = convs[0]
        x = SpectralConv2D(
            filters,
            size,
            strides=strides,
            beta=beta,
            beta_mode=beta_mode,
            activation=activation,
            output_domain="spatial",
            name=f"{name}_conv1",
            **saving,
        )(x)
        if pool is not None:
            x = keras.layers.MaxPooling2D(*pool, padding="same", name=f"{name}_pool")(x)
        return x
    size = tuple(x.shape[1:3])
    z = x
    if batch_norm or padding != convs[0][1] - 1:
        z = ToSpectral(padding, name=f"{name}_fft")(x)
    for i, (filters, kernel) in enumerate(convs, start=1):
        if batch_norm:
            z = SpectralBatchNormalization(
                cache=cache, cache_dtype=cache_dtype, name=f"{name}_sbn{i}"
            )(z)
        z = SpectralConv2D(
            filters,
            kernel,
            beta=beta,
            beta_mode=beta_mode,
            activation=activation,
            name=f"{name}_conv{i}",
            **saving,
        )(z)
    pool_size, pool_strides = (None, None) if pool is None else pool
    return ToSpatial(
        size,
        pool_size=pool_size,
        pool_strides=pool_strides,
        name=f"{name}_ifft",
        **saving,
    )(z)
