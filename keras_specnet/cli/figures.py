"""`specnet figures`: draw the pictures of docs/notebooks.md from one small run."""

import os
import shutil
import tempfile
import time

from keras_specnet.cli import _common

HELP = "draw the notebooks' pictures (Fig. 2, 3, 4 of SpecNet, ...) from a small run"
DESCRIPTION = (
    "Train LeNet5 and SpecLeNet5 (one per --betas value) on Fashion-MNIST with "
    "the given budget, measure their training memory as `specnet bench memory` "
    "does, run a small memory-aware search of SpecLeNet5's beta, and write "
    "the pictures of docs/notebooks.md as PNG files into --output: the zero "
    "fraction against beta, the SpecNet paper's Fig. 2 (feature maps), Fig. 3 "
    "(memory and error relative to LeNet5, against beta), Fig. 4 (memory per "
    "epoch), ButterflyFusion matrices and the tuning trials. Needs matplotlib."
)

DATASET = "fashion_mnist"

#: The files written, in order.
FILES = (
    "zero_fraction_beta.png",
    "fig2_feature_maps.png",
    "fig3_relative_memory_error.png",
    "fig4_memory_per_epoch.png",
    "butterfly_matrices.png",
    "tuning_trials.png",
)

#: The budget of `--smoke`: seconds on 2 CPU cores, for tests.
SMOKE = {
    "epochs": 1,
    "limit": 256,
    "test_limit": 256,
    "betas": [0.1],
    "trials": 1,
    "batch_sizes": [32, 64],
}


def add_arguments(parser):
    positive_int = _common.positive_int
    parser.add_argument("--output", default="docs/figures", help="folder of the PNG files")
    parser.add_argument("--epochs", type=positive_int("epochs"), default=3)
    parser.add_argument(
        "--limit", type=positive_int("limit"), default=10000, help="training images"
    )
    parser.add_argument(
        "--test-limit", type=positive_int("test_limit"), default=10000, help="test images"
    )
    parser.add_argument(
        "--betas",
        nargs="+",
        type=_common.non_negative_number("betas"),
        default=[0.02, 0.05, 0.1, 0.2, 0.5],
        help="SpecLeNet5's thresholds for Fig. 3 (the first is Fig. 2's trained layer)",
    )
    parser.add_argument(
        "--trials", type=positive_int("trials"), default=4, help="trials of the beta search"
    )
    parser.add_argument(
        "--batch-sizes",
        nargs=2,
        type=positive_int("batch_sizes"),
        default=[64, 128],
        help="the two batch sizes of the per-sample memory",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest budget (1 epoch, 256 images, one beta, one trial), for tests",
    )
    parser.add_argument(
        "--data-dir", default=None, help="folder of Fashion-MNIST's IDX files, or a TFDS data dir"
    )
    _common.add_seed(parser)


def _budget(args):
    budget = {
        "epochs": args.epochs,
        "limit": args.limit,
        "test_limit": args.test_limit,
        "betas": list(args.betas),
        "trials": args.trials,
        "batch_sizes": sorted(args.batch_sizes),
    }
    if args.smoke:
        budget.update(SMOKE)
    if budget["batch_sizes"][0] == budget["batch_sizes"][1]:
        raise _common.fail("figures", "--batch-sizes needs two different sizes")
    return budget


def run(args):
    """Write the pictures; returns a dict, file name -> path."""
    import matplotlib

    matplotlib.use("Agg")
    try:
        return _draw(args, _budget(args))
    except Exception as error:
        if _common.is_data_error(error):
            raise _common.fail("figures", error) from None
        raise


