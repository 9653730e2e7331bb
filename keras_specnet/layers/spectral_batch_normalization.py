"""`SpectralBatchNormalization`: batch normalisation done on spectra."""

import functools

import keras
import tensorflow as tf
from keras import ops

from keras_specnet import cache as cache_module
from keras_specnet import spectral
from keras_specnet.layers import _inputs


def _unless_empty(z, value, empty):
    """`value`, or `empty` where the batch of `z` has no sample.

    `value` itself when the batch size is static and not zero.
    """
    batch = z.shape[0]
    if batch is not None and batch > 0:
        return value
    return ops.where(ops.shape(z)[0] > 0, value, empty)


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralBatchNormalization(keras.layers.Layer):
    """Exact batch normalisation of the maps behind a spectral tensor.

    Normalises each channel of the real `P x Q` maps that the spectra
    represent (padding included) to zero mean and unit variance over the
    batch, then scales by `gamma` and shifts by `offset`, all in the
    spectral domain: the batch mean is read from the DC terms and the
    variance from the spectra's energy (Parseval), the scale multiplies
    every term and the shift moves the DC term only. The result is the
    spectrum of `keras.layers.BatchNormalization` applied to the padded
    maps. Like it, it uses the batch's statistics in training and moving
    averages in inference.

    Why: a threshold `beta` is an absolute magnitude, while without
    normalisation the spectra of deep layers shrink layer after layer
    (`specnet bench spectra` shows it per layer), so one `beta` zeroes
    little early and everything late.
    Normalised inputs keep every layer's spectra at the scale the threshold
    is defined on (unit-variance maps).

    The layer takes no `data_format`: its input and output are spectral
    tensors, whose layout is `(batch, P, Q // 2 + 1, C)` whatever the
    format of the real maps (give that to `ToSpectral`, `ToSpatial` or
    `SpectralConv2D`); passing one raises a `ValueError`.

    Args:
        momentum: float. Momentum of the moving averages. Defaults to
            `0.99`.
        epsilon: float. Added to the variance. Defaults to `1e-3`.
        center: bool. Whether to learn the shift `offset`. Defaults to
            `True`.
        scale: bool. Whether to learn the scale `gamma`. Defaults to `True`.
        cache: what the backward pass of a training step keeps:
            `"bitmask"` (a compressed copy of the input spectrum, usually
            the thresholded output of a `SpectralConv2D`, from which the
            normalisation is recomputed in the backward pass),
            `"sparse_tensor"` or `"none"` (plain autodiff, which keeps the
            dense spectrum). Same gradients in every mode (see
            `keras_specnet.cache`). Defaults to `"bitmask"`.
        cache_dtype: dtype of the kept values, one of
            `keras_specnet.cache.CACHE_DTYPES`. Defaults to `"float32"`.
        synchronized: bool. Under a `tf.distribute` strategy with several
            replicas, whether the batch statistics are those of the global
            batch (summed over the replicas, as
            `keras.layers.BatchNormalization(synchronized=True)`), which
            trains as one device would, or each replica's own. Without a
            strategy it changes nothing. Defaults to `False`, as in Keras.
        **kwargs: Base layer keyword arguments, such as `name`.

    Input shape:
        Spectral tensor `(batch, P, Q // 2 + 1, C)`.

    Output shape:
        Same as the input.

    Example:

    ```python
    import keras
    from keras_specnet.layers import (SpectralBatchNormalization,
                                      SpectralConv2D, ToSpectral)

    z = ToSpectral(padding=4)(keras.Input((16, 16, 32)))
    z = SpectralBatchNormalization()(z)
    z = SpectralConv2D(32, 3, beta=0.5, activation="spectral_tanh")(z)
    ```

    Reference:
        S. Ioffe, C. Szegedy. "Batch Normalization", ICML 2015; B. Guan et
        al., "SpecNet", arXiv:1905.10915 (which removes BN instead).
    """

    def __init__(
        self,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        cache="bitmask",
        cache_dtype="float32",
        synchronized=False,
        **kwargs,
    ):
        _inputs.refuse_data_format("SpectralBatchNormalization", kwargs)
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        cache_module.check(cache, cache_dtype)
        self.cache = cache
        self.cache_dtype = cache_dtype
        self.synchronized = bool(synchronized)

    def build(self, input_shape):
        _inputs.check_sizes_known(self, input_shape, is_spectral=True)
        # float32 weights, read as float32 under a mixed policy too: the
        # statistics and the spectrum they act on are float32 / complex64.
        weight = functools.partial(self.add_weight, shape=(input_shape[-1],), autocast=False)
        self.gamma = weight(name="gamma", initializer="ones") if self.scale else None
        self.offset = weight(name="offset", initializer="zeros") if self.center else None
        self.moving_mean = weight(name="moving_mean", initializer="zeros", trainable=False)
        self.moving_variance = weight(name="moving_variance", initializer="ones", trainable=False)

    def call(self, inputs, training=False):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        inputs = _inputs.as_spectral_dtype(inputs)
        if not training:
            return self._normalize(inputs, self.moving_mean, self.moving_variance)
        # The moving averages read the batch's statistics outside the
        # differentiated function, which therefore keeps nothing for them.
        mean, variance = self._moments(ops.stop_gradient(inputs))
        # An empty batch leaves the moving averages as they are.
        m = _unless_empty(inputs, self.momentum, 1.0)
        self.moving_mean.assign(self.moving_mean * m + mean * (1 - m))
        self.moving_variance.assign(self.moving_variance * m + variance * (1 - m))
        weights = [w for w in (self.gamma, self.offset) if w is not None]
        # One slice: the statistics couple every sample of the batch.
        return cache_module.recompute_from_compressed(
            self._normalize_batch, inputs, weights, self.cache, self.cache_dtype
        )

    def _moments(self, z):
        mean, square = spectral.plane_moments(z)
        replica = tf.distribute.get_replica_context()
        if self.synchronized and replica is not None and replica.num_replicas_in_sync > 1:
            # The global batch's: sums and counts all-reduced over the replicas.
            count = ops.cast(ops.shape(z)[0], "float32")
            total, squares, count = replica.all_reduce(
                tf.distribute.ReduceOp.SUM, [ops.sum(mean, 0), ops.sum(square, 0), count]
            )
            mean = tf.math.divide_no_nan(total, count)
            square = tf.math.divide_no_nan(squares, count)
        else:
            # The mean of an empty batch is NaN: its statistics are zeros instead.
            mean = _unless_empty(z, ops.mean(mean, axis=0), 0.0)
            square = _unless_empty(z, ops.mean(square, axis=0), 0.0)
        return mean, ops.maximum(square - mean**2, 0.0)

    def _normalize_batch(self, z, *weights):
        return self._normalize(z, *self._moments(z), *weights)

    def _normalize(self, z, mean, variance, *weights):
        weights = list(weights) or [w for w in (self.gamma, self.offset) if w is not None]
        gamma = weights.pop(0) if self.gamma is not None else None
        offset = weights.pop(0) if self.offset is not None else None
        factor = ops.rsqrt(variance + self.epsilon)
        if gamma is not None:
            factor = factor * gamma
        shift = -mean * factor
        if offset is not None:
            shift = shift + offset
        return spectral.affine(z, factor, shift)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs, training=False):
        _inputs.require_domain(self, inputs, spectral_expected=True)
        return keras.KerasTensor(inputs.shape, spectral.SPECTRAL_DTYPE)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "cache": self.cache,
                "cache_dtype": self.cache_dtype,
                "synchronized": self.synchronized,
            }
        )
        return config
