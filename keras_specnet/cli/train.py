"""`specnet train`: fit a registered model, then report accuracy and memory.

Runs on one device, on several devices of one host (`--strategy mirrored`)
or on several hosts (`--strategy multiworker`, cluster from `TF_CONFIG`);
`--checkpoint-dir` makes a rerun continue from the last finished epoch, and
a NaN or Inf loss stops the run with exit status 1 (docs/distributed.md).
"""

import csv
import json
import os
import platform
import sys
import time

from keras_specnet import _io
from keras_specnet.cli import _common

HELP = "train a model with model.fit and report accuracy and memory"
DESCRIPTION = (
    "Train a model with model.fit, then print its test accuracy, parameter "
    "count and the peak memory of one training step. --batch-size is the "
    "global batch: under a distribution strategy each replica gets "
    "batch-size / replicas examples of it."
)

#: The file, in `--checkpoint-dir`, of the arguments of the run saved there.
RUN_FILE = "run.json"

#: The per-epoch logs, in `--checkpoint-dir` (`keras.callbacks.CSVLogger`).
HISTORY_FILE = "history.csv"

#: Arguments that may differ when a run resumes (`--epochs` may grow).
RESUMABLE_CHANGES = ("epochs", "verbose", "output", "save_weights")

_MIB = 2.0**20


#: Environment variable: split the CPU into this many logical devices.
CPU_DEVICES_VARIABLE = "SPECNET_CPU_DEVICES"


def _split_cpu_from_environment():
    """Applies `SPECNET_CPU_DEVICES`, before the library touches TensorFlow."""
    text = os.environ.get(CPU_DEVICES_VARIABLE)
    if not text:
        return
    try:
        devices = int(text)
    except ValueError:
        devices = 0
    if devices < 1:
        raise _common.fail(
            "train",
            f"{CPU_DEVICES_VARIABLE} must be a positive integer (the number of "
            f"logical CPU devices); received {text!r}.",
        )
    from keras_specnet import distribute

    try:
        distribute.split_cpu(devices)
    except RuntimeError as error:
        raise _common.fail("train", f"{CPU_DEVICES_VARIABLE}={text}: {error}") from None


#: The multi-worker strategy, made before the library touches TensorFlow.
_early_strategies = {}


def _make_multiworker_early():
    """Makes the multi-worker strategy if the command line asks for it.

    TensorFlow configures collective ops only before its devices are
    initialised, which importing the model registry does; so the strategy
    is made here, when the parser is built. A missing or malformed
    `TF_CONFIG` is left for `run` to report.
    """
    import argparse

    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--strategy")
    known, _ = peek.parse_known_args(sys.argv[1:])
    if known.strategy != "multiworker":
        return
    from keras_specnet import distribute

    try:
        _early_strategies["multiworker"] = distribute.make_strategy("multiworker")
    except ValueError:
        pass


def add_arguments(parser):
    # First thing: the logical devices and the collective ops are fixed
    # when TensorFlow initialises its devices.
    _split_cpu_from_environment()
    _make_multiworker_early()

    from keras_specnet import training
    from keras_specnet.applications import registry

    parser.add_argument("--model", required=True, choices=registry.names())
    _common.add_data_options(parser)
    parser.add_argument("--epochs", type=_common.positive_int("epochs"), default=5)
    parser.add_argument(
        "--batch-size",
        type=_common.positive_int("batch_size"),
        default=64,
        help="global batch size, split evenly over the replicas of --strategy",
    )
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
    _add_distribution_options(parser)
    _common.add_verbose(parser, "model.fit verbosity")


def _add_distribution_options(parser):
    from keras_specnet import distribute

    parser.add_argument(
        "--strategy",
        choices=distribute.STRATEGIES,
        default="default",
        help="default: one device; mirrored: every GPU of this host (or every "
        f"logical CPU device without GPUs: set {CPU_DEVICES_VARIABLE}=N to split "
        "the CPU into N); multiworker: the hosts of TF_CONFIG",
    )
    parser.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="back up the training state here after every epoch; a rerun with "
        "the same DIR and arguments continues from the last finished epoch "
        "(--epochs may grow)",
    )
    parser.add_argument(
        "--save-weights",
        default=None,
        metavar="PATH",
        help="save the trained weights to PATH (a .weights.h5 file)",
    )


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
    """Provenance record, the training batches of every epoch and their count
    per epoch, and the validation and test datasets."""
    from keras_specnet import datasets

    train_split, val_split = _common.split(args.validation_split)
    splits = {"train": train_split, "validation": val_split, "test": "test"}
    splits = {label: split for label, split in splits.items() if split}
    load = dict(batch_size=args.batch_size, data_dir=args.data_dir, seed=args.seed)
    try:
        record = datasets.provenance(
            args.dataset, splits, data_dir=args.data_dir, limits={"train": args.limit}
        )
        # Unshuffled here: `training.epoch_dataset` shuffles each epoch.
        stream = datasets.load(args.dataset, train_split, limit=args.limit, shuffle=False, **load)
        val_ds = datasets.load(args.dataset, val_split, **load) if val_split else None
        test_ds = datasets.load(args.dataset, "test", **load)
    except datasets.DatasetNotAvailableError as error:
        raise _common.fail("train", error) from None
    steps = int(stream.cardinality())
    if steps < 0:
        steps = sum(1 for _ in stream)
    return record, stream.unbatch(), steps, val_ds, test_ds


