"""ButterflyFusion against dense references: matrices, Conv2D, gradients."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import initializers
from keras_specnet.layers import ButterflyFusion
from keras_specnet.layers.butterfly_fusion import plan_radices


def sylvester(n):
    """Sylvester Hadamard matrix built here, independently of the package."""
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.kron(np.array([[1.0, 1.0], [1.0, -1.0]]), h)
    return h


def dense_matrix(layer, in_width):
    """The layer's matrix: its output on the identity, bias removed."""
    eye = np.eye(in_width, dtype="float32")
    out = keras.ops.convert_to_numpy(layer(eye))
    if layer.use_bias:
        out = out - keras.ops.convert_to_numpy(layer.bias)
    return out


def reference(layer, x):
    """The layer's maths as a product of dense `size x size` stage matrices.

    Stage `t` maps channel `g * r + i` to channel `o * (size / r) + g`
    through `weight[g, i, o]`; each matrix is scattered from the weight with
    indices computed here in NumPy, so the gradients with respect to the
    weights come from `tf.matmul`, not from the layer's reshapes.
    """
    size, in_width = layer.size, x.shape[-1]
    rows = tf.reshape(x, [-1, in_width])
    h = tf.pad(rows, [[0, 0], [0, size - in_width]])
    for w in layer.stages:
        groups, radix = w.shape[0], w.shape[1]
        g, i, o = np.meshgrid(np.arange(groups), np.arange(radix), np.arange(radix), indexing="ij")
        index = np.stack([g * radix + i, o * groups + g], axis=-1).reshape(-1, 2)
        matrix = tf.scatter_nd(index, tf.reshape(w, [-1]), [size, size])
        h = tf.matmul(h, matrix)
    y = h[:, : layer.filters]
    if layer.residual and in_width == layer.filters:
        y = y + rows
    if layer.use_bias:
        y = y + layer.bias
    return tf.reshape(y, [*x.shape[:-1], layer.filters])


WIDTHS = [(8, 8, 2), (16, 16, 4), (12, 20, 4), (20, 12, 3), (27, 27, 3), (10, 7, 16)]


@pytest.mark.parametrize("in_width,filters,base", WIDTHS)
def test_output_shape_for_maps_and_features(in_width, filters, base):
    layer = ButterflyFusion(filters, base=base)
    assert layer(np.ones((2, 5, 3, in_width), "float32")).shape == (2, 5, 3, filters)
    assert layer.compute_output_shape((None, 5, 3, in_width)) == (None, 5, 3, filters)
    features = ButterflyFusion(filters, base=base)
    assert features(np.ones((4, in_width), "float32")).shape == (4, filters)


@pytest.mark.parametrize("in_width,filters,base", WIDTHS)
@pytest.mark.parametrize("residual", [True, False])
def test_random_initialisation_connects_every_input_to_every_output(
    in_width, filters, base, residual
):
    layer = ButterflyFusion(filters, base=base, residual=residual, use_bias=False)
    matrix = dense_matrix(layer, in_width)
    assert matrix.shape == (in_width, filters)
    assert np.all(matrix != 0)


@pytest.mark.parametrize("in_width,filters,base", WIDTHS)
@pytest.mark.parametrize("residual", [True, False])
def test_identity_initializer_gives_the_identity(in_width, filters, base, residual):
    layer = ButterflyFusion(filters, base=base, residual=residual, kernel_initializer="identity")
    np.testing.assert_array_equal(
        dense_matrix(layer, in_width), np.eye(in_width, filters, dtype="float32")
    )


@pytest.mark.parametrize("n,base", [(2, 2), (8, 2), (16, 2), (16, 4), (32, 4), (64, 8)])
def test_hadamard_initializer_gives_the_sylvester_hadamard_matrix(n, base):
    layer = ButterflyFusion(n, base=base, residual=False, kernel_initializer="hadamard")
    np.testing.assert_array_equal(dense_matrix(layer, n), sylvester(n))
    x = np.random.default_rng(0).standard_normal((3, n)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)), x @ sylvester(n), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize(
    "n,base,stages", [(8, 2, 3), (64, 2, 6), (64, 4, 3), (256, 16, 2), (81, 3, 4)]
)
def test_parameter_count_is_n_base_log_base_n_for_powers_of_base(n, base, stages):
    layer = ButterflyFusion(n, base=base)
    layer.build((None, n))
    assert layer.radices == (base,) * stages
    assert round(math.log(n, base)) == stages
    assert layer.count_params() == n * base * stages + n


