"""`specnet tune`: a memory-aware Keras Tuner search of beta or the butterfly base."""

import collections
import os
import time

from keras_specnet import _io
from keras_specnet.cli import _common

HELP = "search beta or the butterfly base with Keras Tuner, memory-aware"
DESCRIPTION = (
    "Search a spectral model's beta, or a butterfly model's base (and width), "
    "with Keras Tuner. Each trial is scored by its validation accuracy within "
    "the memory (and time) budget, and by -(memory / budget) beyond it (see "
    "keras_specnet.tuning). The search is saved in --directory and resumes "
    "from there when run again. With Keras Tuner's KERASTUNER_TUNER_ID, "
    "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT set, it is one process "
    "of a distributed search: the chief serves the oracle and prints the "
    "search, each worker runs trials and prints its own."
)

#: Hyperparameters shown as columns of the table, when a search has them.
_SEARCHED = ("beta", "butterfly_base", "alpha", "scale", "width", "learning_rate")


def tunable_models():
    """Registry names `specnet tune` searches: spectral and butterfly models."""
    from keras_specnet.applications import registry

    return registry.names("spectral") + registry.names("butterfly")


def add_arguments(parser):
    from keras_specnet import training, tuning

    positive_number = _common.positive_number
    parser.add_argument("--model", required=True, choices=tunable_models())
    _common.add_data_options(parser)
    parser.add_argument("--tuner", choices=tuple(tuning.TUNERS), default="random")
    parser.add_argument(
        "--max-trials",
        type=_common.positive_int("max_trials"),
        default=None,
        help="trials of a random or bayesian search (default 4); hyperband "
        "sets its own from --epochs and --factor",
    )
    parser.add_argument(
        "--epochs",
        type=_common.positive_int("epochs"),
        default=2,
        help="epochs per trial (hyperband: the most epochs of a trial)",
    )
    parser.add_argument(
        "--factor",
        type=_common.integer("factor", minimum=2),
        default=3,
        help="hyperband's reduction factor (>= 2)",
    )
    parser.add_argument("--batch-size", type=_common.positive_int("batch_size"), default=64)
    parser.add_argument(
        "--memory-budget",
        type=positive_number("memory_budget"),
        default=None,
        metavar="MB",
        help="memory budget in MiB (2**20 bytes); default: none",
    )
    parser.add_argument(
        "--memory",
        choices=tuple(tuning.MEMORY_FIGURES),
        default="step",
        help="figure held against the budget: a step's bytes above those "
        "allocated before it (default), the step peak (MemoryProfiler), or "
        "the bytes held for the backward pass",
    )
    parser.add_argument(
        "--memory-weight",
        type=_common.non_negative_number("memory_weight"),
        default=0.0,
        help="within budget, score = accuracy - weight * memory / budget (0 to 1; default 0)",
    )
    parser.add_argument(
        "--time-budget",
        type=positive_number("time_budget"),
        default=None,
        metavar="SECONDS",
        help="budget of one training step (median), in seconds",
    )
    parser.add_argument(
        "--beta-range",
        type=_common.non_negative_number("beta_range"),
        nargs=2,
        default=(0.3, 1.5),
        metavar=("LOW", "HIGH"),
        help="beta searched (spectral models; default 0.3 1.5)",
    )
    parser.add_argument(
        "--beta-sampling",
        choices=("linear", "log"),
        default="linear",
        help="how beta is drawn from --beta-range (log needs LOW > 0)",
    )
    parser.add_argument(
        "--bases",
        type=_common.integer("bases"),
        nargs="+",
        default=(2, 4, 8, 16),
        help="butterfly bases searched (butterfly models; default 2 4 8 16)",
    )
    parser.add_argument(
        "--widths",
        type=positive_number("widths"),
        nargs="+",
        default=None,
        help="width multipliers searched (butterfly models; default: not searched)",
    )
    parser.add_argument("--optimizer", choices=training.OPTIMIZERS, default="adam")
    default_lr = training.DEFAULT_LEARNING_RATES["adam"]
    parser.add_argument(
        "--learning-rate",
        type=positive_number("learning_rate"),
        default=default_lr,
        help=f"default {default_lr:g}, whatever the optimizer",
    )
    parser.add_argument(
        "--learning-rate-range",
        type=positive_number("learning_rate_range"),
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="also search the learning rate, on a log scale",
    )
    parser.add_argument(
        "--validation-split",
        type=_common.fraction("validation_split"),
        default=0.1,
        help="fraction of the training split held out to score the trials "
        "(default 0.1; 0 scores the training accuracy)",
    )
    parser.add_argument(
        "--limit",
        type=_common.positive_int("limit"),
        default=None,
        help="train on the first N examples of the training part only",
    )
    parser.add_argument(
        "--validation-limit",
        type=_common.positive_int("validation_limit"),
        default=None,
        help="score on the first N examples of the validation part only",
    )
    _common.add_model_arg(parser, "fixed builder argument, repeatable (e.g. width=0.25)")
    parser.add_argument(
        "--directory", default="tune", help="where the search is saved (default tune)"
    )
    parser.add_argument("--project-name", default=None, help="default: the model's name")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh instead of resuming the search saved in --directory",
    )
    _common.add_seed(parser)
    _common.add_output(parser, "write the trials to this JSON file")
    _common.add_verbose(parser, "Keras Tuner's and model.fit's verbosity")


