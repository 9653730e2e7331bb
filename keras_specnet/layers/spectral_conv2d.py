"""`SpectralConv2D`: SpecNet's convolution, threshold and activation."""

import collections

import keras
import tensorflow as tf
from keras import ops

from keras_specnet import _checks, spectral
from keras_specnet import cache as _cache_module
from keras_specnet.layers import _inputs

ACTIVATIONS = (None, "linear", "spectral_tanh")
OUTPUT_DOMAINS = ("spectral", "spatial")

_Plan = collections.namedtuple("_Plan", "fft_size offsets crop")


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralConv2D(keras.layers.Layer):
    """2-D convolution in the Fourier domain, with SpecNet's threshold.

    The layer multiplies the spectrum of its input by the spectrum of a
    spatial kernel (one product per frequency), zeroes the entries whose
    magnitude is at most `beta`, and optionally applies SpecNet's spectral
    activation (Algorithm 1 of the SpecNet paper). Its input is either a real
    NHWC map, which it zero-pads to `(H + kh - 1, W + kw - 1)` (the width
    rounded up to even) and transforms, or a spectral tensor from another
    spectral layer, used as it is (see `keras_specnet.spectral` for the
    format). Its output is a spectral tensor, or with
    `output_domain="spatial"` the real map after the inverse FFT and the crop
    back to `H x W`.

    The kernel lives in the spatial domain with the shape and meaning of
    `keras.layers.Conv2D`'s: `(kh, kw, in, filters)`, cross-correlation. With
    `beta=0`, no activation and `output_domain="spatial"`, this layer
    computes exactly what `Conv2D(filters, kernel_size, strides,
    padding="same")` computes with the same weights, up to float32 rounding.

    `beta` is measured on the orthonormal (energy-preserving) spectrum, so
    one value means the same at every image size: a map of unit variance has
    spectral entries of mean square 1. Entries with `|Y| <= beta` become
    zero; the zeros survive `spectral_tanh` (`tanh(0) = 0`). The paper uses
    `beta` from 0.5 to 1.5.

    Chained in the spectral domain (a spectral input), the convolution is
    circular over the input's `P x Q` plane: it equals the linear
    convolution as long as the padding given to `ToSpectral` covers the
    spill of every convolution in the chain.

    Args:
        filters: int. Number of output channels.
        kernel_size: int or tuple of 2 ints. Height and width of the kernel
            (odd or even; even sizes follow `Conv2D`'s "same" alignment).
        strides: int or tuple of 2 ints. Uniform downsampling of the
            stride-1 result, aligned as `Conv2D(padding="same")` aligns it.
            Strides above 1 need `output_domain="spatial"` (a spectral tensor
            is never subsampled). Defaults to `1`.
        beta: float >= 0. Spectral threshold. Defaults to `0.0` (keep all).
        activation: `None`, `"linear"` or `"spectral_tanh"`. Applied in the
            spectral domain after the threshold. Defaults to `None`.
        use_bias: bool. Adds a per-channel bias to the map (on the DC term of
            the spectrum), before the threshold. Defaults to `True`.
        output_domain: `"spectral"` or `"spatial"`. Defaults to `"spectral"`.
        output_size: tuple of 2 ints or `None`. The `(H, W)` crop when a
            spectral input leaves as a spatial output; a real input is always
            cropped to its own size. Defaults to `None`.
        cache: what the backward pass keeps (see `keras_specnet.cache`):
            `"bitmask"` (a compressed copy of a spectral input, a bit per
            entry plus the non-zero values; everything else is recomputed in
            the backward pass), `"sparse_tensor"` (the same as a
            `tf.SparseTensor`, for comparison) or `"none"` (plain autodiff).
            All give the same gradients. Defaults to `"bitmask"`.
        cache_dtype: `"float32"` or `"bfloat16"`: dtype of the kept values
            (bfloat16 halves them, and rounds the gradients accordingly).
            Defaults to `"float32"`.
        batch_chunks: int >= 1. With a cache, the layer runs its forward
            pass, and the recomputation and gradient of its backward pass,
            on this many slices of the batch one after the other, so that
            their intermediates (FFTs, the per-frequency product, the
            threshold's and activation's tensors) exist for one slice at a
            time: a lower step peak for some extra time. Results and
            gradients do not change. Each slice adds its own ops to the
            graph, so tracing a training step also takes longer (see
            docs/benchmarks/trace_time.md); use `batch_chunks=1` where
            memory is not the constraint. Ignored with
            `cache="none"`. Defaults to `4`.
        kernel_initializer: Initializer for the kernel. Defaults to
            `"glorot_uniform"`, as in `Conv2D`.
        bias_initializer: Initializer for the bias. Defaults to `"zeros"`.
        kernel_regularizer: Optional regularizer for the kernel.
        bias_regularizer: Optional regularizer for the bias.
        kernel_constraint: Optional constraint for the kernel.
        bias_constraint: Optional constraint for the bias.
        **kwargs: Base layer keyword arguments, such as `name`, `dtype` and
            `activity_regularizer`.

    Input shape:
        A real 4-D tensor `(batch, H, W, in)` with known `H` and `W`, or a
        spectral tensor `(batch, P, Q // 2 + 1, in)`.

    Output shape:
        Spectral: `(batch, P, Q // 2 + 1, filters)`, complex64, with
        `(P, Q)` the input's padded size (a spectral input keeps its size).
        Spatial: `(batch, ceil(H / s0), ceil(W / s1), filters)` in the
        layer's compute dtype.

    Example:

    ```python
    import keras
    from keras_specnet.layers import SpectralConv2D

    inputs = keras.Input((28, 28, 1))
    x = SpectralConv2D(6, 5, beta=0.5, activation="spectral_tanh",
                       output_domain="spatial")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    ```

    Reference:
        B. Guan, J. Zhang, W. A. Sethares, R. Kijowski, F. Liu. "SpecNet:
        Spectral Domain Convolutional Neural Network", arXiv:1905.10915.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        beta=0.0,
        activation=None,
        use_bias=True,
        output_domain="spectral",
        output_size=None,
        cache="bitmask",
        cache_dtype="float32",
        batch_chunks=4,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        # FFTs run in float32 whatever the policy: keep float32 weights.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.filters = _checks.positive_int("filters", filters)
        self.kernel_size = _checks.int_pair("kernel_size", kernel_size)
        self.strides = _checks.int_pair("strides", strides)
        self.beta = _checks.non_negative_number("beta", beta)
        self.activation = _checks.one_of("activation", activation, ACTIVATIONS)
        self.use_bias = bool(use_bias)
        self.output_domain = _checks.one_of("output_domain", output_domain, OUTPUT_DOMAINS)
        if self.strides != (1, 1) and self.output_domain != "spatial":
            raise _checks.invalid(
                "strides",
                "(1, 1) with output_domain='spectral' (strided outputs are "
                "made by downsampling in the spatial domain: use "
                "output_domain='spatial')",
                strides,
            )
        self.output_size = (
            None if output_size is None else _checks.int_pair("output_size", output_size)
        )
        _cache_module.check(cache, cache_dtype)
        self.cache = cache
        self.cache_dtype = cache_dtype
        self.batch_chunks = _checks.positive_int("batch_chunks", batch_chunks)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def build(self, input_shape):
        _inputs.check_rank4(self, input_shape)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, input_shape[-1], self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def _plan(self, shape, is_spectral):
        """FFT size, kernel alignment and crop for an input, or a clear error."""
        _inputs.check_sizes_known(self, shape, is_spectral)
        kh, kw = self.kernel_size
        if self.built and shape[-1] != self.kernel.shape[2]:
            raise ValueError(
                f"Invalid input for SpectralConv2D '{self.name}'. Expected "
                f"{self.kernel.shape[2]} input channels, as when the layer was "
                f"built. Received: {_inputs.describe(shape, is_spectral)}"
            )
        if is_spectral:
            fft_size = spectral.fft_size_of(shape)
            if kh > fft_size[0] or kw > fft_size[1]:
                raise ValueError(
                    f"Invalid input for SpectralConv2D '{self.name}'. The kernel "
                    f"{self.kernel_size} does not fit the spectral input's FFT "
                    f"size (P, Q)={fft_size}. Received: "
                    f"{_inputs.describe(shape, True)}"
                )
            crop = self.output_size
            if self.output_domain == "spatial":
                if crop is None:
                    raise _checks.invalid(
                        "output_size",
                        "the (height, width) to crop to when a spectral input "
                        "leaves as a spatial output",
                        None,
                    )
                if crop[0] > fft_size[0] or crop[1] > fft_size[1]:
                    raise _checks.invalid(
                        "output_size",
                        f"at most the input's FFT size (P, Q)={fft_size}",
                        crop,
                    )
            else:
                crop = fft_size
        else:
            if self.output_size is not None:
                raise _checks.invalid(
                    "output_size",
                    "None for a real input (it is cropped to its own size)",
                    self.output_size,
                )
            crop = (int(shape[1]), int(shape[2]))
            fft_size = spectral.padded_size(*crop, kh - 1, kw - 1)
        offsets = tuple(
            spectral.same_padding_offset(n, k, s)
            for n, k, s in zip(crop, self.kernel_size, self.strides)
        )
        return _Plan(fft_size, offsets, crop)

    def _prepare(self, weights, after, plan):
        """What the forward pass needs of the weights: the kernel's spectrum."""
        kernel, *bias = weights
        return [*spectral.kernel_spectrum(kernel, plan.fft_size, plan.offsets, after), *bias]

    def _forward(self, inputs, k_real, k_imag, *bias, plan, is_spectral):
        """The layer's maths, from its input and kernel spectrum to its output.

        Works on the frequency-major parts of the spectrum (see
        `keras_specnet.spectral`) from the product to the output.
        """
        if is_spectral:
            real, imag = spectral.frequency_major(inputs)
        else:
            real, imag = spectral.frequency_major_of_map(inputs, plan.fft_size)
        real, imag = spectral.product_parts(real, imag, (k_real, k_imag))
        if bias:
            real = spectral.add_bias_parts(real, bias[0], plan.fft_size)
        real, imag = spectral.threshold_parts(real, imag, self.beta)
        if self.activation == "spectral_tanh":
            real, imag = tf.tanh(real), tf.tanh(imag)
        if self.output_domain == "spectral":
            return spectral.from_frequency_major(real, imag, plan.fft_size)
        return spectral.frequency_major_to_spatial(
            real, imag, plan.fft_size, plan.crop, self.strides
        )

    def call(self, inputs):
        is_spectral = spectral.is_spectral(inputs)
        plan = self._plan(inputs.shape, is_spectral)
        weights = [self.kernel] + ([self.bias] if self.use_bias else [])
        out = _cache_module.recompute_from_compressed(
            lambda x, *k: self._forward(x, *k, plan=plan, is_spectral=is_spectral),
            inputs,
            weights,
            self.cache,
            self.cache_dtype,
            self.batch_chunks,
            prepare=lambda w, after: self._prepare(w, after, plan),
        )
        if self.output_domain == "spectral":
            return out
        return ops.cast(out, self.compute_dtype)

    def _output_shape(self, shape, is_spectral):
        plan = self._plan(shape, is_spectral)
        if self.output_domain == "spectral":
            return spectral.spectral_shape(shape[0], plan.fft_size, self.filters)
        (h, w), (sh, sw) = plan.crop, self.strides
        return (shape[0], -(-h // sh), -(-w // sw), self.filters)

    def compute_output_shape(self, input_shape):
        """Output shape for a real input (see `compute_output_spec` for both)."""
        return self._output_shape(input_shape, is_spectral=False)

    def compute_output_spec(self, inputs):
        is_spectral = spectral.is_spectral(inputs)
        dtype = spectral.SPECTRAL_DTYPE if self.output_domain == "spectral" else self.compute_dtype
        return keras.KerasTensor(self._output_shape(inputs.shape, is_spectral), dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "beta": self.beta,
                "activation": self.activation,
                "use_bias": self.use_bias,
                "output_domain": self.output_domain,
                "output_size": self.output_size,
                "cache": self.cache,
                "cache_dtype": self.cache_dtype,
                "batch_chunks": self.batch_chunks,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
