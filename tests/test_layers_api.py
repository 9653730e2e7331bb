"""Shapes, the NumPy references of the small layers, serialisation, errors, dtypes."""

import keras
import numpy as np
import pytest

from keras_specnet import layers, spectral
from keras_specnet.layers import (
    ButterflyFusion,
    SpectralBatchNormalization,
    SpectralBlock,
    SpectralConcatenate,
    SpectralConv2D,
    SpectralDenseBlock,
    SpectralTanh,
    ToSpatial,
    ToSpectral,
)

from helpers import run_layer_test


def _complex(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype("complex64")


def test_spectral_tanh_matches_numpy():
    z = _complex((2, 6, 4, 3)) * 3
    got = SpectralTanh()(z).numpy()
    expected = np.tanh(z.real) + 1j * np.tanh(z.imag)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert got.dtype == np.complex64


def test_spectral_tanh_gradient_matches_equation_9():
    import tensorflow as tf

    z = tf.constant(_complex((1, 4, 3, 2)))
    w = tf.constant(_complex((1, 4, 3, 2), seed=1))
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = SpectralTanh()(z)
        loss = tf.reduce_sum(tf.math.real(out * tf.math.conj(w)))
    grad = tape.gradient(loss, z).numpy()
    zn, wn = z.numpy(), w.numpy()
    expected = (1 - np.tanh(zn.real) ** 2) * wn.real + 1j * ((1 - np.tanh(zn.imag) ** 2) * wn.imag)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size,padding", [((7, 9), 2), ((8, 8), (3, 0)), ((5, 6), 0)])
def test_to_spectral_matches_numpy_rfft2(size, padding):
    x = np.random.default_rng(2).standard_normal((2, *size, 3)).astype("float32")
    layer = ToSpectral(padding)
    got = layer(x).numpy()
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    rows, cols = size[0] + ph, size[1] + pw
    cols += cols % 2
    expected = np.fft.rfft2(x, s=(rows, cols), axes=(1, 2), norm="ortho")
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert layer.compute_output_shape((None, *size, 3)) == (None, rows, cols // 2 + 1, 3)
    # Orthonormal: energy is preserved (count the mirrored columns twice).
    weights = np.full(got.shape[2], 2.0)
    weights[0] = 1.0
    weights[-1] = 1.0
    energy = np.sum(np.abs(got) ** 2 * weights[None, None, :, None])
    np.testing.assert_allclose(energy, np.sum(x**2), rtol=1e-4)


def test_to_spatial_inverts_to_spectral():
    x = np.random.default_rng(3).standard_normal((2, 7, 5, 3)).astype("float32")
    back = ToSpatial((7, 5))(ToSpectral(3)(x)).numpy()
    np.testing.assert_allclose(back, x, atol=1e-5)
    assert back.dtype == np.float32


def _spectrum_shape(batch, rows, cols, channels):
    """A spectral tensor's shape for an FFT size (rows, cols), cols made even."""
    cols += cols % 2
    return (batch, rows, cols // 2 + 1, channels)


def _layer_cases():
    """Name -> (new layer, input, expected output shape, output dtype,
    trainable weights, non-trainable weights): every public layer, some in
    several forms. The shapes follow the layers' documented formulas."""
    x = np.random.default_rng(4).standard_normal((2, 9, 8, 2)).astype("float32")
    x_first = x.transpose(0, 3, 1, 2)  # (2, 2, 9, 8)
    z = ToSpectral(2)(x).numpy()  # FFT size (11, 10)
    spectrum = _spectrum_shape(2, 9 + 2, 8 + 2, 2)
    assert z.shape == spectrum
    return {
        "SpectralConv2D": (
            SpectralConv2D(3, 3, beta=0.2, activation="spectral_tanh"),
            x,
            _spectrum_shape(2, 9 + 3 - 1, 8 + 3 - 1, 3),
            "complex64",
            2,
            0,
        ),
        "SpectralConv2D-strided-spatial": (
            SpectralConv2D(
                3,
                (3, 5),
                strides=2,
                output_domain="spatial",
                use_bias=False,
                kernel_regularizer="l2",
                name="custom",
            ),
            x,
            (2, -(-9 // 2), -(-8 // 2), 3),
            "float32",
            1,
            0,
        ),
        "SpectralConv2D-spectral-input": (
            SpectralConv2D(2, 1, output_domain="spatial", output_size=(9, 8)),
            z,
            (2, 9, 8, 2),
            "float32",
            2,
            0,
        ),
        "ToSpectral": (
            ToSpectral((1, 3)),
            x,
            _spectrum_shape(2, 9 + 1, 8 + 3, 2),
            "complex64",
            0,
            0,
        ),
        "ToSpectral-channels_first": (
            ToSpectral((1, 3), data_format="channels_first"),
            x_first,
            _spectrum_shape(2, 9 + 1, 8 + 3, 2),
            "complex64",
            0,
            0,
        ),
        "ToSpatial": (ToSpatial((9, 8)), z, (2, 9, 8, 2), "float32", 0, 0),
        "ToSpatial-pooled": (
            ToSpatial((9, 8), pool_size=2),
            z,
            (2, -(-9 // 2), -(-8 // 2), 2),
            "float32",
            0,
            0,
        ),
        "ToSpatial-channels_first": (
            ToSpatial((7, 8), pool_size=(2, 3), data_format="channels_first"),
            z,
            (2, 2, -(-7 // 2), -(-8 // 3)),
            "float32",
            0,
            0,
        ),
        "SpectralTanh": (SpectralTanh(), z, spectrum, "complex64", 0, 0),
        "SpectralConcatenate": (
            SpectralConcatenate(),
            [z, z[..., :1]],
            spectrum[:3] + (2 + 1,),
            "complex64",
            0,
            0,
        ),
        "SpectralBatchNormalization": (
            SpectralBatchNormalization(),
            z,
            spectrum,
            "complex64",
            2,
            2,
        ),
        # Two convolutions (kernel and bias each), the pooling's size rounded up.
        "SpectralBlock": (
            SpectralBlock([(3, 3), (2, 1)], beta=0.01, pool_size=2, batch_chunks=2),
            x,
            (2, -(-9 // 2), -(-8 // 2), 2),
            "float32",
            4,
            0,
        ),
        # Two layers of two convolutions (kernel and bias each); 2 + 2 * 3 channels.
        "SpectralDenseBlock": (
            SpectralDenseBlock(2, [(2, 1), (3, 3)], beta=0.01, batch_chunks=2),
            x,
            (2, 9, 8, 8),
            "float32",
            8,
            0,
        ),
        # 2 -> 4 channels: a 4-wide butterfly, two radix-2 stages, and a bias.
        "ButterflyFusion": (ButterflyFusion(4, base=2), x, (2, 9, 8, 4), "float32", 3, 0),
        "ButterflyFusion-channels_first": (
            ButterflyFusion(4, base=2, data_format="channels_first"),
            x_first,
            (2, 4, 9, 8),
            "float32",
            3,
            0,
        ),
    }


CASES = sorted(_layer_cases())


def test_every_public_layer_has_a_layer_test_case():
    covered = {name.split("-")[0] for name in CASES}
    assert covered == set(layers.__all__)


@pytest.mark.parametrize("name", CASES)
def test_layer_passes_the_layer_test(name, tmp_path):
    layer, data, shape, dtype, trainable, non_trainable = _layer_cases()[name]
    loaded = run_layer_test(
        layer,
        data,
        tmp_path,
        expected_output_shape=shape,
        expected_output_dtype=dtype,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
    )
    assert loaded.get_config() == layer.get_config()
    assert type(loaded) is type(layer)


# The layer test must be able to fail: layers broken in one way each.


@keras.saving.register_keras_serializable(package="test_layers_api")
class _ForgetsItsConfig(ToSpectral):
    def get_config(self):
        config = super().get_config()
        del config["padding"]
        return config


@keras.saving.register_keras_serializable(package="test_layers_api")
class _IgnoresThePolicy(ToSpatial):
    """Casts its output to float32 whatever the compute dtype."""

    def call(self, inputs):
        return keras.ops.cast(super().call(inputs), "float32")


@keras.saving.register_keras_serializable(package="test_layers_api")
class _DeclaresTheWrongDtype(SpectralTanh):
    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, "float32")


@keras.saving.register_keras_serializable(package="test_layers_api")
class _StopsTheGradient(SpectralTanh):
    def call(self, inputs):
        return keras.ops.stop_gradient(super().call(inputs))


def test_the_layer_test_fails_on_broken_layers(tmp_path):
    x = np.random.default_rng(6).standard_normal((2, 6, 6, 2)).astype("float32")
    z = ToSpectral(2)(x).numpy()
    with pytest.raises(AssertionError):  # the revived layer has padding=2
        run_layer_test(_ForgetsItsConfig(3), x, tmp_path)
    with pytest.raises(AssertionError):  # float32 under mixed_float16
        run_layer_test(_IgnoresThePolicy((6, 6)), z, tmp_path, run_training_check=False)
    with pytest.raises(AssertionError):  # symbolic float32, eager complex64
        run_layer_test(_DeclaresTheWrongDtype(), z, tmp_path)
    with pytest.raises(AssertionError):  # no gradient reaches the input's scale
        run_layer_test(_StopsTheGradient(), z, tmp_path, run_mixed_precision_check=False)
    with pytest.raises(AssertionError):  # wrong expected shape
        run_layer_test(SpectralTanh(), z, tmp_path, expected_output_shape=(2, 8, 5, 3))
    with pytest.raises(AssertionError):  # wrong expected number of weights
        run_layer_test(
            SpectralConv2D(2, 3, use_bias=False),
            x,
            tmp_path,
            expected_num_trainable_weights=2,
        )
    # The same checks pass on the working layers.
    run_layer_test(ToSpectral(3), x, tmp_path, expected_output_shape=(2, 9, 6, 2))
    run_layer_test(SpectralTanh(), z, tmp_path, expected_output_dtype="complex64")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"filters": 0, "kernel_size": 3},
            r"`filters`. Expected a positive integer. Received: filters=0",
        ),
        (
            {"filters": 2.5, "kernel_size": 3},
            r"`filters`. Expected a positive integer. Received: filters=2.5",
        ),
        (
            {"filters": 4, "kernel_size": 0},
            r"`kernel_size`. Expected an integer >= 1 or a tuple of 2 such integers. Received: kernel_size=0",
        ),
        ({"filters": 4, "kernel_size": (3,)}, r"`kernel_size`.*Received: kernel_size=\(3,\)"),
        (
            {"filters": 4, "kernel_size": 3, "beta": -1},
            r"`beta`. Expected a finite number >= 0. Received: beta=-1",
        ),
        (
            {"filters": 4, "kernel_size": 3, "activation": "relu"},
            r"`activation`. Expected one of \[None, 'linear', 'spectral_tanh'\]. Received: activation='relu'",
        ),
        (
            {"filters": 4, "kernel_size": 3, "output_domain": "fourier"},
            r"`output_domain`. Expected one of \['spatial', 'spectral'\]. Received: output_domain='fourier'",
        ),
        (
            {"filters": 4, "kernel_size": 3, "strides": 2},
            r"`strides`. Expected \(1, 1\) with output_domain='spectral'.*Received: strides=2",
        ),
        (
            {"filters": 4, "kernel_size": 3, "strides": 0, "output_domain": "spatial"},
            r"`strides`.*Received: strides=0",
        ),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpectralConv2D(**kwargs)


def test_other_constructor_errors():
    with pytest.raises(
        ValueError, match=r"`padding`. Expected an integer >= 0.*Received: padding=-1"
    ):
        ToSpectral(-1)
    with pytest.raises(
        ValueError, match=r"`size`. Expected an integer >= 1.*Received: size=\(0, 4\)"
    ):
        ToSpatial((0, 4))


def test_input_errors():
    with pytest.raises(
        ValueError, match=r"Expected a rank-4 tensor.*Received: input shape=\(None, 28, 28\)"
    ):
        SpectralConv2D(4, 3)(keras.Input((28, 28)))
    with pytest.raises(
        ValueError, match=r"height and width must be known.*\(None, None, None, 1\)"
    ):
        SpectralConv2D(4, 3)(keras.Input((None, None, 1)))
    with pytest.raises(ValueError, match=r"height and width must be known"):
        ToSpectral()(keras.Input((None, 8, 1)))
    z = keras.Input((6, 4, 2), dtype="complex64")  # P = 6, Q = 6
    with pytest.raises(
        ValueError,
        match=r"kernel \(7, 7\) does not fit the spectral input's FFT size \(P, Q\)=\(6, 6\)",
    ):
        SpectralConv2D(4, 7)(z)
    with pytest.raises(
        ValueError, match=r"`output_size`. Expected the \(height, width\) to crop to"
    ):
        SpectralConv2D(4, 3, output_domain="spatial")(z)
    with pytest.raises(
        ValueError, match=r"`size`. Expected at most the input's FFT size \(P, Q\)=\(6, 6\)"
    ):
        ToSpatial((7, 6))(z)
    with pytest.raises(
        ValueError,
        match=r"ToSpatial.*Expected a spectral \(complex64\) tensor.*Received: a real tensor",
    ):
        ToSpatial((4, 4))(keras.Input((4, 4, 1)))
    with pytest.raises(ValueError, match=r"SpectralTanh.*Expected a spectral \(complex64\) tensor"):
        SpectralTanh()(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(
        ValueError, match=r"ToSpectral.*Expected a real \(float\) tensor.*Received: a spectral"
    ):
        ToSpectral()(z)
    layer = SpectralConv2D(4, 3)
    layer(np.zeros((1, 8, 8, 2), "float32"))
    with pytest.raises(ValueError, match=r"Expected 2 input channels.*shape \(1, 8, 8, 3\)"):
        layer(np.zeros((1, 8, 8, 3), "float32"))


@pytest.mark.parametrize(
    "policy,dtype", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")]
)
def test_mixed_precision(policy, dtype):
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 3)).astype("float32")
    reference = SpectralConv2D(4, 3, beta=0.1, activation="spectral_tanh", output_domain="spatial")
    expected = reference(x).numpy()
    keras.config.set_dtype_policy(policy)
    layer = SpectralConv2D(4, 3, beta=0.1, activation="spectral_tanh", output_domain="spatial")
    spec = SpectralConv2D(4, 3)
    out = layer(x)
    layer.set_weights(reference.get_weights())
    out = layer(x)
    assert layer.kernel.dtype == "float32"
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    np.testing.assert_allclose(np.asarray(out, "float32"), expected, atol=2e-2)
    assert keras.backend.standardize_dtype(spec(x).dtype) == "complex64"
    back = ToSpatial((8, 8))(ToSpectral()(x))
    assert keras.backend.standardize_dtype(back.dtype) == dtype
    # A model trains one step under the policy.
    inputs = keras.Input((8, 8, 3))
    h = SpectralConv2D(4, 3, activation="spectral_tanh", output_domain="spatial")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(2, activation="softmax", dtype="float32")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, np.array([0, 1]))
    assert np.isfinite(loss)


def test_format_helpers():
    assert spectral.padded_size(28, 28, 4, 4) == (32, 32)
    assert spectral.padded_size(7, 7, 2, 2) == (9, 10)
    assert spectral.fft_size_of((None, 9, 6, 3)) == (9, 10)
    assert spectral.spectral_shape(None, (9, 10), 3) == (None, 9, 6, 3)
    # TensorFlow's "same" offsets, e.g. 28 rows, kernel 3, stride 2 -> 0.
    assert spectral.same_padding_offset(28, 3, 2) == 0
    assert spectral.same_padding_offset(28, 3, 1) == 1
    assert spectral.same_padding_offset(9, 4, 1) == 1


# data_format: a real map's layout at the layers where it enters or leaves
# the spectral domain; spectral tensors keep their one layout.


@pytest.mark.parametrize("padding", [2, (1, 3)])
def test_to_spectral_channels_first_equals_channels_last(padding):
    import tensorflow as tf

    x = np.random.default_rng(7).standard_normal((2, 7, 9, 3)).astype("float32")
    x_first = tf.constant(x.transpose(0, 3, 1, 2))
    x_last = tf.constant(x)
    weights = tf.constant(_complex(ToSpectral(padding)(x).shape, seed=8))
    first, last = ToSpectral(padding, data_format="channels_first"), ToSpectral(padding)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x_first, x_last])
        z_first, z_last = first(x_first), last(x_last)
        loss_first = tf.reduce_sum(tf.math.real(z_first * weights))
        loss_last = tf.reduce_sum(tf.math.real(z_last * weights))
    np.testing.assert_allclose(z_first.numpy(), z_last.numpy(), atol=1e-6)
    assert first.compute_output_shape((None, 3, 7, 9)) == last.compute_output_shape((None, 7, 9, 3))
    np.testing.assert_allclose(
        tape.gradient(loss_first, x_first).numpy(),
        tape.gradient(loss_last, x_last).numpy().transpose(0, 3, 1, 2),
        atol=1e-6,
    )


def test_a_channels_first_block_equals_the_channels_last_block_transposed():
    x = np.random.default_rng(9).standard_normal((2, 6, 7, 3)).astype("float32")

    def block(data_format, shape):
        inputs = keras.Input(shape)
        z = ToSpectral(2, data_format=data_format)(inputs)
        z = SpectralBatchNormalization()(SpectralTanh()(z))
        return keras.Model(inputs, ToSpatial((6, 7), data_format=data_format)(z))

    first, last = block("channels_first", (3, 6, 7)), block("channels_last", (6, 7, 3))
    assert first.output.shape == (None, 3, 6, 7)
    np.testing.assert_allclose(
        np.asarray(first(x.transpose(0, 3, 1, 2))),
        np.asarray(last(x)).transpose(0, 3, 1, 2),
        atol=1e-5,
    )


def test_data_format_defaults_to_the_image_data_format():
    assert keras.config.image_data_format() == "channels_last"
    keras.config.set_image_data_format("channels_first")
    try:
        made = [ToSpectral(), ToSpatial((4, 4)), ButterflyFusion(4)]
        assert [layer.data_format for layer in made] == ["channels_first"] * 3
        assert ToSpectral(data_format="channels_last").data_format == "channels_last"
        # Spectral-only layers do not depend on it.
        z = ToSpectral(2, data_format="channels_last")(np.ones((1, 4, 4, 2), "float32"))
        assert SpectralTanh()(z).shape == z.shape
    finally:
        keras.config.set_image_data_format("channels_last")
    assert [type(layer).from_config(layer.get_config()).data_format for layer in made] == [
        "channels_first"
    ] * 3


@pytest.mark.parametrize(
    "layer", [ToSpectral(3), ToSpatial((5, 5), pool_size=2), ButterflyFusion(6, base=3)]
)
def test_configs_without_data_format_still_load(layer):
    config = layer.get_config()
    assert config["data_format"] == "channels_last"
    del config["data_format"]  # a config saved before the argument existed
    old = type(layer).from_config(config)
    assert old.data_format == "channels_last"
    assert old.get_config() == layer.get_config()


@pytest.mark.parametrize("cls", [ToSpectral, ToSpatial, ButterflyFusion])
def test_bad_data_format_is_named(cls):
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `data_format`. Expected one of "
        r"\['channels_first', 'channels_last'\]. Received: data_format='NCHW'",
    ):
        cls(4, data_format="NCHW")


@pytest.mark.parametrize("cls", [SpectralTanh, SpectralConcatenate, SpectralBatchNormalization])
@pytest.mark.parametrize("value", ["channels_first", "channels_last", None])
def test_spectral_only_layers_take_no_data_format(cls, value):
    with pytest.raises(
        ValueError,
        match=rf"Invalid value for argument `data_format`. Expected no data_format for "
        rf"{cls.__name__}: its inputs and outputs are spectral tensors, whose layout is "
        rf"always \(batch, P, Q // 2 \+ 1, channels\).*Received: data_format={value!r}",
    ):
        cls(data_format=value)


def test_channels_first_input_errors_show_the_shape_received():
    with pytest.raises(
        ValueError,
        match=r"ToSpectral.*height and width must be known.*shape \(None, 3, None, 8\)",
    ):
        ToSpectral(data_format="channels_first")(keras.Input((3, None, 8)))
    with pytest.raises(
        ValueError,
        match=r"Expected a rank-4 tensor: a real map \(batch, channels, height, width\)",
    ):
        ToSpectral(data_format="channels_first")(keras.Input((3, 8)))
