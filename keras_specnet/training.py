"""Compiling a classifier the same way everywhere in the package.

`specnet train`, `specnet tune`, the hypermodels and the benchmarks compile
with `compile_classifier`: sparse categorical cross-entropy, accuracy, and
Adam (learning rate 1e-3) or SGD with momentum 0.9 (learning rate 0.01)
unless a learning rate is given.

`fit` is `model.fit` with `callbacks.StopOnNonFiniteLoss` and, given a
folder, `keras.callbacks.BackupAndRestore`; `epoch_dataset` gives batches
whose order depends on the epoch number only, so that a resumed run sees
the batches of an uninterrupted one.
"""

import keras

from keras_specnet import _checks

#: Optimizer name -> its default learning rate.
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "sgd": 1e-2}

#: The optimizers `compile_classifier` takes.
OPTIMIZERS = tuple(DEFAULT_LEARNING_RATES)

#: Momentum of the SGD optimizer.
SGD_MOMENTUM = 0.9


def make_optimizer(optimizer="adam", learning_rate=None):
    """A new `keras.optimizers.Adam` or `SGD` (momentum 0.9).

    Args:
        optimizer: str. `"adam"` or `"sgd"`. Defaults to `"adam"`.
        learning_rate: float > 0 or None. `None` takes the optimizer's
            default (`DEFAULT_LEARNING_RATES`). Defaults to `None`.
    """
    _checks.one_of("optimizer", optimizer, OPTIMIZERS)
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[optimizer]
    learning_rate = _checks.positive_number("learning_rate", learning_rate)
    if optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(learning_rate, momentum=SGD_MOMENTUM)


def compile_classifier(model, optimizer="adam", learning_rate=None, jit_compile="auto"):
    """Compile `model` for integer labels; returns `model`.

    Loss `"sparse_categorical_crossentropy"`, metric `"accuracy"`, the
    optimizer of `make_optimizer(optimizer, learning_rate)`; `jit_compile`
    as `keras.Model.compile` takes it.
    """
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


#: The graph-level seed of `epoch_dataset`'s shuffles.
_EPOCH_GRAPH_SEED = 2017


def epoch_dataset(examples, batch_size, epochs, *, initial_epoch=0, seed=0, buffer_size=60000):
    """The batches of epochs `initial_epoch` to `epochs - 1`, one after another.

    Epoch `e` is `examples` shuffled with the seed `(seed, e)` and batched,
    whatever was iterated before: the order of an epoch depends on its
    number only, so a run resumed at epoch `e` (or run under a distribution
    strategy, which may open extra iterators) sees the batches that an
    uninterrupted run sees. Fit it with `steps_per_epoch` set to the
    number of batches of one epoch.

    Args:
        examples: `tf.data.Dataset` of single (unbatched) examples, in a
            fixed order.
        batch_size: int > 0. Examples per batch (the last batch of an
            epoch may be smaller).
        epochs: int > 0. One past the last epoch.
        initial_epoch: int in [0, epochs]. The first epoch. Defaults to 0.
        seed: int. Seed of the shuffles. Defaults to 0.
        buffer_size: int > 0. Shuffle buffer; at least the number of
            examples for a uniform shuffle. Defaults to 60000.

    Returns:
        A `tf.data.Dataset` of batches.
    """
    import tensorflow as tf

    batch_size = _checks.positive_int("batch_size", batch_size)
    epochs = _checks.positive_int("epochs", epochs)
    initial_epoch = _checks.integer("initial_epoch", initial_epoch, minimum=0)
    if initial_epoch > epochs:
        raise _checks.invalid("initial_epoch", f"at most epochs={epochs}", initial_epoch)
    seed = _checks.integer("seed", seed)
    buffer_size = _checks.positive_int("buffer_size", buffer_size)

    def one_epoch(epoch):
        # Fixed seeds, a function of (seed, epoch) only: the graph seed of
        # this function is set, so TensorFlow's global seed plays no part.
        tf.compat.v1.get_default_graph().seed = _EPOCH_GRAPH_SEED
        shuffled = examples.shuffle(
            buffer_size, seed=epoch + 1_000_003 * seed, reshuffle_each_iteration=False
        )
        return shuffled.batch(batch_size)

    epochs_ds = tf.data.Dataset.range(initial_epoch, epochs)
    return epochs_ds.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)


#: Where `fit` keeps `keras.callbacks.BackupAndRestore`'s files in a
#: checkpoint directory.
BACKUP_FOLDER = "backup"


def finished_epochs(backup_dir):
    """Epochs finished by the run backed up in `backup_dir` (0 if none).

    Reads the epoch that `keras.callbacks.BackupAndRestore` restores from
    (its `training_metadata.json`).
    """
    import json
    import os

    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def fit(
    model,
    data,
    *,
    epochs,
    steps_per_epoch=None,
    validation_data=None,
    backup_dir=None,
    callbacks=(),
    verbose=1,
):
    """`model.fit` that stops on a NaN or Inf loss and can resume.

    A NaN or Inf loss raises `callbacks.NonFiniteLossError` (naming the
    epoch and the batch) at the end of the batch where it appears. With
    `backup_dir`, `keras.callbacks.BackupAndRestore` saves the weights, the
    optimizer and the epoch at the end of every epoch and keeps them when
    training ends or fails; a later call with the same `backup_dir`
    restores them and continues with the next epoch (up to `epochs`).

    Args:
        model: A compiled `keras.Model`, built (BackupAndRestore restores
            into built models only).
        data: The training data, as `model.fit` takes it.
        epochs: int > 0. The number of epochs of the whole run.
        steps_per_epoch: Optional int, as for `model.fit`.
        validation_data: Optional, as for `model.fit`.
        backup_dir: Optional folder for `BackupAndRestore`.
        callbacks: More callbacks, called before the backup.
        verbose: As for `model.fit`.

    Returns:
        The `History` of the epochs run by this call.

    Raises:
        callbacks.NonFiniteLossError: If the loss is NaN or Inf.
    """
    from keras_specnet.callbacks import StopOnNonFiniteLoss

    epochs = _checks.positive_int("epochs", epochs)
    all_callbacks = [StopOnNonFiniteLoss(), *callbacks]
    if backup_dir is not None:
        all_callbacks.append(
            keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False)
        )
    return model.fit(
        data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_data,
        shuffle=False,
        callbacks=all_callbacks,
        verbose=verbose,
    )