def _table(rows, search_args):
    """The printed table, one line per trial."""
    mib = 2.0**20

    def number(value, fmt, scale=1.0):
        return "-" if value is None else format(value / scale, fmt)

    def hyperparameter(value):
        if value is None:
            return "-"
        return format(value, "g" if isinstance(value, int) else ".4g")

    header = [
        "trial",
        "status",
        *search_args,
        "accuracy",
        "held MiB",
        "step MiB",
        "step peak MiB",
        "time s",
        "score",
    ]
    lines = []
    for row in rows:
        accuracy = row["val_accuracy"]
        lines.append(
            [
                row["trial_id"],
                row["status"],
                *[hyperparameter(row["hyperparameters"].get(n)) for n in search_args],
                number(row["accuracy"] if accuracy is None else accuracy, ".4f"),
                number(row["held_bytes"], ".2f", mib),
                number(row["memory_step_bytes"], ".2f", mib),
                number(row["memory_peak_bytes"], ".2f", mib),
                number(row["fit_seconds"], ".1f"),
                number(row["score"], ".4f"),
            ]
        )
    return _io.format_table(header, lines, left=2)


def _hypermodel(args, spec, info):
    """The hypermodel of `--model`, after one build with its defaults."""
    import keras_tuner

    from keras_specnet import tuning

    common = dict(
        model=args.model,
        input_shape=info.input_shape,
        classes=info.classes,
        learning_rate=args.learning_rate,
        learning_rate_range=args.learning_rate_range,
        optimizer=args.optimizer,
        model_kwargs=dict(args.model_arg),
    )
    if spec.kind == "spectral":
        hypermodel = tuning.SpecNetHyperModel(
            beta_range=tuple(args.beta_range), beta_sampling=args.beta_sampling, **common
        )
    else:
        hypermodel = tuning.ButterflyHyperModel(
            bases=tuple(args.bases),
            widths=None if args.widths is None else tuple(args.widths),
            **common,
        )
    # A builder's ValueError (e.g. width=-1) is reported now, not as a
    # failed trial in the middle of the search.
    hypermodel.build(keras_tuner.HyperParameters())
    return hypermodel


def _tuner_kwargs(args):
    """The arguments of `--tuner`'s own: its trial count or Hyperband's."""
    if args.tuner != "hyperband":
        return dict(max_trials=args.max_trials or 4)
    if args.max_trials is not None:
        raise _common.fail(
            "tune",
            "--max-trials does not apply to --tuner hyperband, whose trials "
            "follow from --epochs and --factor.",
        )
    return dict(max_epochs=args.epochs, factor=args.factor)


#: This process's part in Keras Tuner's distributed mode: `kind` is
#: `"chief"` or `"worker"`, `address` the oracle's `ip:port`.
_Role = collections.namedtuple("_Role", ["kind", "tuner_id", "address"])


def _role(environ=None):
    """`None` on one host, or this process's `_Role` in a distributed search.

    Keras Tuner's distributed mode is on when `KERASTUNER_ORACLE_IP` is
    set; then `KERASTUNER_ORACLE_PORT` and `KERASTUNER_TUNER_ID` must be
    too, and a tuner id containing `"chief"` makes the chief (Keras
    Tuner's own rule).
    """
    environ = os.environ if environ is None else environ
    ip = environ.get("KERASTUNER_ORACLE_IP")
    if ip is None:
        return None
    port = environ.get("KERASTUNER_ORACLE_PORT")
    if port is None or not port.isdigit() or not 0 < int(port) < 2**16:
        raise _common.fail(
            "tune",
            "KERASTUNER_ORACLE_IP is set, so KERASTUNER_ORACLE_PORT must be "
            f"the oracle's port, an integer from 1 to 65535. Received: {port!r}",
        )
    tuner_id = environ.get("KERASTUNER_TUNER_ID")
    if not tuner_id:
        raise _common.fail(
            "tune",
            "KERASTUNER_ORACLE_IP is set, so KERASTUNER_TUNER_ID must name this "
            "process: 'chief' for the oracle, a distinct id per worker "
            f"('tuner0', 'tuner1', ...). Received: {tuner_id!r}",
        )
    kind = "chief" if "chief" in tuner_id else "worker"
    return _Role(kind, tuner_id, f"{ip}:{port}")


def _print_role(role, args):
    if role.kind == "chief":
        print(
            f"distributed search: chief {role.tuner_id!r}, serving the oracle on "
            f"{role.address}; the workers run the trials, and this process "
            "prints the search once they are all done",
            flush=True,
        )
        return
    print(
        f"distributed search: worker {role.tuner_id!r}, running the trials of "
        f"the chief's oracle at {role.address}",
        flush=True,
    )
    if args.overwrite:
        print("--overwrite: left to the chief (a worker does not clear --directory)")
    if args.output:
        print("--output: written by the chief")