def _draw(args, budget):
    import keras
    from matplotlib import pyplot as plt

    from keras_specnet import datasets, figures, tuning, utils
    from keras_specnet.applications import registry
    from keras_specnet.layers import ButterflyFusion, SpectralConv2D

    start = time.perf_counter()
    written = {}

    steps = iter(range(1, 6))

    def step(text):
        print(f"[{next(steps)}/5] {text} ({time.perf_counter() - start:.0f} s)", flush=True)

    def write(name, figure):
        written[name] = figures.save(figure, os.path.join(args.output, name))
        plt.close(figure)
        print(f"  wrote {written[name]} ({os.path.getsize(written[name]) // 1024} KiB)")

    print(
        f"Budget: {budget['epochs']} epoch(s) on {budget['limit']} Fashion-MNIST training "
        f"images, {budget['test_limit']} test images, betas {budget['betas']}, "
        f"{budget['trials']} tuning trial(s), batch sizes {budget['batch_sizes']}",
        flush=True,
    )
    data = {"data_dir": args.data_dir}
    keras.utils.set_random_seed(args.seed)
    images, _ = next(iter(datasets.load(DATASET, "test", batch_size=256, **data)))

    step("zero fraction against beta, untrained first layer")
    betas = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    fractions = figures.zero_fractions_by_beta(SpectralConv2D(6, 5), images, betas)
    write(FILES[0], figures.plot_zero_fractions(betas, fractions))

    step("training LeNet5 and SpecLeNet5 at each beta, measuring their memory")
    train = datasets.load(
        DATASET, "train", batch_size=64, limit=budget["limit"], seed=args.seed, **data
    )
    test = datasets.load(DATASET, "test", batch_size=256, limit=budget["test_limit"], **data)
    sizes = budget["batch_sizes"]
    x, y = next(iter(datasets.load(DATASET, "train", batch_size=max(sizes), **data)))

    def build(name, **kwargs):
        keras.utils.set_random_seed(args.seed)
        return lambda: registry.build(name, **kwargs)

    original = figures.train_and_measure(
        build("lenet5"), train, test, budget["epochs"], x, y, sizes
    )
    print(f"  lenet5: accuracy {original['accuracy']:.4f}", flush=True)
    runs = {}
    for beta in budget["betas"]:
        runs[beta] = figures.train_and_measure(
            build("spec_lenet5", beta=beta),
            train,
            test,
            budget["epochs"],
            x,
            y,
            sizes,
            label=f"spec_lenet5 beta={beta:g}",
        )
        print(
            f"  spec_lenet5 beta={beta:g}: accuracy {runs[beta]['accuracy']:.4f}, per-sample "
            f"{runs[beta]['per_sample_bytes'] / original['per_sample_bytes']:.2f}x",
            flush=True,
        )

    step("Fig. 2 (trained first spectral layer at three betas), Fig. 3, Fig. 4")
    first = runs[budget["betas"][0]]["model"]
    layer = utils.spectral_convolutions(first)[0]
    maps = figures.feature_maps(layer, images[0], [0.0, 0.1, 0.5])
    write(FILES[1], figures.plot_feature_maps(images[0], maps))
    relative = figures.relative_to_original(original, runs)
    write(FILES[2], figures.plot_relative_to_original(relative, names=("SpecLeNet5", "LeNet5")))
    write(FILES[3], figures.plot_memory_per_epoch([original, *runs.values()]))

    step("ButterflyFusion matrices")
    matrices = {}
    for title, kwargs in (
        ("hadamard, base 2", {"base": 2, "kernel_initializer": "hadamard"}),
        ("butterfly_he, base 4", {"base": 4}),
    ):
        fusion = ButterflyFusion(16, residual=False, use_bias=False, **kwargs)
        fusion.build((None, 16))
        matrices[title] = figures.dense_matrix(fusion, 16)
    write(FILES[4], figures.plot_matrices(matrices))

    step(f"a memory-aware search of SpecLeNet5's beta, {budget['trials']} trial(s)")
    directory = tempfile.mkdtemp(prefix="specnet-figures-")
    try:
        tuner = tuning.make_tuner(
            "random",
            tuning.SpecNetHyperModel(
                "spec_lenet5",
                input_shape=(28, 28, 1),
                classes=10,
                beta_range=(0.01, 1.0),
                beta_sampling="log",
            ),
            memory="step",
            memory_budget=64 * 2**20,
            max_trials=budget["trials"],
            seed=args.seed,
            directory=directory,
            project_name="figures",
        )
        tune_train = datasets.load(
            DATASET, "train[:90%]", limit=budget["limit"], seed=args.seed, **data
        )
        tune_val = datasets.load(DATASET, "train[90%:]", limit=budget["test_limit"], **data)
        tuner.search(tune_train, validation_data=tune_val, epochs=budget["epochs"], verbose=0)
        rows = tuning.trials_table(tuner)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(figures.trials_text(rows))
    write(FILES[5], figures.plot_trials({"SpecLeNet5 beta": rows}))
    print(f"Wrote {len(written)} pictures to {args.output} in {time.perf_counter() - start:.0f} s")
    return written
