"""`specnet bench memory`'s peers and plumbing (the benchmark itself is not run here)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import _io
from keras_specnet.bench import memory as bench_memory
from keras_specnet.bench import memory_child, runner

#: What a measuring child returns, for the tests that stand in for it.
MEASURED = {
    "held_bytes": 100,
    "peak_bytes": 200,
    "step_bytes": 150,
    "resident_bytes": 50,
    "step_seconds": 0.1,
    "zero_fraction": None,
    "device": "CPU:0",
}


def _parser():
    import argparse

    parser = argparse.ArgumentParser()
    bench_memory.add_arguments(parser)
    return parser


@pytest.mark.parametrize(
    "model,model_args,ends",
    [
        ("vgg16", {"width": 0.125, "fc_units": 8}, [f"block{i}_pool" for i in range(1, 6)]),
        ("densenet", {"width": 0.125, "num_layers": 2}, ["stem_pool", "dense_layer2_concat"]),
    ],
)
def test_recompute_peer_is_the_same_model(model, model_args, ends):
    config = {"model": model, "model_args": model_args, "seed": 0, "peer": "baseline"}
    plain = memory_child._build(config)
    assert memory_child._block_ends(plain) == ends
    wrapped = memory_child._recompute_blocks(plain)
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    y = np.arange(4)
    grads = []
    for m in (plain, wrapped):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(y, m(x, training=False))
            )
        grads.append(tape.gradient(loss, m.trainable_weights))
    assert len(grads[0]) == len(grads[1]) == len(plain.trainable_weights)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_remat_scope_peer_rematerializes_every_layer_and_keeps_the_gradients():
    base = {"model": "vgg16", "model_args": {"width": 0.125, "fc_units": 8}, "seed": 0}
    plain = memory_child._build(dict(base, peer="baseline"))
    remat = memory_child._build(dict(base, peer="remat_scope"))
    assert all(layer._remat_mode is None for layer in plain.layers)
    modes = {layer._remat_mode.mode for layer in remat.layers if layer._remat_mode}
    assert modes == {"full"} and remat.get_layer("block1_conv1")._remat_mode is not None
    remat.set_weights(plain.get_weights())
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    y = np.arange(4)
    grads = []
    for m in (plain, remat):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                tf.keras.losses.sparse_categorical_crossentropy(y, m(x, training=True))
            )
        grads.append(tape.gradient(loss, m.trainable_weights))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_mixed_precision_and_recompute_peer_combines_both():
    import keras

    config = {
        "model": "vgg16",
        "model_args": {"width": 0.125, "fc_units": 8},
        "seed": 0,
        "peer": "mixed_bfloat16+recompute_grad",
    }
    try:
        model = memory_child._build(config)
    finally:
        keras.config.set_dtype_policy("float32")
    wrappers = [layer for layer in model.layers if layer.name.startswith("recompute")]
    assert len(wrappers) == 5
    conv = wrappers[0].block.get_layer("block1_conv1")
    assert conv.dtype_policy.name == "mixed_bfloat16"


def test_jit_compile_applies_to_the_measurements_only():
    base = {"model": "vgg16", "model_args": {"width": 0.125, "fc_units": 8}, "seed": 0}
    measured = memory_child._build(dict(base, task="measure", jit_compile=True))
    trained = memory_child._build(dict(base, task="train", jit_compile=True))
    plain = memory_child._build(dict(base, task="measure"))
    assert (measured.jit_compile, trained.jit_compile, plain.jit_compile) == (True, False, False)
    assert _parser().parse_args(["--jit-compile"]).jit_compile
    assert not _parser().parse_args([]).jit_compile


def test_spectral_config_sets_beta_and_cache():
    config = {
        "model": "spec_vgg16",
        "model_args": {"width": 0.125, "fc_units": 8},
        "seed": 0,
        "beta": 0.7,
        "cache": "bitmask+bfloat16",
        "batch_chunks": 2,
    }
    model = memory_child._build(config)
    convs = [layer for layer in model.layers if layer.name.endswith("_conv1")]
    assert convs and all(
        (c.beta, c.cache, c.cache_dtype, c.batch_chunks) == (0.7, "bitmask", "bfloat16", 2)
        for c in convs
    )


def test_configs_measure_each_cache_and_the_chunk_comparison():
    parser = _parser()
    args = parser.parse_args(
        ["--betas", "0.1", "0.5", "--caches", "none", "bitmask", "--sweep-caches", "bitmask"]
    )
    configs = list(bench_memory._configs(args, "vgg16", False))
    labels = [bench_memory._label(dict(c)) for c in configs]
    assert all("batch_norm" not in c["model_args"] for c in configs)
    args = parser.parse_args(["--batch-norm"])
    assert all(c["model_args"]["batch_norm"] for c in bench_memory._configs(args, "vgg16", False))
    assert labels == [
        "vgg16",
        "vgg16 mixed_bfloat16",
        "vgg16 recompute_grad",
        "vgg16 remat_scope",
        "vgg16 mixed_bfloat16+recompute_grad",
        "spec_vgg16 b=0.1 none",
        "spec_vgg16 b=0.1 bitmask",
        "spec_vgg16 b=0.1 bitmask /1",
        "spec_vgg16 b=0.5 bitmask",
    ]


@pytest.mark.slow  # starts a child process
def test_isolated_reports_a_failing_child():
    with pytest.raises(RuntimeError, match=r"benchmark keras_specnet.bench.memory_child failed"):
        runner.isolated("keras_specnet.bench.memory_child", {"task": "measure"})


def test_format_table_aligns_columns():
    text = _io.format_table(("name", "x"), [("a", "1.00x"), ("longer", "10.00x")])
    assert text.splitlines() == ["name         x", "a        1.00x", "longer  10.00x"]


def test_per_sample_is_the_slope_between_the_batch_sizes():
    def entry(model, batch, step, cache=None, beta=None):
        return {
            "model": model,
            "peer": "baseline",
            "beta": beta,
            "cache": cache,
            "batch_size": batch,
            "step_bytes": step,
        }

    entries = [
        entry("vgg16", 64, 100 + 64 * 10),
        entry("spec_vgg16", 64, 300 + 64 * 4, "bitmask", 0.01),
        entry("vgg16", 256, 100 + 256 * 10),
        entry("spec_vgg16", 256, 300 + 256 * 4, "bitmask", 0.01),
    ]
    assert bench_memory.per_sample(entries) == [
        ("vgg16", 10.0, 1.0),
        ("spec_vgg16 b=0.01 bitmask", 4.0, 0.4),
    ]


def test_weights_trained_in_one_cache_mode_load_into_another(tmp_path):
    """The saved list of weights is in the model's order, the same with or
    without `SpectralBlock`s (whose convolutions are nested)."""
    base = {"model": "spec_vgg16", "model_args": {"width": 0.125, "fc_units": 8}, "beta": 0.01}
    fused = memory_child._build(dict(base, seed=0, cache="auto"))
    assert type(fused.get_layer("block1")).__name__ == "SpectralBlock"
    path = str(tmp_path / "trained.weights.npz")
    np.savez(path, *fused.get_weights())
    layered = memory_child._build(dict(base, seed=1, cache="bitmask", weights=path))
    assert type(layered.get_layer("block1_conv1")).__name__ == "SpectralConv2D"
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(layered(x), fused(x), atol=1e-5)
    fresh = memory_child._build(dict(base, seed=1, cache="bitmask"))
    assert not np.allclose(fresh(x), fused(x), atol=1e-5)


def test_train_epochs_is_an_int_of_at_least_zero():
    parser = _parser()
    assert parser.parse_args(["--train-epochs", "3"]).train_epochs == 3
    assert parser.parse_args([]).train_epochs == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["--train-epochs", "-1"])
    assert parser.parse_args(["--learning-rate", "1e-4"]).learning_rate == 1e-4
    with pytest.raises(SystemExit):
        parser.parse_args(["--learning-rate", "0"])


def test_a_peer_that_fails_is_reported_and_the_run_goes_on(monkeypatch, capsys):
    def isolated(module, config):
        if config.get("peer") == "remat_scope":
            raise RuntimeError("benchmark failed (exit 1):\nValueError: custom_gradient keywords")
        return dict(MEASURED)

    monkeypatch.setattr(runner, "isolated", isolated)
    monkeypatch.setattr(runner, "require_data", lambda *a, **k: None)
    args = _parser().parse_args(
        ["--families", "vgg16", "--peers", "baseline", "remat_scope", "--betas", "0.1"]
        + ["--caches", "auto", "--sweep-caches", "auto", "--compare-chunks"]
        + ["--train-steps", "0", "--init-batch-sizes", "64"]
    )
    results = bench_memory.main(args)
    labels = [bench_memory._label(e) for e in results["measurements"]]
    assert labels == ["vgg16", "spec_vgg16 b=0.1 auto"]
    (failure,) = results["failures"]
    assert failure["peer"] == "remat_scope" and "custom_gradient" in failure["error"]
    assert "vgg16 remat_scope: failed: ValueError: custom_gradient" in capsys.readouterr().out
    # The baseline failing stops the run: nothing to compare with.
    monkeypatch.setattr(runner, "isolated", lambda m, c: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        bench_memory.main(args)


def test_resume_reuses_what_an_earlier_run_trained(monkeypatch, tmp_path):
    trained = []

    def isolated(module, config):
        if config["task"] == "train":
            trained.append(config["model"])
            np.savez(config["save_to"], np.zeros(1))
            return {"accuracy": 0.5, "epoch_accuracy": [0.5], "train_seconds": 1.0}
        return dict(MEASURED)

    monkeypatch.setattr(runner, "isolated", isolated)
    monkeypatch.setattr(runner, "require_data", lambda *a, **k: None)
    parser = _parser()
    argv = ["--families", "vgg16", "--peers", "baseline", "--betas", "0.1", "--caches", "auto"]
    argv += ["--sweep-caches", "auto", "--compare-chunks", "--train-steps", "2", "--no-init"]
    argv += ["--batch-sizes", "64", "--workdir", str(tmp_path)]
    first = bench_memory.main(parser.parse_args(argv))
    assert trained == ["vgg16", "spec_vgg16"]
    again = bench_memory.main(parser.parse_args(argv + ["--resume"]))
    assert trained == ["vgg16", "spec_vgg16"]
    assert again["training"] == first["training"] and again["accuracy"]["vgg16"] == 0.5
    bench_memory.main(parser.parse_args(argv))
    assert trained == ["vgg16", "spec_vgg16"] * 2
