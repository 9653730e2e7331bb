"""Training memory and time of SpecNet against the spatial baselines.

    specnet bench memory --output runs/bench_memory.json

For each family (VGG-16, DenseNet) the benchmark first trains, each in a
fresh process and on the same real images, the spatial model and the
SpecNet twin at every `--betas` value, for `--train-steps` steps, and
records their test accuracy. Then, again one fresh process per
configuration, it loads those weights and measures on one batch of real
images, at each `--batch-sizes`:

- the spatial model (the baseline) and the one-line memory tools of Keras
  and TensorFlow applied to it: the `mixed_bfloat16` policy, every block
  wrapped in `tf.recompute_grad`, every layer built under
  `keras.RematScope(mode="full")`, and `mixed_bfloat16` with the blocks
  recomputed;
- the SpecNet twin in every `--sweep-caches` mode at every beta, and in
  every `--caches` mode at the first beta (`auto`: the builder's default,
  each block one `SpectralBlock` or `SpectralDenseBlock` where it can
  be; `block`: every block so, skipped with `--batch-norm`; otherwise a
  cache mode of every spectral layer);

each with `memory.held_bytes` (held from the forward to the backward
pass), `memory.step_peak` (the allocator's peak during a compiled step,
and that peak less what was resident before the step, medians over
`--repeats` steps), the median time of `--repeats` training steps and the
zero fraction of the spectra. With two
or more `--batch-sizes` it also reports per-sample memory: the slope of
the step's own bytes between the smallest and the largest batch, which
removes the weights, gradients and optimizer state and sets the largest
batch that fits. The same
measurements at initialisation (no training) follow, reported separately.
Every figure is also given as a ratio to the baseline of its family, batch
size and state. Images are Fashion-MNIST resized to 32x32x3 (offline) or
CIFAR-10 with `--dataset cifar10` where it can be downloaded.
"""

import argparse
import json
import os
import re
import tempfile

from keras_specnet import _checks, _io
from keras_specnet.bench import memory_child, runner

FAMILIES = {
    "vgg16": ("vgg16", "spec_vgg16", {"width": 0.25, "fc_units": 256}),
    "densenet": ("densenet", "spec_densenet", {"width": 0.25}),
}
PEERS = (
    "baseline",
    "mixed_bfloat16",
    "recompute_grad",
    "remat_scope",
    "mixed_bfloat16+recompute_grad",
)
CACHES = (
    "auto",
    "block",
    "none",
    "sparse_tensor",
    "bitmask",
    "bitmask+bfloat16",
    "bitmask+int8",
    "bitmask+int4",
)
BETAS = (0.5, 0.7, 1.0, 1.5)
DATASETS = ("fashion_mnist", "cifar10")


def add_arguments(parser):
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--betas", nargs="+", type=float, default=list(BETAS))
    parser.add_argument(
        "--caches",
        nargs="+",
        choices=CACHES,
        default=["auto", "none", "sparse_tensor", "bitmask", "bitmask+bfloat16"],
        help="cache modes measured at the first of --betas",
    )
    parser.add_argument(
        "--sweep-caches",
        nargs="+",
        choices=CACHES,
        default=["auto", "bitmask"],
        help="cache modes measured at every beta",
    )
    parser.add_argument(
        "--batch-chunks",
        type=_checks.chunks_argument(),
        default=None,
        help="batch_chunks of the spectral layers (see SpectralConv2D); default: "
        "each builder's own",
    )
    parser.add_argument(
        "--compare-chunks",
        nargs="*",
        type=_checks.chunks_argument(),
        default=[1],
        help="extra bitmask configurations at the first of --betas with these "
        "batch_chunks, to show what the slicing saves (none: skip)",
    )
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--dataset", choices=DATASETS, default="fashion_mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--train-steps",
        type=int,
        default=150,
        help="training steps (batch 64, Adam) before the trained measurements; "
        "0 measures at initialisation only",
    )
    parser.add_argument(
        "--learning-rate",
        type=_checks.argparse_type(lambda v: _checks.positive_number("learning_rate", v), float),
        default=1e-3,
        help="Adam's learning rate in the training (VGG16 without batch normalisation "
        "needs 1e-4 to train for more than a few hundred steps)",
    )
    parser.add_argument(
        "--train-epochs",
        type=_checks.argparse_type(lambda v: _checks.integer("train_epochs", v, 0), int),
        default=0,
        help="instead of --train-steps: epochs over the whole training split, with the "
        "test accuracy after each one",
    )
    parser.add_argument(
        "--eval-examples", type=int, default=2000, help="test images for the accuracy"
    )
    parser.add_argument(
        "--init",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure at initialisation (--no-init to skip)",
    )
    parser.add_argument("--init-batch-sizes", nargs="+", type=int, default=[64])
    parser.add_argument(
        "--width", type=float, default=0.25, help="width multiplier of both families"
    )
    parser.add_argument(
        "--batch-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="batch normalisation in both models of each family (spectral: "
        "SpectralBatchNormalization); default: each builder's own",
    )
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="measure every configuration compiled with jit_compile=True (XLA); "
        "the training before is compiled without it",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="measured and timed steps per config (medians of each)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="where trained weights go")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the models that an earlier run with the same --workdir trained "
        "(their weights and training figures there) instead of training them again",
    )
    parser.add_argument("--output", default=None, help="write every figure as JSON")


