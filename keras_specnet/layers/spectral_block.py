"""`SpectralBlock`: a whole spectral block as one layer, recomputed slice by slice."""

import keras
from keras import ops

from keras_specnet import _checks, spectral
from keras_specnet import cache as cache_module
from keras_specnet.layers import _inputs
from keras_specnet.layers.spectral_conv2d import SpectralConv2D
from keras_specnet.layers.to_spatial import ToSpatial
from keras_specnet.layers.to_spectral import ToSpectral


def _conv_pairs(convs):
    """`convs` as a tuple of `(filters, kernel_size)` pairs of positive ints."""
    try:
        pairs = tuple((int(f), int(k)) for f, k in convs)
    except (TypeError, ValueError):
        pairs = ()
    if not pairs or any(f < 1 or k < 1 for f, k in pairs):
        raise _checks.invalid(
            "convs", "a non-empty sequence of (filters, kernel_size) pairs of ints >= 1", convs
        )
    return pairs


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralBlock(keras.layers.Layer):
    """SpecNet's block (FFT, spectral convolutions, inverse FFT, pooling) as one layer.

    The block computes what `ToSpectral`, one `SpectralConv2D` per entry of
    `convs` (threshold `beta`, `activation`) and `ToSpatial` with a fused
    max pooling compute in sequence, but it is one unit for the backward
    pass: it keeps only its real input, and its backward pass runs the
    whole block again, under a gradient tape, one slice of the batch at a
    time. Every intermediate of the block, forward and backward (the
    spectra, the gradients passed between its convolutions, the pooling's
    input), then exists for one slice at a time, and nothing spectral is
    held between the two passes. The price is one more forward pass of the
    block per step.

    The convolutions are `SpectralConv2D` sublayers named
    `f"{name}_conv{i}"` (from 1), in `convolutions`; their weights are the
    block's weights, in that order.

    Args:
        convs: sequence of `(filters, kernel_size)`, one per convolution
            (stride 1, the input's size kept).
        beta: float >= 0, the spectral threshold of every convolution.
        activation: `"spectral_tanh"` or `None` (linear block).
        fft_padding: zero rows and columns added before the FFT (see
            `keras_specnet.spectral.fft_padding_of`): `None`
            (`k - 1` for the largest kernel), `"linear"` or an int >= 0.
        pool_size: `None`, or the max pooling window (`"same"` padding).
        pool_strides: the pooling's strides; defaults to `pool_size`.
        batch_chunks: int >= 1 or `"auto"`. Slices of the batch the block
            runs in, forward and backward (see `SpectralConv2D`); with
            `"auto"`, sized by the largest spectrum of the block.
        beta_mode: `"absolute"` or `"relative"`, how every convolution
            reads `beta` (see `SpectralConv2D`).
        **kwargs: base layer keyword arguments, such as `name`.

    Input shape:
        Real 4-D tensor `(batch, H, W, C)` with known `H` and `W`.

    Output shape:
        `(batch, H', W', filters)` of the last convolution, `H'` and `W'`
        divided by the pooling strides (rounded up).

    Example:

    ```python
    import keras
    from keras_specnet.layers import SpectralBlock

    inputs = keras.Input((32, 32, 3))
    x = SpectralBlock([(32, 3), (32, 3)], beta=0.01, pool_size=2, name="block1")(inputs)
    ```
    """

    def __init__(
        self,
        convs,
        beta=0.0,
        activation="spectral_tanh",
        fft_padding=None,
        pool_size=None,
        pool_strides=None,
        batch_chunks=4,
        beta_mode="absolute",
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.convs = _conv_pairs(convs)
        self.fft_padding = spectral.check_fft_padding(fft_padding)
        self._padding = spectral.fft_padding_of(self.convs, fft_padding)
        self.beta = _checks.non_negative_number("beta", beta)
        self.beta_mode = _checks.one_of("beta_mode", beta_mode, spectral.BETA_MODES)
        if pool_size is None and pool_strides is not None:
            raise _checks.invalid("pool_strides", "None when `pool_size` is None", pool_strides)
        self.pool_size = None if pool_size is None else _checks.int_pair("pool_size", pool_size)
        self.pool_strides = (
            self.pool_size
            if pool_strides is None
            else _checks.int_pair("pool_strides", pool_strides)
        )
        self.batch_chunks = _checks.chunks("batch_chunks", batch_chunks)
        self.activation = activation
        self.convolutions = [
            SpectralConv2D(
                filters,
                kernel,
                beta=self.beta,
                beta_mode=self.beta_mode,
                activation=activation,
                cache="none",
                name=name,
            )
            for (filters, kernel), name in zip(self.convs, self._conv_names())
        ]
        # The first convolution takes the real map (and does the FFT) when
        # the padding is its own `k - 1`, as `blocks.spectral_block` does.
        self._opening = (
            None
            if self._first_takes_map() and self._padding == self.convs[0][1] - 1
            else ToSpectral(self._padding, name=f"{self.name}_fft")
        )
        self._closing = None

    def _conv_names(self):
        """The names of the convolutions, in order."""
        return [f"{self.name}_conv{i}" for i in range(1, len(self.convs) + 1)]

    def _first_takes_map(self):
        """Whether the first convolution may take the real input itself."""
        return True

    def _chain(self, z, step, join):
        """The block's graph: `step(i, z)` applies convolution `i` to `z`.

        `join(a, b)` concatenates two spectra along the channels; a plain
        block does not use it. The same graph runs on tensors and, to
        compute the shapes, on shape tuples.
        """
        for i in range(len(self.convolutions)):
            z = step(i, z)
        return z

    def __call__(self, inputs, *args, **kwargs):
        if hasattr(inputs, "dtype"):
            _inputs.require_domain(self, inputs, spectral_expected=False)
        return super().__call__(inputs, *args, **kwargs)

    def _shapes(self, input_shape):
        """The input shape of each convolution, and the last one's output shape."""
        _inputs.check_rank4(self, input_shape)
        _inputs.check_sizes_known(self, input_shape, is_spectral=False)
        shape = tuple(input_shape)
        if self._opening is not None:
            shape = tuple(self._opening.compute_output_shape(shape))
        shapes = []

        def step(i, shape):
            shapes.append(shape)
            return tuple(self.convolutions[i]._output_shape(shape, self._is_spectral(i)))

        def join(a, b):
            return (*a[:-1], a[-1] + b[-1])

        return shapes, self._chain(shape, step, join)

    def _is_spectral(self, i):
        """Whether convolution `i` takes a spectrum (else the real input)."""
        return i > 0 or self._opening is not None

    def build(self, input_shape):
        shapes, last = self._shapes(input_shape)
        for i, (layer, shape) in enumerate(zip(self.convolutions, shapes)):
            layer._spectral_input = self._is_spectral(i)
            layer.build(shape)
        size = tuple(int(n) for n in input_shape[1:3])
        self._closing = ToSpatial(
            size, self.pool_size, self.pool_strides, cache="none", name=f"{self.name}_ifft"
        )
        self._closing.build(last)

    def _weights_of(self, layer):
        return [layer.kernel] + ([layer.bias] if layer.use_bias else [])

    def call(self, inputs):
        inputs = ops.cast(inputs, "float32")
        shapes, _ = self._shapes(inputs.shape)
        plans, counts, weights = [], [], []
        for i, (layer, shape) in enumerate(zip(self.convolutions, shapes)):
            is_spectral = self._is_spectral(i)
            plans.append((layer._plan(shape, is_spectral), is_spectral))
            own = self._weights_of(layer)
            counts.append(len(own))
            weights.extend(own)
        fft_size = None if self._opening is None else self._opening._fft_size(inputs.shape)

        def split(items):
            start = 0
            for count in counts:
                yield items[start : start + count]
                start += count

        def prepare(params, after):
            prepared = []
            for layer, own, (plan, _) in zip(self.convolutions, split(params), plans):
                prepared.append(layer._prepare(own, after, plan))
            return [t for part in prepared for t in part]

        # What `_prepare` returns per convolution: the kernel spectrum's
        # two parts and the bias, if any.
        sizes = [2 + int(layer.use_bias) for layer in self.convolutions]
        starts = [sum(sizes[:i]) for i in range(len(sizes))]

        def block(x, *prepared):
            z = x if self._opening is None else self._opening._transform(x, fft_size)

            def step(i, z):
                plan, is_spectral = plans[i]
                own = prepared[starts[i] : starts[i] + sizes[i]]
                return self.convolutions[i]._forward(z, *own, plan=plan, is_spectral=is_spectral)

            z = self._chain(z, step, lambda a, b: ops.concatenate([a, b], axis=-1))
            if self.pool_size is None:
                return spectral.to_spatial(z, self._closing.size)
            return self._closing._pooled(z)

        sample_bytes = max(
            layer._sample_bytes(shape[-1], plan)
            for layer, shape, (plan, _) in zip(self.convolutions, shapes, plans)
        )
        out = cache_module.recompute_from_compressed(
            block,
            inputs,
            weights,
            "bitmask",
            chunks=self.batch_chunks,
            prepare=prepare,
            sample_bytes=sample_bytes,
        )
        return ops.cast(out, self.compute_dtype)

    def spectra(self, inputs):
        """The spectrum after each convolution (threshold and activation done), in order.

        A plain forward pass, for inspection (the zeros each threshold
        makes: `keras_specnet.memory.zero_fractions`).
        """
        z = ops.cast(inputs, "float32")
        if self._opening is not None:
            z = self._opening(z)
        outputs = []

        def step(i, z):
            outputs.append(self.convolutions[i](z))
            return outputs[-1]

        self._chain(z, step, lambda a, b: ops.concatenate([a, b], axis=-1))
        return outputs

    def multiply_adds(self, input_shape):
        """Real multiply-adds of one example's per-frequency products.

        `4 * P * (Q // 2 + 1) * in * filters` per convolution, as
        `keras_specnet.utils.count_flops` counts a `SpectralConv2D` (the
        FFTs are not counted).
        """
        shapes, _ = self._shapes(input_shape)
        total = 0
        for i, (layer, shape) in enumerate(zip(self.convolutions, shapes)):
            p, q = layer._plan(shape, self._is_spectral(i)).fft_size
            total += 4 * p * (q // 2 + 1) * int(shape[-1]) * layer.filters
        return total

    def compute_output_shape(self, input_shape):
        _, last = self._shapes(input_shape)
        size = tuple(int(n) for n in input_shape[1:3])
        if self.pool_size is not None:
            size = tuple(-(-n // s) for n, s in zip(size, self.pool_strides))
        return (input_shape[0], *size, last[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "convs": [list(pair) for pair in self.convs],
                "beta": self.beta,
                "beta_mode": self.beta_mode,
                "activation": self.activation,
                "fft_padding": self.fft_padding,
                "pool_size": self.pool_size,
                "pool_strides": None if self.pool_size is None else self.pool_strides,
                "batch_chunks": self.batch_chunks,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_specnet")
class SpectralDenseBlock(SpectralBlock):
    """A spectral dense block as one layer, recomputed slice by slice.

    The block computes what `keras_specnet.applications.densenet`'s
    separate layers compute: one FFT of its input (`ToSpectral`), then
    `num_layers` times the convolutions of `convs` in sequence, whose last
    output is concatenated to the block's running spectrum, and the
    inverse FFT of the whole concatenation, cropped to the input's size.
    Like `SpectralBlock`, it keeps only its real input between the passes
    and runs again, one batch slice at a time, in the backward pass, so
    that neither the growing concatenation nor any spectrum of its layers
    is held for the backward pass.

    Its convolutions are named `f"{name}_layer{i}_conv{j}"` (from 1), as
    the separate layers are; their weights are the block's, in that order.

    Args:
        num_layers: int >= 1, layers of the block.
        convs: sequence of `(filters, kernel_size)`, the convolutions of one
            layer.
        beta: float >= 0, the spectral threshold of every convolution.
        activation: `"spectral_tanh"` or `None`.
        fft_padding: zero rows and columns added before the FFT, as in
            `SpectralBlock`: `None` (`k - 1` for the largest kernel, the
            later convolutions circular over that size), `"linear"` (the
            sum of `k - 1` over every convolution of the block) or an
            int >= 0.
        batch_chunks: int >= 1 or `"auto"`, as in `SpectralBlock`.
        beta_mode: `"absolute"` or `"relative"` (see `SpectralConv2D`).
        **kwargs: base layer keyword arguments, such as `name`.

    Input shape:
        Real 4-D tensor `(batch, H, W, C)` with known `H` and `W`.

    Output shape:
        `(batch, H, W, C + num_layers * filters)`, `filters` those of the
        last entry of `convs`.

    Example:

    ```python
    import keras
    from keras_specnet.layers import SpectralDenseBlock

    inputs = keras.Input((16, 16, 16))
    x = SpectralDenseBlock(3, [(16, 1), (16, 3)], beta=0.1, name="dense")(inputs)
    ```
    """

    def __init__(
        self,
        num_layers,
        convs,
        beta=0.0,
        activation="spectral_tanh",
        fft_padding=None,
        batch_chunks=4,
        beta_mode="absolute",
        **kwargs,
    ):
        self.num_layers = _checks.positive_int("num_layers", num_layers)
        self.layer_convs = _conv_pairs(convs)
        super().__init__(
            self.layer_convs * self.num_layers,
            beta=beta,
            activation=activation,
            fft_padding=fft_padding,
            batch_chunks=batch_chunks,
            beta_mode=beta_mode,
            **kwargs,
        )

    def _conv_names(self):
        per_layer = len(self.layer_convs)
        return [
            f"{self.name}_layer{i // per_layer + 1}_conv{i % per_layer + 1}"
            for i in range(len(self.convs))
        ]

    def _first_takes_map(self):
        # The input joins the concatenation as a spectrum: the block always
        # starts with its own FFT.
        return False

    def _chain(self, z, step, join):
        i = 0
        for _ in range(self.num_layers):
            y = z
            for _ in self.layer_convs:
                y = step(i, y)
                i += 1
            z = join(z, y)
        return z

    def get_config(self):
        config = super().get_config()
        for key in ("convs", "pool_size", "pool_strides"):
            config.pop(key)
        config.update(
            {
                "num_layers": self.num_layers,
                "convs": [list(pair) for pair in self.layer_convs],
            }
        )
        return config
