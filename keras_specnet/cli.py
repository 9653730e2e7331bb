"""The `specnet` command: train a model, compare runs, list the models.

    specnet train --model spec_lenet5 --dataset fashion_mnist --epochs 5
    specnet report runs/lenet5.json runs/spec_lenet5.json
    specnet models
    specnet tune --model spec_vgg16 --max-trials 4 --memory-budget 200
    specnet bench memory --batch-sizes 64 128

Also reachable as `python -m keras_specnet`.
"""

import argparse
import ast
import importlib
import inspect
import json
import os
import platform
import sys
import time


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def _model_arg(text):
    """`KEY=VALUE` with VALUE a Python literal (or else a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _parser():
    from keras_specnet import applications, datasets

    parser = argparse.ArgumentParser(
        prog="specnet",
        description="SpecNet and Butterfly Transform models for Keras 3.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train a model with model.fit and report accuracy and memory",
        description=(
            "Train a model with model.fit, then print its test accuracy, "
            "parameter count and the peak memory of one training step."
        ),
    )
    train.add_argument("--model", required=True, choices=sorted(applications.MODELS))
    train.add_argument(
        "--dataset", default="fashion_mnist", choices=sorted(datasets.DATASETS)
    )
    train.add_argument("--epochs", type=_positive_int, default=5)
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument(
        "--beta",
        type=_non_negative_float,
        default=None,
        help="spectral threshold (spectral models only; default: the model's)",
    )
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    train.add_argument(
        "--learning-rate",
        type=_non_negative_float,
        default=None,
        help="default: 1e-3 for adam, 0.01 for sgd (momentum 0.9)",
    )
    train.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.0,
        help="fraction of the training split held out for validation",
    )
    train.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        help="train on the first N training examples only",
    )
    train.add_argument(
        "--data-dir",
        default=None,
        help="folder of MNIST-format IDX files, or a TFDS data dir",
    )
    train.add_argument(
        "--model-arg",
        type=_model_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra builder argument, repeatable (e.g. width=0.25, fc_units=256)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--output", default=None, help="write history and figures to this JSON file"
    )
    train.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1, help="model.fit verbosity"
    )

    report = commands.add_parser(
        "report", help="print the JSON results of several runs side by side"
    )
    report.add_argument("files", nargs="+")

    commands.add_parser(
        "models", help="list the registered models with their parameter counts"
    )

    _add_tune_parser(commands)

    from keras_specnet.bench import BENCHMARKS

    bench = commands.add_parser(
        "bench",
        help="run a benchmark, each configuration in a fresh process",
        description="Run a benchmark; each configuration runs in a fresh process.",
    )
    kinds = bench.add_subparsers(dest="benchmark", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        doc = module.__doc__.strip()
        sub = kinds.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
    return parser


def _split(fraction):
    if not fraction:
        return "train", None
    cut = round(100 * (1 - fraction))
    return f"train[:{cut}%]", f"train[{cut}%:]"


def _beta_of(builder, kwargs):
    """The threshold a spectral builder used (given or default), else None."""
    parameter = inspect.signature(builder).parameters.get("beta")
    if parameter is None:
        return None
    return float(kwargs.get("beta", parameter.default))


def train(args):
    """`specnet train`: fit, evaluate, measure; returns the result dict."""
    import keras
    import tensorflow as tf

    from keras_specnet import applications, datasets, memory
    from keras_specnet.callbacks import MemoryProfiler

    keras.utils.set_random_seed(args.seed)
    spec = datasets.info(args.dataset)
    builder = applications.get(args.model)
    kwargs = {"input_shape": spec.input_shape, "classes": spec.classes}
    kwargs.update(dict(args.model_arg))
    unknown = set(kwargs) - set(inspect.signature(builder).parameters)
    if unknown:
        raise SystemExit(
            f"specnet train: --model {args.model} takes no argument "
            f"{', '.join(sorted(unknown))}; it takes "
            f"{', '.join(inspect.signature(builder).parameters)}."
        )
    if args.beta is not None:
        if args.model not in applications.SPECTRAL_MODELS:
            raise SystemExit(
                f"specnet train: --beta applies to spectral models only "
                f"({', '.join(sorted(applications.SPECTRAL_MODELS))}); "
                f"--model {args.model} has no threshold."
            )
        kwargs["beta"] = args.beta
    model = builder(**kwargs)

    if args.optimizer == "adam":
        optimizer = keras.optimizers.Adam(args.learning_rate or 1e-3)
    else:
        optimizer = keras.optimizers.SGD(args.learning_rate or 0.01, momentum=0.9)
    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    train_split, val_split = _split(args.validation_split)
    load = dict(
        batch_size=args.batch_size, data_dir=args.data_dir, seed=args.seed
    )
    train_ds = datasets.load(args.dataset, train_split, limit=args.limit, **load)
    val_ds = datasets.load(args.dataset, val_split, **load) if val_split else None
    test_ds = datasets.load(args.dataset, "test", **load)

    start = time.perf_counter()
    history = model.fit(
        train_ds,
        epochs=args.epochs,
        validation_data=val_ds,
        shuffle=False,  # the tf.data pipeline shuffles
        callbacks=[MemoryProfiler()],
        verbose=args.verbose,
    )
    train_seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    x, y = next(iter(train_ds))
    mem = memory.step_peak(model, x, y)
    held = memory.held_bytes(model, x, y)

    trainable = sum(int(tf.size(w)) for w in model.trainable_weights)
    result = {
        "model": args.model,
        "dataset": args.dataset,
        "beta": _beta_of(builder, kwargs),
        "model_args": dict(args.model_arg),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
        "seed": args.seed,
        "train_examples": args.limit,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "params": int(model.count_params()),
        "trainable_params": trainable,
        "step_peak_bytes": mem["peak_bytes"],
        "step_resident_bytes": mem["resident_bytes"],
        "step_bytes": mem["step_bytes"],
        "held_bytes": held,
        "memory_device": mem["device"],
        "memory_counts_small_tensors": memory.allocator_counts_small_tensors(mem["device"]),
        "train_seconds": round(train_seconds, 2),
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
    mib = 2.0**20
    print()
    print(f"model                      {args.model}")
    if result["beta"] is not None:
        print(f"beta                       {result['beta']:g}")
    print(f"test accuracy              {test_accuracy:.4f}")
    print(f"parameters                 {result['params']:,}")
    print(
        f"training-step peak memory  {mem['peak_bytes'] / mib:.2f} MiB on "
        f"{mem['device']} ({mem['step_bytes'] / mib:.2f} MiB above the "
        f"{mem['resident_bytes'] / mib:.2f} MiB held before the step), "
        f"batch {args.batch_size}"
    )
    print(
        f"held for the backward pass {held / mib:.2f} MiB "
        "(compiled step, between forward and backward)"
    )
    if not result["memory_counts_small_tensors"]:
        print(
            "  (tensors under about 256 KiB are not counted: set "
            "TF_CPU_ALLOCATOR_USE_BFC=true before starting to count them)"
        )
    print(f"training time              {train_seconds:.1f} s")
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(folder, exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.output}")
    return result


def report(args):
    """`specnet report`: a side-by-side table of `specnet train --output` files."""
    runs = []
    for path in args.files:
        with open(path) as f:
            runs.append(json.load(f))
    mib = 2.0**20
    base = runs[0]
    rows = [
        ("model", lambda r: r["model"]),
        ("dataset", lambda r: r["dataset"]),
        ("beta", lambda r: "-" if r["beta"] is None else f"{r['beta']:g}"),
        (
            "model args",
            lambda r: ",".join(f"{k}={v}" for k, v in r.get("model_args", {}).items())
            or "-",
        ),
        ("epochs", lambda r: str(r["epochs"])),
        ("test accuracy", lambda r: f"{r['test_accuracy']:.4f}"),
        (
            "accuracy vs first (points)",
            lambda r: f"{100 * (r['test_accuracy'] - base['test_accuracy']):+.2f}",
        ),
        ("parameters", lambda r: f"{r['params']:,}"),
        ("step peak (MiB)", lambda r: f"{r['step_peak_bytes'] / mib:.2f}"),
        ("step bytes (MiB)", lambda r: f"{r['step_bytes'] / mib:.2f}"),
        (
            "held bytes (MiB)",
            lambda r: f"{r['held_bytes'] / mib:.2f}" if "held_bytes" in r else "-",
        ),
        (
            "held bytes vs first",
            lambda r: f"{r['held_bytes'] / base['held_bytes']:.2f}x"
            if base.get("held_bytes") and "held_bytes" in r
            else "-",
        ),
        (
            "step bytes vs first",
            lambda r: f"{r['step_bytes'] / base['step_bytes']:.2f}x"
            if base["step_bytes"]
            else "-",
        ),
        ("training time (s)", lambda r: f"{r['train_seconds']:.1f}"),
    ]
    cells = [[label] + [fmt(r) for r in runs] for label, fmt in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for row in cells:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            )
        )


def models(args):
    """`specnet models`: the registry, with parameter counts."""
    import keras

    from keras_specnet import applications

    header = ("model", "twin", "default beta", "params 28x28x1", "params 32x32x3")
    rows = []
    for name, builder in applications.MODELS.items():
        counts = []
        for shape in [(28, 28, 1), (32, 32, 3)]:
            counts.append(f"{builder(input_shape=shape).count_params():,}")
            keras.backend.clear_session()
        beta = _beta_of(builder, {})
        rows.append(
            (name, applications.twin(name), "-" if beta is None else f"{beta:g}", *counts)
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def _tunable_models():
    """Registry names `specnet tune` searches: spectral and butterfly models."""
    from keras_specnet import applications

    return sorted(
        name
        for name, builder in applications.MODELS.items()
        if name in applications.SPECTRAL_MODELS
        or "butterfly_base" in inspect.signature(builder).parameters
    )


def _positive_float(text):
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _add_tune_parser(commands):
    from keras_specnet import datasets

    tune = commands.add_parser(
        "tune",
        help="search beta or the butterfly base with Keras Tuner, memory-aware",
        description=(
            "Search a spectral model's beta, or a butterfly model's base (and "
            "width), with Keras Tuner. Each trial is scored by its validation "
            "accuracy within the memory (and time) budget, and by -(memory / "
            "budget) beyond it (see keras_specnet.tuning). The search is saved "
            "in --directory and resumes from there when run again."
        ),
    )
    tune.add_argument("--model", required=True, choices=_tunable_models())
    tune.add_argument(
        "--dataset", default="fashion_mnist", choices=sorted(datasets.DATASETS)
    )
    tune.add_argument(
        "--tuner", choices=("random", "bayesian", "hyperband"), default="random"
    )
    tune.add_argument(
        "--max-trials",
        type=_positive_int,
        default=None,
        help="trials of a random or bayesian search (default 4); hyperband "
        "sets its own from --epochs and --factor",
    )
    tune.add_argument(
        "--epochs",
        type=_positive_int,
        default=2,
        help="epochs per trial (hyperband: the most epochs of a trial)",
    )
    tune.add_argument(
        "--factor", type=int, default=3, help="hyperband's reduction factor (>= 2)"
    )
    tune.add_argument("--batch-size", type=_positive_int, default=64)
    tune.add_argument(
        "--memory-budget",
        type=_positive_float,
        default=None,
        metavar="MB",
        help="memory budget in MiB (2**20 bytes); default: none",
    )
    tune.add_argument(
        "--memory",
        choices=("step", "peak", "held"),
        default="step",
        help="figure held against the budget: a step's bytes above those "
        "allocated before it (default), the step peak (MemoryProfiler), or "
        "the bytes held for the backward pass",
    )
    tune.add_argument(
        "--memory-weight",
        type=_non_negative_float,
        default=0.0,
        help="within budget, score = accuracy - weight * memory / budget "
        "(0 to 1; default 0)",
    )
    tune.add_argument(
        "--time-budget",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="budget of one training step (median), in seconds",
    )
    tune.add_argument(
        "--beta-range",
        type=_non_negative_float,
        nargs=2,
        default=(0.3, 1.5),
        metavar=("LOW", "HIGH"),
        help="beta searched (spectral models; default 0.3 1.5)",
    )
    tune.add_argument(
        "--beta-sampling",
        choices=("linear", "log"),
        default="linear",
        help="how beta is drawn from --beta-range (log needs LOW > 0)",
    )
    tune.add_argument(
        "--bases",
        type=int,
        nargs="+",
        default=(2, 4, 8, 16),
        help="butterfly bases searched (butterfly models; default 2 4 8 16)",
    )
    tune.add_argument(
        "--widths",
        type=_positive_float,
        nargs="+",
        default=None,
        help="width multipliers searched (butterfly models; default: not searched)",
    )
    tune.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    tune.add_argument("--learning-rate", type=_positive_float, default=1e-3)
    tune.add_argument(
        "--learning-rate-range",
        type=_positive_float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="also search the learning rate, on a log scale",
    )
    tune.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.1,
        help="fraction of the training split held out to score the trials "
        "(default 0.1; 0 scores the training accuracy)",
    )
    tune.add_argument(
        "--limit", type=_positive_int, default=None,
        help="train on the first N examples of the training part only",
    )
    tune.add_argument(
        "--validation-limit", type=_positive_int, default=None,
        help="score on the first N examples of the validation part only",
    )
    tune.add_argument("--data-dir", default=None)
    tune.add_argument(
        "--model-arg",
        type=_model_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fixed builder argument, repeatable (e.g. width=0.25)",
    )
    tune.add_argument(
        "--directory", default="tune", help="where the search is saved (default tune)"
    )
    tune.add_argument(
        "--project-name", default=None, help="default: the model's name"
    )
    tune.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh instead of resuming the search saved in --directory",
    )
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--output", default=None, help="write the trials to this JSON file")
    tune.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1,
        help="Keras Tuner's and model.fit's verbosity",
    )


def _tune_table(rows, search_args):
    """The printed table of `specnet tune`, one line per trial."""
    mib = 2.0**20

    def number(value, fmt, scale=1.0):
        return "-" if value is None else format(value / scale, fmt)

    header = ["trial", "status", *search_args, "accuracy", "held MiB",
              "step MiB", "step peak MiB", "time s", "score"]
    lines = [header]
    for row in rows:
        hps = row["hyperparameters"]
        lines.append([
            row["trial_id"],
            row["status"],
            *[
                "-" if hps.get(name) is None else format(hps[name], "g" if isinstance(hps[name], int) else ".4g")
                for name in search_args
            ],
            number(row["val_accuracy"] if row["val_accuracy"] is not None
                   else row["accuracy"], ".4f"),
            number(row["held_bytes"], ".2f", mib),
            number(row["memory_step_bytes"], ".2f", mib),
            number(row["memory_peak_bytes"], ".2f", mib),
            number(row["fit_seconds"], ".1f"),
            number(row["score"], ".4f"),
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                  for i, (c, w) in enumerate(zip(line, widths))).rstrip()
        for line in lines
    ]


def tune(args):
    """`specnet tune`: a memory-aware Keras Tuner search; returns the result dict."""
    import keras

    from keras_specnet import applications, datasets, tuning

    keras.utils.set_random_seed(args.seed)
    spec = datasets.info(args.dataset)
    common = dict(
        model=args.model,
        input_shape=spec.input_shape,
        classes=spec.classes,
        learning_rate=args.learning_rate,
        learning_rate_range=args.learning_rate_range,
        optimizer=args.optimizer,
        model_kwargs=dict(args.model_arg),
    )
    if args.tuner == "hyperband":
        if args.max_trials is not None:
            raise SystemExit(
                "specnet tune: --max-trials does not apply to --tuner hyperband, "
                "whose trials follow from --epochs and --factor."
            )
        tuner_kwargs = dict(max_epochs=args.epochs, factor=args.factor)
    else:
        tuner_kwargs = dict(max_trials=args.max_trials or 4)
    try:
        if args.model in applications.SPECTRAL_MODELS:
            hypermodel = tuning.SpecNetHyperModel(
                beta_range=tuple(args.beta_range),
                beta_sampling=args.beta_sampling,
                **common,
            )
        else:
            hypermodel = tuning.ButterflyHyperModel(
                bases=tuple(args.bases),
                widths=None if args.widths is None else tuple(args.widths),
                **common,
            )
        tuner = tuning.make_tuner(
            args.tuner,
            hypermodel,
            memory_budget=None
            if args.memory_budget is None
            else args.memory_budget * 2**20,
            memory_weight=args.memory_weight,
            time_budget=args.time_budget,
            memory=args.memory,
            directory=args.directory,
            project_name=args.project_name or args.model,
            overwrite=args.overwrite,
            seed=args.seed,
            **tuner_kwargs,
        )
    except ValueError as error:
        raise SystemExit(f"specnet tune: {error}") from None
    finished = [t for t in tuner.oracle.trials.values() if t.status != "RUNNING"]
    if finished:
        print(
            f"resuming the search in {tuner.project_dir}: {len(finished)} "
            "trials already done, not run again"
        )

    train_split, val_split = _split(args.validation_split)
    load = dict(batch_size=args.batch_size, data_dir=args.data_dir, seed=args.seed)
    train_ds = datasets.load(args.dataset, train_split, limit=args.limit, **load)
    val_ds = (
        datasets.load(args.dataset, val_split, limit=args.validation_limit, **load)
        if val_split
        else None
    )
    start = time.perf_counter()
    tuner.search(
        train_ds,
        validation_data=val_ds,
        epochs=args.epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=args.verbose,
    )
    search_seconds = time.perf_counter() - start

    rows = tuning.trials_table(tuner)
    search_args = [
        name for name in ("beta", "butterfly_base", "alpha", "scale", "width",
                          "learning_rate")
        if any(name in row["hyperparameters"] for row in rows)
    ]
    best = rows[0] if rows and rows[0]["score"] is not None else None
    print()
    print(
        f"{args.tuner} search of {args.model} on {args.dataset}: objective "
        f"{'validation' if val_ds is not None else 'training'} accuracy"
        + (f", memory budget {args.memory_budget:g} MiB ({args.memory})"
           if args.memory_budget is not None else ", no memory budget")
        + (f", time budget {args.time_budget:g} s/step"
           if args.time_budget is not None else "")
    )
    for line in _tune_table(rows, search_args):
        print(line)
    if best is not None:
        config = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in best["hyperparameters"].items())
        print(f"best: trial {best['trial_id']}, {config} (score {best['score']:.4f})")
    result = {
        "model": args.model,
        "dataset": args.dataset,
        "tuner": args.tuner,
        "objective": dict(tuner.settings, metric=tuning.OBJECTIVE, direction="max"),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "train_examples": args.limit,
        "validation_split": args.validation_split,
        "validation_examples": args.validation_limit,
        "model_args": dict(args.model_arg),
        "seed": args.seed,
        "directory": tuner.project_dir,
        "search_seconds": round(search_seconds, 2),
        "trials": rows,
        "best": best,
    }
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(folder, exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.output}")
    return result


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "train":
        train(args)
    elif args.command == "report":
        report(args)
    elif args.command == "models":
        models(args)
    elif args.command == "tune":
        tune(args)
    elif args.command == "bench":
        from keras_specnet.bench import BENCHMARKS

        importlib.import_module(BENCHMARKS[args.benchmark]).main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