# --------------------------------------------------------------------------
# In the parent process.


def _label(entry):
    if entry["beta"] is None:
        if entry["peer"] == "baseline":
            return entry["model"]
        return f"{entry['model']} {entry['peer']}"
    label = f"{entry['model']} b={entry['beta']:g} {entry['cache']}"
    chunks = entry.get("batch_chunks")
    return label if chunks is None else f"{label} /{chunks}"


def _ratio(value, base):
    return "-" if value is None or not base else f"{value / base:.2f}x"


def _table(entries, accuracies):
    header = (
        "configuration",
        "acc",
        "held MiB",
        "held",
        "peak MiB",
        "peak",
        "step",
        "time",
        "zeros",
    )
    rows = []
    for e in entries:
        b = e["baseline"]
        acc = accuracies.get(e["trained_as"])
        rows.append(
            (
                _label(e),
                "-" if acc is None else f"{acc:.4f}",
                f"{e['held_bytes'] / 2**20:.1f}",
                _ratio(e["held_bytes"], b["held_bytes"]),
                f"{e['peak_bytes'] / 2**20:.1f}",
                _ratio(e["peak_bytes"], b["peak_bytes"]),
                _ratio(e["step_bytes"], b["step_bytes"]),
                _ratio(e["step_seconds"], b["step_seconds"]),
                "-" if e["zero_fraction"] is None else f"{e['zero_fraction']:.3f}",
            )
        )
    return _io.format_table(header, rows)


def per_sample(entries):
    """Per-sample step bytes of each configuration: the slope between batch sizes.

    `entries` are measurements of one family and state; returns a list of
    `(label, bytes_per_sample, ratio_to_the_first)` in the order of the
    configurations, from the smallest and the largest batch size measured.
    """
    by_label = {}
    for e in entries:
        by_label.setdefault(_label(e), {})[e["batch_size"]] = e["step_bytes"]
    slopes = []
    for label, steps in by_label.items():
        small, large = min(steps), max(steps)
        if large > small:
            slopes.append((label, (steps[large] - steps[small]) / (large - small)))
    base = slopes[0][1] if slopes else None
    return [(label, slope, slope / base if base else None) for label, slope in slopes]


def _per_sample_table(entries):
    rows = [
        (label, f"{slope / 1024:.1f}", "-" if ratio is None else f"{ratio:.2f}x")
        for label, slope, ratio in per_sample(entries)
    ]
    return _io.format_table(("configuration", "per-sample KiB", "per-sample"), rows)


def _model_args(args, family_args):
    """The family's builder arguments with the command line's width and BN."""
    extra = {} if args.batch_norm is None else {"batch_norm": args.batch_norm}
    return dict(family_args, width=args.width, **extra)


def _configs(args, family, trained):
    spatial, spectral, model_args = FAMILIES[family]
    model_args = _model_args(args, model_args)
    for peer in ["baseline"] + [p for p in args.peers if p != "baseline"]:
        yield {
            "model": spatial,
            "model_args": model_args,
            "peer": peer,
            "beta": None,
            "cache": None,
            "trained_as": spatial if trained else None,
        }
    for i, beta in enumerate(args.betas):
        caches = args.caches if i == 0 else []
        spec = {
            "model": spectral,
            "model_args": model_args,
            "peer": "baseline",
            "beta": beta,
            "trained_as": f"{spectral}@{beta:g}" if trained else None,
        }
        for cache in caches + [c for c in args.sweep_caches if c not in caches]:
            if cache == "block" and args.batch_norm:
                continue
            chunks = None if cache == "none" else args.batch_chunks
            yield dict(spec, cache=cache, batch_chunks=chunks)
        if i == 0:
            for chunks in args.compare_chunks:
                if chunks != args.batch_chunks:
                    yield dict(spec, cache="bitmask", batch_chunks=chunks)


