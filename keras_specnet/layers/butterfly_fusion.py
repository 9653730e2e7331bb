"""`ButterflyFusion`: the Butterfly Transform, an O(n log n) 1x1 convolution."""

import math

import keras
import tensorflow as tf

from keras_specnet import _checks
from keras_specnet import initializers as _initializers
from keras_specnet.layers import _inputs

#: Initializer names that `ButterflyFusion` resolves itself.
BUTTERFLY_INITIALIZERS = ("butterfly_he", "identity", "hadamard")


def plan_radices(width, base):
    """The butterfly's size and the radix of each stage, for `width` channels.

    The number of stages is the least `s` with `base ** s >= width`. The
    radices (each between 2 and `base`) multiply to `size >= width`: when
    some `s` radices multiply to exactly `width`, the cheapest of those (the
    fewest multiply-adds, `size * sum(radices)` per position), so that
    nothing is padded; otherwise the cheapest of all, the smaller `size` on
    a tie. A power of `base` gets `(base,) * s`; 96 channels with base 16
    get `(12, 8)`, with base 4 `(4, 4, 3, 2)`; 97 (a prime) with base 16 get
    `(11, 9)`, padded to 99.

    Args:
        width: int >= 1. Channels to fuse.
        base: int >= 2. The largest radix.

    Returns:
        `(size, radices)`: an int and a tuple of ints, largest first.
    """
    width = _checks.positive_int("width", width)
    base = _checks.positive_int("base", base)
    if width == 1:
        return 1, (1,)
    stages = 1
    while base**stages < width:
        stages += 1
    best = None

    def search(prefix, product, largest):
        nonlocal best
        left = stages - len(prefix)
        if left == 0:
            if product >= width:
                key = (product != width, product * sum(prefix), product)
                if best is None or key < best[0]:
                    best = (key, tuple(prefix))
            return
        for radix in range(largest, 1, -1):
            if product * radix**left < width:
                break  # smaller radices cannot reach `width` either
            search(prefix + [radix], product * radix, radix)

    search([], 1, base)
    radices = best[1]
    return math.prod(radices), radices


