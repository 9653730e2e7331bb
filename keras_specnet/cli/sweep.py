"""`specnet sweep`: a spectral model against its spatial twin over thresholds.

    specnet sweep --model spec_vgg16 --width 0.25 --betas 0.005 0.01 0.02 \\
        --epochs 3 --output runs/sweep_vgg16

Trains the spatial twin once and the spectral model at each `--betas`
value with the same budget, each configuration in a fresh Python process
(`keras_specnet.bench.runner.isolated`), so that no configuration's memory
figures include what an earlier one left. Each child trains with
`MemoryProfiler`, evaluates and measures its step memory
(`keras_specnet.figures.train_and_measure`), printing one line per epoch.
`DIR/sweep.json` is written as each configuration finishes, then the
SpecNet paper's Fig. 3 and Fig. 4 as PNG files beside it.
"""

import os
import sys
import time
import warnings

from keras_specnet.cli import _common

HELP = "train a spectral model at several betas and its spatial twin; draw Fig. 3 and Fig. 4"
DESCRIPTION = (
    "Train the spatial twin of --model once and --model at each --betas value "
    "on Fashion-MNIST with the same budget, each in a fresh process, with "
    "MemoryProfiler; measure their step memory at both --batch-sizes (and the "
    "per-sample slope) as `specnet bench memory` does; write DIR/sweep.json as "
    "each configuration finishes, then the SpecNet paper's Fig. 3 (memory and "
    "error relative to the twin, against beta) and Fig. 4 (memory per epoch "
    "at --fig4-beta) as PNG files. Images are given at the builder's default "
    "input shape (Fashion-MNIST resized and copied to three channels for "
    "32x32x3 models, as `specnet bench memory` does). Needs matplotlib."
)

DATASET = "fashion_mnist"

#: The files written into `--output`.
RESULTS = "sweep.json"
FIG3 = "fig3_relative_memory_error.png"
FIG4 = "fig4_memory_per_epoch.png"

#: The budget of `--smoke`: seconds per configuration on 2 CPU cores, for tests.
SMOKE = {
    "epochs": 1,
    "limit": 256,
    "test_limit": 256,
    "batch_size": 32,
    "batch_sizes": [32, 64],
}

#: The module whose `measure` each child runs.
MODULE = __name__


def add_arguments(parser):
    positive_int = _common.positive_int
    parser.add_argument(
        "--model", required=True, help="a spectral registry model (its twin is trained too)"
    )
    parser.add_argument(
        "--betas",
        nargs="+",
        type=_common.non_negative_number("betas"),
        required=True,
        metavar="B",
        help="the thresholds of the spectral model",
    )
    parser.add_argument("--epochs", type=positive_int("epochs"), default=3)
    parser.add_argument("--output", required=True, metavar="DIR", help="folder of the results")
    parser.add_argument(
        "--width",
        type=_common.positive_number("width"),
        default=None,
        help="width multiplier of both models (models that take one; default: the builder's)",
    )
    parser.add_argument(
        "--limit", type=positive_int("limit"), default=None, help="training images (default: all)"
    )
    parser.add_argument(
        "--test-limit",
        type=positive_int("test_limit"),
        default=None,
        help="test images (default: all)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int("batch_size"), default=64, help="training batch"
    )
    parser.add_argument(
        "--batch-sizes",
        nargs=2,
        type=positive_int("batch_sizes"),
        default=[64, 256],
        metavar="N",
        help="the two batch sizes of the step memory and its per-sample slope",
    )
    parser.add_argument(
        "--fig4-beta",
        type=_common.non_negative_number("fig4_beta"),
        default=None,
        help="the spectral run drawn in Fig. 4 beside the twin (one of --betas; default: the "
        "first)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest budget (1 epoch, 256 images, batch 32, batch sizes 32 and 64), "
        "for tests",
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder of Fashion-MNIST's IDX files, or a TFDS data dir"
    )
    _common.add_seed(parser)


