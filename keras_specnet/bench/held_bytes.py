"""Bytes a compiled training step holds for its backward pass, per cache mode.

Three 3x3 convolutions on 32x32x64 maps (batch 64), as SpectralConv2D with
spectral tanh and threshold `--beta` in each cache mode, and as
Conv2D + ReLU, each configuration measured in a fresh process with
`keras_specnet.memory.held_bytes` on random normal maps. Prints each
figure and its ratio to Conv2D.

    specnet bench held-bytes --beta 1.0

Random maps are a hard case for SpecNet (their spectra are not concentrated
like those of natural images); this is a check of the cache, not of a
trained network's sparsity.
"""

import functools

from keras_specnet import _checks, _io
from keras_specnet.bench import runner

#: The configurations, Conv2D (the reference of the ratios) first.
CONFIGS = ("conv2d", "none", "sparse_tensor", "bitmask", "bitmask+bfloat16")
SHAPE, WIDTH = (64, 32, 32, 64), 64


def add_arguments(parser):
    parser.add_argument(
        "--beta",
        type=_checks.argparse_type(functools.partial(_checks.non_negative_number, "beta"), float),
        default=1.0,
        help="threshold of the spectral layers (default 1.0)",
    )
    parser.add_argument("--output", default=None, help="write the results as JSON")


def _model(config):
    import keras

    from keras_specnet import training
    from keras_specnet.layers import SpectralConv2D

    inputs = keras.Input(SHAPE[1:])
    if config["config"] == "conv2d":
        x = inputs
        for _ in range(3):
            x = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu")(x)
    else:
        mode, _, dtype = config["config"].partition("+")
        kwargs = dict(
            beta=config["beta"],
            activation="spectral_tanh",
            cache=mode,
            cache_dtype=dtype or "float32",
        )
        z = SpectralConv2D(WIDTH, 3, **kwargs)(inputs)
        z = SpectralConv2D(WIDTH, 3, **kwargs)(z)
        x = SpectralConv2D(WIDTH, 3, output_domain="spatial", output_size=SHAPE[1:3], **kwargs)(z)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    return training.compile_classifier(model, "sgd")


def measure(config):
    """`{"config": one of CONFIGS, "beta": float}` -> `{"held_bytes": int}`."""
    import keras
    import numpy as np

    from keras_specnet import memory

    keras.utils.set_random_seed(0)
    model = _model(config)
    data = np.random.default_rng(0).standard_normal(SHAPE).astype("float32")
    return {"held_bytes": memory.held_bytes(model, data, np.arange(SHAPE[0]) % 2)}


def main(args):
    """Measure every configuration, print the table; returns the results."""
    results = {}
    for config in CONFIGS:
        out = runner.isolated(__name__, {"config": config, "beta": args.beta})
        results[config] = out["held_bytes"]
    base = results["conv2d"]
    print(f"beta={args.beta:g}, three 3x3 layers, {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}x{WIDTH}")
    rows = [
        (config, f"{held / 2**20:.2f}", f"{held / base:.2f}x" if base else "-")
        for config, held in results.items()
    ]
    print(_io.format_table(("configuration", "held MiB", "vs Conv2D"), rows))
    output = {"arguments": runner.arguments(args), "held_bytes": results}
    if args.output:
        print(f"wrote {_io.write_json(args.output, output)}")
    return output
