"""`ToSpatial`: the inverse FFT and crop that close a spectral block."""

import keras
import tensorflow as tf
from keras import ops

from keras_specnet import _checks, spectral
from keras_specnet import cache as cache_module
from keras_specnet.layers import _inputs


@keras.saving.register_keras_serializable(package="keras_specnet")
class ToSpatial(keras.layers.Layer):
    """Inverse FFT of a spectral tensor, cropped back to the map's size.

    Closes a spectral block: the output is the real map at the top-left
    `size` corner of the padded plane (see `keras_specnet.spectral`), ready
    for ordinary spatial pooling. The spectrum of a real map is conjugate
    symmetric and every spectral layer keeps it so, which makes this map
    real without discarding anything.

    With `pool_size`, the layer also max-pools the map (`"same"` padding,
    as `keras.layers.MaxPooling2D(pool_size, pool_strides, "same")`), fused
    so that the backward pass does not keep the dense full-resolution map
    that a separate pooling layer keeps. With windows that do not overlap
    (`pool_strides` equal to `pool_size`, as in every SpecNet model) it
    keeps only where each window's maximum was, one byte per output entry
    (`cache.max_pool_keeping_argmax`); with overlapping windows it keeps a
    compressed copy of the (sparse) input spectrum, as `SpectralConv2D`
    does, and recomputes the map from it. Without pooling the layer is
    linear and keeps nothing.

    Args:
        size: int or tuple of 2 ints. `(H, W)` of the map, the size of the
            real input that `ToSpectral` (or the first `SpectralConv2D`)
            transformed. At most the spectrum's FFT size `(P, Q)`.
        pool_size: `None` or int or tuple of 2 ints. Max pooling window
            after the crop. Defaults to `None` (no pooling).
        pool_strides: `None` or int or tuple of 2 ints. Pooling strides;
            `None` means `pool_size`. Defaults to `None`.
        cache: with pooling, `"none"` for plain autodiff (the pooling keeps
            its dense input and output); otherwise, with overlapping
            windows, what the backward pass keeps of the input spectrum:
            `"bitmask"` or `"sparse_tensor"` (see `keras_specnet.cache`).
            Defaults to `"bitmask"`.
        cache_dtype: dtype of the values kept with overlapping windows, one
            of `keras_specnet.cache.CACHE_DTYPES`. Defaults to `"float32"`.
        batch_chunks: int >= 1 or `"auto"`. With overlapping pooling
            windows and a cache, slices of the batch processed one after
            the other in both passes (see `SpectralConv2D`). Defaults to
            `4`.
        data_format: `"channels_last"` (an NHWC output), `"channels_first"`
            (NCHW) or `None`, which means `keras.config.image_data_format()`.
            The layout of the real output only: the input is a spectral
            tensor, always `(batch, P, Q // 2 + 1, C)`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Spectral tensor `(batch, P, Q // 2 + 1, C)`.

    Output shape:
        `(batch, H, W, C)` (`(batch, ceil(H / s0), ceil(W / s1), C)` with
        pooling strides `(s0, s1)`; `(batch, C, H, W)` with
        `data_format="channels_first"`) in the layer's compute dtype (float16 or bfloat16
        under a mixed-precision policy; the FFT itself runs in float32).

    Example:

    ```python
    import keras
    from keras_specnet.layers import SpectralTanh, ToSpatial, ToSpectral

    inputs = keras.Input((28, 28, 1))
    x = ToSpatial(size=(28, 28))(SpectralTanh()(ToSpectral()(inputs)))
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915, section 3.3.
    """

    def __init__(
        self,
        size,
        pool_size=None,
        pool_strides=None,
        cache="bitmask",
        cache_dtype="float32",
        batch_chunks=4,
        data_format=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.size = _checks.int_pair("size", size)
        if pool_size is None and pool_strides is not None:
            raise _checks.invalid("pool_strides", "None when `pool_size` is None", pool_strides)
        self.pool_size = None if pool_size is None else _checks.int_pair("pool_size", pool_size)
        self.pool_strides = (
            self.pool_size
            if pool_strides is None
            else _checks.int_pair("pool_strides", pool_strides)
        )
        cache_module.check(cache, cache_dtype)
        self.cache = cache
        self.cache_dtype = cache_dtype
        self.batch_chunks = _checks.chunks("batch_chunks", batch_chunks)
        self.data_format = _inputs.data_format(data_format)

    def _check(self, shape):
        _inputs.check_sizes_known(self, shape, is_spectral=True)
        fft_size = spectral.fft_size_of(shape)
        if self.size[0] > fft_size[0] or self.size[1] > fft_size[1]:
            raise _checks.invalid(
                "size",
                f"at most the input's FFT size (P, Q)={fft_size} (input shape {tuple(shape)})",
                self.size,
            )

    def call(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        inputs = _inputs.as_spectral_dtype(inputs)
        self._check(inputs.shape)
        if self.pool_size is None or self._keeps_argmax():
            x = cache_module.linear_without_cache(
                lambda z: spectral.to_spatial(z, self.size), inputs
            )
            if self.pool_size is not None:
                x = cache_module.max_pool_keeping_argmax(x, self.pool_size)
        else:
            x = cache_module.recompute_from_compressed(
                self._pooled,
                inputs,
                [],
                self.cache,
                self.cache_dtype,
                self.batch_chunks,
            )
        x = ops.cast(x, self.compute_dtype)
        if self.data_format == "channels_first":
            x = ops.transpose(x, _inputs.TO_CHANNELS_FIRST)
        return x

    def _keeps_argmax(self):
        return (
            self.cache != "none"
            and self.pool_strides == self.pool_size
            and self.pool_size[0] * self.pool_size[1] <= 256
        )

    def _pooled(self, z):
        x = spectral.to_spatial(z, self.size)

        def pool():
            return tf.nn.max_pool2d(x, self.pool_size, self.pool_strides, "SAME")

        def skip():
            # The output's shape for an empty batch ("same" pooling keeps
            # ceil(n / stride) rows and columns), still connected to `x`.
            return x[:, :: self.pool_strides[0], :: self.pool_strides[1], :]

        # In a graph, TensorFlow's oneDNN gradient of max pooling aborts the
        # process on an empty batch, which a batch with fewer samples than
        # `batch_chunks` gives its first slices: those skip the pooling.
        batch = x.shape[0]
        if batch is None:
            return tf.cond(tf.shape(x)[0] > 0, pool, skip)
        return pool() if batch > 0 else skip()

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        size = self.size
        if self.pool_size is not None:
            size = tuple(-(-n // s) for n, s in zip(size, self.pool_strides))
        shape = (input_shape[0], *size, input_shape[-1])
        return _inputs.from_channels_last_shape(shape, self.data_format)

    def compute_output_spec(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "pool_size": self.pool_size,
                "pool_strides": None if self.pool_size is None else self.pool_strides,
                "cache": self.cache,
                "cache_dtype": self.cache_dtype,
                "batch_chunks": self.batch_chunks,
                "data_format": self.data_format,
            }
        )
        return config
