"""Child process of tests/test_distributed.py: trains small models with `model.fit`.

Usage:

    python _distributed_child.py mirrored OUT_DIR MODEL [MODEL ...]
    python _distributed_child.py worker OUT_DIR MODEL

`mirrored` splits the CPU into two logical devices, then, for each model,
draws its initial weights, trains it on one device and again under a
`tf.distribute.MirroredStrategy` over both devices from the same initial
weights, and writes `OUT_DIR/MODEL.npz` (`initial_i`, `single_i`,
`mirrored_i` for each weight `i`), or `OUT_DIR/MODEL.error` with the
traceback when that model fails.

`worker` is one worker of a `tf.distribute.MultiWorkerMirroredStrategy`
(`TF_CONFIG` comes from the parent): it draws the model's initial weights
from the same seed, trains, and worker 0 writes
`OUT_DIR/MODEL.multi_worker.npz` (`initial_i`, `multi_worker_i`).

Every run sees the same global batches in the same order (no shuffle) and
the same optimizer; only the placement differs.
"""

import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

#: Training set: examples, global batch size and epochs.
EXAMPLES, BATCH, EPOCHS = 64, 16, 2
SIZE, CLASSES = 12, 3


def _data():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(EXAMPLES, SIZE, SIZE, 1)).astype("float32")
    labels = rng.integers(0, CLASSES, EXAMPLES).astype("int32")
    return images, labels


def _dataset(tf):
    """The global batches, in order, split by data for several workers."""
    dataset = tf.data.Dataset.from_tensor_slices(_data()).batch(BATCH, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def build(name):
    """The model `name`, a new one with new weights."""
    import keras

    from keras_specnet import applications, layers

    inputs = keras.Input((SIZE, SIZE, 1))
    if name == "spectral":
        # SpectralConv2D and ToSpatial on spectral inputs, with the bitmask
        # cache of their backward pass.
        z = layers.ToSpectral(padding=2)(inputs)
        z = layers.SpectralConv2D(4, 3, beta=0.05, cache="bitmask", batch_chunks=2)(z)
        z = layers.SpectralTanh()(z)
        x = layers.ToSpatial((SIZE, SIZE), pool_size=2, cache="bitmask")(z)
    elif name == "spectral_bn":
        # Batch statistics of the global batch on every replica.
        z = layers.ToSpectral(padding=2)(inputs)
        z = layers.SpectralConv2D(4, 3, beta=0.05, cache="bitmask")(z)
        z = layers.SpectralBatchNormalization(synchronized=True)(z)
        z = layers.SpectralTanh()(z)
        x = layers.ToSpatial((SIZE, SIZE), pool_size=2, cache="bitmask")(z)
    elif name == "butterfly":
        x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
        x = layers.ButterflyFusion(16, base=2)(x)
        x = keras.layers.Activation("relu")(x)
        x = layers.ButterflyFusion(16, base=4, use_bias=False)(x)
    elif name == "lenet5":
        return applications.LeNet5(input_shape=(SIZE, SIZE, 1), classes=CLASSES)
    else:
        raise ValueError(f"Invalid value for argument `name`. Received: name={name!r}")
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def _compile(model):
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )


def _fit(tf, model):
    _compile(model)
    model.fit(_dataset(tf), epochs=EPOCHS, shuffle=False, verbose=0)
    return [np.asarray(w) for w in model.get_weights()]


def _save(path, **arrays):
    tmp = f"{path}.tmp.npz"
    np.savez(tmp, **{f"{k}_{i}": w for k, ws in arrays.items() for i, w in enumerate(ws)})
    os.replace(tmp, path)


def mirrored(out_dir, names):
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    for name in names:
        try:
            keras.utils.set_random_seed(0)
            with tf.device("/cpu:0"):
                model = build(name)
                initial = [np.asarray(w) for w in model.get_weights()]
                single = _fit(tf, model)
            with strategy.scope():
                model = build(name)
                model.set_weights(initial)
                distributed = _fit(tf, model)
            _save(
                os.path.join(out_dir, f"{name}.npz"),
                initial=initial,
                single=single,
                mirrored=distributed,
            )
        except Exception:
            with open(os.path.join(out_dir, f"{name}.error"), "w") as f:
                f.write(traceback.format_exc())


def worker(out_dir, name):
    import json

    import keras
    import tensorflow as tf

    from keras_specnet import distribute

    strategy = distribute.MultiWorkerMirroredStrategy()
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build(name)
        initial = [np.asarray(w) for w in model.get_weights()]
        weights = _fit(tf, model)
    if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0:
        _save(
            os.path.join(out_dir, f"{name}.multi_worker.npz"),
            initial=initial,
            multi_worker=weights,
        )


if __name__ == "__main__":
    import keras

    keras.config.disable_traceback_filtering()
    mode, out_dir, *models = sys.argv[1:]
    if mode == "mirrored":
        mirrored(out_dir, models)
    elif mode == "worker":
        (model,) = models
        worker(out_dir, model)
    else:
        raise SystemExit(f"unknown mode {mode!r}: expected 'mirrored' or 'worker'")
