"""Speed and memory of ButterflyFusion against Conv2D(n, 1), per base.

For each channel count n, `Conv2D(n, 1)`, `Dense(n)` (the same maths as
one matmul, for reference) and `ButterflyFusion(n, base)` for each base
on a (batch, 32, 32, n) input (batch 32 by default): the
median time of a compiled forward and backward pass (the gradients of a
fixed random projection of the output with respect to the input and the
weights), the bytes a compiled training step holds for its backward pass
(`keras_specnet.memory.held_bytes`, a model of that one layer and a
mean-squared-error loss), multiply-adds of a forward pass and parameters.
Every configuration runs in a fresh process; ratios are to Conv2D in the
same run.

    specnet bench butterfly --sizes 64 128 256 512 1024 --bases 2 4 8 16 32 64
"""

from keras_specnet import _io
from keras_specnet.bench import runner

MODULE = "keras_specnet.bench.butterfly"


def add_arguments(parser):
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[64, 128, 256, 512, 1024],
        help="channel counts n (input and output)",
    )
    parser.add_argument(
        "--bases",
        type=int,
        nargs="+",
        default=[2, 4, 8, 16, 32, 64],
        help="butterfly bases (the largest radix of a stage)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--spatial", type=int, default=32, help="height = width")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls (median)")
    parser.add_argument(
        "--autodiff",
        action="store_true",
        help="also time ButterflyFusion(recompute=False), plain autodiff",
    )
    parser.add_argument("--output", default=None, help="write the results as JSON")


def measure(config):
    """One configuration, in this process: a dict of figures."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_specnet import memory, utils
    from keras_specnet.layers import ButterflyFusion

    keras.utils.set_random_seed(0)
    n, side, batch = config["n"], config["spatial"], config["batch_size"]
    shape = (batch, side, side, n)
    if config["layer"] == "conv2d":
        layer = keras.layers.Conv2D(n, 1, name="fusion")
    elif config["layer"] == "dense":
        layer = keras.layers.Dense(n, name="fusion")
    else:
        layer = ButterflyFusion(
            n, base=config["base"], recompute=config["recompute"], name="fusion"
        )
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(shape, dtype="float32"))
    upstream = tf.constant(rng.standard_normal(shape, dtype="float32"))

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) * upstream)
        return tape.gradient(loss, [x, *layer.trainable_variables])

    def run():
        # Reading one value waits for the whole step.
        return float(forward_backward(x)[0][0, 0, 0, 0])

    seconds = runner.median_seconds(run, config["repeats"], warmup=2)
    held = memory.held_bytes(model, x, upstream)
    result = dict(config)
    result.update(
        seconds=seconds,
        held_bytes=held,
        multiply_adds=utils.count_flops(model),
        params=int(model.count_params()),
        radices=list(getattr(layer, "radices", ())),
    )
    return result


def configs(args):
    """Conv2D and one configuration per distinct butterfly plan, for each n.

    Bases that give the same radices at some n (16, 32 and 64 all give
    16 x 8 at n = 128) are one configuration, measured once and listed
    with all its bases.
    """
    from keras_specnet.layers.butterfly_fusion import plan_radices

    common = dict(spatial=args.spatial, batch_size=args.batch_size, repeats=args.repeats)
    for n in args.sizes:
        yield dict(common, n=n, layer="conv2d", base=None, bases=[], recompute=None)
        yield dict(common, n=n, layer="dense", base=None, bases=[], recompute=None)
        plans = {}
        for base in sorted(set(args.bases)):
            plans.setdefault(plan_radices(n, base), []).append(base)
        for bases in plans.values():
            for recompute in [True, False] if args.autodiff else [True]:
                yield dict(
                    common,
                    n=n,
                    layer="butterfly",
                    base=bases[0],
                    bases=bases,
                    recompute=recompute,
                )


def table(results):
    header = (
        "n",
        "layer",
        "radices",
        "MMACs",
        "params",
        "fwd+bwd ms",
        "vs conv",
        "held MiB",
        "held vs conv",
    )
    rows = []
    conv = {r["n"]: r for r in results if r["layer"] == "conv2d"}
    for r in results:
        base = conv[r["n"]]
        if r["layer"] == "conv2d":
            name = "Conv2D(n, 1)"
        elif r["layer"] == "dense":
            name = "Dense(n) (same matmul)"
        else:
            name = "BFT base " + "/".join(str(b) for b in r["bases"])
            name += "" if r["recompute"] else " autodiff"
            name += " (1 stage: dense)" if len(r["radices"]) == 1 else ""
        rows.append(
            (
                r["n"],
                name,
                "x".join(str(v) for v in r["radices"]) or "-",
                f"{r['multiply_adds'] * r['batch_size'] / 1e6:,.0f}",
                f"{r['params']:,}",
                f"{1e3 * r['seconds']:.1f}",
                f"{r['seconds'] / base['seconds']:.2f}x",
                f"{r['held_bytes'] / 2**20:.2f}",
                f"{r['held_bytes'] / base['held_bytes']:.2f}x" if base["held_bytes"] else "-",
            )
        )
    return _io.format_table(header, rows)


def best_bases(results):
    """n -> the bases with the shortest time (recomputing butterflies of at
    least 2 stages only: one stage is a dense matmul)."""
    best = {}
    for r in results:
        if r["layer"] == "butterfly" and r["recompute"] and len(r["radices"]) > 1:
            if r["n"] not in best or r["seconds"] < best[r["n"]]["seconds"]:
                best[r["n"]] = r
    return {n: "/".join(str(b) for b in r["bases"]) for n, r in best.items()}


def main(args):
    results = []
    for config in configs(args):
        result = runner.isolated(MODULE, config)
        results.append(result)
        print(
            f"n={config['n']:5d} {config['layer']:9s} bases={config['bases']} "
            f"{1e3 * result['seconds']:9.1f} ms  {result['held_bytes'] / 2**20:8.2f} MiB",
            flush=True,
        )
    print()
    print(
        f"forward + backward of one layer on ({args.batch_size}, {args.spatial}, "
        f"{args.spatial}, n) float32 inputs, median of {args.repeats}; MMACs "
        "for the whole batch"
    )
    print(table(results))
    print()
    fastest = ", ".join(f"{n}: {b}" for n, b in best_bases(results).items())
    print(f"fastest bases per n (2 stages or more): {fastest}")
    if args.output:
        print(f"wrote {_io.write_json(args.output, results)}")
    return results
