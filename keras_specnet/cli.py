"""The `specnet` command: train a model, compare runs, list the models.

    specnet train --model spec_lenet5 --dataset fashion_mnist --epochs 5
    specnet report runs/lenet5.json runs/spec_lenet5.json
    specnet models
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
    held = memory.stored_bytes(model, x, y)

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
        "stored_bytes": held,
        "memory_device": mem["device"],
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
            lambda r: f"{r['stored_bytes'] / mib:.2f}" if "stored_bytes" in r else "-",
        ),
        (
            "held bytes vs first",
            lambda r: f"{r['stored_bytes'] / base['stored_bytes']:.2f}x"
            if base.get("stored_bytes") and "stored_bytes" in r
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


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "train":
        train(args)
    elif args.command == "report":
        report(args)
    elif args.command == "models":
        models(args)
    elif args.command == "bench":
        from keras_specnet.bench import BENCHMARKS

        importlib.import_module(BENCHMARKS[args.benchmark]).main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
