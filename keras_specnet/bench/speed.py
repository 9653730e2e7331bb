"""Training-step time of SpecNet blocks and models against their spatial twins.

    specnet bench speed --suite layers --output runs/speed_layers.json

`--suite layers`: `applications.blocks.spectral_block` (two 3x3
`SpectralConv2D`, threshold `--beta`, spectral tanh, the first taking the
real input and doing the FFT, a `ToSpatial` with the fused 2x2 max pooling)
against `blocks.conv_block` (two `Conv2D` + ReLU) and a `MaxPooling2D`, per
`--shapes` and `--batch-sizes`: a compiled `tf.function` computing the
gradients of the sum of the outputs w.r.t. the input and the weights.
`--suite models`: compiled `train_on_batch` of SpecLeNet5 / LeNet5,
SpecVGG16 / VGG16 per `--widths` and SpecDenseNet / DenseNet. `--suite
breakdown`: the spectral block's step and each of its pieces (FFTs, kernel
spectra, products, threshold and activation, cache, pooling, recomputed
forward) timed alone on the block's real shapes. `--jit-compile` adds, in
`models`, each model compiled with XLA, timed against the spatial model
compiled without it.

Each configuration runs in a fresh process timing `--steps` steps after
`--warmup` (median); configurations are interleaved over `--repeats`
rounds and the median over the rounds is reported, with each spectral
figure's ratio to its spatial twin. Inputs are random with a fixed seed
(`--dataset` for real images in `models`): the time depends on the values
only through the entries the threshold zeroes. See docs/benchmarks/speed.md.
"""

import functools
import os
import platform
import statistics
import time

from keras_specnet import _checks, _io
from keras_specnet.bench import runner

MODULE = "keras_specnet.bench.speed"
SUITES = ("layers", "models", "breakdown")
SHAPES = ("32x32x64", "16x16x128", "8x8x256", "4x4x512")
CACHES = (
    "bitmask",
    "bitmask+bfloat16",
    "sparse_tensor",
    "sparse_tensor+bfloat16",
    "none",
    "block",
)
FAMILIES = ("lenet5", "vgg16", "densenet")
DATASETS = ("random", "fashion_mnist")
#: family -> (spatial, spectral, input shape)
MODELS = {
    "lenet5": ("lenet5", "spec_lenet5", (28, 28, 1)),
    "vgg16": ("vgg16", "spec_vgg16", (32, 32, 3)),
    "densenet": ("densenet", "spec_densenet", (32, 32, 3)),
}


def _type(check, name, convert, **kwargs):
    return _checks.argparse_type(functools.partial(check, name, **kwargs), convert)


def parse_shape(text):
    """`"HxWxC"` -> `(H, W, C)`, or a `ValueError` naming `--shapes`."""
    parts = str(text).lower().split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise _checks.invalid("shapes", "HxWxC with three positive integers", text)
    return shape


