"""keras_specnet.tuning: hypermodels, the memory-aware objective, searches."""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import applications, training, tuning
from keras_specnet.utils import spectral_convolutions


def _betas(model):
    return [layer.beta for layer in spectral_convolutions(model)]


def _data(n=64, size=28, seed=0):
    """Images with a bright bar whose row gives the class: learnable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, size, size, 1)).astype("float32") * 0.2
    for i, c in enumerate(y):
        row = (c * size) // 10
        x[i, row : row + max(1, size // 14), 2:-2, 0] = 1.0
    return x, y


# The searches build SpecLeNet-5 with batch_chunks=1: its graphs trace in a
# fraction of the time that four slices per layer take, and slicing is
# tested on its own (test_cache.py).
FAST = {"batch_chunks": 1}


def _lenet(size=28, **kwargs):
    return tuning.SpecNetHyperModel(
        "spec_lenet5",
        input_shape=(size, size, 1),
        beta_range=(0.0, 0.5),
        model_kwargs=FAST,
        **kwargs,
    )


def _search(tuner, data, **kwargs):
    x, y = data
    tuner.search(
        x,
        y,
        validation_data=(x[:32], y[:32]),
        epochs=1,
        batch_size=32,
        verbose=0,
        **kwargs,
    )


# --- hypermodels -----------------------------------------------------------


def test_build_with_default_hyperparameters():
    hypermodel = tuning.SpecNetHyperModel("spec_lenet5", input_shape=(28, 28, 1), classes=7)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values == {"beta": 0.3}  # the low end of the default (0.3, 1.5)
    beta = hp.space[0].get_config()
    assert (beta["min_value"], beta["max_value"], beta["default"]) == (0.3, 1.5, 0.3)
    assert _betas(model) == [0.3, 0.3]
    assert model.output_shape == (None, 7)
    assert model.optimizer is not None  # compiled
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_build_with_fixed_hyperparameters():
    hypermodel = _lenet(beta_default=0.2, learning_rate_range=(1e-4, 1e-2))
    hp = keras_tuner.HyperParameters()
    assert _betas(hypermodel.build(hp)) == [0.2, 0.2]
    assert hp.values["learning_rate"] == pytest.approx(1e-3)  # explicit default

    hp = keras_tuner.HyperParameters()
    hp.Fixed("beta", 0.45)
    hp.Fixed("learning_rate", 3e-3)
    model = hypermodel.build(hp)
    assert _betas(model) == [0.45, 0.45]
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-3)


def test_model_kwargs_reach_the_builder():
    hypermodel = tuning.SpecNetHyperModel(
        "spec_vgg16", input_shape=(8, 8, 1), model_kwargs={"width": 0.125, "fc_units": 8}
    )
    model = hypermodel.build(keras_tuner.HyperParameters())
    expected = applications.SpecVGG16(input_shape=(8, 8, 1), width=0.125, fc_units=8, beta=0.3)
    assert model.count_params() == expected.count_params()
    assert set(_betas(model)) == {0.3}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(model="vgg16"),
            r"argument `model`. Expected one of \[.*'spec_vgg16'.*"
            r"Received: model='vgg16'",
        ),
        (dict(model="nope"), r"Received: model='nope'"),
        (
            dict(beta_range=(1.5, 0.3)),
            r"argument `beta_range`. Expected a pair "
            r"\(low, high\) of finite numbers with 0 <= low < high. "
            r"Received: beta_range=\(1.5, 0.3\)",
        ),
        (dict(beta_range=(-1, 1)), r"Received: beta_range=\(-1, 1\)"),
        (dict(beta_range=(0.5, 0.5)), r"Received: beta_range=\(0.5, 0.5\)"),
        (dict(beta_range=0.5), r"Received: beta_range=0.5"),
        (dict(beta_range=(0, float("inf"))), r"Received: beta_range=\(0, inf\)"),
        (
            dict(beta_range=(0.0, 1.0), beta_sampling="log"),
            r"0 < low < high for beta_sampling='log'",
        ),
        (dict(beta_sampling="cubic"), r"Received: beta_sampling='cubic'"),
        (
            dict(beta_default=2.0),
            r"argument `beta_default`. Expected a number inside "
            r"beta_range \(0.3, 1.5\). Received: beta_default=2.0",
        ),
        (
            dict(learning_rate_range=(1e-2, 1e-1)),
            r"argument `learning_rate`. "
            r"Expected a default inside learning_rate_range",
        ),
        (dict(learning_rate_range=(0, 1e-1)), r"Received: learning_rate_range=\(0, 0.1\)"),
        (
            dict(model_kwargs={"beta": 0.1}),
            r"argument `model_kwargs`. Expected builder "
            r"arguments other than beta",
        ),
        (dict(model_kwargs={"depth": 3}), r"Received: model_kwargs=\{'depth': 3\}"),
        (dict(classes=0), r"Received: classes=0"),
        (dict(input_shape=(28, 28)), r"Received: input_shape=\(28, 28\)"),
        (dict(optimizer="rmsprop"), r"Received: optimizer='rmsprop'"),
    ],
)
def test_spec_hypermodel_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=r"Invalid value for argument `"):
        tuning.SpecNetHyperModel(**kwargs)
    with pytest.raises(ValueError, match=match):
        tuning.SpecNetHyperModel(**kwargs)


def test_butterfly_hypermodel_rejects_models_without_a_butterfly_base():
    with pytest.raises(
        ValueError,
        match=r"Invalid value for argument `model`. Expected one of "
        rf"{tuning.butterfly_models()}. Received: model='spec_vgg16'".replace("[", r"\[").replace(
            "]", r"\]"
        ),
    ):
        tuning.ButterflyHyperModel("spec_vgg16")


def test_model_lists_come_from_the_registry():
    registry = applications.registry
    assert tuning.butterfly_models() == sorted(registry.names("butterfly"))
    for model in registry.names("spectral"):
        assert tuning.SpecNetHyperModel(model).spec is registry.spec(model)
    for model in tuning.butterfly_models():
        hypermodel = tuning.ButterflyHyperModel(model)
        assert hypermodel.width_argument == registry.spec(model).width_argument
    # The pointwise MobileNetV1 and ShuffleNetV2 are spatial entries: their
    # builders take `butterfly_base`, but the registry excludes it.
    for model in ("mobilenet_v1", "shufflenet_v2"):
        assert model not in tuning.butterfly_models()
        with pytest.raises(ValueError, match=rf"Received: model='{model}'"):
            tuning.ButterflyHyperModel(model)
    with pytest.raises(ValueError, match=r"Received: model='lenet5'"):
        tuning.SpecNetHyperModel("lenet5")


def test_model_kwargs_are_the_registry_arguments():
    spec = applications.registry.spec("mobilenet_v1_bft")
    with pytest.raises(
        ValueError,
        match=r"argument `model_kwargs`. Expected "
        r"arguments of the 'mobilenet_v1_bft' model \(" + ", ".join(spec.arguments) + r"\)",
    ):
        tuning.ButterflyHyperModel(model_kwargs={"fusion": "pointwise"})


def test_the_optimizer_is_compile_classifier_s():
    assert "sgd" in training.OPTIMIZERS
    hypermodel = _lenet(optimizer="sgd", learning_rate=0.05)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert float(model.optimizer.momentum) == pytest.approx(0.9)
    assert model.loss == "sparse_categorical_crossentropy"


def test_public_choice_tables():
    assert tuning.MEMORY_FIGURES == {
        "peak": "memory_peak_bytes",
        "step": "memory_step_bytes",
        "held": "held_bytes",
    }
    assert tuning.TUNERS == {
        "random": tuning.MemoryAwareRandomSearch,
        "bayesian": tuning.MemoryAwareBayesianOptimization,
        "hyperband": tuning.MemoryAwareHyperband,
    }
    assert {"MEMORY_FIGURES", "TUNERS"} <= set(tuning.__all__)


# --- the objective ---------------------------------------------------------


def test_score_is_the_accuracy_within_budget_and_minus_the_ratio_beyond():
    score = tuning.memory_aware_score
    assert score(0.8, 10 * 2**20) == {"score": 0.8, "over_budget": 0.0}
    assert score(0.8, 50, memory_budget=100) == {"score": 0.8, "over_budget": 0.0}
    assert score(0.8, 100, memory_budget=100)["over_budget"] == 0.0  # at the budget
    weighted = score(0.8, 50, memory_budget=100, memory_weight=0.2)
    assert weighted["score"] == pytest.approx(0.8 - 0.2 * 0.5)
    assert score(0.9, 300, memory_budget=100) == {"score": -3.0, "over_budget": 1.0}
    # time budget: the largest ratio decides
    over = score(0.9, 150, memory_budget=100, step_seconds=0.4, time_budget=0.1)
    assert over == {"score": -4.0, "over_budget": 1.0}
    # any trial within budget beats any trial over it, weight included
    worst_within = score(0.0, 100, memory_budget=100, memory_weight=1.0)["score"]
    best_over = score(1.0, 100.001, memory_budget=100, memory_weight=1.0)["score"]
    assert best_over < worst_within


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(memory_budget=-1), r"Expected a finite number > 0. Received: memory_budget=-1"),
        (dict(memory_budget=0), r"Received: memory_budget=0"),
        (
            dict(memory_budget=100, memory_weight=1.5),
            r"argument `memory_weight`. Expected a number in \[0, 1\]",
        ),
        (dict(memory_weight=0.5), r"Expected 0 when no memory_budget is given"),
        (dict(time_budget=0.1), r"argument `step_seconds`"),
    ],
)
def test_score_rejects_bad_budgets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tuning.memory_aware_score(0.5, 10, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(kind="grid"),
            r"argument `kind`. Expected one of \['bayesian', "
            r"'hyperband', 'random'\]. Received: kind='grid'",
        ),
        (dict(memory="rss"), r"argument `memory`. .*Received: memory='rss'"),
        (dict(objective="val_accuracy"), r"argument `objective`. Expected None"),
        (dict(memory_budget=-5), r"Received: memory_budget=-5"),
    ],
)
def test_make_tuner_rejects_bad_arguments(kwargs, match, tmp_path):
    kind = kwargs.pop("kind", "random")
    with pytest.raises(ValueError, match=match):
        tuning.make_tuner(kind, _lenet(), directory=str(tmp_path), **kwargs)


# --- searches --------------------------------------------------------------


@pytest.mark.slow
def test_two_trial_search_ranks_trials_by_the_objective(tmp_path):
    tuner = tuning.make_tuner(
        "random",
        _lenet(),
        max_trials=2,
        seed=3,
        directory=str(tmp_path),
        project_name="rank",
    )
    _search(tuner, _data())
    rows = tuning.trials_table(tuner)
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)
    assert len({r["hyperparameters"]["beta"] for r in rows}) == 2
    for row in rows:
        assert row["score"] == row["val_accuracy"]  # no budget: the accuracy
        assert row["memory_peak_bytes"] > 0 and row["held_bytes"] >= 0
        assert row["memory_peak_bytes"] >= row["memory_step_bytes"] > 0
        assert row["fit_seconds"] > 0 and row["out_of_memory"] == 0.0
    assert rows[0]["score"] >= rows[1]["score"]
    best = tuner.get_best_hyperparameters()[0].values
    assert best["beta"] == rows[0]["hyperparameters"]["beta"]


@pytest.mark.slow
def test_over_budget_trials_are_recorded_not_crashed(tmp_path):
    budget = 1024  # bytes: a 28x28 SpecLeNet-5 step peaks at megabytes
    tuner = tuning.make_tuner(
        "random",
        _lenet(),
        max_trials=2,
        memory_budget=budget,
        seed=0,
        directory=str(tmp_path),
    )
    _search(tuner, _data())
    rows = tuning.trials_table(tuner)
    assert [r["status"] for r in rows] == ["over budget", "over budget"]
    for row in rows:
        assert row["score"] == pytest.approx(-row["memory_step_bytes"] / budget)
        assert row["score"] < -1 and row["val_accuracy"] is not None
    assert rows[0]["memory_step_bytes"] <= rows[1]["memory_step_bytes"]
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())


@pytest.mark.slow
def test_the_profiler_peak_can_be_the_budgeted_figure(tmp_path):
    tuner = tuning.make_tuner(
        "random",
        _lenet(),
        max_trials=1,
        memory="peak",
        memory_budget=1024,
        directory=str(tmp_path),
    )
    _search(tuner, _data())
    (row,) = tuning.trials_table(tuner)
    assert row["status"] == "over budget"
    assert row["score"] == pytest.approx(-row["memory_peak_bytes"] / 1024)


@pytest.mark.slow
def test_held_bytes_can_be_the_budgeted_figure(tmp_path):
    x, y = _data()
    # beta ~ 0 keeps the cache dense, well above the allocator's 256 KiB floor
    hypermodel = tuning.SpecNetHyperModel(
        "spec_lenet5", input_shape=(28, 28, 1), beta_range=(0.0, 1e-4), model_kwargs=FAST
    )
    tuner = tuning.make_tuner(
        "random",
        hypermodel,
        max_trials=1,
        memory="held",
        memory_budget=1024,
        directory=str(tmp_path),
    )
    _search(tuner, (x, y))
    (row,) = tuning.trials_table(tuner)
    assert row["held_bytes"] > 1024
    assert row["status"] == "over budget"
    assert row["score"] == pytest.approx(-row["held_bytes"] / 1024)


class _OutOfMemory(keras.callbacks.Callback):
    """Raises what TensorFlow raises when an allocation fails."""

    def on_train_batch_begin(self, batch, logs=None):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[64,512,32,32]"
        )


@pytest.mark.slow
def test_out_of_memory_trials_are_recorded_and_the_search_goes_on(tmp_path):
    tuner = tuning.make_tuner("random", _lenet(), max_trials=2, directory=str(tmp_path))
    _search(tuner, _data(), callbacks=[_OutOfMemory()])
    rows = tuning.trials_table(tuner)
    assert [r["status"] for r in rows] == ["out of memory"] * 2
    assert all(r["score"] == tuning.OUT_OF_MEMORY_SCORE for r in rows)
    trial = next(iter(tuner.oracle.trials.values()))
    assert trial.status == "COMPLETED"
    assert "OOM when allocating" in trial.message


class _PoisonAfterFirstBatch(keras.callbacks.Callback):
    """Sets the classifier's kernel to NaN after the first batch: the loss goes NaN."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            kernel = self.model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_a_trial_whose_loss_is_not_finite_fails_without_a_score(tmp_path):
    tuner = tuning.make_tuner("random", _lenet(8), max_trials=1, directory=str(tmp_path))
    x, y = _data(n=32, size=8)
    tuner.search(
        x,
        y,
        validation_data=(x[:16], y[:16]),
        epochs=1,
        batch_size=16,
        verbose=0,
        callbacks=[_PoisonAfterFirstBatch()],
    )
    (row,) = tuning.trials_table(tuner)
    assert row["status"] == "failed"
    assert row["score"] is None and row["val_accuracy"] is None
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "FAILED" and trial.score is None
    assert "FailedTrialError" in trial.message
    assert "`loss` is nan at batch 2 of epoch 1" in trial.message


