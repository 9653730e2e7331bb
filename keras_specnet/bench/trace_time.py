"""First-step (trace) time of a SpecNet model against `batch_chunks`.

Each slice of `batch_chunks` adds its own ops to the training step's graph,
in the forward pass and in the backward pass's recomputation, so the first
`train_on_batch` of a model (tracing, graph optimisation and one step) takes
longer with more slices. This measures it: SpecVGG16 (`--width`,
`fc_units=256`, 32x32x3 inputs, batch 64) with each `--chunks` value and,
for reference, the spatial VGG16, each run `--repeats` times in a fresh
process. Prints the medians of the first step and of the steps after it,
and their ratios to `batch_chunks=1` (or, without it, to the largest value).

    specnet bench trace-time --chunks 1 4 --repeats 3

Inputs are random normal images: what is timed is graph construction and
dense arithmetic, which do not depend on the pixel values. Results: see
docs/benchmarks/trace_time.md.
"""

import functools
import statistics
import time

from keras_specnet import _checks, _io
from keras_specnet.bench import runner

BATCH, SHAPE = 64, (32, 32, 3)


def _type(check, name, convert, **kwargs):
    return _checks.argparse_type(functools.partial(check, name, **kwargs), convert)


def add_arguments(parser):
    parser.add_argument(
        "--chunks",
        type=_type(_checks.integer, "chunks", int, minimum=0),
        nargs="+",
        default=[1, 4],
        help="batch_chunks values of SpecVGG16 (0: the spatial VGG16)",
    )
    parser.add_argument(
        "--width", type=_type(_checks.positive_number, "width", float), default=0.25
    )
    parser.add_argument(
        "--steps",
        type=_type(_checks.positive_int, "steps", int),
        default=3,
        help="steps timed after the first",
    )
    parser.add_argument("--repeats", type=_type(_checks.positive_int, "repeats", int), default=3)
    parser.add_argument("--output", default=None, help="write the results as JSON")


def measure(config):
    """`{"chunks", "width", "steps"}` -> `{"first_step_s", "step_s"}`.

    `chunks` 0 is the spatial VGG16, any other value SpecVGG16 with that
    `batch_chunks`.
    """
    import keras
    import numpy as np

    from keras_specnet import training
    from keras_specnet.applications import registry

    keras.utils.set_random_seed(0)
    kwargs = dict(input_shape=SHAPE, width=config["width"], fc_units=256)
    if config["chunks"] == 0:
        model = registry.build("vgg16", **kwargs)
    else:
        model = registry.build("spec_vgg16", batch_chunks=config["chunks"], **kwargs)
    training.compile_classifier(model, "sgd")
    x = np.random.default_rng(0).standard_normal((BATCH, *SHAPE)).astype("float32")
    y = np.arange(BATCH) % 10
    start = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - start
    times = []
    for _ in range(config["steps"]):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return {"first_step_s": first, "step_s": statistics.median(times)}


def _name(chunks):
    return "VGG16 (spatial)" if chunks == 0 else f"SpecVGG16 batch_chunks={chunks}"


def main(args):
    """Measure each configuration `--repeats` times; returns the results."""
    configs = [0] + sorted(set(args.chunks) - {0})
    runs = {c: [] for c in configs}
    for _ in range(args.repeats):  # interleaved, so that load drifts evenly
        for chunks in configs:
            config = {"chunks": chunks, "width": args.width, "steps": args.steps}
            runs[chunks].append(runner.isolated(__name__, config))
    medians = {
        c: {key: statistics.median(r[key] for r in runs[c]) for key in runs[c][0]} for c in configs
    }
    ref_chunks = 1 if 1 in medians else configs[-1]
    ref = medians[ref_chunks]
    ref_name = "VGG16" if ref_chunks == 0 else f"batch_chunks={ref_chunks}"
    print(
        f"SpecVGG16 width {args.width:g}, batch {BATCH}, "
        f"{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}; medians of {args.repeats} fresh "
        f"processes; ratios to {ref_name}"
    )
    rows = [
        (
            _name(c),
            f"{m['first_step_s']:.1f}",
            f"{m['first_step_s'] / ref['first_step_s']:.2f}x",
            f"{m['step_s']:.2f}",
            f"{m['step_s'] / ref['step_s']:.2f}x",
        )
        for c, m in medians.items()
    ]
    print(_io.format_table(("model", "first step s", "ratio", "step s", "ratio"), rows))
    results = {"arguments": runner.arguments(args), "runs": runs, "medians": medians}
    if args.output:
        print(f"wrote {_io.write_json(args.output, results)}")
    return results
