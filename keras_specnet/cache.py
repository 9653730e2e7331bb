"""What a spectral layer keeps for its backward pass: a compressed input.

A spectral layer's backward pass needs its input spectrum (for the kernel's
gradient) and what its forward pass computed from it (the threshold's mask
and the activation's derivative). TensorFlow's autodiff would keep several
dense complex tensors per layer for that. `recompute_from_compressed`
instead keeps one compressed copy of the input and recomputes the rest in
the backward pass. The input of a spectral layer is usually the output of
the previous one, zero wherever the threshold zeroed it, so it compresses:

- `"bitmask"`: a packed bit per entry (non-zero or not) plus the non-zero
  values, about `1/8 + 8 p` bytes per entry at density `p` (`1/8 + 4 p`
  with `cache_dtype="bfloat16"`);
- `"sparse_tensor"`: a `tf.SparseTensor`, int64 indices (4 per entry of a
  rank-4 tensor) plus the values, 40 bytes per non-zero: kept to compare;
- `"none"`: plain autodiff, nothing compressed.

A real (spatial) input is kept as it is: it is dense, and usually already
held by the layer that produced it (a pooling).
"""

import tensorflow as tf

from keras_specnet import _checks

CACHES = ("bitmask", "sparse_tensor", "none")
CACHE_DTYPES = ("float32", "bfloat16")

_BITS = tf.constant([1, 2, 4, 8, 16, 32, 64, 128], tf.uint8)


def check(cache, cache_dtype):
    _checks.one_of("cache", cache, CACHES)
    _checks.one_of("cache_dtype", cache_dtype, CACHE_DTYPES)


def _values(flat_values, cache_dtype):
    if cache_dtype == "float32":
        return flat_values
    parts = tf.stack([tf.math.real(flat_values), tf.math.imag(flat_values)], axis=-1)
    return tf.cast(parts, cache_dtype)


def _restore_values(values, cache_dtype):
    if cache_dtype == "float32":
        return values
    parts = tf.cast(values, tf.float32)
    return tf.complex(parts[..., 0], parts[..., 1])


def compress(z, cache, cache_dtype="float32"):
    """A compressed copy of a spectral tensor (a tuple of tensors)."""
    shape = tf.shape(z, out_type=tf.int64)
    if cache == "sparse_tensor":
        sparse = tf.sparse.from_dense(z)
        return (sparse.indices, _values(sparse.values, cache_dtype), shape)
    flat = tf.reshape(z, [-1])
    keep = tf.not_equal(flat, 0)
    size = tf.size(flat)
    # One byte per entry at most while packing (uint8 throughout).
    bits = tf.pad(tf.cast(keep, tf.uint8), [[0, (-size) % 8]])
    packed = tf.reduce_sum(tf.reshape(bits, [-1, 8]) * _BITS, axis=1)
    return (packed, _values(tf.boolean_mask(flat, keep), cache_dtype), shape)


def decompress(saved, cache, cache_dtype="float32"):
    """The dense spectral tensor back from `compress`'s output."""
    first, values, shape = saved
    values = _restore_values(values, cache_dtype)
    if cache == "sparse_tensor":
        return tf.sparse.to_dense(tf.SparseTensor(first, values, shape))
    size = tf.reduce_prod(shape)
    bits = tf.bitwise.bitwise_and(first[:, None], _BITS) > 0
    keep = tf.cast(tf.reshape(bits, [-1])[:size], tf.int32)
    # Each kept entry's rank among the kept ones (from 1), 0 elsewhere: one
    # gather from the values behind a leading zero fills the dense tensor.
    rank = tf.cumsum(keep) * keep
    values = tf.concat([tf.zeros([1], values.dtype), values], axis=0)
    return tf.reshape(tf.gather(values, rank), shape)


def saved_bytes(saved):
    """Bytes of a `compress` output (for tests and reports)."""
    return sum(int(tf.size(t)) * t.dtype.size for t in saved)


def _chunk_bounds(batch, chunks):
    """`chunks` (start, stop) pairs that split `batch` rows as evenly as possible."""
    cuts = [(batch * i) // chunks for i in range(chunks + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def recompute_from_compressed(
    fn, inputs, params, cache, cache_dtype="float32", chunks=1, prepare=None
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
        chunks: int >= 1, number of slices of the batch.
        prepare: optional `prepare(params, after)`, returning a list of
            tensors. Defaults to passing `params` to `fn` as they are.
    """
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
        bounds = _chunk_bounds(tf.shape(x)[0], chunks)
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
                again_prepared = prepare(weights, grad)
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
