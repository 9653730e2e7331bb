"""Properties of the spectral layers over random shapes, drawn by Hypothesis.

- `SpectralConv2D` at `beta=0` is `keras.layers.Conv2D` with the same
  weights (the pair of tests/test_conv2d_dropin.py) over map sizes, kernel
  sizes, strides, dilations, paddings and data formats;
- its spectral output is the spectrum of a real map;
- the fraction of zeros it leaves never decreases when `beta` grows;
- the cache's compress / decompress round trip is exact for float32 values
  over random sparsity patterns;
- `ButterflyFusion`'s dense matrix is its dense reference (the product of
  its stage matrices, tests/test_butterfly_fusion.py) over bases and widths.

Each property runs a bounded number of examples (the `keras_specnet`
settings profile below), so that the file stays fast.
"""

import numpy as np
import tensorflow as tf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_butterfly_fusion import dense_matrix, reference
from test_conv2d_dropin import TOL, _check_gradients, _layers

from keras_specnet import cache, spectral
from keras_specnet.layers import ButterflyFusion, SpectralConv2D, ToSpatial, ToSpectral

settings.register_profile(
    "keras_specnet",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROFILE = settings.get_profile("keras_specnet")

sizes = st.integers(1, 7)
small = st.integers(1, 3)


@st.composite
def conv_cases(draw):
    """Arguments of a drop-in pair whose kernel fits the map."""
    padding = draw(st.sampled_from(["valid", "same", "full"]))
    data_format = draw(st.sampled_from(["channels_last", "channels_first"]))
    h, w = draw(sizes), draw(sizes)
    kernel = (draw(small), draw(small))
    strides = (draw(small), draw(small))
    # Conv2D takes no dilation with strides above 1 (SpectralConv2D does).
    dilation = (1, 1) if max(strides) > 1 else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if padding == "valid":
        assume(all((k - 1) * d + 1 <= n for k, d, n in zip(kernel, dilation, (h, w))))
    groups = draw(st.sampled_from([1, 2]))
    channels = groups * draw(small)
    filters = groups * draw(st.integers(1, 2))
    shape = (
        (draw(small), channels, h, w)
        if data_format == "channels_first"
        else (draw(small), h, w, channels)
    )
    args = dict(
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        groups=groups,
        data_format=data_format,
    )
    return filters, kernel, shape, args, draw(st.integers(0, 2**16))


@PROFILE
@given(conv_cases())
def test_beta_zero_is_conv2d_with_the_same_weights(case):
    filters, kernel, shape, args, seed = case
    conv, spec, x = _layers(filters, kernel, shape, seed=seed, **args)
    out = np.asarray(spec(x))
    np.testing.assert_allclose(out, np.asarray(conv(x)), **TOL)
    assert not np.iscomplexobj(out)
    _check_gradients(conv, spec, x, seed)


@st.composite
def spectral_cases(draw):
    shape = (draw(small), draw(sizes), draw(sizes), draw(small))
    kernel = (draw(small), draw(small))
    return shape, kernel, draw(st.floats(0.0, 1.0)), draw(st.integers(0, 2**16))


@PROFILE
@given(spectral_cases(), st.sampled_from([None, "spectral_tanh"]))
def test_spectral_outputs_are_spectra_of_real_maps(case, activation):
    """Back to the whole plane and forward again, a spectral output is unchanged.

    The half spectrum stores the columns `0` and `Q / 2`, which a real map
    makes conjugate-symmetric: a non-symmetric entry there would be lost by
    the inverse FFT, which keeps the real part of the map.
    """
    shape, kernel, beta, seed = case
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    z = SpectralConv2D(2, kernel, beta=beta, activation=activation)(x)
    assert spectral.is_spectral(z)
    plane = spectral.fft_size_of(z.shape)
    again = ToSpectral(padding=0)(ToSpatial(plane)(z))
    np.testing.assert_allclose(np.asarray(again), np.asarray(z), rtol=0, atol=1e-5)


@PROFILE
@given(spectral_cases(), st.lists(st.floats(0.0, 3.0), min_size=2, max_size=3))
def test_zero_fraction_never_decreases_with_beta(case, betas):
    shape, kernel, _, seed = case
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    first = SpectralConv2D(3, kernel, activation="spectral_tanh")
    first(x)
    fractions = []
    for beta in sorted(betas):
        layer = SpectralConv2D.from_config({**first.get_config(), "beta": beta})
        layer(x)
        layer.set_weights(first.get_weights())
        fractions.append(float(spectral.zero_fraction(layer(x))))
    assert fractions == sorted(fractions), (sorted(betas), fractions)


@st.composite
def sparse_spectra(draw):
    """A complex64 tensor with a random pattern of zeros.

    Values span many magnitudes but stay normal floats: TensorFlow's CPU
    and GPU kernels flush subnormal floats to zero, in the cache's
    comparisons as in every other op.
    """
    shape = (draw(st.integers(0, 3)), draw(sizes), draw(st.integers(2, 5)), draw(small))
    density = draw(st.sampled_from([0.0, 0.01, 0.3, 0.9, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    scale = 10.0 ** rng.uniform(-30, 30, (2, *shape))
    parts = rng.standard_normal((2, *shape)) * scale
    # Each part is zero on its own at times: a purely real or imaginary entry.
    parts *= rng.random((2, *shape)) < 0.9
    z = (parts[0] + 1j * parts[1]).astype(np.complex64)
    return z * (rng.random(shape) < density)


@PROFILE
@given(sparse_spectra(), st.sampled_from(["bitmask", "sparse_tensor"]))
def test_compress_decompress_is_exact(z, mode):
    saved = cache.compress(tf.constant(z), mode, "float32")
    back = np.asarray(cache.decompress(saved, mode, "float32"))
    assert back.dtype == np.complex64 and back.shape == z.shape
    np.testing.assert_array_equal(back.view(np.float32), z.view(np.float32))


@PROFILE
@given(
    in_width=st.integers(1, 40),
    filters=st.integers(1, 40),
    base=st.integers(2, 16),
    residual=st.booleans(),
    use_bias=st.booleans(),
)
def test_butterfly_dense_matrix_is_the_product_of_its_stages(
    in_width, filters, base, residual, use_bias
):
    layer = ButterflyFusion(filters, base=base, residual=residual, use_bias=use_bias)
    eye = np.eye(in_width, dtype="float32")
    matrix = dense_matrix(layer, in_width)
    expected = np.asarray(reference(layer, eye))
    if use_bias:
        expected = expected - np.asarray(layer.bias)
    np.testing.assert_allclose(matrix, expected, rtol=1e-5, atol=1e-6)
