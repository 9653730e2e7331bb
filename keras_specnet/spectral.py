"""The spectral-tensor format, and the spectral maths every layer shares.

A *spectral tensor* is what a spectral layer hands to the next one. This
module defines it, and nothing else in the package builds or reads one
except through the functions here.

Format:

- dtype `complex64`, whatever the dtype policy (no backend has a
  half-precision FFT);
- layout `(batch, P, Q // 2 + 1, channels)`: axes 1 and 2 are the row and
  column frequencies of a real feature map that was zero-padded to `P x Q`
  (channels last, like NHWC). Only the non-negative column frequencies are
  stored (`tf.signal.rfft2d`); the others are their complex conjugates;
- `Q` is always even, so the FFT size is known from the shape alone:
  `P = shape[1]`, `Q = 2 * (shape[2] - 1)` (see `fft_size_of`);
- scaling is orthonormal (energy-preserving): the sum of `|Z|^2` over the
  full spectrum equals the sum of `x^2` over the map. A threshold `beta`
  therefore means the same thing at every image size;
- the real map sits at the top-left corner `[0:H, 0:W]` of the `P x Q`
  plane; the rest holds zero padding (after `ToSpectral`) or the spill of
  the linear convolutions applied since. Going back to the spatial domain
  crops `[0:H, 0:W]`, so the crop size `(H, W)` is an argument of the
  layer that does it (`ToSpatial(size=...)`), not part of the tensor.

Convolution in this format is a per-frequency matrix product with the
spectrum of the spatial kernel. The kernel is placed in the `P x Q` plane
so that the product, cropped at the origin, is `keras.layers.Conv2D`'s
cross-correlation with `padding="same"` (or, shifted by `conv_offset`,
`"valid"` or `"full"`; a dilated kernel has its taps placed
`dilation_rate` apart); for a chain of spectral convolutions it is the
linear convolution, wrapped around (circular) only where the padding is
too small for the chain.
"""

import functools
import math

import numpy as np
import tensorflow as tf

from keras_specnet import _checks, _fft

#: dtype of every spectral tensor.
SPECTRAL_DTYPE = "complex64"


def is_spectral(x):
    """True when `x` (a tensor or a `KerasTensor`) is a spectral tensor."""
    return "complex" in str(getattr(x.dtype, "name", x.dtype))


def padded_size(height, width, pad_height, pad_width):
    """The FFT size `(P, Q)` of an `H x W` map padded by the given amounts.

    `P = H + pad_height` and `Q = W + pad_width`, rounded up to an even
    number so that the width can be recovered from the half spectrum.
    """
    rows = height + pad_height
    cols = width + pad_width
    return rows, cols + (cols % 2)


def check_fft_padding(fft_padding):
    """`fft_padding` as given, or a `ValueError` if it is none of the choices."""
    if fft_padding is None or fft_padding == "linear":
        return fft_padding
    if isinstance(fft_padding, bool) or not isinstance(fft_padding, int) or fft_padding < 0:
        raise _checks.invalid("fft_padding", "None, 'linear' or an integer >= 0", fft_padding)
    return fft_padding


def fft_padding_of(convs, fft_padding):
    """The zero padding a spectral block adds before its FFT.

    Args:
        convs: the block's `(filters, kernel_size)` pairs, in order.
        fft_padding: `None` (Algorithm 1 of the paper: `k - 1` for the
            largest kernel `k`, the convolutions after the first being
            circular over that size), `"linear"` (the sum of `k - 1` over
            the block: every convolution linear, bigger spectra) or an int.
    """
    check_fft_padding(fft_padding)
    if fft_padding is None:
        return max(k for _, k in convs) - 1
    if fft_padding == "linear":
        return sum(k - 1 for _, k in convs)
    return fft_padding


def fft_size_of(shape):
    """The FFT size `(P, Q)` of a spectral tensor of the given shape."""
    return int(shape[1]), 2 * (int(shape[2]) - 1)


