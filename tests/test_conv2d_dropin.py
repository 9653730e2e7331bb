"""SpectralConv2D as a drop-in for keras.layers.Conv2D.

Every case builds a `keras.layers.Conv2D` and a `SpectralConv2D` with the
same arguments and weights (`beta=0`, no activation,
`output_domain="spatial"`) and compares outputs and gradients; a NumPy
reference by direct loops over the kernel's taps checks a few cases
independently of TensorFlow's convolution.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet.layers import SpectralConv2D, ToSpatial, ToSpectral

from helpers import run_layer_test

TOL = dict(rtol=1e-4, atol=1e-4)


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def np_conv2d(x, kernel, bias, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Conv2D (channels last, cross-correlation) by loops over taps and groups."""
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation_rate)
    kh, kw, cin, cout = kernel.shape
    eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    _, h, w, _ = x.shape
    if padding == "valid":
        pads = [(0, 0), (0, 0)]
    elif padding == "full":
        pads = [(eh - 1, eh - 1), (ew - 1, ew - 1)]
    else:
        pads = []
        for n, e, s in ((h, eh, sh), (w, ew, sw)):
            total = max((-(-n // s) - 1) * s + e - n, 0)
            pads.append((total // 2, total - total // 2))
    xp = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    oh = (xp.shape[1] - eh) // sh + 1
    ow = (xp.shape[2] - ew) // sw + 1
    fo = cout // groups
    y = np.zeros((x.shape[0], oh, ow, cout)) + bias
    for g in range(groups):
        for a in range(kh):
            for b in range(kw):
                patch = xp[
                    :,
                    a * dh : a * dh + (oh - 1) * sh + 1 : sh,
                    b * dw : b * dw + (ow - 1) * sw + 1 : sw,
                    g * cin : (g + 1) * cin,
                ]
                y[..., g * fo : (g + 1) * fo] += patch @ kernel[a, b, :, g * fo : (g + 1) * fo]
    return y


def _layers(filters, kernel_size, shape, seed=0, **args):
    """A Conv2D reference and a spatial-output SpectralConv2D with the same weights.

    Returns `(reference, spec, x)`: `reference(x)` applies a channels-last
    `keras.layers.Conv2D` with the other arguments (TensorFlow's CPU
    convolution takes no NCHW map, so a channels-first map is transposed
    around it), and with `padding="full"` a `"valid"` one to the map
    zero-padded by the kernel's extent less one on each side. Its `conv`
    attribute is that Conv2D.
    """
    conv_args = dict(args)
    channels_first = conv_args.pop("data_format", "channels_last") == "channels_first"
    full = conv_args.get("padding") == "full"
    if full:
        conv_args["padding"] = "valid"
    (kh, kw), (dh, dw) = _pair(kernel_size), _pair(args.get("dilation_rate", 1))
    ph, pw = ((kh - 1) * dh, (kw - 1) * dw) if full else (0, 0)
    conv = keras.layers.Conv2D(filters, kernel_size, data_format="channels_last", **conv_args)
    b, *rest = shape
    h, w, c = (rest[1], rest[2], rest[0]) if channels_first else rest
    conv.build((b, h + 2 * ph, w + 2 * pw, c))
    spec = SpectralConv2D(filters, kernel_size, output_domain="spatial", **args)
    spec.build(shape)
    rng = np.random.default_rng(seed)
    weights = [
        rng.standard_normal(conv.kernel.shape).astype("float32"),
        rng.standard_normal(filters).astype("float32"),
    ]
    conv.set_weights(weights)
    spec.set_weights(weights)
    x = rng.standard_normal(shape).astype("float32")

    def reference(x):
        x = tf.convert_to_tensor(x)
        if channels_first:
            x = tf.transpose(x, (0, 2, 3, 1))
        y = conv(tf.pad(x, [(0, 0), (ph, ph), (pw, pw), (0, 0)]))
        return tf.transpose(y, (0, 3, 1, 2)) if channels_first else y

    reference.conv = conv
    return reference, spec, x


def _grads(fn, layer, x, weight):
    """Gradients of `sum(fn(x) * weight)` for `x` and `layer`'s kernel and bias."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(fn(x) * weight)
    return [g.numpy() for g in tape.gradient(loss, [x, layer.kernel, layer.bias])]


def _check_gradients(reference, spec, x, seed):
    weight = tf.random.stateless_normal(reference(x).shape, seed=(seed, 1))
    got = _grads(spec, spec, x, weight)
    for a, b in zip(got, _grads(reference, reference.conv, x, weight)):
        np.testing.assert_allclose(a, b, **TOL)


# The 2-D correctness cases of Keras's own conv tests
# (keras/src/layers/convolutional/conv_test.py): inputs (2, 8, 8, 4).
KERAS_CASES = [
    dict(filters=5, kernel_size=2, strides=1, padding="valid", dilation_rate=1, groups=1),
    dict(filters=4, kernel_size=3, strides=2, padding="same", dilation_rate=1, groups=1),
    dict(filters=6, kernel_size=2, strides=1, padding="same", dilation_rate=(2, 2), groups=2),
    dict(filters=6, kernel_size=2, strides=1, padding="same", dilation_rate=(2, 3), groups=2),
    dict(filters=6, kernel_size=(4, 3), strides=(2, 1), padding="valid", dilation_rate=1, groups=2),
    dict(
        filters=6,
        kernel_size=(4, 3),
        strides=(2, 1),
        padding="valid",
        dilation_rate=1,
        groups=2,
        data_format="channels_first",
    ),
]
# Keras's shape cases (test_conv2d_basic): input shape -> output shape.
KERAS_SHAPE_CASES = [
    (dict(filters=5, kernel_size=2, padding="valid"), (3, 5, 5, 4), (3, 4, 4, 5)),
    (
        dict(filters=6, kernel_size=2, padding="same", dilation_rate=(2, 2), groups=2),
        (3, 4, 4, 4),
        (3, 4, 4, 6),
    ),
    (
        dict(filters=6, kernel_size=(2, 2), strides=(2, 1), padding="valid", groups=2),
        (3, 5, 5, 4),
        (3, 2, 4, 6),
    ),
]


def _case_id(case):
    return "-".join(f"{k}={v}" for k, v in case.items() if k != "filters")


@pytest.mark.parametrize("case", KERAS_CASES, ids=_case_id)
def test_keras_cases_match_conv2d_and_numpy(case):
    args = dict(case)
    filters, kernel_size = args.pop("filters"), args.pop("kernel_size")
    reference, spec, x = _layers(filters, kernel_size, (2, 8, 8, 4), **args)
    got = spec(x).numpy()
    expected = reference(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOL)
    # NumPy, channels last.
    channels_first = args.get("data_format") == "channels_first"
    x_nhwc = x.transpose(0, 2, 3, 1) if channels_first else x
    kernel, bias = spec.get_weights()
    reference_fn = reference
    reference = np_conv2d(
        x_nhwc,
        kernel,
        bias,
        args["strides"],
        args["padding"],
        args["dilation_rate"],
        args["groups"],
    )
    if channels_first:
        reference = reference.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, reference, **TOL)
    # Gradients for the input, the kernel and the bias.
    _check_gradients(reference_fn, spec, x, seed=3)


@pytest.mark.parametrize(
    "case,input_shape,output_shape",
    KERAS_SHAPE_CASES,
    ids=[_case_id(c[0]) for c in KERAS_SHAPE_CASES],
)
def test_keras_shape_cases(case, input_shape, output_shape):
    layer = SpectralConv2D(output_domain="spatial", **case)
    assert layer.compute_output_shape(input_shape) == output_shape
    symbolic = layer(keras.Input(input_shape[1:], batch_size=input_shape[0]))
    assert tuple(symbolic.shape) == output_shape
    x = np.random.default_rng(0).standard_normal(input_shape).astype("float32")
    assert tuple(layer(x).shape) == output_shape
    groups = case.get("groups", 1)
    assert layer.kernel.shape == (*_pair(case["kernel_size"]), 4 // groups, case["filters"])


SIZES = [(5, 5), (6, 6), (7, 4), (4, 9), (8, 7)]
STRIDES = [1, 2, 3, (2, 3)]


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7])
def test_kernels_strides_and_sizes(padding, k):
    """Kernels 1-7, strides 1-3 and odd, even and non-square maps, per padding."""
    checked = 0
    for size in SIZES:
        if padding == "valid" and min(size) < k:
            continue
        for strides in STRIDES:
            reference, spec, x = _layers(
                3, k, (2, *size, 2), seed=k + 10 * size[0], strides=strides, padding=padding
            )
            spec.batch_chunks = 1
            got = spec(x).numpy()
            expected = reference(x).numpy()
            assert got.shape == expected.shape
            assert got.shape == spec.compute_output_shape(x.shape)
            np.testing.assert_allclose(got, expected, **TOL)
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
@pytest.mark.parametrize("k,strides", [(1, 1), (2, 2), (4, 1), (5, 3), (7, (1, 2))])
def test_gradients_match_conv2d(padding, k, strides):
    size = (7, 8)
    reference, spec, x = _layers(3, k, (2, *size, 2), seed=k, strides=strides, padding=padding)
    _check_gradients(reference, spec, x, seed=k)


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
@pytest.mark.parametrize("k,dilation", [(2, 2), (3, (2, 3)), (3, 3)])
def test_dilation_matches_conv2d(padding, k, dilation):
    reference, spec, x = _layers(
        4, k, (2, 9, 10, 2), seed=k, dilation_rate=dilation, padding=padding
    )
    got = spec(x).numpy()
    expected = reference(x).numpy()
    np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize(
    "padding,strides,dilation,groups",
    [
        ("same", 2, 2, 1),
        ("valid", (2, 3), (2, 1), 2),
        ("full", 3, 2, 3),
        ("full", 1, 1, 1),
    ],
)
def test_numpy_reference(padding, strides, dilation, groups):
    """Cases Conv2D cannot make (full padding, strides with dilation) against NumPy."""
    layer = SpectralConv2D(
        6,
        (3, 2),
        strides=strides,
        padding=padding,
        dilation_rate=dilation,
        groups=groups,
        output_domain="spatial",
        bias_initializer="random_normal",
    )
    x = np.random.default_rng(7).standard_normal((2, 9, 8, 6)).astype("float32")
    got = layer(x).numpy()
    kernel, bias = layer.get_weights()
    expected = np_conv2d(x, kernel, bias, strides, padding, dilation, groups)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize("cache", ["bitmask", "none"])
def test_groups_and_channels_first_gradients(cache):
    """A grouped, dilated, channels-first layer: gradients as Conv2D's."""
    args = dict(padding="same", dilation_rate=2, groups=3, data_format="channels_first")
    reference, spec, x = _layers(6, 3, (2, 6, 5, 7), **args)
    spec.cache = cache
    expected = reference(x).numpy()
    assert expected.shape == (2, 6, 5, 7)
    np.testing.assert_allclose(spec(x).numpy(), expected, **TOL)
    # A channels-first Conv2D itself (grouped, it runs on the CPU too).
    conv = keras.layers.Conv2D(6, 3, **args)
    conv.build(x.shape)
    conv.set_weights(spec.get_weights())
    np.testing.assert_allclose(conv(x).numpy(), expected, **TOL)
    _check_gradients(reference, spec, x, seed=5)


def test_data_format_none_follows_keras_config():
    assert SpectralConv2D(2, 3).data_format == "channels_last"
    keras.config.set_image_data_format("channels_first")
    try:
        layer = SpectralConv2D(2, 3, output_domain="spatial")
        conv = keras.layers.Conv2D(2, 3, padding="same")
    finally:
        keras.config.set_image_data_format("channels_last")
    assert layer.data_format == conv.data_format == "channels_first"
    reference, spec, x = _layers(2, 3, (1, 3, 5, 6), padding="same", data_format="channels_first")
    layer.build(x.shape)
    layer.set_weights(spec.get_weights())
    assert layer(x).shape == (1, 2, 5, 6)
    np.testing.assert_allclose(layer(x).numpy(), reference(x).numpy(), **TOL)


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spectral_output_holds_conv2d_output(padding, data_format):
    """A real input to a spectral output: cropped at the origin, it is Conv2D's output."""
    shape = (2, 3, 7, 6) if data_format == "channels_first" else (2, 7, 6, 3)
    reference, spatial, x = _layers(
        4, (3, 2), shape, padding=padding, dilation_rate=(1, 2), data_format=data_format
    )
    layer = SpectralConv2D(
        4, (3, 2), padding=padding, dilation_rate=(1, 2), data_format=data_format
    )
    layer.build(shape)
    layer.set_weights(spatial.get_weights())
    z = layer(x)
    assert z.dtype == tf.complex64
    expected = reference(x).numpy()
    if data_format == "channels_first":
        expected = expected.transpose(0, 2, 3, 1)
    got = ToSpatial(expected.shape[1:3])(z).numpy()
    np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize(
    "padding,strides",
    [("valid", 1), ("valid", 2), ("same", 1), ("same", (2, 3)), ("full", 1), ("full", 3)],
)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spectral_input_matches_conv2d(padding, strides, data_format):
    """`output_size` is the map behind a spectral input; the output is Conv2D's."""
    k, size = 3, (7, 8)
    shape = (2, 2, *size) if data_format == "channels_first" else (2, *size, 2)
    reference, spatial, x = _layers(
        3, k, shape, padding=padding, strides=strides, data_format=data_format
    )
    x_nhwc = x.transpose(0, 2, 3, 1) if data_format == "channels_first" else x
    z = ToSpectral(k - 1)(x_nhwc)
    layer = SpectralConv2D(
        3,
        k,
        strides=strides,
        padding=padding,
        data_format=data_format,
        output_domain="spatial",
        output_size=size,
    )
    layer(z)
    layer.set_weights(spatial.get_weights())
    assert layer.kernel.shape == (k, k, 2, 3)
    got = layer(z).numpy()
    expected = reference(x).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
def test_spectral_chain_alignment(padding):
    """A spectral input to a spectral output: `padding` aligns the output at the origin."""
    k, size = 3, (6, 7)
    reference, spatial, x = _layers(2, k, (1, *size, 2), padding=padding, groups=2)
    z = ToSpectral(k - 1)(x)
    layer = SpectralConv2D(2, k, padding=padding, groups=2)
    assert layer(z).shape == z.shape
    layer.set_weights(spatial.get_weights())
    expected = reference(x).numpy()
    got = ToSpatial(expected.shape[1:3])(layer(z)).numpy()
    np.testing.assert_allclose(got, expected, **TOL)


def test_config_has_the_conv2d_arguments():
    layer = SpectralConv2D(
        4, 3, 2, "valid", "channels_first", 1, 2, None, False, output_domain="spatial"
    )
    config = layer.get_config()
    assert config["strides"] == (2, 2)
    assert config["padding"] == "valid"
    assert config["data_format"] == "channels_first"
    assert config["dilation_rate"] == (1, 1)
    assert config["groups"] == 2
    assert config["use_bias"] is False
    assert SpectralConv2D.from_config(config).get_config() == config
    assert SpectralConv2D(4, 3, padding="VALID").padding == "valid"


def test_old_config_loads_with_conv2d_defaults():
    config = SpectralConv2D(4, 3).get_config()
    for key in ("padding", "data_format", "dilation_rate", "groups"):
        del config[key]
    layer = SpectralConv2D.from_config(config)
    assert layer.padding == "same"
    assert layer.data_format == "channels_last"
    assert layer.dilation_rate == (1, 1)
    assert layer.groups == 1


@pytest.mark.parametrize("spectral_input", [False, True])
def test_serialisation_round_trips(spectral_input, tmp_path):
    rng = np.random.default_rng(2)
    if spectral_input:
        data = ToSpectral(2)(rng.standard_normal((2, 6, 5, 4)).astype("float32")).numpy()
        layer = SpectralConv2D(
            2, 3, padding="valid", groups=2, output_domain="spatial", output_size=(6, 5)
        )
    else:
        data = rng.standard_normal((2, 4, 7, 6)).astype("float32")
        layer = SpectralConv2D(
            6,
            2,
            strides=2,
            padding="full",
            data_format="channels_first",
            dilation_rate=1,
            groups=2,
            output_domain="spatial",
        )
    loaded = run_layer_test(layer, data, tmp_path)
    assert loaded.get_config() == layer.get_config()
    assert loaded.kernel.shape == layer.kernel.shape


def test_channels_first_layer_saved_with_a_spectral_input(tmp_path):
    """`build` sees a shape alone: the build config says the input was spectral."""
    x = np.random.default_rng(3).standard_normal((2, 6, 5, 4)).astype("float32")
    z = ToSpectral(2)(x).numpy()
    layer = SpectralConv2D(
        2,
        3,
        padding="full",
        data_format="channels_first",
        groups=2,
        output_domain="spatial",
        output_size=(6, 5),
    )
    inputs = keras.Input(z.shape[1:], dtype="complex64")
    model = keras.Model(inputs, layer(inputs))
    assert layer.kernel.shape == (3, 3, 2, 2)
    assert model.output.shape == (None, 2, 8, 7)
    assert layer.get_build_config()["spectral_input"] is True
    fresh = SpectralConv2D.from_config(layer.get_config())
    fresh.build_from_config(layer.get_build_config())
    assert fresh.kernel.shape == layer.kernel.shape
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded(z).numpy(), model(z).numpy())
    # The same layer on the real map: the NCHW output of Conv2D's "full".
    reference, _, _ = _layers(
        2, 3, (2, 4, 6, 5), padding="full", groups=2, data_format="channels_first"
    )
    reference.conv.set_weights(layer.get_weights())
    np.testing.assert_allclose(model(z).numpy(), reference(x.transpose(0, 3, 1, 2)).numpy(), **TOL)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"padding": "causal"},
            r"`padding`. Expected one of \['full', 'same', 'valid'\]. Received: padding='causal'",
        ),
        ({"padding": (1, 1)}, r"`padding`. Expected one of .*Received: padding=\(1, 1\)"),
        (
            {"data_format": "NCHW"},
            r"`data_format`. Expected one of \['channels_first', 'channels_last'\]. "
            r"Received: data_format='NCHW'",
        ),
        (
            {"dilation_rate": 0},
            r"`dilation_rate`. Expected an integer >= 1 or a tuple of 2 such integers. "
            r"Received: dilation_rate=0",
        ),
        ({"dilation_rate": (2, 0)}, r"`dilation_rate`.*Received: dilation_rate=\(2, 0\)"),
        ({"groups": 0}, r"`groups`. Expected a positive integer. Received: groups=0"),
        (
            {"groups": 3},
            r"`groups`. Expected a positive integer that divides filters=4. Received: groups=3",
        ),
        (
            {"strides": 2, "padding": "valid"},
            r"`strides`. Expected \(1, 1\) with output_domain='spectral'.*Received: strides=2",
        ),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpectralConv2D(4, 3, **kwargs)


def test_input_errors():
    with pytest.raises(
        ValueError,
        match=r"Expected a number of input channels divisible by groups=2. "
        r"Received: a real tensor of shape \(None, 8, 8, 3\)",
    ):
        SpectralConv2D(4, 3, groups=2)(keras.Input((8, 8, 3)))
    with pytest.raises(
        ValueError,
        match=r"divisible by groups=2. Received: a real tensor of shape \(None, 3, 8, 8\)",
    ):
        SpectralConv2D(4, 3, groups=2, data_format="channels_first")(keras.Input((3, 8, 8)))
    with pytest.raises(
        ValueError,
        match=r"With padding='valid' the kernel's extent \(5, 5\) must fit in the map.*"
        r"Received: a real tensor of shape \(None, 4, 6, 1\)",
    ):
        SpectralConv2D(2, 3, padding="valid", dilation_rate=2)(keras.Input((4, 6, 1)))
    channels_first = SpectralConv2D(4, 3, data_format="channels_first")
    with pytest.raises(
        ValueError,
        match=r"channel dimension must be known. Received: input shape=\(None, None, 8, 8\)",
    ):
        channels_first(keras.Input((None, 8, 8)))
    with pytest.raises(
        ValueError,
        match=r"height and width must be known.*Received: a real tensor of shape "
        r"\(None, 3, None, 8\)",
    ):
        channels_first(keras.Input((3, None, 8)))
    layer = SpectralConv2D(4, 3, groups=2, output_domain="spatial")
    layer(np.zeros((1, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match=r"Expected 4 input channels.*shape \(1, 8, 8, 6\)"):
        layer(np.zeros((1, 8, 8, 6), "float32"))
    z = keras.Input((6, 4, 2), dtype="complex64")  # P = 6, Q = 6
    with pytest.raises(
        ValueError,
        match=r"The kernel \(3, 3\) with dilation_rate=\(3, 1\) \(extent \(7, 3\)\) does not "
        r"fit the spectral input's FFT size \(P, Q\)=\(6, 6\)",
    ):
        SpectralConv2D(4, 3, dilation_rate=(3, 1))(z)
    with pytest.raises(
        ValueError,
        match=r"`output_size`. Expected at least the kernel's extent \(3, 3\) with "
        r"padding='valid'. Received: output_size=\(2, 5\)",
    ):
        SpectralConv2D(4, 3, padding="valid", output_domain="spatial", output_size=(2, 5))(z)
    with pytest.raises(
        ValueError,
        match=r"`output_size`. Expected at most the input's FFT size \(P, Q\)=\(6, 6\) less "
        r"the kernel's extent \(3, 3\) plus 1 with padding='full'. Received: output_size=\(5, 4\)",
    ):
        SpectralConv2D(4, 3, padding="full", output_domain="spatial", output_size=(5, 4))(z)