def add_arguments(parser):
    def pos(name):
        return _type(_checks.positive_int, name, int)

    def num(name, check=_checks.non_negative_number):
        return _type(check, name, float)

    width = num("widths", _checks.positive_number)
    options = [
        ("--suite", dict(choices=SUITES, default="layers")),
        ("--shapes", dict(nargs="+", type=_checks.argparse_type(parse_shape, str),
                          default=[parse_shape(s) for s in SHAPES], metavar="HxWxC",
                          help="block inputs (layers, breakdown); default: " + " ".join(SHAPES))),
        ("--batch-sizes", dict(nargs="+", type=pos("batch_sizes"), default=[64, 128],
                               help="(layers, breakdown)")),
        ("--beta", dict(type=num("beta"), default=0.01, help="the block's threshold")),
        ("--cache", dict(nargs="+", choices=CACHES, default=["bitmask"],
                         help="the spectral layers' cache, one configuration each ('block': "
                              "each block one fused layer; not breakdown)")),
        ("--batch-chunks", dict(type=_checks.chunks_argument(), default=None,
                                help="batch_chunks of the spectral layers (default: "
                                     "each builder's own)")),
        ("--models", dict(nargs="+", choices=FAMILIES, default=list(FAMILIES))),
        ("--widths", dict(nargs="+", type=width, default=[0.25, 0.5, 1.0], help="of VGG16")),
        ("--densenet-width", dict(type=width, default=0.5)),
        ("--model-beta", dict(type=num("model_beta"), default=None,
                              help="threshold of the spectral models (default: the builder's)")),
        ("--batch-size", dict(type=pos("batch_size"), default=64, help="(models)")),
        ("--dataset", dict(choices=DATASETS, default="random",
                           help="(models) random or real images, resized to the model's input")),
        ("--data-dir", dict(default=None)),
        ("--steps", dict(type=pos("steps"), default=10, help="timed steps per process")),
        ("--warmup", dict(type=_type(_checks.integer, "warmup", int, minimum=0), default=3,
                          help="untimed steps before them (the first one traces)")),
        ("--jit-compile", dict(action="store_true",
                               help="(models) also time each model compiled with "
                                    "jit_compile=True (XLA); ratios stay to the spatial "
                                    "model without it")),
        ("--repeats", dict(type=pos("repeats"), default=3, help="interleaved rounds")),
        ("--seed", dict(type=int, default=0)),
        ("--output", dict(default=None, help="write the results as JSON")),
    ]  # fmt: skip
    for flag, kwargs in options:
        parser.add_argument(flag, **kwargs)


# --------------------------------------------------------------------------
# In the child process.


def _cache_args(config):
    mode, _, dtype = config["cache"].partition("+")
    args = {"cache": mode, "cache_dtype": dtype or "float32"}
    if config["batch_chunks"] is not None:
        args["batch_chunks"] = config["batch_chunks"]
    return args


def _block(config):
    """The block of a `layers` configuration as a `keras.Model`."""
    import keras

    from keras_specnet.applications import blocks

    keras.utils.set_random_seed(config["seed"])
    h, w, c = config["shape"]
    inputs = keras.Input((h, w, c))
    convs = [(c, 3), (c, 3)]
    if config["kind"] == "spectral":
        x = blocks.spectral_block(
            inputs, convs, config["beta"], pool=(2, 2), name="block", **_cache_args(config)
        )
    else:
        x = blocks.conv_block(inputs, convs, name="block")
        x = keras.layers.MaxPooling2D(2, 2, padding="same", name="block_pool")(x)
    return keras.Model(inputs, x)


def _gradient_step(model):
    """A compiled forward + backward pass: gradients of the outputs' sum."""
    import tensorflow as tf

    weights = model.trainable_variables

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(model(x, training=True))
        return tape.gradient(loss, [x, *weights])

    return step


def _random_images(config, shape):
    import numpy as np

    rng = np.random.default_rng(config["seed"])
    x = rng.standard_normal((config["batch_size"], *shape), dtype="float32")
    return x, rng.integers(0, 10, config["batch_size"])


def _real_images(config, shape):
    """`batch_size` training images of `--dataset`, as `shape` float32 arrays."""
    from keras_specnet import datasets

    ds = datasets.load(
        config["dataset"],
        "train",
        batch_size=config["batch_size"],
        shuffle=False,
        augment=False,
        data_dir=config["data_dir"],
        limit=config["batch_size"],
    )
    x, y = next(iter(ds))
    return datasets.to_shape(x, shape).numpy(), y.numpy()


def _time_block(config):
    import tensorflow as tf

    model = _block(config)
    x = tf.constant(_random_images(config, config["shape"])[0])
    step = _gradient_step(model)
    # Reading one value waits for the whole step.
    return runner.median_seconds(
        lambda: float(step(x)[0][0, 0, 0, 0]), config["steps"], config["warmup"]
    )


