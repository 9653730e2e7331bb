"""Per-layer spectra of a model on real images: RMS and zero fraction.

Shows where a threshold bites: for each layer of a model, on one batch of
Fashion-MNIST test images, the RMS magnitude and the fraction of exact zeros
of spectral outputs, and the standard deviation of real ones.

    python benchmarks/spectra.py --model spec_vgg16 --beta 0.1 \
        --model-arg width=0.25 --model-arg fc_units=256

Runs the model in training mode (batch statistics for any batch
normalisation), at initialisation unless `--weights FILE.keras` is given.
"""

import argparse

import numpy as np


def main(argv=None):
    from keras_specnet import cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--beta", type=float, default=None)
    parser.add_argument("--model-arg", type=cli._model_arg, action="append", default=[])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", default=None, help="a .keras model to inspect")
    args = parser.parse_args(argv)

    import keras

    from keras_specnet import applications, datasets

    keras.utils.set_random_seed(args.seed)
    spec = datasets.info(args.dataset)
    if args.weights:
        model = keras.saving.load_model(args.weights)
    else:
        kwargs = {"input_shape": spec.input_shape, "classes": spec.classes}
        kwargs.update(dict(args.model_arg))
        if args.beta is not None:
            kwargs["beta"] = args.beta
        model = applications.get(args.model)(**kwargs)
    x, _ = next(
        iter(datasets.load(args.dataset, "test", args.batch_size, data_dir=args.data_dir))
    )
    layers = model.layers[1:]
    outputs = keras.Model(model.input, [layer.output for layer in layers])(
        x, training=True
    )
    print(f"{'layer':24s} {'domain':8s} {'rms / std':>10s} {'zero fraction':>14s}")
    for layer, value in zip(layers, outputs):
        value = np.asarray(value)
        if np.iscomplexobj(value):
            magnitude = np.abs(value)
            print(
                f"{layer.name:24s} {'spectral':8s} "
                f"{np.sqrt(np.mean(magnitude**2)):10.4f} {np.mean(magnitude == 0):14.3f}"
            )
        else:
            print(f"{layer.name:24s} {'real':8s} {value.std():10.4f} {'':>14s}")


if __name__ == "__main__":
    main()
