"""Keras callbacks: training memory per epoch, stopping on a NaN or Inf loss."""

import keras
import numpy as np
import tensorflow as tf

from keras_specnet import memory


class MemoryProfiler(keras.callbacks.Callback):
    """Logs the peak and the mean training-step memory of each epoch.

    Before every training batch the allocator's peak is reset, after it the
    peak is read (TensorFlow's allocator, `tf.config.experimental`, on the
    device in use). At the end of each epoch the logs, and so the `History`
    that `fit` returns, get `memory_peak_bytes` (the largest step peak of
    the epoch) and `memory_mean_bytes` (the mean step peak), as the SpecNet
    paper's Fig. 4 reports them. Each figure is the allocator's peak while
    the step ran: weights, optimizer state and data in memory included.

    Args:
        device: `"CPU:0"`, `"GPU:0"`, ...; defaults to
            `keras_specnet.memory.default_device()`.

    Example:

    ```python
    from keras_specnet.callbacks import MemoryProfiler

    history = model.fit(x, y, epochs=3, callbacks=[MemoryProfiler()])
    print(history.history["memory_peak_bytes"])
    ```
    """

    def __init__(self, device=None):
        super().__init__()
        self.device = device or memory.default_device()
        self._peaks = []

    def on_epoch_begin(self, epoch, logs=None):
        self._peaks = []

    def on_train_batch_begin(self, batch, logs=None):
        tf.config.experimental.reset_memory_stats(self.device)

    def on_train_batch_end(self, batch, logs=None):
        self._peaks.append(tf.config.experimental.get_memory_info(self.device)["peak"])

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._peaks:
            logs["memory_peak_bytes"] = float(max(self._peaks))
            logs["memory_mean_bytes"] = float(sum(self._peaks) / len(self._peaks))


class NonFiniteLossError(RuntimeError):
    """The training loss, or the weights, became NaN or Inf.

    Attributes:
        epoch: int. The epoch (from 0).
        batch: int or None. The batch (from 0, within the epoch) whose loss
            was NaN or Inf; None when the weights were found so at the end
            of the epoch.
        loss: float or None. The loss that Keras logged for the batch.
    """

    def __init__(self, epoch, batch=None, loss=None):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        if batch is None:
            what = (
                f"the weights became NaN or Inf during epoch {epoch + 1} (counting from 1) "
                "while the logged loss stayed finite"
            )
        else:
            what = (
                f"the training loss became {loss} at epoch {epoch + 1}, batch {batch + 1} "
                "(counting from 1)"
            )
        super().__init__(what)


class StopOnNonFiniteLoss(keras.callbacks.TerminateOnNaN):
    """`keras.callbacks.TerminateOnNaN(raise_error=True)`, naming the epoch,
    and a check of the weights at the end of every epoch.

    Raises `NonFiniteLossError` (a `RuntimeError`) at the end of the first
    batch whose logged loss is NaN or Inf, or at the end of an epoch whose
    trainable weights hold a NaN or an Inf. The second check matters for
    `"sparse_categorical_crossentropy"` on probabilities: Keras clips the
    probabilities, so NaN outputs give a finite loss. Put it before a
    `keras.callbacks.BackupAndRestore` of the same `fit`: the backup of a
    faulty epoch is then not written, and as `fit` stops by an exception
    (`on_train_end` is not called) the backup of the last good epoch is
    kept.

    Example:

    ```python
    from keras_specnet.callbacks import NonFiniteLossError, StopOnNonFiniteLoss

    try:
        model.fit(x, y, epochs=3, callbacks=[StopOnNonFiniteLoss()])
    except NonFiniteLossError as error:
        print(error.epoch, error.batch)
    ```
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        try:
            super().on_batch_end(batch, logs)
        except RuntimeError:
            loss = float(np.asarray((logs or {})["loss"]))
            raise NonFiniteLossError(self._epoch, batch, loss) from None

    def on_epoch_end(self, epoch, logs=None):
        weights = self.model.trainable_weights
        finite = [tf.reduce_all(tf.math.is_finite(w)) for w in weights]
        if finite and not bool(tf.reduce_all(tf.stack(finite))):
            raise NonFiniteLossError(epoch)
