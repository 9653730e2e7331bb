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

_BITS = tf.constant([1, 2, 4, 8, 16, 32, 64, 128], tf.int32)


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
    bits = tf.pad(tf.cast(keep, tf.int32), [[0, (-size) % 8]])
    packed = tf.cast(tf.reduce_sum(tf.reshape(bits, [-1, 8]) * _BITS, axis=1), tf.uint8)
    return (packed, _values(tf.boolean_mask(flat, keep), cache_dtype), shape)


def decompress(saved, cache, cache_dtype="float32"):
    """The dense spectral tensor back from `compress`'s output."""
    first, values, shape = saved
    values = _restore_values(values, cache_dtype)
    if cache == "sparse_tensor":
        return tf.sparse.to_dense(tf.SparseTensor(first, values, shape))
    size = tf.reduce_prod(shape)
    bits = tf.bitwise.bitwise_and(tf.cast(first, tf.int32)[:, None], _BITS) > 0
    keep = tf.reshape(bits, [-1])[:size]
    flat = tf.scatter_nd(tf.where(keep), values, tf.reshape(size, [1]))
    return tf.reshape(flat, shape)


def saved_bytes(saved):
    """Bytes of a `compress` output (for tests and reports)."""
    return sum(int(tf.size(t)) * t.dtype.size for t in saved)


def recompute_from_compressed(fn, inputs, params, cache, cache_dtype="float32"):
    """`fn(inputs, *params)`, whose backward pass keeps a compressed `inputs`.

    The backward pass decompresses the input, runs `fn` again under a
    gradient tape and returns the gradients for `inputs` and each of
    `params`: the same gradients as plain autodiff of `fn`, computed from
    what was kept (exactly, with `cache_dtype="float32"`). `fn` must make any
    work that depends only on `params` (the kernel spectrum) depend on its
    input, so that a compiled step does not compute it early and hold it.

    Args:
        fn: the forward function.
        inputs: a real or a spectral tensor.
        params: a list of tensors (weights).
        cache: one of `CACHES`; `"none"` calls `fn` under plain autodiff.
        cache_dtype: dtype of the kept values of a spectral input.
    """
    if cache == "none":
        return fn(inputs, *params)
    spectral = inputs.dtype.is_complex
    # Read the weights here: a variable read inside `forward` would make
    # tf.custom_gradient track it separately.
    params = [tf.convert_to_tensor(getattr(p, "value", p)) for p in params]

    @tf.custom_gradient
    def forward(x, *weights):
        # In eager mode an enclosing tape records the ops run here unless
        # their inputs are cut from it, and would keep their tensors.
        out = fn(tf.stop_gradient(x), *[tf.stop_gradient(w) for w in weights])
        saved = compress(x, cache, cache_dtype) if spectral else (x,)

        def backward(grad):
            with tf.control_dependencies([grad]):
                again = decompress(saved, cache, cache_dtype) if spectral else tf.identity(saved[0])
            with tf.GradientTape() as tape:
                tape.watch([again, *weights])
                with tf.control_dependencies([grad]):
                    recomputed = fn(again, *weights)
            return tape.gradient(recomputed, [again, *weights], output_gradients=grad)

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
