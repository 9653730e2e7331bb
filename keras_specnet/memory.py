"""Training memory, read from TensorFlow's own allocator.

`tf.config.experimental.get_memory_info` counts the bytes that TensorFlow's
allocator hands out on a device, exactly, on the CPU as on a GPU (once
TensorFlow has allocated anything there). The figures here are therefore
TensorFlow's tensors only: not the Python process, not the framework's
code, not memory that a library allocates outside TensorFlow.

On the CPU, TensorFlow's default allocator (TensorFlow 2.21) leaves tensors
smaller than about 256 KiB out of these statistics. Set the environment
variable `TF_CPU_ALLOCATOR_USE_BFC=true` before TensorFlow starts (before
`import tensorflow`) to count every tensor; the `specnet` command and the
test suite do. `allocator_counts_small_tensors()` tells which
allocator is in use.

The BFC allocator (TensorFlow's GPU allocator, and the CPU one with that
variable) counts the whole chunk it hands out, and it does not split a free
chunk that is smaller than twice the request: a tensor can be counted at up
to twice its bytes, depending on what was freed before. That is memory the
process really cannot use meanwhile, but it makes single reads vary; compare
models by repeated reads in fresh processes (`specnet bench memory` does).
"""

import gc
import statistics

import keras
import numpy as np
import tensorflow as tf

from keras_specnet import _checks, spectral


def default_device():
    """`"GPU:0"` when TensorFlow sees a GPU, else `"CPU:0"`."""
    return "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"


def allocator_counts_small_tensors(device=None):
    """True when the allocator's statistics on `device` include small tensors.

    Allocates a 64 KiB tensor and checks that the current bytes moved. False
    on the CPU with TensorFlow's default allocator (see the module's
    docstring for the environment variable that changes it).
    """
    device = device or default_device()
    with tf.device(device):
        tf.zeros([1])  # the statistics exist once something is allocated
        before = tf.config.experimental.get_memory_info(device)["current"]
        probe = tf.random.uniform([16384])
        after = tf.config.experimental.get_memory_info(device)["current"]
        del probe
    return after > before


def _current_bytes(device):
    """An op reading the allocator's current bytes when it runs."""
    return tf.py_function(
        lambda: tf.constant(tf.config.experimental.get_memory_info(device)["current"], tf.int64),
        [],
        tf.int64,
    )


def held_bytes(model, x, y, device=None, repeats=3):
    """Bytes a compiled training step holds from its forward to its backward pass.

    Runs the forward pass and the compiled loss of `model` on `(x, y)` in a
    `tf.function`, reads the allocator's current bytes just before the
    forward pass and again once the loss is computed and before any gradient
    op runs (control dependencies order the reads), and returns the
    difference: what the backward pass needs, kept alive in between, plus
    the loss. Nothing is applied to the weights.

    The allocator's reads move from one call to the next: by a few KiB
    either way (small tensors allocated or freed meanwhile) and, with the
    BFC allocator, upwards by up to a tensor's size when it is handed a
    free chunk larger than it asked for (see the module's docstring). The
    figure is the smallest of `repeats` measured calls, the closest to the
    bytes the step requested.

    Measured in a compiled step on purpose: in eager mode
    `tf.custom_gradient` keeps each custom op's outputs alive until the
    backward pass, which a compiled step does not, so an eager measurement
    would charge the spectral cache with tensors that training never holds.

    Args:
        model: a compiled `keras.Model`.
        x: one batch of inputs.
        y: the batch's targets.
        device: `"CPU:0"`, `"GPU:0"`, ...; defaults to `default_device()`.
        repeats: measured calls (after one that traces and warms up), of
            which the smallest read is returned.

    Returns:
        The number of bytes (an int).

    Example:

    ```python
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    print(held_bytes(model, images[:64], labels[:64]) / 2**20, "MiB")
    ```
    """
    _require_compiled(model)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"Expected `repeats` to be a positive int, received: repeats={repeats!r}")
    device = device or default_device()
    x, y = _on_device(device, x, y)

    @tf.function
    def held(x, y):
        before = _current_bytes(device)
        with tf.control_dependencies([before]):
            x = tf.identity(x)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        with tf.control_dependencies([loss]):
            after = _current_bytes(device)
        with tf.control_dependencies([after]):
            grads = tape.gradient(loss, model.trainable_weights)
        return after - before, grads

    saved = _snapshot(model)  # BN moving statistics move in training mode
    try:
        held(x, y)  # trace and warm up
        # Garbage from earlier work, freed by a collection during the
        # measured call, would be subtracted from what the step holds.
        gc.collect()
        return min(int(held(x, y)[0]) for _ in range(repeats))
    finally:
        for variable, value in saved:
            variable.assign(value)