def _time_model(config):
    import keras

    from keras_specnet import training
    from keras_specnet.applications import registry

    keras.utils.set_random_seed(config["seed"])
    kwargs = dict(config["model_args"], input_shape=tuple(config["input_shape"]))
    if config["kind"] == "spectral":
        kwargs.update(_cache_args(config))
        if config["beta"] is not None:
            kwargs["beta"] = config["beta"]
    model = training.compile_classifier(
        registry.build(config["model"], **kwargs),
        "adam",
        jit_compile=bool(config.get("jit_compile")),
    )
    images = _random_images if config["dataset"] == "random" else _real_images
    x, y = images(config, config["input_shape"])
    return runner.median_seconds(
        lambda: model.train_on_batch(x, y), config["steps"], config["warmup"]
    )


def measure(config):
    """One configuration in this process: `{"step_s", ...}`, the median step
    time, and for "breakdown" `"pieces"`, the median time of each piece."""
    import keras
    import tensorflow as tf

    result = {"tensorflow": tf.__version__, "keras": keras.__version__}
    if config["suite"] == "models":
        result["step_s"] = _time_model(config)
    elif config["suite"] == "layers":
        result["step_s"] = _time_block(config)
    else:
        result["step_s"] = _time_block(dict(config, kind="spectral"))
        from keras_specnet.bench import speed_breakdown

        result["pieces"] = speed_breakdown.pieces(dict(config, kind="spectral"))
    return result


# --------------------------------------------------------------------------
# In the parent process.


def _shape_text(shape):
    return "x".join(str(v) for v in shape)


def configs(args):
    """The configurations of `args.suite`, in the order of one round.

    Each is a JSON-ready dict with a `pair` (what its ratio is taken
    within) and a `kind` ("spatial" first, then "spectral").
    """
    names = ("suite", "steps", "warmup", "seed", "batch_chunks")
    common = {name: getattr(args, name) for name in names}
    caches = list(dict.fromkeys(args.cache))
    if args.suite == "breakdown" and "block" in caches:
        raise _checks.invalid(
            "cache", "layer cache modes for --suite breakdown (it times each layer)", args.cache
        )
    if args.suite == "models":
        data = dict(batch_size=args.batch_size, dataset=args.dataset, data_dir=args.data_dir)
        for family in args.models:
            spatial, spectral, shape = MODELS[family]
            widths = {"vgg16": args.widths, "densenet": [args.densenet_width]}.get(family, [None])
            for width in widths:
                model_args = {} if width is None else {"width": width}
                if family == "vgg16":
                    model_args["fc_units"] = 256
                pair = spectral if width is None else f"{spectral} w={width:g}"
                extra = dict(model_args=model_args, input_shape=list(shape), **data)
                for jit in [False, True] if args.jit_compile else [False]:
                    yield dict(common, pair=pair, kind="spatial", model=spatial, beta=None,
                               cache=None, jit_compile=jit, **extra)  # fmt: skip
                    for cache in caches:
                        yield dict(common, pair=pair, kind="spectral", model=spectral,
                                   beta=args.model_beta, cache=cache, jit_compile=jit,
                                   **extra)  # fmt: skip
        return
    kinds = ("spatial", "spectral") if args.suite == "layers" else ("spectral",)
    for shape in args.shapes:
        for batch in args.batch_sizes:
            pair = dict(common, pair=f"{_shape_text(shape)} batch {batch}", beta=args.beta)
            for kind in kinds:
                for cache in caches if kind == "spectral" else [None]:
                    yield dict(pair, kind=kind, cache=cache, shape=list(shape), batch_size=batch)


def interleave(configs, repeats, run):
    """`run(config)` for every config, once per round over `repeats` rounds.

    Returns one list of results per config (in the order of `configs`).
    """
    runs = [[] for _ in configs]
    for _ in range(repeats):
        for i, config in enumerate(configs):
            runs[i].append(run(config))
    return runs


