"""What a spectral layer keeps for its backward pass: a compressed input.

A spectral layer's backward pass needs its input spectrum (for the kernel's
gradient) and what its forward pass computed from it (the threshold's mask
and the activation's derivative). TensorFlow's autodiff would keep several
dense complex tensors per layer for that. `recompute_from_compressed`
instead keeps one compressed copy of the input and recomputes the rest in
the backward pass. The input of a spectral layer is usually the output of
the previous one, zero wherever the threshold zeroed it, so it compresses:

- `"bitmask"`: a packed bit per entry (non-zero or not) plus the non-zero
  values, about `1/8 + 8 p` bytes per entry at density `p`;
- `"sparse_tensor"`: a `tf.SparseTensor`, int64 indices (4 per entry of a
  rank-4 tensor) plus the values, 40 bytes per non-zero: kept to compare;
- `"none"`: plain autodiff, nothing compressed.

The kept values are complex64 (`cache_dtype="float32"`, exact) or, with an
approximate gradient in exchange for less memory:

- `"bfloat16"`: real and imaginary parts as bfloat16, 4 bytes per value;
- `"int8"`: both parts as int8 with one float32 scale per group of
  `GROUP` consecutive values (the group's largest part maps to 127,
  rounding to nearest), about 2.06 bytes per value;
- `"int4"`: both parts in one byte (4 bits each, -7..7, one scale per
  group), rounded stochastically so that the rounding is unbiased, about
  1.06 bytes per value.

Quantization is per group of kept (non-zero) values in their row-major
order, so a group spans neighbouring frequencies of one sample, and zeros
stay exact (the bitmask keeps them). This is activation-compressed
training's recipe (ActNN, Chen et al. 2021) on the spectra.

A real (spatial) input is kept as it is: it is dense, and usually already
held by the layer that produced it (a pooling).
"""

import tensorflow as tf

from keras_specnet import _checks

CACHES = ("bitmask", "sparse_tensor", "none")
CACHE_DTYPES = ("float32", "bfloat16", "int8", "int4")
#: Kept values per quantization scale (`cache_dtype` "int8" and "int4").
GROUP = 64
_LEVELS = {"int8": 127.0, "int4": 7.0}

#: The bit weights of a packed byte; a tensor made where it is used, so
#: that no eager tensor is captured by a traced branch.
_BITS = (1, 2, 4, 8, 16, 32, 64, 128)


def check(cache, cache_dtype):
    _checks.one_of("cache", cache, CACHES)
    _checks.one_of("cache_dtype", cache_dtype, CACHE_DTYPES)


def _encode(flat_values, cache_dtype):
    """The kept complex values as a list of tensors in `cache_dtype`."""
    if cache_dtype == "float32":
        return [flat_values]
    parts = tf.stack([tf.math.real(flat_values), tf.math.imag(flat_values)], axis=-1)
    if cache_dtype == "bfloat16":
        return [tf.cast(parts, tf.bfloat16)]
    levels = _LEVELS[cache_dtype]
    count = tf.shape(parts)[0]
    groups = tf.reshape(tf.pad(parts, [[0, (-count) % GROUP], [0, 0]]), [-1, GROUP * 2])
    top = tf.reduce_max(tf.abs(groups), axis=1, keepdims=True)
    scale = tf.where(top > 0, top / levels, tf.ones_like(top))
    scaled = groups / scale
    if cache_dtype == "int4":
        # Stochastic rounding: E[q] = scaled, so the kept input is unbiased.
        q = tf.floor(scaled + tf.random.uniform(tf.shape(scaled)))
    else:
        q = tf.round(scaled)
    q = tf.clip_by_value(q, -levels, levels)
    q = tf.reshape(q, [-1, 2])[:count]
    if cache_dtype == "int8":
        return [tf.cast(q, tf.int8), scale[:, 0]]
    nibbles = tf.cast(q + 8.0, tf.uint8)
    packed = tf.bitwise.bitwise_or(nibbles[:, 0], tf.bitwise.left_shift(nibbles[:, 1], 4))
    return [packed, scale[:, 0]]


def _decode(encoded, cache_dtype):
    """The complex64 values back from `_encode`'s output."""
    if cache_dtype == "float32":
        return encoded[0]
    if cache_dtype == "bfloat16":
        parts = tf.cast(encoded[0], tf.float32)
        return tf.complex(parts[:, 0], parts[:, 1])
    q, scale = encoded
    if cache_dtype == "int4":
        low = tf.bitwise.bitwise_and(q, 15)
        high = tf.bitwise.right_shift(q, 4)
        q = tf.stack([tf.cast(low, tf.float32), tf.cast(high, tf.float32)], axis=-1) - 8.0
    parts = tf.cast(q, tf.float32) * tf.repeat(scale, GROUP, axis=0)[: tf.shape(q)[0], None]
    return tf.complex(parts[:, 0], parts[:, 1])


