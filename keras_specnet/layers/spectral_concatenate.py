"""`SpectralConcatenate`: channel concatenation that stays in the spectral domain."""

import keras
from keras import ops

from keras_specnet import spectral
from keras_specnet.layers import _inputs


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralConcatenate(keras.layers.Layer):
    """Concatenates spectral tensors along the channel axis.

    The DFT is linear and acts on each channel separately, so concatenating
    spectra is the spectrum of the concatenated maps: a dense block can keep
    its concatenation in the spectral domain (Table 1 of the SpecNet paper).
    `keras.layers.Concatenate` computes the same values but declares a float
    output while a model is being built, which the next spectral layer
    would take for a real map; this layer declares complex64.

    The layer takes no `data_format`: its input and output are spectral
    tensors, whose layout is `(batch, P, Q // 2 + 1, C)` whatever the
    format of the real maps (give that to `ToSpectral`, `ToSpatial` or
    `SpectralConv2D`); passing one raises a `ValueError`.

    Args:
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        A list of spectral tensors `(batch, P, Q // 2 + 1, C_i)` with the
        same `P` and `Q`.

    Output shape:
        `(batch, P, Q // 2 + 1, sum(C_i))`, complex64.

    Example:

    ```python
    import keras
    from keras_specnet.layers import (SpectralConcatenate, SpectralConv2D,
                                      ToSpectral)

    z = ToSpectral(padding=2)(keras.Input((16, 16, 8)))
    y = SpectralConv2D(4, 3, activation="spectral_tanh")(z)
    z = SpectralConcatenate()([z, y])  # (None, 18, 10, 12)
    ```

    Reference:
        B. Guan et al. "SpecNet: Spectral Domain Convolutional Neural
        Network", arXiv:1905.10915, Table 1.
    """

    def __init__(self, **kwargs):
        _inputs.refuse_data_format("SpectralConcatenate", kwargs)
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)

    def _check(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) < 2:
            raise ValueError(
                f"Invalid input for SpectralConcatenate '{self.name}'. Expected a "
                f"list of at least 2 spectral tensors. Received: {shapes!r}"
            )
        for shape in shapes:
            _inputs.check_sizes_known(self, shape, is_spectral=True)
        sizes = {tuple(shape[1:3]) for shape in shapes}
        if len(sizes) != 1:
            raise ValueError(
                f"Invalid input for SpectralConcatenate '{self.name}'. Expected "
                "spectral tensors of one FFT size (the same P and Q // 2 + 1). "
                f"Received shapes: {[tuple(s) for s in shapes]}"
            )

    def call(self, inputs):
        for x in inputs:
            _inputs.require_domain(self, x, spectral_expected=True)
        self._check([x.shape for x in inputs])
        return ops.concatenate([_inputs.as_spectral_dtype(x) for x in inputs], axis=-1)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        channels = sum(shape[-1] for shape in input_shape)
        return (*input_shape[0][:3], channels)

    def compute_output_spec(self, inputs):
        for x in inputs:
            _inputs.require_domain(self, x, spectral_expected=True)
        shape = self.compute_output_shape([x.shape for x in inputs])
        return keras.KerasTensor(shape, spectral.SPECTRAL_DTYPE)