def _run_arguments(args, beta):
    """The arguments that decide the training, as `RUN_FILE` keeps them."""
    from keras_specnet import training

    return {
        "model": args.model,
        "model_args": {key: repr(value) for key, value in sorted(dict(args.model_arg).items())},
        "beta": beta,
        "dataset": args.dataset,
        "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None,
        "limit": args.limit,
        "validation_split": args.validation_split,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate or training.DEFAULT_LEARNING_RATES[args.optimizer],
        "seed": args.seed,
        "strategy": args.strategy,
    }


def _prepare_checkpoint(args, arguments, strategy, chief):
    """The backup folder of this process and the epochs finished in it.

    Refuses a `--checkpoint-dir` that holds a run with other arguments, or
    with more finished epochs than `--epochs`.
    """
    from keras_specnet import distribute, training

    folder = args.checkpoint_dir
    task_type, index = distribute.task(strategy)
    # Every worker backs up its own copy (they hold the same weights);
    # the chief's is the one named `training.BACKUP_FOLDER`.
    name = training.BACKUP_FOLDER if chief else f"{training.BACKUP_FOLDER}-{task_type}-{index}"
    backup_dir = os.path.join(folder, name)
    run_file = os.path.join(folder, RUN_FILE)
    if os.path.exists(run_file):
        with open(run_file) as f:
            saved = json.load(f)["arguments"]
        differing = [
            f"{key} is {saved.get(key)!r} there, {value!r} here"
            for key, value in arguments.items()
            if saved.get(key) != value
        ]
        if differing:
            raise _common.fail(
                "train",
                f"--checkpoint-dir {folder} holds a run with other arguments: "
                f"{'; '.join(differing)}. Rerun with the same arguments to resume "
                f"it (only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE_CHANGES)} "
                "may change), or pass another directory.",
            )
    elif os.path.isdir(folder) and os.listdir(folder):
        raise _common.fail(
            "train",
            f"--checkpoint-dir {folder} is not empty and holds no {RUN_FILE}: "
            "pass an empty or new directory.",
        )
    if chief:
        os.makedirs(folder, exist_ok=True)
        _io.write_json(run_file, {"arguments": arguments})
    finished = training.finished_epochs(backup_dir)
    if finished > args.epochs:
        raise _common.fail(
            "train",
            f"--epochs {args.epochs} is fewer than the {finished} epochs already "
            f"finished in --checkpoint-dir {folder}; pass --epochs {finished} or more.",
        )
    if finished == args.epochs:
        print(f"{folder}: all {finished} epochs finished already; evaluating", flush=True)
    elif finished:
        print(
            f"resuming from {folder}: {finished} of {args.epochs} epochs finished, "
            f"continuing with epoch {finished + 1}",
            flush=True,
        )
    return backup_dir, finished


def _history(args, history, chief):
    """Per-epoch logs: the whole run's (from `HISTORY_FILE`) if there is one."""
    logs = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    path = os.path.join(args.checkpoint_dir, HISTORY_FILE) if args.checkpoint_dir else None
    if not (chief and path and os.path.exists(path)):
        return logs
    by_epoch = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            # A row written just before an interruption is written again.
            by_epoch[int(row.pop("epoch"))] = {k: float(v) for k, v in row.items() if v != "NA"}
    rows = [by_epoch[e] for e in sorted(by_epoch) if e < args.epochs]
    return {k: [row[k] for row in rows if k in row] for k in (rows[0] if rows else {})}


def _print_summary(args, result, mem, held):
    print()
    print(f"model                      {args.model}")
    if result["beta"] is not None:
        print(f"beta                       {result['beta']:g}")
    print(f"test accuracy              {result['test_accuracy']:.4f}")
    print(f"parameters                 {result['params']:,}")
    if mem is None:
        print(
            f"training-step peak memory  not measured under --strategy {args.strategy} "
            "(measured with --strategy default only)"
        )
        print(f"training time              {result['train_seconds']:.1f} s")
        return
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