def compress(z, cache, cache_dtype="float32"):
    """A compressed copy of a spectral tensor (a tuple of tensors)."""
    shape = tf.shape(z, out_type=tf.int64)
    if cache == "sparse_tensor":
        sparse = tf.sparse.from_dense(z)
        return (sparse.indices, *_encode(sparse.values, cache_dtype), shape)
    flat = tf.reshape(z, [-1])
    keep = tf.not_equal(flat, 0)
    size = tf.size(flat)
    # One byte per entry at most while packing (uint8 throughout).
    bits = tf.pad(tf.cast(keep, tf.uint8), [[0, (-size) % 8]])
    packed = tf.reduce_sum(tf.reshape(bits, [-1, 8]) * tf.constant(_BITS, tf.uint8), axis=1)
    return (packed, *_encode(tf.boolean_mask(flat, keep), cache_dtype), shape)


def decompress(saved, cache, cache_dtype="float32"):
    """The dense spectral tensor back from `compress`'s output."""
    first, *encoded, shape = saved
    values = _decode(encoded, cache_dtype)
    if cache == "sparse_tensor":
        return tf.sparse.to_dense(tf.SparseTensor(first, values, shape))
    size = tf.reduce_prod(shape)
    bits = tf.bitwise.bitwise_and(first[:, None], tf.constant(_BITS, tf.uint8)) > 0
    keep = tf.cast(tf.reshape(bits, [-1])[:size], tf.int32)
    # Each kept entry's rank among the kept ones (from 1), 0 elsewhere: one
    # gather from the values behind a leading zero fills the dense tensor.
    rank = tf.cumsum(keep) * keep
    values = tf.concat([tf.zeros([1], values.dtype), values], axis=0)
    return tf.reshape(tf.gather(values, rank), shape)


def saved_bytes(saved):
    """Bytes of a `compress` output (for tests and reports)."""
    return sum(int(tf.size(t)) * t.dtype.size for t in saved)


#: With `chunks="auto"`, the most bytes one slice of the batch should take
#: (`sample_bytes` times its rows). A slice's intermediates, forward and
#: backward, take a few times its input and output spectra.
AUTO_SLICE_BYTES = 4 * 2**20
#: The slice counts `"auto"` chooses from, fewest first.
AUTO_CHUNKS = (1, 2, 4, 8)