@pytest.mark.parametrize(
    "in_width,filters,base,size,radices",
    [
        (96, 96, 16, 96, (12, 8)),
        (96, 96, 4, 96, (4, 4, 3, 2)),
        (97, 97, 16, 99, (11, 9)),
        (32, 64, 4, 64, (4, 4, 4)),
        (48, 24, 2, 64, (2,) * 6),
    ],
)
def test_other_widths_use_mixed_radices_and_pad_only_when_needed(
    in_width, filters, base, size, radices
):
    assert plan_radices(max(in_width, filters), base) == (size, radices)
    layer = ButterflyFusion(filters, base=base, use_bias=False)
    layer.build((None, in_width))
    assert [tuple(w.shape) for w in layer.stages] == [(size // r, r, r) for r in radices]
    assert layer.count_params() == size * sum(radices)


def test_radices_minimise_multiply_adds_among_exact_factorisations():
    # 32 channels with base 16: (8, 4) costs 32 * 12, (16, 2) 32 * 18.
    assert plan_radices(32, 16) == (32, (8, 4))
    # 512 with base 16 needs 3 stages; (8, 8, 8) is the cheapest.
    assert plan_radices(512, 16) == (512, (8, 8, 8))


@pytest.mark.parametrize("in_width,filters,base", WIDTHS)
@pytest.mark.parametrize("recompute", [True, False])
def test_output_and_gradients_match_the_dense_reference(in_width, filters, base, recompute):
    layer = ButterflyFusion(
        filters, base=base, recompute=recompute, bias_initializer="random_normal"
    )
    x = tf.constant(np.random.default_rng(1).standard_normal((2, 3, 4, in_width)), tf.float32)
    upstream = tf.constant(np.random.default_rng(2).standard_normal((2, 3, 4, filters)), tf.float32)
    layer.build(x.shape)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x) * upstream)
        loss_ref = tf.reduce_sum(reference(layer, x) * upstream)
    np.testing.assert_allclose(loss.numpy(), loss_ref.numpy(), rtol=1e-4, atol=1e-3)
    targets = [x, *layer.trainable_variables]
    for got, want in zip(tape.gradient(loss, targets), tape.gradient(loss_ref, targets)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("in_width,filters,base", [(16, 16, 4), (12, 20, 4)])
def test_matches_conv2d_1x1_with_the_layers_dense_matrix(in_width, filters, base):
    layer = ButterflyFusion(filters, base=base, bias_initializer="random_normal")
    layer.build((None, in_width))
    conv = keras.layers.Conv2D(filters, 1)
    conv.build((None, 6, 5, in_width))
    conv.set_weights(
        [dense_matrix(layer, in_width)[None, None], keras.ops.convert_to_numpy(layer.bias)]
    )
    x = np.random.default_rng(3).standard_normal((2, 6, 5, in_width)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(x)),
        keras.ops.convert_to_numpy(conv(x)),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("n,base", [(256, 4), (256, 16)])
def test_butterfly_he_gives_paths_the_variance_of_he_initialisation(n, base):
    stages = round(math.log(n, base))
    variances = []
    for _ in range(8):
        layer = ButterflyFusion(n, base=base, residual=False, use_bias=False)
        variances.append(np.var(dense_matrix(layer, n)))
        for w in layer.stages:
            edge_variance = np.var(keras.ops.convert_to_numpy(w))
            assert edge_variance == pytest.approx((2.0 / n) ** (1 / stages), rel=0.1)
    # A product of `stages` edges has the variance of a He-initialised 1x1
    # kernel's entry, 2 / fan_in (averaged over draws: products of uniform
    # edges are heavy-tailed).
    assert np.mean(variances) == pytest.approx(2.0 / n, rel=0.1)


def test_trains_in_a_compiled_model():
    inputs = keras.Input((4, 4, 8))
    x = ButterflyFusion(8, base=2)(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.05), "mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4, 4, 8)).astype("float32")
    y = x.mean(axis=(1, 2)) @ rng.standard_normal((8, 1)).astype("float32")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before


def test_get_config_round_trip():
    layer = ButterflyFusion(
        12,
        base=3,
        use_bias=False,
        residual=False,
        recompute=False,
        kernel_initializer="identity",
        kernel_regularizer="l2",
        name="bft",
    )
    clone = ButterflyFusion.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    custom = ButterflyFusion(8, kernel_initializer=keras.initializers.Ones())
    again = ButterflyFusion.from_config(custom.get_config())
    assert isinstance(again.kernel_initializer, keras.initializers.Ones)


def test_saved_model_gives_identical_outputs(tmp_path):
    inputs = keras.Input((4, 4, 6))
    outputs = ButterflyFusion(10, base=3)(inputs)
    model = keras.Model(inputs, outputs)
    path = str(tmp_path / "bft.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 6)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(loaded(x))
    )


def test_initializers_serialise():
    for init in [
        initializers.ButterflyHe(64, 3, seed=1),
        initializers.ButterflyIdentity(0.0),
        initializers.ButterflyHadamard(),
    ]:
        clone = keras.initializers.deserialize(keras.initializers.serialize(init))
        assert type(clone) is type(init) and clone.get_config() == init.get_config()
    a = initializers.ButterflyHe(64, 3, seed=1)((4, 4, 4))
    b = initializers.ButterflyHe(64, 3, seed=1)((4, 4, 4))
    np.testing.assert_array_equal(a, b)


def test_weight_names_allow_excluding_them_from_weight_decay():
    layer = ButterflyFusion(16, base=4)
    layer.build((None, 16))
    names = [w.name for w in layer.butterfly_weights]
    assert names == ["butterfly_0", "butterfly_1"]
    optimizer = keras.optimizers.AdamW(weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["butterfly"])
    optimizer.build(layer.trainable_variables)
    assert all(not optimizer._use_weight_decay(w) for w in layer.butterfly_weights)
    assert optimizer._use_weight_decay(layer.bias)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"filters": 0},
            "Invalid value for argument `filters`. Expected a positive integer. Received: filters=0",
        ),
        (
            {"filters": 8, "base": 1},
            "Invalid value for argument `base`. Expected an integer >= 2. Received: base=1",
        ),
        (
            {"filters": 8, "base": 2.5},
            "Invalid value for argument `base`. Expected an integer >= 2. Received: base=2.5",
        ),
        (
            {"filters": 8, "kernel_initializer": "nonsense"},
            "Invalid value for argument `kernel_initializer`. Expected one of ['butterfly_he', 'identity', 'hadamard'] or a Keras initializer. Received: kernel_initializer='nonsense'",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        ButterflyFusion(**kwargs)


@pytest.mark.parametrize(
    "filters,in_width,base,residual",
    [(8, 8, 2, True), (8, 12, 2, False), (12, 12, 2, False), (36, 36, 6, False)],
)
def test_hadamard_needs_a_square_power_of_two_layer_without_residual(
    filters, in_width, base, residual
):
    layer = ButterflyFusion(filters, base=base, residual=residual, kernel_initializer="hadamard")
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `kernel_initializer`. Expected 'hadamard' "
        r"only for a square layer .*Received: kernel_initializer='hadamard'",
    ):
        layer.build((None, in_width))


