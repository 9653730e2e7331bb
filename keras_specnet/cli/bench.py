"""`specnet bench NAME`: the benchmarks of `keras_specnet.bench`."""

import argparse
import importlib

from keras_specnet.cli import _common

HELP = "run a benchmark, each configuration in a fresh process"
DESCRIPTION = "Run a benchmark; each configuration runs in a fresh process."


def add_arguments(parser):
    from keras_specnet import bench

    names = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module_name in bench.BENCHMARKS.items():
        module = importlib.import_module(module_name)
        doc = module.__doc__.strip()
        sub = names.add_parser(
            name,
            help=doc.splitlines()[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)


def run(args):
    """`main(args)` of the benchmark; returns its results."""
    from keras_specnet import bench

    module = importlib.import_module(bench.BENCHMARKS[args.benchmark])
    try:
        return module.main(args)
    except Exception as error:
        if _common.is_data_error(error):
            raise _common.fail(f"bench {args.benchmark}", error) from None
        raise