class _CountFits(keras.callbacks.Callback):
    fits = 0

    def on_train_begin(self, logs=None):
        type(self).fits += 1


@pytest.mark.slow
def test_resuming_does_not_repeat_finished_trials(tmp_path):
    kwargs = dict(directory=str(tmp_path), project_name="resume", seed=5)
    first = tuning.make_tuner("random", _lenet(8), max_trials=1, **kwargs)
    _CountFits.fits = 0
    _search(first, _data(n=32, size=8), callbacks=[_CountFits()])
    assert _CountFits.fits == 1
    done = tuning.trials_table(first)[0]

    again = tuning.make_tuner("random", _lenet(8), max_trials=2, **kwargs)
    assert len(again.oracle.trials) == 1  # reloaded from the directory
    _search(again, _data(n=32, size=8), callbacks=[_CountFits()])
    assert _CountFits.fits == 2  # one new trial only
    rows = tuning.trials_table(again)
    assert len(rows) == 2
    kept = next(r for r in rows if r["trial_id"] == done["trial_id"])
    assert kept == done


@pytest.mark.slow
def test_resuming_with_other_settings_is_refused(tmp_path):
    kwargs = dict(directory=str(tmp_path), project_name="p", max_trials=1)
    tuner = tuning.make_tuner("random", _lenet(8), memory_budget=2**30, **kwargs)
    _search(tuner, _data(n=32, size=8))
    with pytest.raises(
        ValueError,
        match=r"argument `memory_objective`.*"
        r"overwrite=True to start a new search",
    ):
        tuning.make_tuner("random", _lenet(8), memory_budget=2**20, **kwargs)
    with pytest.raises(ValueError, match=r"argument `hypermodel_config`"):
        tuning.make_tuner(
            "random",
            tuning.SpecNetHyperModel("spec_lenet5", input_shape=(8, 8, 1), beta_range=(0.0, 0.9)),
            memory_budget=2**30,
            **kwargs,
        )
    saved = json.loads((tmp_path / "p" / f"{tuner.tuner_id}.json").read_text())
    assert saved["memory_objective"]["memory_budget"] == 2**30


