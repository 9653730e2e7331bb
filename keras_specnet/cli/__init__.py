"""The `specnet` command: train a model, compare runs, list the models.

    specnet train --model spec_lenet5 --dataset fashion_mnist --epochs 5
    specnet report runs/lenet5.json runs/spec_lenet5.json
    specnet models
    specnet tune --model spec_vgg16 --max-trials 4 --memory-budget 200
    specnet bench memory --batch-sizes 64 128
    specnet figures --smoke --output figures
    specnet sweep --model spec_vgg16 --width 0.25 --betas 0.005 0.01 --output runs/sweep

Also reachable as `python -m keras_specnet`.

Each command is a module of this package (`train`, `report`, `models`,
`tune`, `bench`, `figures`, `sweep`) with a one-line `HELP`, an
`add_arguments(parser)` and a `run(args)`. Only the parser of the command
being run is built: the others get their one-line help, so that
`specnet --help` imports neither TensorFlow nor Keras, and each command
imports what it needs when its own parser is built or when it runs.
"""

import argparse
import importlib
import sys

from keras_specnet.cli import _common

#: The commands, in the order `specnet --help` lists them.
COMMANDS = ("train", "report", "models", "tune", "bench", "figures", "sweep")


def _command(name):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser(command=None):
    """The `specnet` parser, with the full parser of `command` only."""
    parser = argparse.ArgumentParser(
        prog="specnet",
        description="SpecNet and Butterfly Transform models for Keras 3.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = _command(name)
        sub = commands.add_parser(
            name, help=module.HELP, description=getattr(module, "DESCRIPTION", None)
        )
        if name == command:
            module.add_arguments(sub)
            sub.set_defaults(func=module.run)
    return parser


def main(argv=None):
    """Run `specnet ARGV`; returns 0 (errors exit through `SystemExit`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _common.prepare_tensorflow()
    # No option of `specnet` itself takes a value: the first word that is
    # not an option names the command.
    command = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    args.func(args)
    return 0
