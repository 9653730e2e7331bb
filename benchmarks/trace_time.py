"""First-step (trace) time of a SpecNet model against `batch_chunks`.

Each slice of `batch_chunks` adds its own ops to the training step's graph,
in the forward pass and in the backward pass's recomputation, so the first
`train_on_batch` of a model (tracing, graph optimisation and one step) takes
longer with more slices. This measures it: SpecVGG16 (`--width`,
`fc_units=256`, 32x32x3 inputs, batch 64) with each `--chunks` value and,
for reference, the spatial VGG16, each run `--repeats` times in a fresh
process. Prints the medians of the first step and of the steps after it,
and their ratios to `batch_chunks=1`.

    python benchmarks/trace_time.py --chunks 1 4 --repeats 3

Inputs are random normal images: what is timed is graph construction and
dense arithmetic, which do not depend on the pixel values.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

BATCH, SHAPE = 64, (32, 32, 3)


def measure(chunks, width, steps):
    import keras
    import numpy as np

    from keras_specnet import applications

    keras.utils.set_random_seed(0)
    if chunks == 0:  # the spatial twin
        model = applications.VGG16(input_shape=SHAPE, width=width, fc_units=256)
    else:
        model = applications.SpecVGG16(
            input_shape=SHAPE, width=width, fc_units=256, batch_chunks=chunks
        )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).standard_normal((BATCH, *SHAPE)).astype("float32")
    y = np.arange(BATCH) % 10
    start = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return {"first_step_s": first, "step_s": statistics.median(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.strip(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, nargs="+", default=[1, 4],
                        help="batch_chunks values of SpecVGG16 (0: the spatial VGG16)")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=3, help="steps timed after the first")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", help="write the results as JSON")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.width, args.steps)))
        return
    if any(c < 0 for c in args.chunks):
        parser.error(f"--chunks: expected ints >= 0, received {args.chunks}")
    configs = [0] + sorted(set(args.chunks) - {0})
    runs = {c: [] for c in configs}
    for _ in range(args.repeats):  # interleaved, so that load drifts evenly
        for chunks in configs:
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(chunks), "--width", str(args.width),
                 "--steps", str(args.steps)],
                capture_output=True, text=True, check=True,
            )
            runs[chunks].append(json.loads(done.stdout.strip().splitlines()[-1]))
    rows = {
        c: {key: statistics.median(r[key] for r in runs[c]) for key in runs[c][0]}
        for c in configs
    }
    ref_chunks = 1 if 1 in rows else configs[-1]
    ref = rows[ref_chunks]
    ref_name = "VGG16" if ref_chunks == 0 else f"batch_chunks={ref_chunks}"
    print(f"SpecVGG16 width {args.width:g}, batch {BATCH}, {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}; "
          f"medians of {args.repeats} fresh processes; ratios to {ref_name}")
    print(f"{'model':24s} {'first step s':>12s} {'ratio':>6s} {'step s':>8s} {'ratio':>6s}")
    for c, row in rows.items():
        name = "VGG16 (spatial)" if c == 0 else f"SpecVGG16 batch_chunks={c}"
        print(f"{name:24s} {row['first_step_s']:12.1f} {row['first_step_s'] / ref['first_step_s']:5.2f}x"
              f" {row['step_s']:8.2f} {row['step_s'] / ref['step_s']:5.2f}x")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"args": vars(args), "runs": runs, "medians": rows}, f, indent=1)


if __name__ == "__main__":
    main()
