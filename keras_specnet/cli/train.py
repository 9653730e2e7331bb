"""`specnet train`: fit a registered model, then report accuracy and memory."""

import platform
import time

from keras_specnet import _io
from keras_specnet.cli import _common

HELP = "train a model with model.fit and report accuracy and memory"
DESCRIPTION = (
    "Train a model with model.fit, then print its test accuracy, parameter "
    "count and the peak memory of one training step."
)

_MIB = 2.0**20


def add_arguments(parser):
    from keras_specnet import training
    from keras_specnet.applications import registry

    parser.add_argument("--model", required=True, choices=registry.names())
    _common.add_data_options(parser)
    parser.add_argument("--epochs", type=_common.positive_int("epochs"), default=5)
    parser.add_argument("--batch-size", type=_common.positive_int("batch_size"), default=64)
    parser.add_argument(
        "--beta",
        type=_common.non_negative_number("beta"),
        default=None,
        help="spectral threshold (spectral models only; default: the model's)",
    )
    parser.add_argument("--optimizer", choices=training.OPTIMIZERS, default="adam")
    defaults = ", ".join(
        f"{lr:g} for {name}" for name, lr in training.DEFAULT_LEARNING_RATES.items()
    )
    parser.add_argument(
        "--learning-rate",
        type=_common.positive_number("learning_rate"),
        default=None,
        help=f"default: {defaults} (SGD with momentum {training.SGD_MOMENTUM:g})",
    )
    parser.add_argument(
        "--validation-split",
        type=_common.fraction("validation_split"),
        default=0.0,
        help="fraction of the training split held out for validation",
    )
    parser.add_argument(
        "--limit",
        type=_common.positive_int("limit"),
        default=None,
        help="train on the first N training examples only",
    )
    _common.add_model_arg(
        parser, "extra builder argument, repeatable (e.g. width=0.25, fc_units=256)"
    )
    _common.add_seed(parser)
    _common.add_output(parser, "write history and figures to this JSON file")
    _common.add_verbose(parser, "model.fit verbosity")


def _model(args, spec, input_shape, classes):
    """The model of `--model` with `--model-arg` and `--beta`; and its beta."""
    from keras_specnet.applications import registry

    model_args = dict(args.model_arg)
    _common.check_model_args("train", spec, model_args)
    kwargs = {"input_shape": input_shape, "classes": classes, **model_args}
    if args.beta is not None:
        if spec.kind != "spectral":
            raise _common.fail(
                "train",
                f"--beta applies to spectral models only "
                f"({', '.join(registry.names('spectral'))}); "
                f"--model {args.model} has no threshold.",
            )
        kwargs["beta"] = args.beta
    try:
        model = registry.build(args.model, **kwargs)
    except ValueError as error:
        raise _common.fail("train", error) from None
    beta = float(kwargs.get("beta", spec.default_beta)) if spec.kind == "spectral" else None
    return model, beta


def _data(args):
    """Provenance record and the training, validation and test datasets."""
    from keras_specnet import datasets

    train_split, val_split = _common.split(args.validation_split)
    splits = {"train": train_split, "validation": val_split, "test": "test"}
    splits = {label: split for label, split in splits.items() if split}
    load = dict(batch_size=args.batch_size, data_dir=args.data_dir, seed=args.seed)
    try:
        record = datasets.provenance(
            args.dataset, splits, data_dir=args.data_dir, limits={"train": args.limit}
        )
        train_ds = datasets.load(args.dataset, train_split, limit=args.limit, **load)
        val_ds = datasets.load(args.dataset, val_split, **load) if val_split else None
        test_ds = datasets.load(args.dataset, "test", **load)
    except datasets.DatasetNotAvailableError as error:
        raise _common.fail("train", error) from None
    return record, train_ds, val_ds, test_ds


def _print_summary(args, result, mem, held):
    print()
    print(f"model                      {args.model}")
    if result["beta"] is not None:
        print(f"beta                       {result['beta']:g}")
    print(f"test accuracy              {result['test_accuracy']:.4f}")
    print(f"parameters                 {result['params']:,}")
    print(
        f"training-step peak memory  {mem['peak_bytes'] / _MIB:.2f} MiB on "
        f"{mem['device']} ({mem['step_bytes'] / _MIB:.2f} MiB above the "
        f"{mem['resident_bytes'] / _MIB:.2f} MiB held before the step), "
        f"batch {args.batch_size}"
    )
    print(
        f"held for the backward pass {held / _MIB:.2f} MiB "
        "(compiled step, between forward and backward)"
    )
    if not result["memory_counts_small_tensors"]:
        print(
            "  (tensors under about 256 KiB are not counted: set "
            "TF_CPU_ALLOCATOR_USE_BFC=true before starting to count them)"
        )
    print(f"training time              {result['train_seconds']:.1f} s")


def run(args):
    """Fit, evaluate, measure; returns the result dict."""
    import keras
    import tensorflow as tf

    from keras_specnet import datasets, memory, training
    from keras_specnet.applications import registry
    from keras_specnet.callbacks import MemoryProfiler

    keras.utils.set_random_seed(args.seed)
    spec = registry.spec(args.model)
    info = datasets.info(args.dataset)
    model, beta = _model(args, spec, info.input_shape, info.classes)
    training.compile_classifier(model, args.optimizer, args.learning_rate)
    record, train_ds, val_ds, test_ds = _data(args)

    print(datasets.provenance_line(record), flush=True)
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

    result = {
        "model": args.model,
        "dataset": args.dataset,
        "data": record,
        "beta": beta,
        "model_args": dict(args.model_arg),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
        "seed": args.seed,
        "train_examples": args.limit,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "params": int(model.count_params()),
        "trainable_params": sum(int(tf.size(w)) for w in model.trainable_weights),
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
    _print_summary(args, result, mem, held)
    if args.output:
        print(f"wrote {_io.write_json(args.output, result)}")
    return result
