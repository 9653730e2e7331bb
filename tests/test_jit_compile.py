"""XLA compilation (`jit_compile=True`) of every registered model and of the spectral layers.

Every cache mode compiles: the bitmask and sparse caches keep a tensor whose
size depends on the data, which XLA compiles with a static bound. A compiled
step must give the loss, the gradients and the updated weights of the
step without XLA.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet.applications import registry
from keras_specnet.layers import (
    ButterflyFusion,
    SpectralBatchNormalization,
    SpectralConcatenate,
    SpectralConv2D,
    ToSpatial,
    ToSpectral,
)

from helpers import SMALL_MODEL_ARGS

# No dropout: its random masks differ between the two steps.
SMALL = {
    name: {**args, **({"dropout": 0.0} if name.startswith("mobilenet") else {})}
    for name, args in SMALL_MODEL_ARGS.items()
}
# The default cache where it compiles fast; "none" where the bitmask's
# bounded shapes make XLA's compilation slow (minutes for spec_vgg16).
CACHE = {"spec_alexnet": "none", "spec_vgg16": "none", "spec_densenet": "none"}
QUICK = {"lenet5", "spec_densenet"}


def test_every_registered_model_has_a_case():
    assert set(SMALL) == set(registry.REGISTRY)
    assert set(CACHE) <= {n for n, s in registry.REGISTRY.items() if "cache" in s.arguments}


def _step(model, x, y, jit_compile):
    model.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    assert model.jit_compile is jit_compile
    loss = model.train_on_batch(x, y)
    return float(loss), [np.array(w) for w in model.weights]


def _package_weights(model):
    """Which of `model.weights` belong to this package's layers."""
    ours = {
        id(w)
        for layer in model._flatten_layers()
        if type(layer).__module__.startswith("keras_specnet.")
        for w in layer.weights
    }
    return [id(w) in ours for w in model.weights]


@pytest.mark.parametrize(
    "name",
    [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in SMALL],
)
def test_registered_model_trains_a_step_under_xla(name):
    kwargs = dict(SMALL[name], input_shape=(28, 28, 1), classes=10)
    if name in CACHE:
        kwargs["cache"] = CACHE[name]
    model = registry.build(name, **kwargs)
    # Keras's batch normalisations in inference mode: XLA's and TensorFlow's
    # gradients of a deep stack of them over a few pixels differ by several
    # percent, which would reach the package's layers between them.
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    initial = model.get_weights()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 28, 28, 1)).astype("float32")
    y = np.arange(8) % 10
    loss, weights = _step(model, x, y, jit_compile=True)
    model.set_weights(initial)
    want_loss, want_weights = _step(model, x, y, jit_compile=False)
    assert np.isfinite(loss)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-4)
    ours = _package_weights(model)
    assert any(ours) == (registry.spec(name).kind != "spatial")
    moved = 0
    for w, want, before, checked in zip(weights, want_weights, initial, ours):
        assert np.all(np.isfinite(w))
        moved += not np.array_equal(w, before)
        if checked:
            # The update of each of the package's weights, within float32
            # rounding of its step.
            scale = max(float(np.max(np.abs(want - before))), 1e-12)
            np.testing.assert_allclose(w - before, want - before, rtol=0, atol=1e-3 * scale + 1e-6)
    assert moved > 0


@pytest.mark.parametrize("cache", ["bitmask", "sparse_tensor", "none"])
def test_spectral_layers_give_the_same_gradients_under_xla(cache):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 3))
    z = SpectralConv2D(4, 3, beta=0.3, activation="spectral_tanh", cache=cache)(inputs)
    z = SpectralBatchNormalization(cache=cache)(z)
    y = SpectralConv2D(2, 3, beta=0.3, activation="spectral_tanh", cache=cache)(z)
    z = SpectralConcatenate()([z, y])
    x = ToSpatial((10, 10), pool_size=2, cache=cache, data_format="channels_first")(z)
    x = ButterflyFusion(4, data_format="channels_first")(x)
    x = ToSpatial((5, 5))(ToSpectral(1, data_format="channels_first")(x))
    model = keras.Model(inputs, x)
    data = tf.constant(np.random.default_rng(1).standard_normal((5, 10, 10, 3)).astype("float32"))

    def gradients(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(model(x, training=True) ** 2)
        return [loss, *tape.gradient(loss, [x, *model.trainable_weights])]

    got = tf.function(gradients, jit_compile=True)(data)
    want = tf.function(gradients)(data)
    assert len(got) == len(want) == 2 + len(model.trainable_weights)
    for g, w in zip(got, want):
        np.testing.assert_allclose(
            g.numpy(), w.numpy(), rtol=1e-4, atol=1e-5 * float(np.max(np.abs(w.numpy())))
        )
