"""The child process of `specnet bench memory`: build, train and measure one configuration.

`keras_specnet.bench.memory` runs `measure(config)` of this module in a
fresh process (`runner.isolated`) for every configuration: `task="train"`
trains a model and saves its weights, `task="measure"` loads them into one
configuration (the spatial model, a peer, the twin in a cache mode) and
measures it.
"""

import statistics
import time

from keras_specnet.bench import runner


def _images(dataset, split, count, data_dir, seed=None, shuffle=False):
    """`count` real images of `dataset` as 32x32x3 float32 arrays, and labels."""
    import numpy as np

    from keras_specnet import datasets

    ds = datasets.load(
        dataset,
        split,
        batch_size=256,
        shuffle=shuffle,
        augment=False,
        data_dir=data_dir,
        seed=seed,
        limit=count,
    )
    xs, ys = [], []
    for x, y in ds:
        x = datasets.to_shape(x, (32, 32, 3))
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]  # count None: all


def _build(config):
    import keras
    import numpy as np

    from keras_specnet import training
    from keras_specnet.applications import registry

    keras.utils.set_random_seed(config["seed"])
    tools = set((config.get("peer") or "baseline").split("+"))
    if "mixed_bfloat16" in tools:
        keras.config.set_dtype_policy("mixed_bfloat16")
    kwargs = dict(config["model_args"], input_shape=(32, 32, 3))
    if config.get("beta") is not None:
        kwargs["beta"] = config["beta"]
    if config.get("cache"):
        mode, _, dtype = config["cache"].partition("+")
        kwargs.update(cache=mode, cache_dtype=dtype or "float32")
    if config.get("batch_chunks"):
        kwargs["batch_chunks"] = config["batch_chunks"]
    if "remat_scope" in tools:
        with keras.RematScope(mode="full"):
            model = registry.build(config["model"], **kwargs)
    else:
        model = registry.build(config["model"], **kwargs)
    if config.get("weights"):
        # A list in the model's order: the same in every cache mode, whose
        # layer names differ (a `SpectralBlock` nests its convolutions).
        with np.load(config["weights"]) as saved:
            model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
    if "recompute_grad" in tools:
        model = _recompute_blocks(model)
    # XLA only where asked, in the measurements (training is never compiled
    # with it: Keras's "auto" would on a GPU).
    jit = bool(config.get("jit_compile")) and config.get("task") == "measure"
    return training.compile_classifier(
        model, "adam", config.get("learning_rate", 1e-3), jit_compile=jit
    )


def _block_ends(model):
    """Names of the layers whose outputs end the blocks of a spatial model."""
    names = [layer.name for layer in model.layers]
    ends = [n for n in names if n.endswith("_pool") and n != "avg_pool"]
    concats = [n for n in names if n.endswith("_concat")]
    if concats:
        ends.append(concats[-1])
    return ends


def _recompute_blocks(model):
    """The same layers, each block wrapped in `tf.recompute_grad`."""
    import keras
    import tensorflow as tf

    class Recompute(keras.layers.Layer):
        def __init__(self, block, **kwargs):
            super().__init__(**kwargs)
            self.block = block

        def call(self, x, training=None):
            return tf.recompute_grad(lambda t: self.block(t, training=training))(x)

        def compute_output_spec(self, x):
            return self.block.compute_output_spec(x)

    inputs = keras.Input(model.input.shape[1:])
    x, start = inputs, model.input
    for i, end in enumerate(_block_ends(model)):
        stop = model.get_layer(end).output
        x = Recompute(keras.Model(start, stop), name=f"recompute{i}")(x)
        start = stop
    rest = keras.Model(start, model.output)
    return keras.Model(inputs, rest(x), name=f"{model.name}_recompute")


def _train(config):
    import numpy as np

    model = _build(config)
    batch, epochs = 64, config.get("train_epochs") or 0
    tx, ty = _images(config["dataset"], "test", config["eval_examples"], config["data_dir"])
    if epochs:
        # The whole training split, reshuffled every epoch, and the test
        # accuracy after each epoch: the curve shows where it levels off.
        x, y = _images(config["dataset"], "train", None, config["data_dir"])
        fit = {"epochs": epochs, "shuffle": True, "validation_data": (tx, ty)}
    else:
        x, y = _images(
            config["dataset"],
            "train",
            config["train_steps"] * batch,
            config["data_dir"],
            config["seed"],
            True,
        )
        fit = {"epochs": 1, "shuffle": False}
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=batch, validation_batch_size=256, verbose=0, **fit)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(tx, ty, batch_size=256, verbose=0)
    np.savez(config["save_to"], *model.get_weights())
    return {
        "accuracy": float(accuracy),
        "epoch_accuracy": [float(a) for a in history.history.get("val_accuracy", [])],
        "train_seconds": seconds,
        "train_examples": int(len(x)) * fit["epochs"],
        "eval_examples": int(len(tx)),
        "finite": bool(np.isfinite(model.predict(tx[:8], verbose=0)).all()),
    }


def _measure(config):
    import gc

    from keras_specnet import memory

    model = _build(config)
    x, y = _images(config["dataset"], "train", config["batch_size"], config["data_dir"])
    # The step peak first: what held_bytes leaves for the garbage
    # collector would count as resident otherwise.
    step = memory.step_peak(model, x, y, repeats=config["repeats"])
    gc.collect()
    held = memory.held_bytes(model, x, y)
    gc.collect()
    fractions = memory.zero_fractions(model, x) if config.get("beta") is not None else {}
    seconds = runner.median_seconds(lambda: model.train_on_batch(x, y), config["repeats"], warmup=2)
    return {
        "held_bytes": held,
        "peak_bytes": step["peak_bytes"],
        "step_bytes": step["step_bytes"],
        "resident_bytes": step["resident_bytes"],
        "step_bytes_each": step["step_bytes_each"],
        "step_seconds": seconds,
        "zero_fraction": statistics.fmean(fractions.values()) if fractions else None,
        "device": step["device"],
    }


def measure(config):
    """Entry point of the child process (see `runner.isolated`)."""
    return _train(config) if config["task"] == "train" else _measure(config)