def _tuner(args, hypermodel, tuner_kwargs, overwrite):
    from keras_specnet import tuning

    return tuning.make_tuner(
        args.tuner,
        hypermodel,
        memory_budget=None if args.memory_budget is None else args.memory_budget * 2**20,
        memory_weight=args.memory_weight,
        time_budget=args.time_budget,
        memory=args.memory,
        directory=args.directory,
        project_name=args.project_name or args.model,
        overwrite=overwrite,
        seed=args.seed,
        **tuner_kwargs,
    )


def _data(args, load_data=True):
    """`(provenance, train_ds, val_ds)`; without `load_data`, the
    provenance (None when the data is not on this host) and no datasets."""
    from keras_specnet import datasets

    train_split, val_split = _common.split(args.validation_split)
    splits = {"train": train_split, "validation": val_split}
    limits = {"train": args.limit, "validation": args.validation_limit}
    if not val_split:
        del splits["validation"], limits["validation"]
    load = dict(batch_size=args.batch_size, data_dir=args.data_dir, seed=args.seed)
    if not load_data:
        try:
            record = datasets.provenance(
                args.dataset, splits, data_dir=args.data_dir, limits=limits, download=False
            )
        except datasets.DatasetNotAvailableError:
            record = None
        return record, None, None
    try:
        record = datasets.provenance(args.dataset, splits, data_dir=args.data_dir, limits=limits)
        train_ds = datasets.load(args.dataset, train_split, limit=args.limit, **load)
        val_ds = (
            datasets.load(args.dataset, val_split, limit=args.validation_limit, **load)
            if val_split
            else None
        )
    except datasets.DatasetNotAvailableError as error:
        raise _common.fail("tune", error) from None
    return record, train_ds, val_ds


def _print_result(args, rows, scored_on, ran_by=None):
    search_args = [
        name for name in _SEARCHED if any(name in row["hyperparameters"] for row in rows)
    ]
    print()
    if ran_by is not None:
        ids = ", ".join(row["trial_id"] for row in sorted(rows, key=lambda r: r["trial_id"]))
        print(
            f"worker {ran_by!r} ran {len(rows)} trial(s): {ids or 'none'} "
            "(the chief prints the whole search)"
        )
    print(
        f"{args.tuner} search of {args.model} on {args.dataset}: objective "
        f"{scored_on} accuracy"
        + (
            f", memory budget {args.memory_budget:g} MiB ({args.memory})"
            if args.memory_budget is not None
            else ", no memory budget"
        )
        + (f", time budget {args.time_budget:g} s/step" if args.time_budget is not None else "")
    )
    print(_table(rows, search_args))
    best = rows[0] if rows and rows[0]["score"] is not None else None
    if best is not None:
        config = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in best["hyperparameters"].items()
        )
        print(f"best: trial {best['trial_id']}, {config} (score {best['score']:.4f})")
    return best


def run(args):
    """The search; returns the result dict."""
    import keras

    from keras_specnet import datasets, tuning
    from keras_specnet.applications import registry

    keras.utils.set_random_seed(args.seed)
    spec = registry.spec(args.model)
    info = datasets.info(args.dataset)
    _common.check_model_args("tune", spec, dict(args.model_arg))
    tuner_kwargs = _tuner_kwargs(args)
    role = _role()
    if role is not None:
        _print_role(role, args)
    chief = role is not None and role.kind == "chief"
    worker = role is not None and role.kind == "worker"
    # The chief runs no trial: it needs no data.
    record, train_ds, val_ds = _data(args, load_data=not chief)
    try:
        hypermodel = _hypermodel(args, spec, info)
        keras.backend.clear_session()
        keras.utils.set_random_seed(args.seed)  # the check above drew weights
        # A worker leaves clearing the shared --directory to the chief.
        tuner = _tuner(args, hypermodel, tuner_kwargs, overwrite=args.overwrite and not worker)
    except ValueError as error:
        raise _common.fail("tune", error) from None
    if not worker:  # a worker's oracle is the chief's, behind a client
        finished = [t for t in tuner.oracle.trials.values() if t.status != "RUNNING"]
        if finished:
            print(
                f"resuming the search in {tuner.project_dir}: {len(finished)} "
                "trials already done, not run again"
            )

    if record is not None:
        print(datasets.provenance_line(record), flush=True)
    start = time.perf_counter()
    tuner.search(
        train_ds,
        validation_data=val_ds,
        epochs=args.epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=args.verbose,
    )
    search_seconds = time.perf_counter() - start

    rows = tuning.trials_table(tuner, trials=tuner.trials_run if worker else None)
    scored_on = "validation" if args.validation_split else "training"
    best = _print_result(args, rows, scored_on, ran_by=role.tuner_id if worker else None)
    result = {
        "model": args.model,
        "dataset": args.dataset,
        "data": record,
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
        "distributed": None if role is None else dict(role._asdict()),
    }
    if args.output and not worker:
        print(f"wrote {_io.write_json(args.output, result)}")
    return result