def test_bad_inputs_are_described():
    with pytest.raises(
        ValueError, match=r"Expected a tensor of rank >= 2 .* Received: input shape=\(8,\)"
    ):
        ButterflyFusion(4)(np.ones((8,), "float32"))
    layer = ButterflyFusion(4)
    layer(np.ones((2, 8), "float32"))
    with pytest.raises(
        ValueError,
        match=r"Expected 8 input channels, as when the layer was built. Received: input shape=\(2, 6\)",
    ):
        layer(np.ones((2, 6), "float32"))


@pytest.mark.parametrize("shape", [(2, 12, 5, 3), (2, 12, 7), (3, 12)])
@pytest.mark.parametrize("filters,recompute", [(12, True), (20, False)])
def test_channels_first_is_channels_last_transposed(shape, filters, recompute):
    rng = np.random.default_rng(4)
    x_first = tf.constant(rng.standard_normal(shape).astype("float32"))
    rank = len(shape)
    to_last, to_first = [0, *range(2, rank), 1], [0, rank - 1, *range(1, rank - 1)]
    x_last = tf.transpose(x_first, to_last)
    last = ButterflyFusion(filters, base=4, recompute=recompute)
    first = ButterflyFusion(filters, base=4, recompute=recompute, data_format="channels_first")
    last(x_last)
    first(x_first)
    first.set_weights(last.get_weights())
    assert first.compute_output_shape(x_first.shape) == (shape[0], filters, *shape[2:])
    assert first.multiply_adds(x_first.shape) == last.multiply_adds(x_last.shape)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x_first, x_last])
        got, want = first(x_first), last(x_last)
        weights = tf.constant(rng.standard_normal(want.shape).astype("float32"))
        loss_got = tf.reduce_sum(got * tf.transpose(weights, to_first))
        loss_want = tf.reduce_sum(want * weights)
    np.testing.assert_allclose(got.numpy(), tf.transpose(want, to_first).numpy(), atol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(loss_got, x_first).numpy(),
        tf.transpose(tape.gradient(loss_want, x_last), to_first).numpy(),
        atol=1e-5,
    )
    for g, e in zip(
        tape.gradient(loss_got, first.trainable_weights),
        tape.gradient(loss_want, last.trainable_weights),
    ):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-5)


def test_channels_first_input_errors_name_the_channel_axis():
    with pytest.raises(
        ValueError,
        match=r"channel axis \(axis 1, data_format='channels_first'\) is known. "
        r"Received: input shape=\(None, None, 4, 4\)",
    ):
        ButterflyFusion(4, data_format="channels_first").build((None, None, 4, 4))
    layer = ButterflyFusion(4, data_format="channels_first")
    layer(np.ones((2, 8, 3, 3), "float32"))
    with pytest.raises(ValueError, match=r"Expected 8 input channels.*shape=\(2, 6, 3, 3\)"):
        layer(np.ones((2, 6, 3, 3), "float32"))