def main(args):
    workdir = args.workdir or tempfile.mkdtemp(prefix="specnet-bench-")
    os.makedirs(workdir, exist_ok=True)
    common = {"dataset": args.dataset, "data_dir": args.data_dir, "seed": args.seed}
    trains = args.train_steps > 0 or args.train_epochs > 0
    runner.require_data(args.dataset, args.data_dir, ("train", "test") if trains else ("train",))
    results = {"arguments": runner.arguments(args), "training": {}, "measurements": []}
    accuracies = {}

    if trains:
        budget = (
            f"{args.train_epochs} epoch(s) of the {args.dataset} training split"
            if args.train_epochs
            else f"{args.train_steps} steps of 64 {args.dataset} images"
        )
        print(f"Training {budget} per model (batch 64, Adam {args.learning_rate:g})...")
        for family in args.families:
            spatial, spectral, model_args = FAMILIES[family]
            model_args = _model_args(args, model_args)
            runs = [(spatial, None)] + [(spectral, beta) for beta in args.betas]
            for model, beta in runs:
                key = model if beta is None else f"{model}@{beta:g}"
                config = dict(
                    common,
                    task="train",
                    model=model,
                    model_args=model_args,
                    beta=beta,
                    train_steps=args.train_steps,
                    train_epochs=args.train_epochs,
                    learning_rate=args.learning_rate,
                    eval_examples=args.eval_examples,
                    save_to=os.path.join(workdir, f"{key}.weights.npz"),
                )
                record = os.path.join(workdir, f"{key}.training.json")
                if args.resume and os.path.exists(record) and os.path.exists(config["save_to"]):
                    with open(record) as f:
                        out = json.load(f)
                    print(f"  {key}: trained by an earlier run in {workdir}")
                else:
                    out = runner.isolated(memory_child.__name__, config)
                    _io.write_json(record, out)
                results["training"][key] = out
                accuracies[key] = out["accuracy"]
                curve = " ".join(f"{a:.4f}" for a in out["epoch_accuracy"])
                print(
                    f"  {key:24s} test accuracy {out['accuracy']:.4f} "
                    f"({out['train_seconds']:.0f} s)" + (f"; by epoch {curve}" if curve else ""),
                    flush=True,
                )
                _save(args, results)

    states = [("trained", args.batch_sizes)] if trains else []
    if args.init or not trains:
        states.append(("init", args.init_batch_sizes))
    for state, batch_sizes in states:
        for family in args.families:
            family_entries = []
            for batch_size in batch_sizes:
                entries, base = [], None
                for config in _configs(args, family, state == "trained"):
                    weights = (
                        os.path.join(workdir, f"{config['trained_as']}.weights.npz")
                        if config["trained_as"]
                        else None
                    )
                    child = dict(
                        common,
                        **config,
                        task="measure",
                        batch_size=batch_size,
                        repeats=args.repeats,
                        weights=weights,
                        jit_compile=args.jit_compile,
                    )
                    try:
                        out = runner.isolated(memory_child.__name__, child)
                    except RuntimeError as error:
                        if base is None:
                            raise
                        # A peer that cannot run is reported, not fatal: with
                        # the TensorFlow backend, Keras's RematScope fails
                        # in a compiled step (its tf.custom_gradient takes
                        # no keyword arguments, such as `training=`, in
                        # graph mode).
                        reason = _failure(str(error))
                        results.setdefault("failures", []).append(
                            dict(config, state=state, family=family, batch_size=batch_size,
                                 error=reason)
                        )  # fmt: skip
                        print(f"  {state} batch {batch_size}: {_label(config)}: failed: {reason}")
                        continue
                    entry = dict(config, **out, state=state, family=family, batch_size=batch_size)
                    base = base or entry
                    entry["baseline"] = {
                        k: base[k]
                        for k in ("held_bytes", "peak_bytes", "step_bytes", "step_seconds")
                    }
                    entries.append(entry)
                    print(
                        f"  {state} batch {batch_size}: {_label(entry)}: held "
                        f"{entry['held_bytes'] / 2**20:.1f} MiB, peak "
                        f"{entry['peak_bytes'] / 2**20:.1f} MiB, step "
                        f"{entry['step_seconds']:.3f} s",
                        flush=True,
                    )
                results["measurements"].extend(entries)
                _save(args, results)
                family_entries.extend(entries)
                print(f"\n{family}, {state}, batch {batch_size} (ratios to {entries[0]['model']}):")
                print(_table(entries, accuracies if state == "trained" else {}), flush=True)
                print()
            if len(set(batch_sizes)) > 1:
                slopes = per_sample(family_entries)
                results.setdefault("per_sample", []).extend(
                    {"family": family, "state": state, "configuration": label, "bytes": slope}
                    for label, slope, _ in slopes
                )
                print(
                    f"{family}, {state}, per-sample memory (step bytes, batch "
                    f"{min(batch_sizes)} to {max(batch_sizes)}):"
                )
                print(_per_sample_table(family_entries), flush=True)
                print()
    results["accuracy"] = accuracies
    if args.output:
        print(f"Wrote {_save(args, results)}")
    return results


def _failure(message):
    """The most telling line of a failed child's stderr: the last one naming an error."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in message.splitlines()]
    lines = [line for line in lines if line]
    telling = [line for line in lines if "rror" in line or "supports" in line]
    return (telling or lines or ["unknown"])[-1]


def _save(args, results):
    """Write what is measured so far to `--output`, if given (a stopped run keeps it)."""
    return _io.write_json(args.output, results) if args.output else None
