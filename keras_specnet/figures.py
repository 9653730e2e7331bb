"""The pictures of the notebooks and of docs/notebooks.md, and what they need.

Each `plot_*` function draws one picture with matplotlib and returns its
`matplotlib.figure.Figure`; the functions beside them compute what the
pictures show from the package's own layers and measurements:

- `zero_fractions_by_beta`, `plot_zero_fractions`: the fraction of a first
  spectral layer's spectrum that each threshold `beta` zeroes;
- `feature_maps`, `plot_feature_maps`: the SpecNet paper's Fig. 2, a first
  spectral layer's maps for one image, in the spectral and the spatial
  domain, at several `beta`;
- `train_and_measure`, `per_sample_bytes`, `step_memory`,
  `plot_relative_to_original`, `plot_memory_per_epoch`: the paper's Fig. 3
  (memory and error of SpecNet relative to the original model, against
  `beta`) and Fig. 4 (training memory per epoch), measured as
  `specnet bench memory` measures (`keras_specnet.memory.step_peak`, the
  per-sample slope of `keras_specnet.bench.memory.per_sample`) and as
  `keras_specnet.callbacks.MemoryProfiler` records;
- `dense_matrix`, `plot_matrices`: a `ButterflyFusion` layer as the dense
  matrix it multiplies the channels by;
- `trials_text`, `plot_trials`: a Keras Tuner search's trials as a table
  and as accuracy against memory.

`specnet figures` draws them all from one small run (keras_specnet.cli.figures).
Needs matplotlib (`pip install "keras-specnet[plot]"`).
"""

import gc
import os

import keras
import numpy as np

from keras_specnet import _io, memory, spectral, training
from keras_specnet.bench import memory as bench_memory
from keras_specnet.callbacks import MemoryProfiler

try:
    from matplotlib import pyplot as plt
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'keras_specnet.figures needs matplotlib: pip install "keras-specnet[plot]"'
    ) from error

MIB = 2**20


