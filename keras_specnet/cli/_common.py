"""What the commands share: argparse types, common options, errors.

Light on purpose: the module imports neither TensorFlow nor Keras, and the
options that list choices from the library (`--dataset`) import it only
when they are added, that is when their command's parser is built.
"""

import argparse
import ast
import functools
import os
import sys

from keras_specnet import _checks


def prepare_tensorflow():
    """Environment for TensorFlow, set before it is imported.

    Both variables are read when TensorFlow is loaded, so they are set
    first thing; a value already in the environment is kept.

    - `TF_CPP_MIN_LOG_LEVEL=2` keeps TensorFlow's C++ start-up messages
      off stderr: 1 hides INFO messages (the `cpu_feature_guard` notice),
      2 warnings too. On CPUs where oneDNN is on by default, its notice
      and absl's "All log messages before absl::InitializeLog() ..." line
      come before TensorFlow's logging starts, and stay
      (`TF_ENABLE_ONEDNN_OPTS=0` turns them off with oneDNN itself).
    - `TF_CPU_ALLOCATOR_USE_BFC=true` gives the CPU an allocator that keeps
      statistics of every tensor, which the memory figures of `train`,
      `tune` and `bench` read (see `keras_specnet.memory`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


def checked(check, name, convert=float, **kwargs):
    """An argparse `type=`: `convert(text)`, then `check(name, value, **kwargs)`.

    `name` is the Python name of the option (`learning_rate` for
    `--learning-rate`), so a bad value is reported as the library reports
    it: `Invalid value for argument `learning_rate`. Expected ...`.
    """
    return _checks.argparse_type(functools.partial(check, name, **kwargs), convert)


def positive_int(name):
    return checked(_checks.positive_int, name, int)


def positive_number(name):
    return checked(_checks.positive_number, name, float)


def non_negative_number(name):
    return checked(_checks.non_negative_number, name, float)


def fraction(name):
    return checked(_checks.fraction, name, float)


def integer(name, minimum=None):
    return checked(_checks.integer, name, int, minimum=minimum)


def model_arg(text):
    """`KEY=VALUE` with VALUE a Python literal (or else a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(
            str(_checks.invalid("model_arg", "KEY=VALUE, KEY a Python name", text))
        )
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def add_data_options(parser):
    """`--dataset` (choices: `datasets.DATASETS`) and `--data-dir`."""
    from keras_specnet import datasets

    parser.add_argument("--dataset", default="fashion_mnist", choices=sorted(datasets.DATASETS))
    parser.add_argument(
        "--data-dir",
        default=None,
        help="folder of MNIST-format IDX files, or a TFDS data dir",
    )


def add_model_arg(parser, help):
    parser.add_argument(
        "--model-arg",
        type=model_arg,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help,
    )


def add_seed(parser):
    parser.add_argument("--seed", type=integer("seed"), default=0)


def add_output(parser, help):
    parser.add_argument("--output", default=None, help=help)


def add_verbose(parser, help):
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help=help)


def split(fraction):
    """The training and validation splits for a held-out `fraction`."""
    if not fraction:
        return "train", None
    cut = round(100 * (1 - fraction))
    return f"train[:{cut}%]", f"train[{cut}%:]"


def fail(command, error):
    """`SystemExit` printing `specnet COMMAND: <error>` (exit status 1)."""
    return SystemExit(f"specnet {command}: {error}")


def check_model_args(command, spec, model_args):
    """Refuse `--model-arg` names that `spec`'s builder does not take."""
    unknown = sorted(set(model_args) - set(spec.arguments))
    if unknown:
        raise fail(
            command,
            f"--model {spec.name} takes no argument {', '.join(unknown)}; "
            f"it takes {', '.join(spec.arguments)}.",
        )


def is_data_error(error):
    """Whether `error` is a `datasets.DatasetNotAvailableError`.

    Without importing `keras_specnet.datasets`: if it was never imported,
    nothing raised its error.
    """
    datasets = sys.modules.get("keras_specnet.datasets")
    return datasets is not None and isinstance(error, datasets.DatasetNotAvailableError)
