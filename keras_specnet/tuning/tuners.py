"""Keras Tuner's tuners with the memory-aware objective."""

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from keras_specnet import _checks
from keras_specnet.callbacks import MemoryProfiler
from keras_specnet.tuning.objective import (
    OBJECTIVE,
    OUT_OF_MEMORY_SCORE,
    _check_objective,
    _TrialMeter,
)
from keras_specnet.tuning.report import _jsonable


def _first_batch(args, kwargs):
    """The first training batch of `search`'s arguments, as NumPy arrays."""
    x = args[0] if args else kwargs.get("x")
    if isinstance(x, tf.data.Dataset):
        batch = next(iter(x))
        return tuple(keras.ops.convert_to_numpy(t) for t in batch[:2])
    y = args[1] if len(args) > 1 else kwargs.get("y")
    if x is None or y is None:
        raise ValueError(
            "The memory-aware tuners need training data as `search(x, y, ...)` "
            "or a `tf.data.Dataset` of (images, labels) batches. "
            f"Received: x={type(x).__name__}, y={type(y).__name__}"
        )
    size = kwargs.get("batch_size") or 32
    return np.asarray(x[:size]), np.asarray(y[:size])


class _MemoryAwareTuner:
    """Mixin for a `keras_tuner.Tuner` subclass: memory-aware objective.

    Must come first among the bases, so that its `run_trial` wraps the
    tuner's (Hyperband's sets the epochs, `Tuner`'s fits the model).
    """

    def __init__(
        self,
        hypermodel,
        memory_budget=None,
        memory_weight=0.0,
        time_budget=None,
        memory="step",
        accuracy_metric=None,
        **kwargs,
    ):
        if kwargs.get("objective") is not None:
            raise _checks.invalid(
                "objective",
                f"None: the memory-aware tuners maximise {OBJECTIVE!r} (see keras_specnet.tuning)",
                kwargs["objective"],
            )
        if not isinstance(hypermodel, keras_tuner.HyperModel):
            raise _checks.invalid(
                "hypermodel",
                "a keras_tuner.HyperModel (e.g. SpecNetHyperModel)",
                hypermodel,
            )
        memory_budget, memory_weight, time_budget = _check_objective(
            memory_budget, memory_weight, time_budget, memory
        )
        if accuracy_metric is not None and not isinstance(accuracy_metric, str):
            raise _checks.invalid("accuracy_metric", "None or a metric name", accuracy_metric)
        self.settings = {
            "memory_budget": memory_budget,
            "memory_weight": memory_weight,
            "time_budget": time_budget,
            "memory": memory,
            "accuracy_metric": accuracy_metric,
        }
        kwargs["objective"] = keras_tuner.Objective(OBJECTIVE, direction="max")
        # Set before the base class reloads a saved search (set_state checks).
        self._hypermodel_config = (
            hypermodel.get_config() if hasattr(hypermodel, "get_config") else None
        )
        super().__init__(hypermodel=hypermodel, **kwargs)
        self.trials_run = []

    def on_search_begin(self):
        super().on_search_begin()
        self.trials_run = []

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        # The trial as the oracle recorded it, metrics included: on a worker
        # of a distributed search, the chief's copy, read while the chief
        # still serves this worker (it may stop once the search is done).
        self.trials_run.append(self.oracle.get_trial(trial.trial_id))

    def run_trial(self, trial, *args, **kwargs):
        accuracy_metric = self.settings["accuracy_metric"] or (
            "val_accuracy"
            if kwargs.get("validation_data") is not None or kwargs.get("validation_split")
            else "accuracy"
        )
        meter = _TrialMeter(self.settings, accuracy_metric, _first_batch(args, kwargs))
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), MemoryProfiler(), meter]
        try:
            return super().run_trial(trial, *args, **kwargs)
        except (tf.errors.ResourceExhaustedError, MemoryError) as error:
            trial.message = f"out of memory: {type(error).__name__}: {error}"[:2000]
            return {
                OBJECTIVE: OUT_OF_MEMORY_SCORE,
                "over_budget": 1.0,
                "out_of_memory": 1.0,
            }

    def get_state(self):
        state = super().get_state()
        state["memory_objective"] = self.settings
        state["hypermodel_config"] = self._hypermodel_config
        return state

    def set_state(self, state):
        super().set_state(state)
        for key, current in [
            ("memory_objective", self.settings),
            ("hypermodel_config", self._hypermodel_config),
        ]:
            saved = state.get(key)
            if saved is not None and _jsonable(saved) != _jsonable(current):
                raise ValueError(
                    f"Invalid value for argument `{key}`. Expected the settings "
                    f"of the search saved in {self.project_dir} ({saved}), or "
                    "overwrite=True to start a new search. Received: "
                    f"{key}={current}"
                )


_DOC = """Keras Tuner's `{base}` with the memory-aware objective.

    Maximises `"score"` (see `keras_specnet.tuning` and `memory_aware_score`)
    and records each trial's memory (`memory_peak_bytes`,
    `memory_step_bytes`, `held_bytes`), times and budget status in its
    metrics. `trials_run` lists the trials this tuner ran in its last
    `search`, as the oracle recorded them: on a worker of Keras Tuner's
    distributed mode, the trials of that worker only.

    Args:
        hypermodel: a `keras_tuner.HyperModel`, e.g. `SpecNetHyperModel`.
        memory_budget: `None` or bytes > 0 that the scored memory may reach.
        memory_weight: float in `[0, 1]`, the weight of `memory /
            memory_budget` subtracted from the accuracy within budget.
            Defaults to `0`.
        time_budget: `None` or seconds > 0 per training step (median).
        memory: the figure held against the budget, a key of
            `MEMORY_FIGURES`: `"step"` (`memory_step_bytes`), `"peak"`
            (MemoryProfiler's `memory_peak_bytes`) or `"held"`
            (`held_bytes`). Defaults to `"step"`.
        accuracy_metric: the logged accuracy to score. Defaults to `None`:
            `"val_accuracy"` when `search` gets validation data, else
            `"accuracy"`.
        **kwargs: the arguments of `keras_tuner.{base}` (`max_trials`,
            `directory`, `project_name`, `overwrite`, `seed`, ...), except
            `objective`.
    """


class MemoryAwareRandomSearch(_MemoryAwareTuner, keras_tuner.RandomSearch):
    __doc__ = _DOC.format(base="RandomSearch")


class MemoryAwareBayesianOptimization(_MemoryAwareTuner, keras_tuner.BayesianOptimization):
    __doc__ = _DOC.format(base="BayesianOptimization")


class MemoryAwareHyperband(_MemoryAwareTuner, keras_tuner.Hyperband):
    __doc__ = _DOC.format(base="Hyperband")


#: `make_tuner` kinds: name -> tuner class.
TUNERS = {
    "random": MemoryAwareRandomSearch,
    "bayesian": MemoryAwareBayesianOptimization,
    "hyperband": MemoryAwareHyperband,
}


def make_tuner(kind, hypermodel, **kwargs):
    """A memory-aware tuner: `"random"`, `"bayesian"` or `"hyperband"`.

    Args:
        kind: a key of `TUNERS`.
        hypermodel: a `keras_tuner.HyperModel`.
        **kwargs: the tuner's arguments (see `MemoryAwareRandomSearch`).

    Returns:
        The tuner.
    """
    _checks.one_of("kind", kind, list(TUNERS))
    return TUNERS[kind](hypermodel, **kwargs)