def _on_device(device, *arrays):
    """The arrays as tensors on `device`, allocated before any measurement."""
    with tf.device(device):
        return [tf.convert_to_tensor(a) for a in arrays]


def _require_compiled(model):
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            "Invalid value for argument `model`. Expected a compiled model "
            f"(call model.compile first). Received: model={model.name!r}"
        )


def _snapshot(model):
    """Current values of the model's and its optimizer's variables."""
    variables = list(model.variables)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        variables += list(optimizer.variables)
    return [(v, np.array(v.numpy())) for v in variables]


def step_peak(model, x, y, device=None, repeats=1):
    """Peak memory of one compiled training step of a compiled model.

    Runs one step on `(x, y)` to trace the training function and create the
    optimizer's slots, then `repeats` steps, resetting the allocator's peak
    before each, and reads each one's peak. The model's weights and
    optimizer state are restored afterwards, so the measurement does not
    train the model.

    The peak of a step depends on the order in which TensorFlow's threads
    happen to run its independent ops; on 2 cores it moves by about 10%
    from one step to the next. The median over `repeats` steps is what a
    comparison should use.

    Args:
        model: a compiled `keras.Model`.
        x: one batch of inputs.
        y: the batch's targets.
        device: `"CPU:0"`, `"GPU:0"`, ...; defaults to `default_device()`.
        repeats: int >= 1, measured steps. Defaults to `1`.

    Returns:
        A dict: `peak_bytes` (the allocator's peak during a step, all
        live tensors included), `resident_bytes` (allocated before a step:
        weights, optimizer state, the batch) and `step_bytes` (the memory
        that the step itself needed, peak less resident), each the median
        over the steps, and `step_bytes_each`, one figure per step.

    Example:

    ```python
    model.compile("adam", "sparse_categorical_crossentropy")
    info = step_peak(model, images[:64], labels[:64], repeats=5)
    print(info["peak_bytes"] / 2**20, "MiB")
    ```
    """
    _require_compiled(model)
    repeats = _checks.integer("repeats", repeats, 1)
    device = device or default_device()
    saved = _snapshot(model)
    x, y = _on_device(device, x, y)
    peaks, residents = [], []
    try:
        model.train_on_batch(x, y)
        for _ in range(repeats):
            gc.collect()  # earlier garbage is not this step's memory
            tf.config.experimental.reset_memory_stats(device)
            residents.append(tf.config.experimental.get_memory_info(device)["current"])
            model.train_on_batch(x, y)
            peaks.append(tf.config.experimental.get_memory_info(device)["peak"])
    finally:
        for variable, value in saved:
            variable.assign(value)
    steps = [peak - resident for peak, resident in zip(peaks, residents)]
    return {
        "device": device,
        "peak_bytes": int(statistics.median(peaks)),
        "resident_bytes": int(statistics.median(residents)),
        "step_bytes": int(statistics.median(steps)),
        "step_bytes_each": [int(b) for b in steps],
    }


def zero_fractions(model, x):
    """Fraction of exact zeros in each spectral output of `model` on `x`.

    Runs `model` on the batch `x` in training mode and returns, for every
    layer whose output is a spectral tensor, the fraction of its entries
    that are zero (what a threshold `beta` removed, and what the bitmask
    cache does not store); for a `SpectralBlock`, that of the spectrum
    after each of its convolutions, under the convolution's name.

    Args:
        model: a functional `keras.Model`.
        x: one batch of inputs.

    Returns:
        A dict, layer name -> fraction in [0, 1], in the model's layer order.

    Example:

    ```python
    fractions = zero_fractions(SpecVGG16(beta=0.5), images[:64])
    ```
    """
    from keras_specnet.layers import SpectralBlock

    layers = [
        layer
        for layer in model.layers[1:]
        if isinstance(layer, SpectralBlock) or spectral.is_spectral(layer.output)
    ]
    if not layers:
        return {}
    probe = keras.Model(
        model.input,
        [layer.input if isinstance(layer, SpectralBlock) else layer.output for layer in layers],
    )
    outputs = probe(x, training=True)
    if len(layers) == 1:
        outputs = [outputs]
    fractions = {}
    for layer, out in zip(layers, outputs):
        if isinstance(layer, SpectralBlock):
            for conv, spectrum in zip(layer.convolutions, layer.spectra(out)):
                fractions[conv.name] = float(spectral.zero_fraction(spectrum))
        else:
            fractions[layer.name] = float(spectral.zero_fraction(out))
    return fractions