def save(figure, path, dpi=80):
    """Write `figure` as a PNG at `path` (creating its folder); returns `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


# --------------------------------------------------------------------------
# What the threshold keeps.


def zero_fractions_by_beta(layer, images, betas):
    """Fraction of the spectrum of `layer(images)` that each `beta` zeroes.

    Args:
        layer: a `SpectralConv2D` with `beta=0` and a spectral output (its
            dense spectrum is thresholded here at each beta).
        images: a batch of real images, NHWC.
        betas: the thresholds.

    Returns:
        A list of floats in [0, 1], one per beta.
    """
    dense = layer(images)
    if not spectral.is_spectral(dense):
        raise ValueError(
            "Invalid value for argument `layer`. Expected a layer with a spectral "
            f"output (output_domain='spectral'). Received: layer={layer.name!r}"
        )
    return [float(spectral.zero_fraction(spectral.threshold(dense, b))) for b in betas]


def plot_zero_fractions(betas, fractions, title="What the threshold removes"):
    """Zero fraction against beta (a line with markers)."""
    figure, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(betas, fractions, "o-")
    ax.set_xlabel("beta (orthonormal spectrum)")
    ax.set_ylabel("fraction of the spectrum zeroed")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return figure


# --------------------------------------------------------------------------
# The paper's Fig. 2: feature maps at several thresholds.


def feature_maps(layer, image, betas):
    """A spectral layer's maps of one image at each threshold.

    The layer's weights are copied into layers that differ from it only by
    `beta`, with a spectral output; each output is shown as it is (the
    magnitude of the half spectrum) and back in the spatial domain (the
    inverse FFT cropped to the image's size).

    Args:
        layer: a built `SpectralConv2D` taking real images (a model's first).
        image: one real image `(H, W, C)`.
        betas: the thresholds.

    Returns:
        A list, one dict per beta: `beta`, `spectrum` (`|Z|`, `(P, Q//2+1,
        filters)`), `spatial` (`(H, W, filters)`) and `zero_fraction`.
    """
    image = np.asarray(image, "float32")[None]
    config = dict(layer.get_config(), output_domain="spectral", strides=(1, 1))
    config.pop("name", None)
    maps = []
    for beta in betas:
        copy = type(layer).from_config(dict(config, beta=float(beta)))
        copy.build(image.shape)
        copy.set_weights(layer.get_weights())
        z = copy(image)
        maps.append(
            {
                "beta": float(beta),
                "spectrum": np.abs(np.asarray(z))[0],
                "spatial": np.asarray(spectral.to_spatial(z, image.shape[1:3]))[0],
                "zero_fraction": float(spectral.zero_fraction(z)),
            }
        )
    return maps


def plot_feature_maps(image, maps, channels=(0, 1)):
    """The paper's Fig. 2: spectra (a) and spatial maps (b), one row per beta."""
    channels = list(channels)
    columns = 1 + 2 * len(channels)
    figure, axes = plt.subplots(
        len(maps), columns, figsize=(1.7 * columns, 1.8 * len(maps)), squeeze=False
    )
    for row, entry in zip(axes, maps):
        row[0].imshow(np.asarray(image)[..., 0], cmap="gray")
        row[0].set_ylabel(f"beta={entry['beta']:g}\nzeros {entry['zero_fraction']:.0%}")
        for i, c in enumerate(channels):
            # Row frequencies centred: the low ones in the middle of the left edge.
            spectrum = np.fft.fftshift(entry["spectrum"][..., c], axes=0)
            row[1 + i].imshow(np.log1p(spectrum), cmap="magma", aspect="auto")
            row[1 + len(channels) + i].imshow(entry["spatial"][..., c], cmap="viridis")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].set_title("input")
    for i, c in enumerate(channels):
        axes[0][1 + i].set_title(f"(a) |Z| kernel {c}", fontsize=9)
        axes[0][1 + len(channels) + i].set_title(f"(b) map kernel {c}", fontsize=9)
    figure.suptitle("First spectral layer: spectral (a) and spatial (b) feature maps")
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------
# Training memory: the paper's Fig. 3 and Fig. 4.


def step_memory(model, x, y, batch_sizes):
    """`memory.step_peak` of a compiled model at each batch size.

    Returns a dict, batch size -> `step_peak`'s dict (`peak_bytes`,
    `resident_bytes`, `step_bytes`). The model's weights are not changed.
    """
    return {int(b): memory.step_peak(model, x[:b], y[:b]) for b in sorted(batch_sizes)}


def per_sample_bytes(steps):
    """Per-sample memory of configurations, as `specnet bench memory` reports it.

    The slope of the step's own bytes between the smallest and the largest
    batch size (`keras_specnet.bench.memory.per_sample`), which leaves out
    the weights, gradients and optimizer state.

    Args:
        steps: dict, label -> the dict of `step_memory` (two batch sizes
            or more).

    Returns:
        A list of `(label, bytes_per_sample, ratio_to_the_first)`.
    """
    entries = [
        {"model": label, "peer": "baseline", "beta": None, "batch_size": b, "step_bytes": s}
        for label, by_batch in steps.items()
        for b, s in ((b, info["step_bytes"]) for b, info in by_batch.items())
    ]
    return bench_memory.per_sample(entries)


def _current_bytes():
    """The allocator's bytes in use now on `memory.default_device()`."""
    import tensorflow as tf

    device = memory.default_device()
    with tf.device(device):
        tf.zeros([1])  # the statistics exist once something is allocated
    return int(tf.config.experimental.get_memory_info(device)["current"])


def train_and_measure(build, train, test, epochs, x, y, batch_sizes, label=None, callbacks=()):
    """Train a model with `MemoryProfiler`, evaluate it and measure its step.

    Args:
        build: a function returning a new, uncompiled model.
        train: the training `tf.data.Dataset`.
        test: the test `tf.data.Dataset`.
        epochs: int. Training epochs.
        x: images, at least `max(batch_sizes)` of them, for the step memory.
        y: their labels.
        batch_sizes: the batch sizes of `step_memory` (two for the slope).
        label: a name for the result; defaults to the model's name.
        callbacks: more Keras callbacks for `fit`, after `MemoryProfiler`
            (their `on_epoch_end` logs hold its `memory_peak_bytes`).

    Returns:
        A dict: `label`, `model` (trained), `accuracy`, `error`,
        `epoch_peak_bytes` and `epoch_mean_bytes` (`MemoryProfiler`, one
        per epoch), `baseline_bytes` (the allocator's bytes in use before
        the model was built: what earlier work left, which those peaks
        include), `steps` (`step_memory`) and `per_sample_bytes`.
    """
    gc.collect()
    before = _current_bytes()
    model = training.compile_classifier(build(), "adam", 1e-3)
    history = model.fit(train, epochs=epochs, callbacks=[MemoryProfiler(), *callbacks], verbose=0)
    _, accuracy = model.evaluate(test, verbose=0)
    label = label or model.name
    steps = step_memory(model, x, y, batch_sizes)
    (_, slope, _), *_ = per_sample_bytes({label: steps})
    return {
        "label": label,
        "model": model,
        "accuracy": float(accuracy),
        "error": 1.0 - float(accuracy),
        "epoch_peak_bytes": list(history.history["memory_peak_bytes"]),
        "epoch_mean_bytes": list(history.history["memory_mean_bytes"]),
        "baseline_bytes": before,
        "steps": steps,
        "per_sample_bytes": slope,
    }


def relative_to_original(original, spectral_runs):
    """Memory and error of each spectral run over the original model's.

    Args:
        original: a `train_and_measure` result (the spatial model).
        spectral_runs: dict, beta -> `train_and_measure` result.

    Returns:
        A list of dicts, by increasing beta: `beta`, `per_sample` and
        `step_peak` (ratios of per-sample bytes and of the step peak at the
        largest batch size), `error` (ratio of test errors).
    """
    largest = max(original["steps"])

    def peak(run):
        return run["steps"][largest]["peak_bytes"]

    rows = []
    for beta in sorted(spectral_runs):
        run = spectral_runs[beta]
        rows.append(
            {
                "beta": float(beta),
                "per_sample": run["per_sample_bytes"] / original["per_sample_bytes"],
                "step_peak": peak(run) / peak(original),
                "error": run["error"] / max(original["error"], 1e-12),
            }
        )
    return rows


def plot_relative_to_original(rows, names=("SpecNet", "original")):
    """The paper's Fig. 3: relative memory (a) and relative error (b) against beta."""
    betas = [r["beta"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    left.plot(betas, [r["per_sample"] for r in rows], "o-", label="per-sample bytes")
    left.plot(betas, [r["step_peak"] for r in rows], "s--", label="step peak")
    left.set_ylabel(f"memory, {names[0]} / {names[1]}")
    left.set_title("(a) relative memory")
    right.plot(betas, [r["error"] for r in rows], "o-", color="C3")
    right.set_ylabel(f"test error, {names[0]} / {names[1]}")
    right.set_title("(b) relative error")
    for ax in (left, right):
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set_xlabel("beta")
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    figure.tight_layout()
    return figure


def plot_memory_per_epoch(runs):
    """The paper's Fig. 4: `MemoryProfiler`'s peak per epoch, one line per run.

    Each peak less the run's `baseline_bytes`, so that runs made one after
    another in one process are not charged with what the earlier ones left:
    what remains is the model's own training memory (weights, optimizer
    state, batches, the step itself).
    """
    figure, ax = plt.subplots(figsize=(5, 3.2))
    for run in runs:
        peaks = (np.asarray(run["epoch_peak_bytes"]) - run.get("baseline_bytes", 0)) / MIB
        ax.plot(np.arange(1, len(peaks) + 1), peaks, "o-", label=run["label"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("step peak above the start (MiB)")
    ax.set_title("Training memory per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def per_sample_text(rows):
    """`per_sample_bytes` rows as a plain table (KiB per sample, ratio)."""
    return _io.format_table(
        ("configuration", "per-sample KiB", "ratio"),
        [(label, f"{slope / 1024:.1f}", f"{ratio:.2f}x") for label, slope, ratio in rows],
    )


# --------------------------------------------------------------------------
# The Butterfly Transform as a matrix.


def dense_matrix(layer, in_width):
    """The `(in_width, filters)` matrix a built `ButterflyFusion` applies.

    Its output on the identity matrix (each row one input channel), less the
    bias: the layer is linear, so this is the matrix it multiplies by.
    """
    out = keras.ops.convert_to_numpy(layer(np.eye(in_width, dtype="float32")))
    if layer.use_bias:
        out = out - keras.ops.convert_to_numpy(layer.bias)
    return out


def plot_matrices(matrices):
    """Matrices side by side as images; `matrices` is a dict, title -> array."""
    figure, axes = plt.subplots(1, len(matrices), figsize=(3.2 * len(matrices), 3.2))
    axes = np.atleast_1d(axes)
    for ax, (title, matrix) in zip(axes, matrices.items()):
        limit = float(np.max(np.abs(matrix))) or 1.0
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("output channel")
        ax.set_ylabel("input channel")
        figure.colorbar(image, ax=ax, fraction=0.046)
    figure.tight_layout()
    return figure


# --------------------------------------------------------------------------
# Tuning.


def _hp_text(hyperparameters):
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in hyperparameters.items()
    )


def trials_text(rows, memory_metric="memory_step_bytes"):
    """`tuning.trials_table` rows as a plain text table."""

    def cell(value, scale=1.0, digits=4):
        return "-" if value is None else f"{value / scale:.{digits}f}"

    return _io.format_table(
        ("trial", "hyperparameters", "status", "score", "accuracy", "memory MiB"),
        [
            (
                r["trial_id"],
                _hp_text(r["hyperparameters"]),
                r["status"],
                cell(r["score"]),
                cell(r["val_accuracy"] if r["val_accuracy"] is not None else r["accuracy"]),
                cell(r[memory_metric], MIB, 2),
            )
            for r in rows
        ],
        left=3,
    )


def plot_trials(searches, memory_metric="memory_step_bytes"):
    """Accuracy against memory of every trial; `searches` is a dict, name -> rows."""
    figure, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (name, rows) in enumerate(searches.items()):
        done = [r for r in rows if r[memory_metric] is not None]
        accuracy = [
            r["val_accuracy"] if r["val_accuracy"] is not None else r["accuracy"] for r in done
        ]
        mib = [r[memory_metric] / MIB for r in done]
        ax.scatter(mib, accuracy, label=name, color=f"C{i}")
        for r, m, a in zip(done, mib, accuracy):
            ax.annotate(_hp_text(r["hyperparameters"]), (m, a), fontsize=7, alpha=0.8)
    ax.set_xlabel(f"{memory_metric} (MiB)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Tuning trials: accuracy against memory")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure
