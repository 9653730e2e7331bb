"""The package's hypermodels under Keras Tuner's own tuners, as users write them."""

import glob
import math
import os

import keras
import keras_tuner
import numpy as np
import pytest

from keras_specnet import tuning


def _data(n=32, size=8, channels=1, seed=0):
    """Images with a bright bar whose row gives the class: learnable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, size, size, channels)).astype("float32") * 0.2
    for i, c in enumerate(y):
        row = (c * size) // 10
        x[i, row : row + max(1, size // 14), 1:-1, :] = 1.0
    return x, y


def _spec(**kwargs):
    # batch_chunks=1: SpecLeNet-5's graphs trace in a fraction of the time.
    return tuning.SpecNetHyperModel(
        "spec_lenet5",
        input_shape=(8, 8, 1),
        beta_range=(0.0, 0.5),
        model_kwargs={"batch_chunks": 1},
        **kwargs,
    )


def _butterfly():
    return tuning.ButterflyHyperModel(
        "mobilenet_v1_bft", bases=(2, 4), input_shape=(16, 16, 3), model_kwargs={"alpha": 0.25}
    )


# Each hypermodel with the data it takes and a check of its trials' values.
HYPERMODELS = {
    "specnet": (_spec, dict(size=8, channels=1), lambda v: 0.0 <= v["beta"] <= 0.5),
    "butterfly": (_butterfly, dict(size=16, channels=3), lambda v: v["butterfly_base"] in (2, 4)),
}


def _plain_tuner(kind, hypermodel, directory, **kwargs):
    """Keras Tuner's own tuner of `kind`, two trials of one epoch."""
    common = dict(objective="val_accuracy", seed=1, directory=str(directory), project_name=kind)
    common.update(kwargs)
    if kind == "random":
        return keras_tuner.RandomSearch(hypermodel, max_trials=2, **common)
    if kind == "bayesian":  # the second trial comes from the Gaussian process
        return keras_tuner.BayesianOptimization(
            hypermodel, max_trials=2, num_initial_points=1, **common
        )
    # One bracket of one 1-epoch trial per iteration.
    return keras_tuner.Hyperband(hypermodel, max_epochs=1, hyperband_iterations=2, **common)


def _search(tuner, data, epochs=1, **kwargs):
    x, y = data
    tuner.search(
        x,
        y,
        validation_data=(x[:16], y[:16]),
        epochs=epochs,
        batch_size=16,
        verbose=0,
        **kwargs,
    )


def _check_completed_and_scored(tuner, count, in_space):
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == count
    for trial in trials:
        assert trial.status == "COMPLETED", trial.message
        assert isinstance(trial.score, float) and math.isfinite(trial.score)
        assert 0.0 <= trial.score <= 1.0
        # The score is the objective: the trial's best validation accuracy.
        assert trial.score == trial.metrics.get_best_value("val_accuracy")
        assert in_space(trial.hyperparameters.values)
    (best,) = tuner.oracle.get_best_trials(1)
    assert best.score == max(t.score for t in trials)
    assert tuner.get_best_hyperparameters(1)[0].values == best.hyperparameters.values


@pytest.mark.parametrize(
    "kind,name",
    [
        ("random", "specnet"),
        ("bayesian", "specnet"),
        ("hyperband", "specnet"),
        # The tuners are covered above; MobileNetV1-BFT's 13 blocks take
        # about a minute a search to trace, so the butterfly hypermodel
        # runs under one of them.
        pytest.param("random", "butterfly", marks=pytest.mark.slow),
    ],
)
def test_plain_tuners_complete_and_score_every_trial(kind, name, tmp_path):
    make, data, in_space = HYPERMODELS[name]
    tuner = _plain_tuner(kind, make(), tmp_path)
    _search(tuner, _data(**data))
    _check_completed_and_scored(tuner, 2, in_space)
    if kind == "hyperband":
        assert all(
            t.hyperparameters.values["tuner/epochs"] == 1 for t in tuner.oracle.trials.values()
        )


class _CountEpochs(keras.callbacks.Callback):
    """Counts the epochs of every fit (the tuner deep-copies its callbacks)."""

    epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        type(self).epochs += 1


def test_search_callbacks_and_the_tuner_checkpoint_reach_fit(tmp_path):
    x, y = _data()
    # No epoch improves the loss by 1e9: the trial stops after its second.
    stop = keras.callbacks.EarlyStopping(monitor="loss", mode="min", min_delta=1e9, patience=0)
    tuner = keras_tuner.RandomSearch(
        _spec(learning_rate=1e-2), objective="val_accuracy", max_trials=1, directory=str(tmp_path)
    )
    _CountEpochs.epochs = 0
    _search(tuner, (x, y), epochs=4, callbacks=[stop, _CountEpochs()])
    assert _CountEpochs.epochs == 2
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED" and math.isfinite(trial.score)

    # The tuner's own callback checkpointed the epoch that gave the score.
    assert glob.glob(os.path.join(tuner.get_trial_dir(trial.trial_id), "*.weights.h5"))
    (model,) = tuner.get_best_models(1)
    evaluated = model.evaluate(x[:16], y[:16], batch_size=16, verbose=0, return_dict=True)
    assert evaluated["accuracy"] == pytest.approx(trial.score, abs=1e-6)


class _Poisoned(tuning.SpecNetHyperModel):
    """SpecLeNet-5 whose classifier computes NaN when `poisoned` is True."""

    def build(self, hp):
        model = super().build(hp)
        if hp.Boolean("poisoned"):
            kernel = model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))
        return model


def test_a_trial_whose_loss_goes_nan_fails_and_is_never_best(tmp_path):
    hypermodel = _Poisoned(
        "spec_lenet5",
        input_shape=(8, 8, 1),
        beta_range=(0.0, 0.5),
        model_kwargs={"batch_chunks": 1},
    )
    # Grid search: the defaults first (poisoned=False), then poisoned=True.
    tuner = keras_tuner.GridSearch(
        hypermodel, objective="val_accuracy", max_trials=2, directory=str(tmp_path)
    )
    _search(tuner, _data())
    trials = {t.hyperparameters.values["poisoned"]: t for t in tuner.oracle.trials.values()}
    assert set(trials) == {False, True}

    failed = trials[True]
    assert failed.status == "FAILED"
    assert failed.score is None
    assert "FailedTrialError" in failed.message
    assert "`loss` is nan at batch 1 of epoch 1" in failed.message

    clean = trials[False]
    assert clean.status == "COMPLETED" and math.isfinite(clean.score)
    assert tuner.oracle.get_best_trials(2)[0] is clean
    assert tuner.get_best_hyperparameters(1)[0].values["poisoned"] is False


# --- HyperModel.fit on its own -----------------------------------------------


def _built():
    """The spectral hypermodel, its default hyperparameters, its model and data."""
    hypermodel = _spec()
    hp = keras_tuner.HyperParameters()
    _CountEpochs.epochs = 0
    return hypermodel, hp, hypermodel.build(hp), _data()


def test_fit_passes_the_callbacks_and_arguments_to_model_fit():
    hypermodel, hp, model, (x, y) = _built()
    history = hypermodel.fit(
        hp, model, x, y, epochs=2, batch_size=16, verbose=0, callbacks=[_CountEpochs()]
    )
    assert _CountEpochs.epochs == 2
    assert len(history.history["loss"]) == 2
    assert all(math.isfinite(v) for v in history.history["loss"])
    # No callbacks at all is fine too.
    history = hypermodel.fit(hp, model, x, y, epochs=1, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 1


class _PoisonAfter(keras.callbacks.Callback):
    """Sets the classifier's kernel to NaN at the end of training batch `batch`."""

    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            kernel = self.model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_fit_fails_the_trial_when_the_training_loss_is_not_finite():
    hypermodel, hp, model, (x, y) = _built()
    with pytest.raises(
        keras_tuner.errors.FailedTrialError,
        match=r"The trial's `loss` is nan at batch 2 of epoch 1: the model diverged "
        r"with the hyper-parameters \{'beta': 0.0\}",
    ):
        hypermodel.fit(
            hp,
            model,
            x,
            y,
            epochs=3,
            batch_size=16,
            verbose=0,
            callbacks=[_PoisonAfter(batch=0), _CountEpochs()],
        )
    assert _CountEpochs.epochs == 0  # stopped at once, not at the end of the epoch


def test_fit_fails_the_trial_when_the_validation_loss_is_not_finite():
    hypermodel = _spec()
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    x, y = _data()  # two batches of 16: the training losses stay finite
    with pytest.raises(
        keras_tuner.errors.FailedTrialError,
        match=r"The trial's `val_loss` is nan at the end of epoch 1",
    ):
        hypermodel.fit(
            hp,
            model,
            x,
            y,
            validation_data=(x[:16], y[:16]),
            epochs=1,
            batch_size=16,
            verbose=0,
            callbacks=[_PoisonAfter(batch=1)],
        )