def spectral_shape(batch, fft_size, channels):
    """The shape of a spectral tensor for an FFT size `(P, Q)`."""
    rows, cols = fft_size
    return (batch, rows, cols // 2 + 1, channels)


def same_padding_offset(size, kernel, stride=1):
    """Rows (or columns) of zeros that `padding="same"` puts before a map.

    TensorFlow's rule: `ceil(size / stride)` outputs, the total padding
    split with the smaller half first.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2


def to_spectral(x, fft_size):
    """Orthonormal half spectrum of a real NHWC map zero-padded to `fft_size`.

    Args:
        x: real tensor `(batch, H, W, C)`, any float dtype.
        fft_size: `(P, Q)` with `P >= H`, `Q >= W` and `Q` even.

    Returns:
        A spectral tensor `(batch, P, Q // 2 + 1, C)`.
    """
    return tf.transpose(_fft.rfft2d(x, fft_size), (0, 2, 3, 1))


def to_spatial(z, size, strides=(1, 1)):
    """The real NHWC map of a spectral tensor, cropped to `size` at the origin.

    Args:
        z: spectral tensor `(batch, P, Q // 2 + 1, C)`.
        size: `(H, W)`, the crop, at most `(P, Q)`.
        strides: keep every `strides[0]`-th row and `strides[1]`-th column
            of the crop (uniform downsampling). Defaults to `(1, 1)`.

    Returns:
        A float32 tensor `(batch, ceil(H / s0), ceil(W / s1), C)`.
    """
    return _fft.irfft2d(tf.transpose(z, (0, 3, 1, 2)), fft_size_of(z.shape), size, strides)


# Frequency-major parts: a spectral layer's internal layout. The real and
# imaginary parts of a spectrum, each `(F, batch, C)` with the
# `F = P * (Q // 2 + 1)` frequencies row-major: the per-frequency product is
# then a batched matrix product, and the element-wise maps that follow it
# need no complex tensor.


def _split(z):
    return tf.math.real(z), tf.math.imag(z)


def frequency_major(z):
    """The frequency-major parts of a spectral tensor."""
    _, rows, half, channels = z.shape
    z = tf.reshape(tf.transpose(z, (1, 2, 0, 3)), (rows * half, -1, channels))
    return _split(z)


def frequency_major_of_map(x, fft_size):
    """The frequency-major parts of `to_spectral(x, fft_size)`."""
    rows, cols = fft_size
    z = tf.transpose(_fft.rfft2d(x, fft_size), (2, 3, 0, 1))
    return _split(tf.reshape(z, (rows * (cols // 2 + 1), -1, z.shape[-1])))


def _unflatten(real, imag, fft_size):
    rows, cols = fft_size
    return tf.reshape(tf.complex(real, imag), (rows, cols // 2 + 1, -1, real.shape[-1]))


def from_frequency_major(real, imag, fft_size):
    """The spectral tensor of frequency-major parts."""
    return tf.transpose(_unflatten(real, imag, fft_size), (2, 0, 1, 3))


def frequency_major_to_spatial(real, imag, fft_size, size, strides=(1, 1)):
    """`to_spatial` of the spectral tensor of frequency-major parts."""
    z = tf.transpose(_unflatten(real, imag, fft_size), (2, 3, 0, 1))
    return _fft.irfft2d(z, fft_size, size, strides)


def _dft_rows(n, keep, kernel, offset, dilation=1):
    """`E[f, a] = exp(-2 pi i f (offset - a * dilation) / n)` for `f < keep`, `a < kernel`.

    Multiplying a kernel by this matrix gives the DFT of the kernel placed
    in an `n`-point plane with its tap `a` at position `offset - a * dilation`,
    which turns the circular convolution into a cross-correlation whose
    output `i` reads the input at `i - offset + a * dilation`: with `offset`
    the zero padding that `Conv2D` would put before the map, output `i` is
    `Conv2D`'s output `i` (taps `dilation` apart, as `dilation_rate` places
    them).
    """
    f = np.arange(keep)[:, None]
    a = np.arange(kernel)[None, :]
    phase = -2.0 * np.pi * ((f * (offset - a * dilation)) % n) / n
    return np.exp(1j * phase)


@functools.lru_cache(maxsize=256)
def _kernel_dft(fft_size, kernel_size, offsets, dilation=(1, 1)):
    """The 2-D DFT of a `kh x kw` kernel as two real `(F, kh * kw)` matrices.

    The real and the imaginary part: rows index the `F = P * (Q // 2 + 1)`
    frequencies (row-major), columns the kernel's taps `(a, b)` row-major,
    tap `(a, b)` placed at `(offsets[0] - a * dilation[0],
    offsets[1] - b * dilation[1])` of the plane (modulo its size).
    """
    (rows, cols), (kh, kw) = fft_size, kernel_size
    e_rows = _dft_rows(rows, rows, kh, offsets[0], dilation[0])
    e_cols = _dft_rows(cols, cols // 2 + 1, kw, offsets[1], dilation[1])
    m = np.einsum("pa,qb->pqab", e_rows, e_cols).reshape(-1, kh * kw)
    return m.real.astype(np.float32), m.imag.astype(np.float32)


def dilated_size(kernel_size, dilation=(1, 1)):
    """The extent `(k - 1) * d + 1` of each axis of a dilated kernel."""
    return tuple((k - 1) * d + 1 for k, d in zip(kernel_size, dilation))


def conv_offset(size, kernel, stride, padding):
    """Zero rows (or columns) that `Conv2D` with `padding` puts before a map.

    `kernel` is the kernel's (dilated) extent. `"valid"` puts none,
    `"same"` TensorFlow's `same_padding_offset`, `"full"` `kernel - 1` (the
    whole linear convolution).
    """
    if padding == "valid":
        return 0
    if padding == "full":
        return kernel - 1
    return same_padding_offset(size, kernel, stride)


def conv_length(size, kernel, padding):
    """Rows (or columns) of the stride-1 `Conv2D` output with `padding` on a map.

    `size - kernel + 1` for `"valid"`, `size` for `"same"`,
    `size + kernel - 1` for `"full"`; a stride `s` keeps every `s`-th of
    them, starting with the first.
    """
    if padding == "valid":
        return size - kernel + 1
    if padding == "full":
        return size + kernel - 1
    return size


def _real_to_complex(x):
    """`x + 0i` for a float32 `x`.

    The imaginary part is a scalar zero (broadcast): `tf.zeros_like(x)`
    would be turned by constant folding into an `x`-sized constant that a
    compiled step holds for its whole life, and `tf.cast` to complex has a
    gradient that warns about discarding an imaginary part.
    """
    return tf.complex(x, tf.zeros([], x.dtype))


def kernel_spectrum(kernel, fft_size, offsets, after=None, dilation=(1, 1)):
    """Spectrum of a spatial `(kh, kw, in, out)` kernel, in `spectral_product`'s layout.

    The spectrum at the `F = P * (Q // 2 + 1)` frequencies of the half
    plane, as its real and imaginary parts, each `(F, in, out)` (the
    frequencies row-major, as in a spectral tensor). Computed as one real
    matrix product with the kernel's DFT matrix (the same numbers as an FFT
    of the zero-padded kernel, without the padding).

    Args:
        kernel: float tensor `(kh, kw, in, out)`, cross-correlation kernel as
            in `keras.layers.Conv2D`.
        fft_size: `(P, Q)`.
        offsets: `(rows, cols)` of zero padding that `Conv2D` would put
            before the map (`conv_offset`; `same_padding_offset` for
            `padding="same"`); output pixel `(i, j)` of the cropped product
            is then Conv2D's stride-1 output pixel `(i, j)`.
        after: optional tensor the computation waits for. Inside a compiled
            step, work that depends only on weights may otherwise be run
            early and its result (often larger than an activation) held.
        dilation: `(rows, cols)`: the kernel's taps are placed this far
            apart, as `Conv2D`'s `dilation_rate` places them; `offsets` are
            then those of the dilated extent (see `dilated_size`).
            Defaults to `(1, 1)`.

    Returns:
        A pair `(real, imag)` of float32 tensors `(F, in, out)`.
    """
    if after is not None:
        with tf.control_dependencies([after]):
            kernel = tf.identity(kernel)
    kh, kw, cin, cout = (int(d) for d in kernel.shape)
    dft = _kernel_dft(tuple(fft_size), (kh, kw), tuple(offsets), tuple(dilation))
    flat = tf.reshape(tf.cast(kernel, tf.float32), (kh * kw, cin * cout))
    # One product per part: slices of a joint product would have gradients
    # of the joint product's size each.
    return tuple(tf.reshape(tf.matmul(tf.constant(m), flat), (-1, cin, cout)) for m in dft)


@tf.custom_gradient
def product_parts(real, imag, k):
    """`spectral_product` on frequency-major parts; returns the output's parts.

    Four real batched matrix products per frequency, `ac - bd` and
    `ad + bc` for `z = a + ib` and `k = c + id`. (Gauss's three-product form
    needs `c + d`, a tensor of the kernel spectrum's size, for every slice
    of a batch, which costs more than the product it saves when the slices
    are small.) The gradient is written out so that each of the kernel's two
    parts gets its gradient from one product, with no other tensor of the
    kernel spectrum's size (the batch and the two parts of the input are
    stacked instead, slices of the batch being small).
    """
    c, d = k
    out_real = tf.matmul(real, c) - tf.matmul(imag, d)
    out_imag = tf.matmul(real, d) + tf.matmul(imag, c)

    def grad(g_real, g_imag):
        grad_real = tf.matmul(g_real, c, transpose_b=True) + tf.matmul(g_imag, d, transpose_b=True)
        grad_imag = tf.matmul(g_imag, c, transpose_b=True) - tf.matmul(g_real, d, transpose_b=True)
        both = tf.concat([real, imag], axis=1)
        grad_c = tf.matmul(both, tf.concat([g_real, g_imag], axis=1), transpose_a=True)
        grad_d = tf.matmul(both, tf.concat([g_imag, -g_real], axis=1), transpose_a=True)
        return grad_real, grad_imag, (grad_c, grad_d)

    return (out_real, out_imag), grad


def spectral_product(z, k):
    """Per-frequency channel mixing: `Y[b, p, q, o] = sum_i Z[b, p, q, i] K[p, q, i, o]`.

    `k` is a kernel spectrum as `kernel_spectrum` returns it.
    """
    real, imag = product_parts(*frequency_major(z), k)
    return from_frequency_major(real, imag, fft_size_of(z.shape))


def add_bias(z, bias):
    """Adds a per-channel constant to the map: `bias * sqrt(P * Q)` on the DC term."""
    rows, cols = fft_size_of(z.shape)
    dc = tf.cast(bias, tf.float32) * math.sqrt(rows * cols)
    half = int(z.shape[2])
    dc = tf.pad(tf.reshape(dc, (1, 1, 1, -1)), ((0, 0), (0, rows - 1), (0, half - 1), (0, 0)))
    return z + _real_to_complex(dc)


def add_bias_parts(real, bias, fft_size):
    """`add_bias` on the real frequency-major part (the DC term is frequency 0)."""
    rows, cols = fft_size
    # After `real`: a tensor made from a weight alone may otherwise be made
    # early in a compiled step, and held until the backward pass.
    with tf.control_dependencies([real]):
        dc = tf.reshape(tf.cast(bias, tf.float32) * math.sqrt(rows * cols), (1, 1, -1))
    return real + tf.pad(dc, ((0, int(real.shape[0]) - 1), (0, 0), (0, 0)))


#: How a threshold `beta` is read: as a magnitude of the orthonormal
#: spectrum (the paper's), or as a multiple of the RMS of each sample's and
#: channel's spectrum.
BETA_MODES = ("absolute", "relative")


def _column_weights(half):
    """How many entries of the full spectrum each column of the half spectrum stands for."""
    weights = np.full(half, 2.0, np.float32)
    weights[0] = weights[-1] = 1.0
    return weights


def _limit(power, beta, mode, fft_size, frequency_major):
    """`beta ** 2`, or with `mode="relative"` `beta ** 2` times each map's mean square."""
    if mode == "absolute":
        return beta * beta
    rows, cols = fft_size
    weights = _column_weights(cols // 2 + 1)
    if frequency_major:
        energy = tf.einsum("fbc,f->bc", power, tf.constant(np.tile(weights, rows)))
        return (beta * beta / (rows * cols)) * energy[None]
    energy = tf.einsum("bpqc,q->bc", power, tf.constant(weights))
    return (beta * beta / (rows * cols)) * energy[:, None, None, :]


def threshold_parts(real, imag, beta, mode="absolute", fft_size=None):
    """`threshold` on frequency-major parts (`fft_size` needed with `mode="relative"`)."""
    if beta == 0:
        return real, imag
    power = real * real + imag * imag
    limit = _limit(power, beta, mode, fft_size, frequency_major=True)
    # `not <=` rather than `>`: a NaN entry is kept, so that a diverging
    # network shows NaN instead of being silently zeroed.
    return _keep_parts(real, imag, tf.logical_not(power <= limit))


def threshold(z, beta, mode="absolute"):
    """Zeroes the entries with `|z| <= beta` (no-op for `beta == 0`).

    With `mode="relative"` the entries with `|z| <= beta * rms`, `rms` the
    root mean square of the full spectrum of the entry's sample and channel
    (by Parseval, the RMS of its map over the `P x Q` plane).
    """
    if beta == 0:
        return z
    re, im = tf.math.real(z), tf.math.imag(z)
    power = re * re + im * im
    limit = _limit(power, beta, mode, fft_size_of(z.shape), frequency_major=False)
    return _keep_where(z, tf.logical_not(power <= limit))


# The element-wise maps below have hand-written gradients for memory:
# TensorFlow's own gradients of `tf.where`, `tf.math.real` and
# `tf.math.imag` build `zeros_like` tensors of the batch's (static) shape,
# which a compiled function's constant folding turns into constants that it
# then holds for as long as the function lives, one per layer and per
# traced batch size. Here the backward pass keeps a 1-byte mask (threshold)
# or the output (tanh), as autodiff would, and builds no such tensor.


@tf.custom_gradient
def _keep_where(z, keep):
    zero = tf.constant(0, z.dtype)

    def grad(upstream):
        return tf.where(keep, upstream, zero), None

    return tf.where(keep, z, zero), grad


@tf.custom_gradient
def _keep_parts(real, imag, keep):
    zero = tf.constant(0, real.dtype)

    def grad(g_real, g_imag):
        return tf.where(keep, g_real, zero), tf.where(keep, g_imag, zero), None

    return (tf.where(keep, real, zero), tf.where(keep, imag, zero)), grad


@tf.custom_gradient
def spectral_tanh(z):
    """SpecNet's activation: `tanh(Re z) + i tanh(Im z)`."""
    re, im = tf.tanh(tf.math.real(z)), tf.tanh(tf.math.imag(z))

    def grad(upstream):
        return tf.complex(
            tf.math.real(upstream) * (1 - re * re),
            tf.math.imag(upstream) * (1 - im * im),
        )

    return tf.complex(re, im), grad


def zero_fraction(z):
    """Fraction of exactly-zero entries of a spectral tensor."""
    return tf.math.zero_fraction(tf.abs(z))


def plane_moments(z):
    """Per-sample mean and mean square of the maps behind a spectral tensor.

    Both are over the whole `P x Q` plane (padding included), read from the
    spectrum alone: the mean is the DC term over `sqrt(P * Q)`, the mean
    square the spectrum's energy over `P * Q` (Parseval), each column of the
    half spectrum counted twice except the first and, `Q` being even, the
    last.

    Returns:
        Two float32 tensors `(batch, channels)`.
    """
    rows, cols = fft_size_of(z.shape)
    weights = _column_weights(int(z.shape[2]))
    power = tf.math.real(z) ** 2 + tf.math.imag(z) ** 2
    energy = tf.einsum("bpqc,q->bc", power, tf.constant(weights))
    mean = tf.math.real(z[:, 0, 0, :]) / math.sqrt(rows * cols)
    return mean, energy / (rows * cols)


def affine(z, scale, shift):
    """The spectrum of `scale * x + shift` (per channel) given that of `x`."""
    z = z * _real_to_complex(scale)
    return add_bias(z, shift)