class _CountEpochs(keras.callbacks.Callback):
    epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        type(self).epochs += 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_search(kind, tmp_path):
    kwargs = (
        dict(max_epochs=2, factor=3)
        if kind == "hyperband"  # one bracket: 2 trials of 2 epochs
        else dict(max_trials=2, num_initial_points=1)  # the 2nd from the GP
    )
    hypermodel = tuning.SpecNetHyperModel(
        "spec_lenet5", input_shape=(8, 8, 1), beta_range=(0.0, 0.5), model_kwargs=FAST
    )
    tuner = tuning.make_tuner(
        kind,
        hypermodel,
        memory_budget=2**30,
        seed=1,
        directory=str(tmp_path),
        **kwargs,
    )
    x, y = _data(n=32, size=8)
    _CountEpochs.epochs = 0
    tuner.search(
        x, y, validation_split=0.25, epochs=1, batch_size=16, verbose=0, callbacks=[_CountEpochs()]
    )
    rows = tuning.trials_table(tuner)
    assert len(rows) >= 2
    assert all(r["status"] == "ok" for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert all(r["score"] == r["val_accuracy"] for r in rows)
    if kind == "hyperband":  # Hyperband, not search(epochs=1), set the epochs
        assert _CountEpochs.epochs == 2 * len(rows)
        assert all(
            t.hyperparameters.values["tuner/epochs"] == 2 for t in tuner.oracle.trials.values()
        )
    else:
        assert _CountEpochs.epochs == len(rows)


def test_tuning_is_not_imported_with_the_package():
    import subprocess
    import sys

    code = "import sys, keras_specnet; print('keras_tuner' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.stdout.strip() == "False"


def test_tuning_is_an_attribute_of_the_package():
    import keras_specnet

    assert keras_specnet.tuning is tuning
    assert "tuning" in keras_specnet.__all__


# --- butterfly models: run against every registered model with a base -------


@pytest.mark.parametrize("model", tuning.butterfly_models())
def test_butterfly_build_with_default_and_fixed_hyperparameters(model):
    builder = applications.get(model)
    hypermodel = tuning.ButterflyHyperModel(
        model, bases=(4, 2), widths=(0.25, 0.5), input_shape=(32, 32, 3)
    )
    width = hypermodel.width_argument
    assert width in ("alpha", "scale", "width")
    hp = keras_tuner.HyperParameters()
    built = hypermodel.build(hp)
    assert hp.values == {"butterfly_base": 4, width: 0.25}
    expected = builder(input_shape=(32, 32, 3), butterfly_base=4, **{width: 0.25})
    assert built.count_params() == expected.count_params()
    assert built.optimizer is not None

    hp = keras_tuner.HyperParameters()
    hp.Fixed("butterfly_base", 2)
    hp.Fixed(width, 0.5)
    built = hypermodel.build(hp)
    expected = builder(input_shape=(32, 32, 3), butterfly_base=2, **{width: 0.5})
    assert built.count_params() == expected.count_params()


@pytest.mark.parametrize("model", tuning.butterfly_models())
def test_butterfly_hypermodel_rejects_bad_bases_and_widths(model):
    with pytest.raises(
        ValueError,
        match=r"argument `bases`. Expected a non-empty "
        r"sequence of distinct integers >= 2. Received: bases=\(1, 2\)",
    ):
        tuning.ButterflyHyperModel(model, bases=(1, 2))
    with pytest.raises(ValueError, match=r"Received: bases=\(\)"):
        tuning.ButterflyHyperModel(model, bases=())
    with pytest.raises(ValueError, match=r"Received: bases=\(2, 2\)"):
        tuning.ButterflyHyperModel(model, bases=(2, 2))
    with pytest.raises(ValueError, match=r"Received: widths=\(0.5, -1\)"):
        tuning.ButterflyHyperModel(model, widths=(0.5, -1))
