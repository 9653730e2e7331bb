"""`ToSpectral`: the FFT that opens a spectral block."""

import keras
from keras import ops

from keras_specnet import _checks, cache, spectral
from keras_specnet.layers import _inputs


@keras.saving.register_keras_serializable(package="keras_specnet")
class ToSpectral(keras.layers.Layer):
    """Zero-pads a real map and takes its orthonormal 2-D FFT.

    This opens a block of several spectral layers, as in Table 1 of the
    SpecNet paper (`FFT`, then `FConv2D`s, then `IFFT`). The map is padded at
    the bottom and right by `padding` rows and columns (the width then
    rounded up to even) so that the convolutions that follow are linear, not
    circular: a chain of convolutions with kernel sizes `k1, k2, ...` is
    exactly linear with `padding >= (k1 - 1) + (k2 - 1) + ...`. The output
    follows the format of `keras_specnet.spectral`, channels last whatever
    the input's `data_format`.

    Args:
        padding: int or tuple of 2 ints >= 0. Zero rows and columns added
            before the FFT. Defaults to `2` (one 3x3 convolution).
        data_format: `"channels_last"` (an NHWC input), `"channels_first"`
            (NCHW) or `None`, which means `keras.config.image_data_format()`.
            The layout of the real input only: the output is a spectral
            tensor, always `(batch, P, Q // 2 + 1, C)`. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        Real 4-D tensor `(batch, H, W, C)` (`(batch, C, H, W)` with
        `data_format="channels_first"`) with known `H` and `W`.

    Output shape:
        Spectral tensor `(batch, P, Q // 2 + 1, C)`, complex64, with
        `P = H + padding[0]` and `Q = W + padding[1]` rounded up to even.

    Example:

    ```python
    import keras
    from keras_specnet.layers import SpectralConv2D, ToSpatial, ToSpectral

    inputs = keras.Input((32, 32, 3))
    z = ToSpectral(padding=4)(inputs)
    z = SpectralConv2D(16, 3, beta=0.5, activation="spectral_tanh")(z)
    z = SpectralConv2D(16, 3, beta=0.5, activation="spectral_tanh")(z)
    x = ToSpatial(size=(32, 32))(z)
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915, Algorithm 1 and Table 1.
    """

    def __init__(self, padding=2, data_format=None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.padding = _checks.int_pair("padding", padding, minimum=0)
        self.data_format = _inputs.data_format(data_format)

    def _fft_size(self, shape):
        _inputs.check_sizes_known(self, shape, is_spectral=False, data_format=self.data_format)
        _, height, width, _ = _inputs.channels_last_shape(shape, self.data_format)
        return spectral.padded_size(int(height), int(width), *self.padding)

    def _transform(self, x, fft_size):
        if self.data_format == "channels_first":
            x = ops.transpose(x, _inputs.TO_CHANNELS_LAST)
        return spectral.to_spectral(x, fft_size)

    def call(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=False)
        fft_size = self._fft_size(inputs.shape)
        return cache.linear_without_cache(lambda x: self._transform(x, fft_size), inputs)

    def compute_output_shape(self, input_shape):
        fft_size = self._fft_size(input_shape)
        channels = _inputs.channels_last_shape(input_shape, self.data_format)[-1]
        return spectral.spectral_shape(input_shape[0], fft_size, channels)

    def compute_output_spec(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=False)
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), spectral.SPECTRAL_DTYPE)

    def get_config(self):
        config = super().get_config()
        config["padding"] = self.padding
        config["data_format"] = self.data_format
        return config
