"""Bytes a compiled training step holds for its backward pass: cache modes.

Three 3x3 convolutions on 32x32x64 maps (batch 64), as SpectralConv2D with
spectral tanh and threshold `--beta` in each cache mode, and as
Conv2D + ReLU, each configuration measured in a fresh process with
`keras_specnet.memory.held_bytes` on random normal maps. Prints each
figure and its ratio to Conv2D.

    python benchmarks/held_bytes.py --beta 1.0

Random maps are a hard case for SpecNet (their spectra are not concentrated
like those of natural images); this is a check of the cache, not of a
trained network's sparsity.
"""

import argparse
import json
import subprocess
import sys

CONFIGS = ["conv2d", "none", "sparse_tensor", "bitmask", "bitmask+bfloat16"]
SHAPE, WIDTH = (64, 32, 32, 64), 64


def measure(config, beta):
    import keras
    import numpy as np

    from keras_specnet import memory
    from keras_specnet.layers import SpectralConv2D

    keras.utils.set_random_seed(0)
    inputs = keras.Input(SHAPE[1:])
    if config == "conv2d":
        x = inputs
        for _ in range(3):
            x = keras.layers.Conv2D(WIDTH, 3, padding="same", activation="relu")(x)
    else:
        mode, _, dtype = config.partition("+")
        kwargs = dict(
            beta=beta, activation="spectral_tanh", cache=mode, cache_dtype=dtype or "float32"
        )
        z = SpectralConv2D(WIDTH, 3, **kwargs)(inputs)
        z = SpectralConv2D(WIDTH, 3, **kwargs)(z)
        x = SpectralConv2D(
            WIDTH, 3, output_domain="spatial", output_size=SHAPE[1:3], **kwargs
        )(z)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    data = np.random.default_rng(0).standard_normal(SHAPE).astype("float32")
    return memory.held_bytes(model, data, np.arange(SHAPE[0]) % 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--config", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config:
        print(json.dumps({"config": args.config, "bytes": measure(args.config, args.beta)}))
        return
    results = {}
    for config in CONFIGS:
        done = subprocess.run(
            [sys.executable, __file__, "--config", config, "--beta", str(args.beta)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[config] = json.loads(done.stdout.strip().splitlines()[-1])["bytes"]
    base = results["conv2d"]
    print(f"beta={args.beta:g}, three 3x3 layers, {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}x{WIDTH}")
    print(f"{'configuration':18s} {'held MiB':>9s} {'vs Conv2D':>10s}")
    for config, held in results.items():
        print(f"{config:18s} {held / 2**20:9.2f} {held / base:9.2f}x")


if __name__ == "__main__":
    main()
