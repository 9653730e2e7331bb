"""`ToSpatial`: the inverse FFT and crop that close a spectral block."""

import keras
from keras import ops

from keras_specnet import _checks, cache, spectral
from keras_specnet.layers import _inputs


@keras.saving.register_keras_serializable(package="keras_specnet")
class ToSpatial(keras.layers.Layer):
    """Inverse FFT of a spectral tensor, cropped back to the map's size.

    Closes a spectral block: the output is the real map at the top-left
    `size` corner of the padded plane (see `keras_specnet.spectral`), ready
    for ordinary spatial pooling. The spectrum of a real map is conjugate
    symmetric and every spectral layer keeps it so, which makes this map
    real without discarding anything.

    Args:
        size: int or tuple of 2 ints. `(H, W)` of the map, the size of the
            real input that `ToSpectral` (or the first `SpectralConv2D`)
            transformed. At most the spectrum's FFT size `(P, Q)`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        Spectral tensor `(batch, P, Q // 2 + 1, C)`.

    Output shape:
        `(batch, H, W, C)` in the layer's compute dtype (float16 or bfloat16
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
        Network", arXiv:2103.10274, section 3.3.
    """

    def __init__(self, size, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.size = _checks.int_pair("size", size)

    def _check(self, shape):
        _inputs.check_sizes_known(self, shape, is_spectral=True)
        fft_size = spectral.fft_size_of(shape)
        if self.size[0] > fft_size[0] or self.size[1] > fft_size[1]:
            raise _checks.invalid(
                "size",
                f"at most the input's FFT size (P, Q)={fft_size} (input "
                f"shape {tuple(shape)})",
                self.size,
            )

    def call(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        self._check(inputs.shape)
        x = cache.linear_without_cache(
            lambda z: spectral.to_spatial(z, self.size), inputs
        )
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (input_shape[0], *self.size, input_shape[-1])

    def compute_output_spec(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config["size"] = self.size
        return config
