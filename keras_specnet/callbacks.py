"""Keras callbacks: training memory per epoch."""

import keras
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
