"""Per-layer spectra of a model on real images: RMS and zero fraction.

Shows where a threshold bites: for each layer of a model, on one batch of
test images, the RMS magnitude and the fraction of exact zeros of spectral
outputs, and the standard deviation of real ones. A `SpectralBlock`
(the builders' default `cache="auto"`) is reported by the spectrum after
each of its convolutions, under the convolution's name, then its output.

    specnet bench spectra --model spec_vgg16 --beta 0.1 \\
        --model-arg width=0.25 --model-arg fc_units=256

Runs the model in training mode (batch statistics for any batch
normalisation), at initialisation unless `--weights FILE.keras` is given,
in a fresh process.
"""

import functools

from keras_specnet import _checks, _io
from keras_specnet.bench import runner
from keras_specnet.cli import _common

_NAME = "bench spectra"


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a registry name (`specnet models`)")
    parser.add_argument(
        "--beta",
        type=_checks.argparse_type(functools.partial(_checks.non_negative_number, "beta"), float),
        default=None,
        help="spectral threshold (spectral models; default: the model's)",
    )
    _common.add_model_arg(parser, "extra builder argument, repeatable")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument(
        "--batch-size",
        type=_checks.argparse_type(functools.partial(_checks.positive_int, "batch_size"), int),
        default=64,
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--seed",
        type=_checks.argparse_type(functools.partial(_checks.integer, "seed"), int),
        default=0,
    )
    parser.add_argument("--weights", default=None, help="a .keras model to inspect")
    parser.add_argument("--output", default=None, help="write the figures as JSON")


def measure(config):
    """The figures of each layer after the input: `{"layers": [...]}`."""
    import keras

    from keras_specnet import datasets
    from keras_specnet.applications import registry
    from keras_specnet.layers import SpectralBlock

    keras.utils.set_random_seed(config["seed"])
    info = datasets.info(config["dataset"])
    if config["weights"]:
        model = keras.saving.load_model(config["weights"])
    else:
        kwargs = dict(config["model_args"], input_shape=info.input_shape)
        kwargs["classes"] = info.classes
        if config["beta"] is not None:
            kwargs["beta"] = config["beta"]
        model = registry.build(config["model"], **kwargs)
    ds = datasets.load(config["dataset"], "test", config["batch_size"], data_dir=config["data_dir"])
    x, _ = next(iter(ds))
    layers = model.layers[1:]
    probes = [t for layer in layers for t in _probed(layer, SpectralBlock)]
    values = iter(keras.Model(model.input, probes)(x, training=True))
    figures = []
    for layer in layers:
        if isinstance(layer, SpectralBlock):
            inner = layer.spectra(next(values))
            figures += [_figure(c.name, z) for c, z in zip(layer.convolutions, inner)]
        figures.append(_figure(layer.name, next(values)))
    return {"layers": figures}


def _probed(layer, block_type):
    """What the probe model returns for `layer`: its output, after its input for a block."""
    if isinstance(layer, block_type):
        return [layer.input, layer.output]
    return [layer.output]


def _figure(name, value):
    import numpy as np

    value = np.asarray(value)
    if np.iscomplexobj(value):
        magnitude = np.abs(value)
        return {
            "layer": name,
            "domain": "spectral",
            "rms": float(np.sqrt(np.mean(magnitude**2))),
            "zero_fraction": float(np.mean(magnitude == 0)),
        }
    return {"layer": name, "domain": "real", "std": float(value.std()), "zero_fraction": None}


def _check(args):
    """Refuse, in this process, what the child would fail on."""
    from keras_specnet import datasets
    from keras_specnet.applications import registry

    try:
        datasets.info(args.dataset)
        spec = registry.spec(args.model)
    except ValueError as error:
        raise _common.fail(_NAME, error) from None
    if not args.weights:
        _common.check_model_args(_NAME, spec, dict(args.model_arg))
        if args.beta is not None and spec.kind != "spectral":
            raise _common.fail(
                _NAME,
                f"--beta applies to spectral models only; --model {args.model} has no threshold.",
            )
    runner.require_data(args.dataset, args.data_dir, ("test",))


def main(args):
    """Measure in a fresh process and print the table; returns the figures."""
    _check(args)
    config = {
        "model": args.model,
        "beta": args.beta,
        "model_args": dict(args.model_arg),
        "dataset": args.dataset,
        "batch_size": args.batch_size,
        "data_dir": args.data_dir,
        "seed": args.seed,
        "weights": args.weights,
    }
    result = runner.isolated(__name__, config)
    rows = [
        (
            f["layer"],
            f["domain"],
            f"{f['rms']:.4f}" if f["domain"] == "spectral" else f"{f['std']:.4f}",
            "" if f["zero_fraction"] is None else f"{f['zero_fraction']:.3f}",
        )
        for f in result["layers"]
    ]
    print(_io.format_table(("layer", "domain", "rms / std", "zero fraction"), rows, left=2))
    result = {"arguments": runner.arguments(args), **result}
    if args.output:
        print(f"wrote {_io.write_json(args.output, result)}")
    return result