@keras.saving.register_keras_serializable(package="keras_specnet")
class ButterflyFusion(keras.layers.Layer):
    """Butterfly Transform: a learned channel fusion in O(n log n).

    A drop-in replacement for `Conv2D(filters, 1)` (or `Dense(filters)`): it
    mixes the channel axis of its input (the last one, or axis 1 with
    `data_format="channels_first"`) through `s = ceil(log_base(n))`
    butterfly stages, `n = max(in, filters)`, with no non-linearity between
    them. Stage `t` splits the channels into groups of `r_t` (`r_t <= base`)
    whose indices differ in one mixed-radix digit and multiplies each group
    by its own `r_t x r_t` matrix: `n * r_t` weights and multiply-adds per
    position. Every input channel reaches every output channel through
    exactly one path, as in the paper. When `in == filters` and `residual`
    is on, the layer adds its input to the last stage's output (the paper's
    first-to-last residual).

    Widths that are not a power of `base`: the stages run over
    `size >= n` channels with mixed radices chosen to minimise the
    multiply-adds (see `plan_radices`; 96 channels with base 16 run as
    `12 x 8`, no padding), the input is zero-padded from `in` to `size`
    channels and the output is the first `filters` of the `size` channels.
    A power of `base` has `size = n`: no padding, `(base,) * s` radices.

    Computation: each stage is one batched matmul of the
    `(groups, positions, r)` stage input with the `(groups, r, r)` weight;
    one transpose between stages moves the digit just mixed to the front of
    the channel index and the next digit to the last axis, so that `s`
    stages return the channels to their order (`s + 1` transposes in all,
    no gathers). With `recompute` (the default) the backward pass keeps
    only the layer's input and recomputes the stage inputs, so the layer
    holds no more bytes for the backward pass than `Conv2D(filters, 1)`,
    which keeps its input too.

    Weight decay: the BFT paper finds it harmful on butterfly weights (the
    effect of an input on an output is the product of the `s` weights on
    its path, and decay pushes that product to zero). Leave
    `kernel_regularizer` at `None` (as this package's builders do); with an
    optimizer's `weight_decay`, exclude the stages by name:
    `optimizer.exclude_from_weight_decay(var_names=["butterfly"])`.

    Args:
        filters: int. Number of output channels.
        base: int >= 2. The largest radix of a stage: `base=2` is the
            paper's radix-2 butterfly with the most stages and the fewest
            multiply-adds; a larger base has fewer, larger stages.
            Defaults to `2`.
        use_bias: bool. Adds a bias after the residual. Defaults to `True`.
        residual: bool. Adds the input to the output when `in == filters`
            (ignored otherwise). Defaults to `True`.
        recompute: bool. Keep only the input for the backward pass and
            recompute the stages there (`False`: plain autodiff, which keeps
            every stage's output). Same gradients. Defaults to `True`.
        kernel_initializer: `"butterfly_he"` (each edge uniform with
            variance `(2 / in) ** (1 / s)`, so that the product along a path
            has the variance of a He-initialised 1x1 conv: the paper's),
            `"identity"` (the layer starts as the identity map when
            `in == filters`: every stage the identity, except the last,
            zero, when the residual adds the input), `"hadamard"` (radices
            powers of 2, `in == filters == size`, `residual=False`: the
            layer computes the unnormalised Walsh-Hadamard transform, in
            the Sylvester ordering of `scipy.linalg.hadamard`), or any
            Keras initializer, applied to each stage's
            `(groups, r, r)` weight. Defaults to `"butterfly_he"`.
        bias_initializer: Initializer for the bias. Defaults to `"zeros"`.
        kernel_regularizer: Optional regularizer for every stage's weight
            (see above: best left `None`).
        bias_regularizer: Optional regularizer for the bias.
        kernel_constraint: Optional constraint for every stage's weight.
        bias_constraint: Optional constraint for the bias.
        data_format: `"channels_last"` (channels on the last axis, NHWC),
            `"channels_first"` (channels on axis 1, NCHW) or `None`, which
            means `keras.config.image_data_format()`. The same for features
            `(batch, in)`. A channels-first input is transposed to channels
            last and back around the stages. Defaults to `None`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Input shape:
        A tensor of rank >= 2, `(..., in)`, with `in` known: an NHWC map
        `(batch, height, width, in)` or features `(batch, in)`; with
        `data_format="channels_first"`, `(batch, in, ...)`, an NCHW map
        `(batch, in, height, width)`.

    Output shape:
        `(..., filters)`; `(batch, filters, ...)` with
        `data_format="channels_first"`.

    Example:

    ```python
    import keras
    from keras_specnet.layers import ButterflyFusion

    inputs = keras.Input((32, 32, 64))
    x = keras.layers.DepthwiseConv2D(3, padding="same")(inputs)
    x = ButterflyFusion(128, base=4, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    ```

    Reference:
        K. Alizadeh Vahid, A. Prabhu, A. Farhadi, M. Rastegari. "Butterfly
        Transform: An Efficient FFT Based Neural Architecture Design",
        CVPR 2020, arXiv:1906.02256.
    """

    def __init__(
        self,
        filters,
        base=2,
        use_bias=True,
        residual=True,
        recompute=True,
        kernel_initializer="butterfly_he",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_format = _inputs.data_format(data_format)
        self.filters = _checks.positive_int("filters", filters)
        if isinstance(base, bool) or not isinstance(base, int) or base < 2:
            raise _checks.invalid("base", "an integer >= 2", base)
        self.base = base
        self.use_bias = bool(use_bias)
        self.residual = bool(residual)
        self.recompute = bool(recompute)
        if isinstance(kernel_initializer, str) and (kernel_initializer in BUTTERFLY_INITIALIZERS):
            self.kernel_initializer = kernel_initializer
        else:
            try:
                self.kernel_initializer = keras.initializers.get(kernel_initializer)
            except ValueError:
                raise _checks.invalid(
                    "kernel_initializer",
                    f"one of {list(BUTTERFLY_INITIALIZERS)} or a Keras initializer",
                    kernel_initializer,
                ) from None
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def _channel_axis(self, rank):
        return 1 if self.data_format == "channels_first" else rank - 1

    def _check_input_shape(self, shape):
        """The input shape moved to channels last, or a clear error."""
        if len(shape) < 2 or shape[self._channel_axis(len(shape))] is None:
            axis = "axis 1" if self.data_format == "channels_first" else "last axis"
            raise ValueError(
                f"Invalid input for ButterflyFusion '{self.name}'. Expected a "
                f"tensor of rank >= 2 whose channel axis ({axis}, "
                f"data_format={self.data_format!r}) is known. "
                f"Received: input shape={tuple(shape)}"
            )
        shape = tuple(shape)
        if self.data_format == "channels_first":
            return (shape[0], *shape[2:], shape[1])
        return shape

    def _stage_initializers(self, in_width):
        """One initializer per stage, from `kernel_initializer`."""
        stages = len(self.radices)
        if not isinstance(self.kernel_initializer, str):
            return [self.kernel_initializer] * stages
        if self.kernel_initializer == "butterfly_he":
            return [_initializers.ButterflyHe(in_width, stages)] * stages
        if self.kernel_initializer == "identity":
            last = 0.0 if self.uses_residual else 1.0
            return [_initializers.ButterflyIdentity()] * (stages - 1) + [
                _initializers.ButterflyIdentity(last)
            ]
        # "hadamard"
        if (
            in_width != self.filters
            or self.size != in_width
            or any(r & (r - 1) for r in self.radices)
            or self.uses_residual
        ):
            raise _checks.invalid(
                "kernel_initializer",
                "'hadamard' only for a square layer (input channels == "
                "filters) with residual=False whose radices are powers of 2 "
                f"(here: {in_width} -> {self.filters} channels, residual="
                f"{self.residual}, radices {self.radices} with base "
                f"{self.base})",
                self.kernel_initializer,
            )
        return [_initializers.ButterflyHadamard()] * stages

    def build(self, input_shape):
        in_width = int(self._check_input_shape(input_shape)[-1])
        self.in_width = in_width
        self.size, self.radices = plan_radices(max(in_width, self.filters), self.base)
        self.uses_residual = self.residual and in_width == self.filters
        initializers = self._stage_initializers(in_width)
        self.stages = [
            self.add_weight(
                name=f"butterfly_{t}",
                shape=(self.size // radix, radix, radix),
                initializer=initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
            for t, (radix, initializer) in enumerate(zip(self.radices, initializers))
        ]
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

    # Layout: a stage's input is `(size / r, positions, r)`, one row of `r`
    # channels per group and position, so that the stage is one batched
    # matmul with the `(size / r, r, r)` weight. Between stages a single
    # transpose rotates the digit just mixed to the front of the channel
    # index and brings the next one to the last axis; after `s` stages the
    # channels are back in their order.

    def _to_first(self, rows):
        """`(positions, size)` -> the first stage's `(groups, positions, r)`."""
        radix = self.radices[0]
        rows = tf.reshape(rows, [tf.shape(rows)[0], self.size // radix, radix])
        return tf.transpose(rows, [1, 0, 2])

    def _from_first(self, grad):
        grad = tf.transpose(grad, [1, 0, 2])
        return tf.reshape(grad, [tf.shape(grad)[0], self.size])

    def _between(self, b, t):
        """Stage `t`'s output `(size/r, P, r)` -> stage `t + 1`'s input."""
        radix, following = self.radices[t], self.radices[t + 1]
        b = tf.reshape(b, [self.size // (radix * following), following, -1, radix])
        b = tf.transpose(b, [3, 0, 2, 1])
        return tf.reshape(b, [self.size // following, -1, following])

    def _between_backward(self, grad, t):
        """The transpose of `_between(., t)`."""
        radix, following = self.radices[t], self.radices[t + 1]
        grad = tf.reshape(grad, [radix, self.size // (radix * following), -1, following])
        grad = tf.transpose(grad, [1, 3, 2, 0])
        return tf.reshape(grad, [self.size // radix, -1, radix])

    def _to_rows(self, b):
        """The last stage's output `(size/r, P, r)` -> `(positions, size)`."""
        b = tf.transpose(b, [1, 2, 0])
        return tf.reshape(b, [tf.shape(b)[0], self.size])

    def _from_rows(self, grad):
        radix = self.radices[-1]
        grad = tf.reshape(grad, [tf.shape(grad)[0], radix, self.size // radix])
        return tf.transpose(grad, [2, 0, 1])

    def _stage_inputs(self, rows, weights, last=True):
        """Every stage's input, and the last stage's output if `last`."""
        if self.size > self.in_width:
            rows = tf.pad(rows, [[0, 0], [0, self.size - self.in_width]])
        a = self._to_first(rows)
        inputs = []
        for t, w in enumerate(weights):
            inputs.append(a)
            if t + 1 < len(weights):
                a = self._between(tf.matmul(a, w), t)
            elif last:
                a = tf.matmul(a, w)
        return inputs, a

    def _butterfly(self, rows, *weights):
        """The stages on `(positions, in)` rows: `(positions, filters)`."""
        _, out = self._stage_inputs(rows, weights)
        return self._to_rows(out)[:, : self.filters]

    def _butterfly_recomputed(self, rows, weights):
        """`_butterfly`, keeping only `rows` for the backward pass."""

        @tf.custom_gradient
        def forward(x, *weights):
            out = self._butterfly(x, *weights)

            def backward(grad):
                # After `grad` exists, so that a compiled step does not run
                # the recomputation early and hold it.
                with tf.control_dependencies([grad]):
                    again = tf.identity(x)
                inputs, _ = self._stage_inputs(again, weights, last=False)
                if self.size > self.filters:
                    grad = tf.pad(grad, [[0, 0], [0, self.size - self.filters]])
                g = self._from_rows(grad)
                grads = []
                for t in range(len(weights) - 1, -1, -1):
                    grads.append(tf.matmul(inputs[t], g, transpose_a=True))
                    g = tf.matmul(g, weights[t], transpose_b=True)
                    if t > 0:
                        g = self._between_backward(g, t - 1)
                dx = self._from_first(g)[:, : self.in_width]
                return (dx, *grads[::-1])

            return out, backward

        return forward(rows, *weights)

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        if self._check_input_shape(x.shape)[-1] != self.in_width:
            raise ValueError(
                f"Invalid input for ButterflyFusion '{self.name}'. Expected "
                f"{self.in_width} input channels, as when the layer was built. "
                f"Received: input shape={tuple(x.shape)}"
            )
        rank = len(x.shape)
        # Channels first: the stages work on channels-last rows.
        moved = self.data_format == "channels_first" and rank > 2
        if moved:
            x = tf.transpose(x, [0, *range(2, rank), 1])
        rows = tf.reshape(x, [-1, self.in_width])
        weights = [tf.cast(w, x.dtype) for w in self.stages]
        if self.recompute:
            y = self._butterfly_recomputed(rows, weights)
        else:
            y = self._butterfly(rows, *weights)
        y = tf.reshape(y, tf.concat([tf.shape(x)[:-1], [self.filters]], axis=0))
        if self.uses_residual:
            y = y + x
        if self.use_bias:
            y = y + tf.cast(self.bias, y.dtype)
        if moved:
            y = tf.transpose(y, [0, rank - 1, *range(1, rank - 1)])
        return y

    @property
    def butterfly_weights(self):
        """The stages' weights (those to keep out of weight decay)."""
        return list(self.stages)

    def multiply_adds(self, input_shape):
        """Multiply-adds of one example's forward pass (batch axis excluded).

        `size * sum(radices)` per position: the stages over the padded width.
        The residual's and the bias's additions are not counted.
        """
        shape = self._check_input_shape(input_shape)
        size, radices = plan_radices(max(int(shape[-1]), self.filters), self.base)
        return math.prod(int(d) for d in shape[1:-1]) * size * sum(radices)

    def compute_output_shape(self, input_shape):
        shape = (*self._check_input_shape(input_shape)[:-1], self.filters)
        if self.data_format == "channels_first":
            return (shape[0], shape[-1], *shape[1:-1])
        return shape

    def get_config(self):
        config = super().get_config()
        initializer = self.kernel_initializer
        config.update(
            {
                "filters": self.filters,
                "base": self.base,
                "use_bias": self.use_bias,
                "residual": self.residual,
                "recompute": self.recompute,
                "kernel_initializer": initializer
                if isinstance(initializer, str)
                else keras.initializers.serialize(initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "data_format": self.data_format,
            }
        )
        return config