def auto_chunks(batch, sample_bytes, budget=None):
    """The fewest of `AUTO_CHUNKS` slices of `batch` rows that each fit `budget` bytes.

    `sample_bytes` is what one row of the batch takes in the slice's
    largest intermediates; `budget` defaults to `AUTO_SLICE_BYTES`. Never
    more slices than rows, and at most `AUTO_CHUNKS[-1]`.
    """
    budget = AUTO_SLICE_BYTES if budget is None else budget
    for chunks in AUTO_CHUNKS:
        if chunks >= batch:
            return max(batch, 1)
        if -(-batch // chunks) * sample_bytes <= budget:
            return chunks
    return AUTO_CHUNKS[-1]


def _row_size(shape):
    size = 1
    for dim in shape[1:]:
        size *= dim
    return size


def auto_count(batch, sample_bytes, budget=None):
    """`auto_chunks` of a batch size known only as the step runs (an int tensor)."""
    budget = AUTO_SLICE_BYTES if budget is None else budget
    batch = tf.cast(batch, tf.int64)
    counts = tf.constant(AUTO_CHUNKS, tf.int64)
    rows = -(-batch // counts)
    fits = (counts >= batch) | (rows * sample_bytes <= budget)
    first = tf.reduce_min(tf.where(fits, counts, AUTO_CHUNKS[-1]))
    return tf.minimum(first, tf.maximum(batch, 1))


def _chunk_bounds(batch, chunks, count=None):
    """`chunks` (start, stop) pairs that split `batch` rows as evenly as possible.

    With `count` (an int tensor, at most `chunks`), the rows are split over
    the first `count` pairs and the others are empty.
    """
    if count is None:
        cuts = [(batch * i) // chunks for i in range(chunks + 1)]
    else:
        count = tf.cast(count, batch.dtype)
        cuts = [(batch * tf.minimum(i, count)) // count for i in range(chunks + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def recompute_from_compressed(
    fn, inputs, params, cache, cache_dtype="float32", chunks=1, prepare=None, sample_bytes=None
):
    """`fn(inputs, *prepare(params, inputs))`, whose backward pass keeps a compressed `inputs`.

    The backward pass decompresses the input, runs `fn` again under a
    gradient tape and returns the gradients for `inputs` and each of
    `params`: the same gradients as plain autodiff, computed from what was
    kept (exactly, with `cache_dtype="float32"`).

    `prepare(params, after)` computes, from the weights alone, what `fn`
    needs of them (a kernel spectrum): once per pass, shared by every slice
    of the batch, and never held from the forward to the backward pass. It
    must make that work wait for the tensor `after` (the input in the
    forward pass, the upstream gradient in the backward pass), so that a
    compiled step does not compute it early and hold it. The backward pass
    computes it once, and takes each slice's gradient with respect to it
    back to the weights through `prepare` (a small product for a kernel
    spectrum). Without `prepare`, `fn` gets the weights.

    With `chunks > 1` the batch is split into that many slices, run one
    after the other (control dependencies order them) in the forward pass
    and again in the backward pass: the intermediates of `fn` and of its
    gradient (FFTs, the per-frequency product, the threshold's and the
    activation's tensors) then exist for one slice at a time, which bounds
    the step's transient memory. `fn` must treat the samples of a batch
    independently.

    Args:
        fn: the forward function of a slice, `fn(inputs, *prepared)`.
        inputs: a real or a spectral tensor.
        params: a list of tensors (weights).
        cache: one of `CACHES`; `"none"` calls `fn` under plain autodiff.
        cache_dtype: dtype of the kept values of a spectral input.
        chunks: int >= 1, number of slices of the batch, or `"auto"`: the
            fewest of `AUTO_CHUNKS` slices whose rows take at most
            `AUTO_SLICE_BYTES` each, at `sample_bytes` per row. When the
            batch size is unknown as the step is traced (`model.fit` on
            arrays), the step has `AUTO_CHUNKS[-1]` slices, and chooses as
            it runs how many of them the batch fills (`auto_count`); the
            others are empty.
        prepare: optional `prepare(params, after)`, returning a list of
            tensors. Defaults to passing `params` to `fn` as they are.
        sample_bytes: bytes of one row's intermediates, for `"auto"`.
    """
    if chunks == "auto":
        if sample_bytes is None:
            # The input's row and an output row as large.
            sample_bytes = 2 * inputs.dtype.size * _row_size(inputs.shape)
        if cache == "none":
            chunks = 1
        elif inputs.shape[0] is not None:
            chunks = auto_chunks(inputs.shape[0], sample_bytes)
        else:
            count = auto_count(tf.shape(inputs)[0], sample_bytes)
            return _recompute(
                fn, inputs, params, cache, cache_dtype, AUTO_CHUNKS[-1], prepare, count
            )
    return _recompute(fn, inputs, params, cache, cache_dtype, chunks, prepare)


def _recompute(fn, inputs, params, cache, cache_dtype, chunks, prepare, count=None):
    if prepare is None:

        def prepare(weights, after):
            return list(weights)

    if cache == "none":
        return fn(inputs, *prepare(list(params), inputs))
    spectral = inputs.dtype.is_complex
    # Read the weights here: a variable read inside `forward` would make
    # tf.custom_gradient track it separately.
    params = [tf.convert_to_tensor(getattr(p, "value", p)) for p in params]

    @tf.custom_gradient
    def forward(x, *weights):
        # In eager mode an enclosing tape records the ops run here unless
        # their inputs are cut from it, and would keep their tensors.
        x = tf.stop_gradient(x)
        weights = [tf.stop_gradient(w) for w in weights]
        bounds = _chunk_bounds(tf.shape(x)[0], chunks, count)
        prepared = prepare(weights, x)
        outs, saved, done = [], [], []
        for start, stop in bounds:
            with tf.control_dependencies(done):
                part = x[start:stop] if chunks > 1 else tf.identity(x)
            out = fn(part, *prepared)
            kept = compress(part, cache, cache_dtype) if spectral else ()
            outs.append(out)
            saved.append(kept)
            done = [out, *kept]
        # A real input (a network's first layer) is kept as it is.

        def backward(grad):
            with tf.GradientTape(persistent=chunks > 1) as weights_tape:
                weights_tape.watch(weights)
                # A weight `prepare` passes on as it is gets its own tensor:
                # inside a `tf.cond` branch the tape's gradient of a source
                # with respect to itself is otherwise wrong.
                again_prepared = [
                    tf.identity(t) if any(t is w for w in weights) else t
                    for t in prepare(weights, grad)
                ]
            grads_x, grads_w, done = [], None, [grad]
            for i, (start, stop) in enumerate(bounds):
                with tf.control_dependencies(done):
                    if spectral:
                        again = decompress(saved[i], cache, cache_dtype)
                    else:
                        again = x[start:stop] if chunks > 1 else tf.identity(x)
                    upstream = grad[start:stop] if chunks > 1 else grad
                with tf.GradientTape() as tape:
                    tape.watch([again, *again_prepared])
                    recomputed = fn(again, *again_prepared)
                grad_x, *grad_p = tape.gradient(
                    recomputed,
                    [again, *again_prepared],
                    output_gradients=upstream,
                    unconnected_gradients=tf.UnconnectedGradients.ZERO,
                )
                # Back to the weights slice by slice: a running sum of the
                # gradients of what `prepare` returned would hold two more
                # copies of it.
                grad_w = weights_tape.gradient(
                    again_prepared,
                    weights,
                    output_gradients=grad_p,
                    unconnected_gradients=tf.UnconnectedGradients.ZERO,
                )
                grads_x.append(grad_x)
                grads_w = grad_w if grads_w is None else [a + b for a, b in zip(grads_w, grad_w)]
                done = [grad_x, *grads_w]
            grad_x = tf.concat(grads_x, axis=0) if chunks > 1 else grads_x[0]
            return [grad_x, *grads_w]

        out = tf.concat(outs, axis=0) if chunks > 1 else outs[0]
        return out, backward

    return forward(inputs, *params)


def linear_without_cache(fn, inputs):
    """`fn(inputs)` for a linear `fn`, keeping nothing for the backward pass.

    The gradient of a linear map does not depend on where it is taken, so
    the backward pass differentiates `fn` at zero instead of keeping the
    input or anything computed from it (an FFT's autodiff in eager mode
    keeps its dense input and output).
    """
    shape, dtype = tf.shape(inputs), inputs.dtype

    @tf.custom_gradient
    def forward(x):
        out = fn(tf.stop_gradient(x))

        def backward(grad):
            with tf.control_dependencies([grad]):
                zero = tf.zeros(shape, dtype)
            with tf.GradientTape() as tape:
                tape.watch(zero)
                again = fn(zero)
            return tape.gradient(again, zero, output_gradients=grad)

        return out, backward

    return forward(inputs)


def _same_padding(size, window):
    """(before, after) of "SAME" pooling with strides equal to the window."""
    total = -(-size // window) * window - size
    return total // 2, total - total // 2


def max_pool_keeping_argmax(x, pool_size):
    """`tf.nn.max_pool2d(x, pool_size, pool_size, "SAME")` keeping one byte per output.

    For windows that do not overlap (strides equal to the window), the
    backward pass needs only where each window's maximum was. This keeps
    that position as a uint8 per output entry, instead of the dense input
    and output that the pooling's own gradient keeps (for a 2x2 window, 1
    byte against 20 per output entry in float32). The gradient is the
    pooling's: each output's gradient goes to the first maximum of its
    window.

    Args:
        x: float32 NHWC tensor with known height and width.
        pool_size: `(ph, pw)`, at most 256 entries per window.
    """
    ph, pw = pool_size
    height, width = x.shape[1], x.shape[2]
    (top, bottom), (left, right) = _same_padding(height, ph), _same_padding(width, pw)
    rows, cols = (height + top + bottom) // ph, (width + left + right) // pw

    @tf.custom_gradient
    def pool(x):
        x = tf.stop_gradient(x)
        batch, channels = tf.shape(x)[0], tf.shape(x)[3]
        padded = tf.pad(
            x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=float("-inf")
        )
        windows = tf.reshape(padded, [batch, rows, ph, cols, pw, channels])
        windows = tf.reshape(
            tf.transpose(windows, (0, 1, 3, 5, 2, 4)), [batch, rows, cols, channels, ph * pw]
        )
        where = tf.cast(tf.argmax(windows, axis=-1, output_type=tf.int32), tf.uint8)
        # The output waits for the positions, so that the windows are not
        # left alive for them after the forward pass has moved on.
        with tf.control_dependencies([where]):
            out = tf.reduce_max(windows, axis=-1)

        def backward(grad):
            spread = tf.one_hot(tf.cast(where, tf.int32), ph * pw, dtype=grad.dtype)
            spread = tf.reshape(spread * grad[..., None], [batch, rows, cols, channels, ph, pw])
            spread = tf.reshape(
                tf.transpose(spread, (0, 1, 4, 2, 5, 3)), [batch, rows * ph, cols * pw, channels]
            )
            return spread[:, top : top + height, left : left + width, :]

        return out, backward

    return pool(x)