# --------------------------------------------------------------------------
# In the child process.


def _progress(epochs):
    """A callback printing one line per epoch to stderr; it keeps the history."""
    import keras

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history = {"loss": [], "accuracy": [], "seconds": []}

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self._start
            self.history["loss"].append(float(logs.get("loss", float("nan"))))
            self.history["accuracy"].append(float(logs.get("accuracy", float("nan"))))
            self.history["seconds"].append(seconds)
            peak = logs.get("memory_peak_bytes")
            peak = "-" if peak is None else f"{peak / 2**20:.1f} MiB"
            print(
                f"    epoch {epoch + 1}/{epochs}: loss {self.history['loss'][-1]:.4f}, "
                f"accuracy {self.history['accuracy'][-1]:.4f}, epoch peak {peak}, "
                f"{seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    return Progress()


def measure(config):
    """Train and measure one configuration (the entry point of a child).

    Returns the JSON-ready result of `figures.train_and_measure` without the
    model, with the training history and seconds.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_specnet import datasets, figures
    from keras_specnet.applications import registry

    # `fit` on a `tf.data.Dataset` (shuffled by `datasets.load`) warns that
    # its default `shuffle=True` is ignored, on this child's streamed stderr.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    shape = tuple(config["input_shape"])
    data = {"data_dir": config["data_dir"]}

    def shaped(ds):
        return ds.map(lambda x, y: (datasets.to_shape(x, shape), y))

    keras.utils.set_random_seed(config["seed"])
    train = shaped(
        datasets.load(
            DATASET,
            "train",
            batch_size=config["batch_size"],
            limit=config["limit"],
            seed=config["seed"],
            **data,
        )
    )
    test = shaped(
        datasets.load(DATASET, "test", batch_size=256, limit=config["test_limit"], **data)
    )
    largest = max(config["batch_sizes"])
    x, y = next(
        iter(
            datasets.load(
                DATASET, "train", batch_size=largest, shuffle=False, limit=largest, **data
            )
        )
    )
    if len(y) < largest:
        raise ValueError(
            f"--batch-sizes {' '.join(map(str, config['batch_sizes']))}: expected at most the "
            f"{len(y)} training images there are"
        )
    x = np.asarray(datasets.to_shape(x, shape))
    y = np.asarray(y)
    kwargs = dict(config["model_args"], input_shape=shape)
    if config["beta"] is not None:
        kwargs["beta"] = config["beta"]

    def build():
        keras.utils.set_random_seed(config["seed"])
        return registry.build(config["model"], **kwargs)

    progress = _progress(config["epochs"])
    run = figures.train_and_measure(
        build,
        train,
        test,
        config["epochs"],
        x,
        y,
        config["batch_sizes"],
        label=config["label"],
        callbacks=[progress],
    )
    params = int(run.pop("model").count_params())
    return {
        "label": run["label"],
        "model": config["model"],
        "beta": config["beta"],
        "params": params,
        "accuracy": run["accuracy"],
        "error": run["error"],
        "epoch_peak_bytes": run["epoch_peak_bytes"],
        "epoch_mean_bytes": run["epoch_mean_bytes"],
        "baseline_bytes": run["baseline_bytes"],
        "steps": {str(b): step for b, step in run["steps"].items()},
        "per_sample_bytes": run["per_sample_bytes"],
        "train_seconds": sum(progress.history["seconds"]),
        "history": progress.history,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }


# --------------------------------------------------------------------------
# In the parent process.


def _fail(message):
    return _common.fail("sweep", message)


def _spectral_spec(name):
    """The registry entry of `--model`, refused unless it is spectral."""
    from keras_specnet.applications import registry

    spectral = registry.names("spectral")
    expected = f"expected a spectral model ({', '.join(spectral)})"
    if name not in registry.names():
        raise _fail(f"--model {name} is not a registered model; {expected}.")
    spec = registry.spec(name)
    if spec.kind != "spectral":
        hint = f"; its twin {spec.twin} is" if spec.kind == "spatial" else ""
        raise _fail(f"--model {name} is a {spec.kind} model{hint}; {expected}.")
    return spec


def _budget(args):
    """The checked budget: the arguments, or `SMOKE` over them."""
    betas = list(args.betas)
    repeated = sorted({b for b in betas if betas.count(b) > 1})
    if repeated:
        raise _fail(
            f"--betas {' '.join(f'{b:g}' for b in betas)}: expected different thresholds "
            f"({', '.join(f'{b:g}' for b in repeated)} given more than once)."
        )
    fig4 = betas[0] if args.fig4_beta is None else args.fig4_beta
    if fig4 not in betas:
        raise _fail(
            f"--fig4-beta {fig4:g} is not one of --betas; expected one of "
            f"{', '.join(f'{b:g}' for b in betas)}."
        )
    if args.batch_sizes[0] == args.batch_sizes[1]:
        raise _fail(
            f"--batch-sizes {args.batch_sizes[0]} {args.batch_sizes[1]}: expected two different "
            "batch sizes (the per-sample memory is the slope between them)."
        )
    budget = {
        "epochs": args.epochs,
        "limit": args.limit,
        "test_limit": args.test_limit,
        "batch_size": args.batch_size,
        "batch_sizes": sorted(args.batch_sizes),
    }
    if args.smoke:
        budget.update(SMOKE)
    return budget, betas, fig4


def _model_args(args, spec):
    """`{width_argument: --width}` where given; refused for models without one."""
    from keras_specnet.applications import registry

    if args.width is None:
        return {}
    if spec.width_argument is None:
        takers = [n for n in registry.names("spectral") if registry.spec(n).width_argument]
        raise _fail(
            f"--width {args.width:g} does not apply to --model {spec.name}, whose builder has "
            f"no width multiplier; expected no --width, or a model that takes one "
            f"({', '.join(takers)})."
        )
    return {spec.width_argument: args.width}


def _input_shape(twin, model_args):
    """The default input shape of the twin's builder, and its number of parameters."""
    import keras

    from keras_specnet.applications import registry
    from keras_specnet.datasets import info

    model = registry.build(twin, **model_args)
    shape = tuple(int(d) for d in model.input_shape[1:])
    del model
    keras.backend.clear_session()
    native = info(DATASET).input_shape
    if len(shape) != 3 or shape[2] not in (native[2], 3):
        raise _fail(
            f"--model {twin}'s input shape {shape}: expected height, width and 1 or 3 channels"
        )
    return shape


def _machine():
    import datetime
    import platform

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _images_text(count):
    return "all" if count is None else str(count)


def _ratio(value, base):
    return f"{value / base:.2f}x" if base else "-"


def run(args):
    """Run the sweep; returns the dict written to `DIR/sweep.json`."""
    import matplotlib

    matplotlib.use("Agg")
    spec = _spectral_spec(args.model)
    budget, betas, fig4 = _budget(args)
    model_args = _model_args(args, spec)
    try:
        from keras_specnet.bench import runner

        runner.require_data(DATASET, args.data_dir)
    except Exception as error:
        if _common.is_data_error(error):
            raise _fail(error) from None
        raise
    return _sweep(args, spec, budget, betas, fig4, model_args)


def _sweep(args, spec, budget, betas, fig4, model_args):
    import keras_specnet
    from keras_specnet import _io, figures
    from keras_specnet.bench import runner

    start = time.perf_counter()
    twin = spec.twin
    shape = _input_shape(twin, model_args)
    path = os.path.join(args.output, RESULTS)
    results = {
        "command": "sweep",
        "arguments": runner.arguments(args),
        "budget": dict(budget, betas=betas, fig4_beta=fig4),
        "version": keras_specnet.__version__,
        "date": None,
        "machine": _machine(),
        "dataset": DATASET,
        "model": spec.name,
        "twin": twin,
        "model_args": model_args,
        "input_shape": list(shape),
        "complete": False,
        "configurations": [],
        "fig3": None,
    }
    results["date"] = results["machine"].pop("date")
    print(
        f"Sweep of {spec.name} against {twin} at beta {' '.join(f'{b:g}' for b in betas)}: "
        f"{budget['epochs']} epoch(s) on {_images_text(budget['limit'])} Fashion-MNIST "
        f"training images (batch {budget['batch_size']}), "
        f"{_images_text(budget['test_limit'])} test images, input "
        f"{'x'.join(map(str, shape))}, step memory at batch "
        f"{budget['batch_sizes'][0]} and {budget['batch_sizes'][1]}; each configuration "
        f"in a fresh process, results in {path}",
        flush=True,
    )
    common = dict(
        {k: budget[k] for k in ("epochs", "limit", "test_limit", "batch_size", "batch_sizes")},
        model_args=model_args,
        input_shape=list(shape),
        data_dir=args.data_dir,
        seed=args.seed,
    )
    todo = [(twin, None, twin)] + [(spec.name, b, f"{spec.name} beta={b:g}") for b in betas]
    done = []
    for i, (name, beta, label) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {label}: training", flush=True)
        began = time.perf_counter()
        config = dict(common, model=name, beta=beta, label=label)
        try:
            out = runner.isolated(MODULE, config, stream_stderr=True)
        except RuntimeError as error:
            raise _fail(f"{label}: {error}") from None
        out["seconds"] = time.perf_counter() - began
        done.append(out)
        base = done[0]["per_sample_bytes"]
        print(
            f"[{i}/{len(todo)}] {label}: accuracy {out['accuracy']:.4f}, per-sample "
            f"{out['per_sample_bytes'] / 1024:.1f} KiB ({_ratio(out['per_sample_bytes'], base)} "
            f"{twin}), {out['seconds']:.0f} s",
            flush=True,
        )
        results["configurations"] = done
        _io.write_json(path, results)

    original, *spectral = (_with_int_steps(c) for c in done)
    rows = figures.relative_to_original(original, {c["beta"]: c for c in spectral})
    results["fig3"] = rows
    results["complete"] = True
    results["seconds"] = time.perf_counter() - start
    _io.write_json(path, results)
    names = (spec.name, twin)
    _draw(figures, os.path.join(args.output, FIG3), figures.plot_relative_to_original(rows, names))
    at = next(c for c in spectral if c["beta"] == fig4)
    _draw(figures, os.path.join(args.output, FIG4), figures.plot_memory_per_epoch([original, at]))
    print()
    print(_table(original, spectral, rows))
    print(f"Wrote {path}, {FIG3} and {FIG4} in {results['seconds']:.0f} s")
    return results


def _with_int_steps(config):
    """A configuration with the batch sizes of `steps` as ints (JSON has strings)."""
    return dict(config, steps={int(b): s for b, s in config["steps"].items()})


def _draw(figures, path, figure):
    from matplotlib import pyplot as plt

    figures.save(figure, path)
    plt.close(figure)


def _table(original, spectral, rows):
    """The sweep as a plain table: the twin, then each beta, ratios to the twin."""
    from keras_specnet import _io

    by_beta = {row["beta"]: row for row in rows}
    lines = [(original["label"], "-", f"{original['accuracy']:.4f}", "1.00x", "1.00x", "1.00x")]
    for config in sorted(spectral, key=lambda c: c["beta"]):
        row = by_beta[config["beta"]]
        lines.append(
            (
                config["model"],
                f"{config['beta']:g}",
                f"{config['accuracy']:.4f}",
                f"{row['per_sample']:.2f}x",
                f"{row['step_peak']:.2f}x",
                f"{row['error']:.2f}x",
            )
        )
    return _io.format_table(
        ("model", "beta", "accuracy", "per-sample / twin", "step peak / twin", "error / twin"),
        lines,
    )