def _strategy(args):
    from keras_specnet import distribute

    if args.strategy in _early_strategies:
        return _early_strategies[args.strategy]
    try:
        return distribute.make_strategy(args.strategy)
    except (ValueError, RuntimeError) as error:
        raise _common.fail("train", f"--strategy {args.strategy}: {error}") from None


def _fit(args, model, data, steps, val_ds, backup_dir, measure, chief):
    import keras

    from keras_specnet import training
    from keras_specnet.callbacks import MemoryProfiler, NonFiniteLossError

    callbacks = [MemoryProfiler()] if measure else []
    if backup_dir and chief:
        path = os.path.join(args.checkpoint_dir, HISTORY_FILE)
        callbacks.append(keras.callbacks.CSVLogger(path, append=True))
    try:
        return training.fit(
            model,
            data,
            epochs=args.epochs,
            steps_per_epoch=steps,
            validation_data=val_ds,
            backup_dir=backup_dir,
            callbacks=callbacks,
            verbose=args.verbose,
        )
    except NonFiniteLossError as error:
        if backup_dir:
            done = training.finished_epochs(backup_dir)
            kept = (
                f"the checkpoint of epoch {done} is kept in --checkpoint-dir {args.checkpoint_dir}"
                if done
                else f"no epoch finished, so --checkpoint-dir {args.checkpoint_dir} "
                "holds no weights"
            )
        else:
            kept = "no checkpoint (pass --checkpoint-dir to keep one)"
        raise _common.fail(
            "train",
            f"stopped: {error}; {kept}. Try a smaller --learning-rate "
            f"(this run: {args.learning_rate or 'the default'}).",
        ) from None


def run(args):
    """Fit, evaluate, measure; returns the result dict."""
    strategy = _strategy(args)

    import keras
    import tensorflow as tf

    from keras_specnet import datasets, distribute, memory, training
    from keras_specnet.applications import registry
    from keras_specnet.datasets.loading import MAX_SHUFFLE_BUFFER

    chief = distribute.is_chief(strategy)
    measure = args.strategy == "default"
    keras.utils.set_random_seed(args.seed)
    spec = registry.spec(args.model)
    info = datasets.info(args.dataset)
    with strategy.scope():
        model, beta = _model(args, spec, info.input_shape, info.classes)
        training.compile_classifier(model, args.optimizer, args.learning_rate)
    learning_rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    record, examples, steps, val_ds, test_ds = _data(args)

    print(datasets.provenance_line(record), flush=True)
    print(distribute.describe(strategy, args.batch_size), flush=True)
    backup_dir, finished = None, 0
    if args.checkpoint_dir:
        arguments = _run_arguments(args, beta)
        backup_dir, finished = _prepare_checkpoint(args, arguments, strategy, chief)
    size = record["examples"].get("train") or MAX_SHUFFLE_BUFFER
    train_ds = training.epoch_dataset(
        examples,
        args.batch_size,
        args.epochs,
        initial_epoch=finished,
        seed=args.seed,
        buffer_size=max(1, min(size, MAX_SHUFFLE_BUFFER)),
    )
    start = time.perf_counter()
    history = _fit(args, model, train_ds, steps, val_ds, backup_dir, measure, chief)
    train_seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    mem = held = None
    if measure:
        x, y = next(iter(examples.batch(args.batch_size)))
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
        "strategy": args.strategy,
        "replicas": int(strategy.num_replicas_in_sync),
        "checkpoint_dir": args.checkpoint_dir,
        "resumed_at_epoch": finished if args.checkpoint_dir else None,
        "optimizer": args.optimizer,
        "learning_rate": learning_rate,
        "seed": args.seed,
        "train_examples": args.limit,
        "history": _history(args, history, chief),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "params": int(model.count_params()),
        "trainable_params": sum(int(tf.size(w)) for w in model.trainable_weights),
        "step_peak_bytes": mem and mem["peak_bytes"],
        "step_resident_bytes": mem and mem["resident_bytes"],
        "step_bytes": mem and mem["step_bytes"],
        "held_bytes": held,
        "memory_device": mem and mem["device"],
        "memory_counts_small_tensors": (
            memory.allocator_counts_small_tensors(mem["device"]) if mem else None
        ),
        "train_seconds": round(train_seconds, 2),
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
    if chief:
        _print_summary(args, result, mem, held)
    if chief and args.save_weights:
        model.save_weights(args.save_weights, overwrite=True)
        print(f"wrote {args.save_weights}")
    if chief and args.output:
        print(f"wrote {_io.write_json(args.output, result)}")
    return result