def summarise(configs, runs):
    """One entry per config: the config, its runs, the medians and the ratio.

    `step_s` (and each of `pieces`) is the median over the rounds; `ratio`
    is an entry's `step_s` over that of the spatial entry of its pair
    compiled without XLA (None for that entry and pairs without one).
    """
    entries = []
    for config, results in zip(configs, runs):
        entry = dict(config, runs=results)
        entry["step_s"] = statistics.median(r["step_s"] for r in results)
        if "pieces" in results[0]:
            pieces = [[r["pieces"][name] for r in results] for name in results[0]["pieces"]]
            entry["pieces"] = {
                name: None if None in values else statistics.median(values)
                for name, values in zip(results[0]["pieces"], pieces)
            }
        entries.append(entry)
    spatial = {
        e["pair"]: e["step_s"]
        for e in entries
        if e["kind"] == "spatial" and not e.get("jit_compile")
    }
    for e in entries:
        base = spatial.get(e["pair"])
        compared = e["kind"] == "spectral" or e.get("jit_compile")
        e["ratio"] = e["step_s"] / base if compared and base else None
    return entries


def _name(entry):
    if entry["suite"] == "models":
        width = entry["model_args"].get("width")
        name = entry["model"] if width is None else f"{entry['model']} w={width:g}"
    else:
        name = f"{entry['kind']} {_shape_text(entry['shape'])}"
    name = name if entry.get("cache") is None else f"{name} {entry['cache']}"
    return f"{name} xla" if entry.get("jit_compile") else name


def table(entries):
    """Step times (ms) and ratios to the spatial twin, one row per config."""
    rows = []
    for e in entries:
        batch = e["batch_size"]
        ratio = "-" if e["ratio"] is None else f"{e['ratio']:.2f}x"
        rows.append((_name(e), batch, f"{1e3 * e['step_s']:.2f}", ratio))
    return _io.format_table(("configuration", "batch", "step ms", "vs spatial"), rows)


def breakdown_table(entry):
    """The pieces of one breakdown entry: ms and share of the whole step."""
    whole = entry["step_s"]
    rows, total = [], 0.0
    for name, seconds in entry["pieces"].items():
        if seconds is None:
            rows.append((name, "n/a", "-"))
            continue
        total += seconds
        rows.append((name, f"{1e3 * seconds:.2f}", f"{100 * seconds / whole:.0f}%"))
    for name, seconds in (("sum of the pieces", total), ("rest (step - sum)", whole - total)):
        rows.append((name, f"{1e3 * seconds:.2f}", f"{100 * seconds / whole:.0f}%"))
    rows.append(("whole step", f"{1e3 * whole:.2f}", "100%"))
    return _io.format_table(("piece", "ms", "share"), rows)


def machine(results):
    """The machine and versions behind `results` (a child's first result)."""
    import datetime

    import keras_specnet

    first = results[0] if results else {}
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return dict(
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        tensorflow=first.get("tensorflow"),
        keras=first.get("keras"),
        keras_specnet=keras_specnet.__version__,
        date=now,
    )


def main(args):
    """Run the suite; print the tables and the wall time; returns the results."""
    start = time.perf_counter()
    if args.suite == "models" and args.dataset != "random":
        runner.require_data(args.dataset, args.data_dir, ("train",))
    todo = list(configs(args))

    def run(config):
        out = runner.isolated(MODULE, config)
        print(f"  {config['pair']} {config['kind']}: {1e3 * out['step_s']:.2f} ms", flush=True)
        return out

    entries = summarise(todo, interleave(todo, args.repeats, run))
    wall = time.perf_counter() - start
    how = (
        "compiled model.train_on_batch (Adam)"
        if args.suite == "models"
        else "compiled tf.function: gradients of sum(outputs) w.r.t. inputs and weights"
    )
    chunks = "the builders' defaults" if args.batch_chunks is None else args.batch_chunks
    print(
        f"\n{args.suite}: {how}; median of {args.steps} steps after {args.warmup}, "
        f"median over {args.repeats} interleaved fresh-process rounds; batch_chunks {chunks}"
    )
    if args.suite == "breakdown":
        for e in entries:
            print(f"\nspectral block {e['pair']} (beta {args.beta:g}):")
            print(breakdown_table(e))
    else:
        print(table(entries))
    print(f"\nwall time {wall:.1f} s")
    results = {
        "machine": machine([r for e in entries for r in e["runs"]]),
        "arguments": runner.arguments(args),
        "method": how,
        "entries": entries,
        "wall_s": wall,
    }
    if args.output:
        print(f"wrote {_io.write_json(args.output, results)}")
    return results
