"""The orthonormal 2-D real FFTs of the spectral format, channels first.

`rfft2d` pads an NHWC map and returns its half spectrum `(batch, C, P,
Q // 2 + 1)`; `irfft2d` returns the cropped NHWC map of such a spectrum.
`keras_specnet.spectral` builds the documented layouts on these two.
"""

import math

import numpy as np
import tensorflow as tf


def rfft2d(x, fft_size):
    """Orthonormal half spectrum, channels first: `(batch, C, P, Q // 2 + 1)`."""
    rows, cols = fft_size
    x = tf.transpose(tf.cast(x, tf.float32), (0, 3, 1, 2))
    # Padded here rather than by `fft_length`, which fails on an empty
    # batch (an empty slice of a batch cut into `batch_chunks`).
    height, width = int(x.shape[2]), int(x.shape[3])
    x = tf.pad(x, ((0, 0), (0, 0), (0, rows - height), (0, cols - width)))
    return _orthonormal_rfft2d(x)


def _adjoint_weights(cols):
    """Weights of the half spectrum's columns in the adjoint of a real FFT.

    `irfft2d` counts each column that stands for itself and its conjugate
    twice; the adjoint counts every stored column once, so those columns
    are halved (all but the first, and the last of an even length).
    """
    weights = np.full(cols // 2 + 1, 0.5, np.float32)
    weights[0] = 1.0
    if cols % 2 == 0:
        weights[-1] = 1.0
    return weights


@tf.custom_gradient
def _orthonormal_rfft2d(x):
    """`rfft2d` of a `(batch, C, P, Q)` map with orthonormal scaling.

    The gradient is the transform's adjoint, one `irfft2d` of the weighted
    upstream gradient. TensorFlow's own gradient of `rfft2d` multiplies
    batch-sized tiles of a `P x P` matrix, which a compiled function folds
    into constants that it holds for as long as it lives.
    """
    rows, cols = int(x.shape[-2]), int(x.shape[-1])
    scale = math.sqrt(rows * cols)
    z = tf.signal.rfft2d(x, fft_length=(rows, cols)) * tf.cast(1.0 / scale, tf.complex64)

    def grad(upstream):
        weights = tf.constant(_adjoint_weights(cols).astype(np.complex64))
        return tf.signal.irfft2d(upstream * weights, fft_length=(rows, cols)) * scale

    return z, grad


def irfft2d(z, fft_size, size, strides):
    """The NHWC map of a channels-first half spectrum `(batch, C, P, Q // 2 + 1)`."""
    rows, cols = fft_size
    height, width = size
    x = tf.signal.irfft2d(z, fft_length=(rows, cols))
    x = x[:, :, : height : strides[0], : width : strides[1]]
    x = x * math.sqrt(rows * cols)
    return tf.transpose(x, (0, 2, 3, 1))
