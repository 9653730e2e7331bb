"""`SpectralConv2D`: SpecNet's convolution, threshold and activation."""

import keras
import tensorflow as tf
from keras import ops

from keras_specnet import _checks, spectral
from keras_specnet import cache as _cache_module
from keras_specnet.layers import _conv_plan, _inputs

ACTIVATIONS = (None, "linear", "spectral_tanh")
OUTPUT_DOMAINS = ("spectral", "spatial")
PADDINGS = ("valid", "same", "full")
DATA_FORMATS = ("channels_last", "channels_first")


def _choice(name, value, choices):
    """`value` (a string, any case) as one of `choices`, or the package's error."""
    key = value.lower() if isinstance(value, str) else value
    if key not in choices:
        raise _checks.invalid(name, f"one of {sorted(choices)}", value)
    return key


def _grouped_kernel(part, groups):
    """A kernel-spectrum part `(F, in / g, filters)` as `(F * g, in / g, filters / g)`.

    Frequency-major, then group: block `(f, g)` maps input group `g` to
    filter group `g`, as `Conv2D(groups=g)` splits its channels.
    """
    freqs, cin, cout = (int(d) for d in part.shape)
    part = tf.reshape(part, (freqs, cin, groups, cout // groups))
    return tf.reshape(tf.transpose(part, (0, 2, 1, 3)), (freqs * groups, cin, cout // groups))


def _grouped_product(real, imag, k, groups):
    """`spectral.product_parts` with a block-diagonal kernel (`groups` blocks).

    The parts `(F, batch, in)` become `(F * groups, batch, in / groups)`,
    one batched product makes `(F * groups, batch, filters / groups)`, and
    the groups go back to the channel axis.
    """
    freqs, cin = int(real.shape[0]), int(real.shape[-1])

    def split(x):
        x = tf.reshape(x, (freqs, -1, groups, cin // groups))
        return tf.reshape(tf.transpose(x, (0, 2, 1, 3)), (freqs * groups, -1, cin // groups))

    def merge(x):
        cout = int(x.shape[-1])
        x = tf.reshape(x, (freqs, groups, -1, cout))
        return tf.reshape(tf.transpose(x, (0, 2, 1, 3)), (freqs, -1, groups * cout))

    out_real, out_imag = spectral.product_parts(split(real), split(imag), k)
    return merge(out_real), merge(out_imag)


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralConv2D(keras.layers.Layer):
    """2-D convolution in the Fourier domain, with SpecNet's threshold.

    The layer multiplies the spectrum of its input by the spectrum of a
    spatial kernel (one product per frequency), zeroes the entries whose
    magnitude is at most `beta`, and optionally applies SpecNet's spectral
    activation (Algorithm 1 of the SpecNet paper). Its input is either a real
    map, which it zero-pads (by the kernel's extent less one, the width
    rounded up to even) and transforms, or a spectral tensor from another
    spectral layer, used as it is (see `keras_specnet.spectral` for the
    format). Its output is a spectral tensor, or with
    `output_domain="spatial"` the real map after the inverse FFT and the
    crop.

    It takes `keras.layers.Conv2D`'s arguments, in `Conv2D`'s order, with
    `Conv2D`'s meaning: the kernel has `Conv2D`'s shape
    `(kh, kw, in / groups, filters)` and computes its cross-correlation,
    with `padding`, `strides`, `dilation_rate`, `groups` and `data_format`
    as `Conv2D` applies them. With `beta=0`, no activation and
    `output_domain="spatial"`, the same weights give `Conv2D`'s outputs and
    gradients, up to float32 rounding. One default differs: `padding` is
    `"same"` (SpecNet's convolutions keep the map's size, and the package's
    models and saved configs rely on it); pass `padding="valid"` for
    `Conv2D`'s default. See docs/conv2d_dropin.md for the argument-by-argument
    table.

    `beta` is measured on the orthonormal (energy-preserving) spectrum, so
    one value means the same at every image size: a map of unit variance has
    spectral entries of mean square 1. Entries with `|Y| <= beta` become
    zero; the zeros survive `spectral_tanh` (`tanh(0) = 0`). The paper uses
    `beta` from 0.5 to 1.5.

    Chained in the spectral domain (a spectral input), the convolution is
    circular over the input's `P x Q` plane: it equals the linear
    convolution as long as the padding given to `ToSpectral` covers the
    spill of every convolution in the chain. A spectral tensor stands for
    the map at the plane's origin, whose size it does not record: there,
    `padding` sets where the output is aligned (`"same"` centres the kernel
    as `Conv2D` does, `"valid"` puts its first tap at the origin, `"full"`
    its last), and with `output_domain="spatial"` the map's size is
    `output_size`.

    Args:
        filters: int. Number of output channels, divisible by `groups`.
        kernel_size: int or tuple of 2 ints. Height and width of the kernel
            (odd or even; even sizes follow `Conv2D`'s alignment).
        strides: int or tuple of 2 ints. Strides of the convolution, as in
            `Conv2D`, with every `padding` (and, unlike `Conv2D`, with a
            `dilation_rate` too). Strides above 1 need
            `output_domain="spatial"` (a spectral tensor is never
            subsampled). Defaults to `1`.
        padding: `"same"`, `"valid"` or `"full"` (any case). `"same"` and
            `"valid"` as in `Conv2D`; `"full"` keeps every output the kernel
            overlaps the map at (`H + kh - 1` rows at stride 1, as
            `"valid"` on the map zero-padded by `kh - 1` on each side).
            Defaults to `"same"`, unlike `Conv2D`.
        data_format: `"channels_last"` (`(batch, H, W, C)`),
            `"channels_first"` (`(batch, C, H, W)`) or `None` for
            `keras.config.image_data_format()`. The layout of a real input
            and of a spatial output; spectral tensors, in and out, keep
            their one layout `(batch, P, Q // 2 + 1, C)` whatever this is.
            Defaults to `None`.
        dilation_rate: int or tuple of 2 ints. Spacing of the kernel's taps,
            as in `Conv2D`: the kernel covers `(k - 1) * d + 1` pixels per
            axis. Defaults to `1`.
        groups: int >= 1, dividing `filters` and the input channels. Each
            group of `in / groups` input channels feeds its own
            `filters / groups` outputs, as in `Conv2D`. Defaults to `1`.
        activation: `None`, `"linear"` or `"spectral_tanh"`. Applied in the
            spectral domain after the threshold. Defaults to `None`.
        use_bias: bool. Adds a per-channel bias to the map (on the DC term of
            the spectrum), before the threshold. Defaults to `True`.
        kernel_initializer: Initializer for the kernel. Defaults to
            `"glorot_uniform"`, as in `Conv2D`.
        bias_initializer: Initializer for the bias. Defaults to `"zeros"`.
        kernel_regularizer: Optional regularizer for the kernel.
        bias_regularizer: Optional regularizer for the bias.
        activity_regularizer: Optional regularizer for the output.
        kernel_constraint: Optional constraint for the kernel.
        bias_constraint: Optional constraint for the bias.
        beta: float >= 0. Spectral threshold. Defaults to `0.0` (keep all).
        beta_mode: `"absolute"` (the paper's: zero the entries with
            `|Y| <= beta`) or `"relative"` (zero those with
            `|Y| <= beta * rms`, `rms` the root mean square of the full
            spectrum of the entry's sample and channel: one `beta` then
            zeroes a similar share of every layer, whatever its scale).
            Defaults to `"absolute"`.
        output_domain: `"spectral"` or `"spatial"`. Defaults to `"spectral"`.
        output_size: tuple of 2 ints or `None`. With a spectral input and a
            spatial output, the `(H, W)` of the map the spectral input stands
            for: the output is what `Conv2D` with this layer's `padding`,
            `strides` and `dilation_rate` makes of an `H x W` map (with
            `"same"`, the crop itself). A real input gives its own size.
            Defaults to `None`.
        cache: what the backward pass keeps (see `keras_specnet.cache`):
            `"bitmask"` (a compressed copy of a spectral input, a bit per
            entry plus the non-zero values; everything else is recomputed in
            the backward pass), `"sparse_tensor"` (the same as a
            `tf.SparseTensor`, for comparison) or `"none"` (plain autodiff).
            All give the same gradients. Defaults to `"bitmask"`.
        cache_dtype: dtype of the kept values: `"float32"` (exact),
            `"bfloat16"` (half the bytes), `"int8"` (a quarter) or `"int4"`
            (an eighth), the last two with one scale per group of values
            (see `keras_specnet.cache`). The gradients are then computed
            from the rounded input, so they are approximate. Defaults to
            `"float32"`.
        batch_chunks: int >= 1 or `"auto"`. With a cache, the layer runs
            its forward pass, and the recomputation and gradient of its
            backward pass, on this many slices of the batch one after the
            other, so that their intermediates (FFTs, the per-frequency
            product, the threshold's and activation's tensors) exist for
            one slice at a time: a lower step peak for some extra time.
            Results and gradients do not change. Each slice adds its own
            ops to the graph, so tracing a training step also takes longer
            (see docs/benchmarks/trace_time.md). `"auto"` takes the fewest
            of 1, 2, 4 or 8 slices whose input and output spectra take at
            most `keras_specnet.cache.AUTO_SLICE_BYTES` (16 MiB) each; when
            the batch size is unknown as the step is traced (`model.fit` on
            arrays), the step chooses as it runs between one slice and
            four: faster for small layers and batches, but more memory per
            sample at large batches than `4` (see
            docs/benchmarks/speed.md). Ignored with `cache="none"`.
            Defaults to `4`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        A real 4-D tensor `(batch, H, W, in)` (`(batch, in, H, W)` with
        `data_format="channels_first"`) with known `H` and `W`, or a
        spectral tensor `(batch, P, Q // 2 + 1, in)`.

    Output shape:
        Spectral: `(batch, P, Q // 2 + 1, filters)`, complex64, with
        `(P, Q)` the input's padded size (a spectral input keeps its size).
        Spatial: `Conv2D`'s output shape, `(batch, H', W', filters)` or
        `(batch, filters, H', W')`, in the layer's compute dtype, with
        `H' = ceil(H / s0)` for `"same"`, `ceil((H - (kh - 1) * d0) / s0)`
        for `"valid"` and `ceil((H + (kh - 1) * d0) / s0)` for `"full"`
        (`H` from `output_size` for a spectral input).

    Example:

    ```python
    import keras
    from keras_specnet.layers import SpectralConv2D

    inputs = keras.Input((28, 28, 1))
    x = SpectralConv2D(6, 5, beta=0.5, activation="spectral_tanh",
                       output_domain="spatial")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    # Where a Conv2D was:
    y = SpectralConv2D(8, 3, strides=2, padding="valid",
                       output_domain="spatial")(inputs)
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
        padding="same",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        beta=0.0,
        beta_mode="absolute",
        output_domain="spectral",
        output_size=None,
        cache="bitmask",
        cache_dtype="float32",
        batch_chunks=4,
        **kwargs,
    ):
        # FFTs run in float32 whatever the policy: keep float32 weights.
        kwargs.setdefault("autocast", False)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _checks.positive_int("filters", filters)
        self.kernel_size = _checks.int_pair("kernel_size", kernel_size)
        self.strides = _checks.int_pair("strides", strides)
        self.padding = _choice("padding", padding, PADDINGS)
        if data_format is None:
            data_format = keras.config.image_data_format()
        self.data_format = _choice("data_format", data_format, DATA_FORMATS)
        self.dilation_rate = _checks.int_pair("dilation_rate", dilation_rate)
        self.groups = _checks.positive_int("groups", groups)
        if self.filters % self.groups:
            raise _checks.invalid(
                "groups", f"a positive integer that divides filters={self.filters}", groups
            )
        self.beta = _checks.non_negative_number("beta", beta)
        self.beta_mode = _checks.one_of("beta_mode", beta_mode, spectral.BETA_MODES)
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
        self.batch_chunks = _checks.chunks("batch_chunks", batch_chunks)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        # Whether the layer is built for a spectral input: `build` sees a
        # shape alone, and a channels-first real map and a spectral tensor
        # keep their channels on different axes.
        self._spectral_input = False

    def __call__(self, inputs, *args, **kwargs):
        if not self.built:
            self._spectral_input = hasattr(inputs, "dtype") and spectral.is_spectral(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _channels_first(self, is_spectral):
        """Whether an input is a real channels-first map (a spatial output always is, then)."""
        return self.data_format == "channels_first" and not is_spectral

    def _nhwc(self, shape, is_spectral):
        """The shape as `(batch, H, W, C)` (a spectral shape is already so)."""
        shape = tuple(shape)
        if self._channels_first(is_spectral) and len(shape) == 4:
            return (shape[0], shape[2], shape[3], shape[1])
        return shape

    def build(self, input_shape):
        """Creates the kernel and bias for an input shape.

        A shape alone does not tell a channels-first real map from a
        spectral tensor: called on a tensor, the layer knows which it gets;
        `build(shape)` on its own takes a real map in `data_format`, unless
        the layer is rebuilt from a build config that records a spectral
        input.
        """
        layout = "channels_last" if self._spectral_input else self.data_format
        _inputs.check_rank4(self, input_shape, layout)
        shape = self._nhwc(input_shape, self._spectral_input)
        channels = int(shape[-1])
        if channels % self.groups:
            raise ValueError(
                f"Invalid input for SpectralConv2D '{self.name}'. Expected a "
                f"number of input channels divisible by groups={self.groups}. "
                f"Received: {_inputs.describe(input_shape, self._spectral_input)}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, channels // self.groups, self.filters),
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

    def get_build_config(self):
        config = super().get_build_config()
        if config is not None and self._channels_first(False) and self._spectral_input:
            config = {**config, "spectral_input": True}
        return config

    def build_from_config(self, config):
        self._spectral_input = bool(config and config.get("spectral_input", False))
        super().build_from_config(config)

    def _plan(self, raw_shape, is_spectral):
        """FFT size, kernel alignment and crop for an input, or a clear error."""
        return _conv_plan.plan(self, raw_shape, is_spectral)

    def _prepare(self, weights, after, plan):
        """What the forward pass needs of the weights: the kernel's spectrum."""
        kernel, *bias = weights
        parts = spectral.kernel_spectrum(
            kernel, plan.fft_size, plan.offsets, after, dilation=self.dilation_rate
        )
        if self.groups > 1:
            parts = [_grouped_kernel(part, self.groups) for part in parts]
        return [*parts, *bias]

    def _forward(self, inputs, k_real, k_imag, *bias, plan, is_spectral):
        """The layer's maths, from its input and kernel spectrum to its output.

        Works on the frequency-major parts of the spectrum (see
        `keras_specnet.spectral`) from the product to the output.
        """
        if is_spectral:
            real, imag = spectral.frequency_major(inputs)
        else:
            real, imag = spectral.frequency_major_of_map(inputs, plan.fft_size)
        if self.groups == 1:
            real, imag = spectral.product_parts(real, imag, (k_real, k_imag))
        else:
            real, imag = _grouped_product(real, imag, (k_real, k_imag), self.groups)
        if bias:
            real = spectral.add_bias_parts(real, bias[0], plan.fft_size)
        real, imag = spectral.threshold_parts(real, imag, self.beta, self.beta_mode, plan.fft_size)
        if self.activation == "spectral_tanh":
            real, imag = tf.tanh(real), tf.tanh(imag)
        if self.output_domain == "spectral":
            return spectral.from_frequency_major(real, imag, plan.fft_size)
        return spectral.frequency_major_to_spatial(
            real, imag, plan.fft_size, plan.crop, self.strides
        )

    def _sample_bytes(self, channels, plan):
        """Bytes of one sample's input and output spectra (complex64)."""
        frequencies = plan.fft_size[0] * (plan.fft_size[1] // 2 + 1)
        return 8 * frequencies * (channels + self.filters)

    def call(self, inputs):
        is_spectral = spectral.is_spectral(inputs)
        plan = self._plan(inputs.shape, is_spectral)
        if self._channels_first(is_spectral):
            inputs = tf.transpose(inputs, (0, 2, 3, 1))
        inputs = _inputs.as_spectral_dtype(inputs)
        weights = [self.kernel] + ([self.bias] if self.use_bias else [])
        out = _cache_module.recompute_from_compressed(
            lambda x, *k: self._forward(x, *k, plan=plan, is_spectral=is_spectral),
            inputs,
            weights,
            self.cache,
            self.cache_dtype,
            self.batch_chunks,
            prepare=lambda w, after: self._prepare(w, after, plan),
            sample_bytes=self._sample_bytes(inputs.shape[-1], plan),
        )
        if self.output_domain == "spectral":
            return out
        out = ops.cast(out, self.compute_dtype)
        if self.data_format == "channels_first":
            out = tf.transpose(out, (0, 3, 1, 2))
        return out

    def _output_shape(self, shape, is_spectral):
        plan = self._plan(shape, is_spectral)
        if self.output_domain == "spectral":
            return spectral.spectral_shape(shape[0], plan.fft_size, self.filters)
        (h, w), (sh, sw) = plan.crop, self.strides
        rows, cols = -(-h // sh), -(-w // sw)
        if self.data_format == "channels_first":
            return (shape[0], self.filters, rows, cols)
        return (shape[0], rows, cols, self.filters)

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
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "groups": self.groups,
                "beta": self.beta,
                "beta_mode": self.beta_mode,
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
