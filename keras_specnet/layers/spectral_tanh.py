"""`SpectralTanh`: SpecNet's activation on complex spectra."""

import keras

from keras_specnet import spectral
from keras_specnet.layers import _inputs


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralTanh(keras.layers.Layer):
    """`tanh` of the real and of the imaginary part of a spectrum, separately.

    `f(a + ib) = tanh(a) + i tanh(b)`. The function is odd, so it keeps the
    conjugate symmetry of the spectrum of a real map (its inverse FFT stays
    real), and `tanh(0) = 0` keeps the zeros that a threshold made.
    `SpectralConv2D(activation="spectral_tanh")` applies the same function
    inside the convolution layer.

    The layer takes no `data_format`: its input and output are spectral
    tensors, whose layout is `(batch, P, Q // 2 + 1, C)` whatever the
    format of the real maps (give that to `ToSpectral`, `ToSpatial` or
    `SpectralConv2D`); passing one raises a `ValueError`.

    Args:
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        Spectral tensor `(batch, P, Q // 2 + 1, C)`, complex64.

    Output shape:
        Same as the input.

    Example:

    ```python
    import numpy as np
    from keras_specnet.layers import SpectralTanh

    z = np.array([[[[2.0 - 0.5j]]]], dtype="complex64")
    SpectralTanh()(z)  # [[[[0.964 - 0.462j]]]]
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915, equations (5)-(9).
    """

    def __init__(self, **kwargs):
        _inputs.refuse_data_format("SpectralTanh", kwargs)
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def call(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        return spectral.spectral_tanh(_inputs.as_spectral_dtype(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        return keras.KerasTensor(inputs.shape, spectral.SPECTRAL_DTYPE)
