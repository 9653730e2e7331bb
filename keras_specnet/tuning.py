"""Keras Tuner search over beta and the butterfly base, aware of memory.

Two `keras_tuner.HyperModel`s declare the search spaces:

- `SpecNetHyperModel`: the spectral threshold `beta` of a SpecNet model
  (and optionally the learning rate);
- `ButterflyHyperModel`: the butterfly base (and optionally the width
  multiplier) of a model with Butterfly Transform fusion.

Three tuners run the search with Keras Tuner's own oracles and record the
training memory of every trial: `MemoryAwareRandomSearch`,
`MemoryAwareBayesianOptimization` and `MemoryAwareHyperband` (or
`make_tuner("random" | "bayesian" | "hyperband", ...)`). Their objective is
`"score"` (maximised), computed after every epoch by `memory_aware_score`
from the epoch's accuracy and measured memory:

- within the budgets (or with no budget): `accuracy - memory_weight *
  memory / memory_budget`, so with the default `memory_weight=0` the
  validation accuracy itself;
- over a budget: `-ratio`, where `ratio > 1` is the largest of
  `memory / memory_budget` and `step_seconds / time_budget`. Every trial
  over budget thus ranks below every trial within it (whose score is at
  least `-memory_weight >= -1`), and the further over, the lower;
- out of memory (a `ResourceExhaustedError` or `MemoryError` while the
  trial ran): `OUT_OF_MEMORY_SCORE`, with `out_of_memory = 1`.

Over-budget and out-of-memory trials are completed trials with these
scores, not failures: the search goes on, and the trial's metrics keep
what was measured (`over_budget`, `out_of_memory`, the memory figures).

Where the memory figures come from, per trial:

- `memory_peak_bytes`, `memory_mean_bytes`: `keras_specnet.callbacks.
  MemoryProfiler`, the largest and the mean allocator peak of the epoch's
  training steps: everything allocated counts, weights, optimizer state,
  the batch, and also what earlier trials left allocated;
- `memory_step_bytes`: the largest, over the epoch's steps, of the peak
  minus what was allocated when the step began (as in
  `keras_specnet.memory.step_peak`): what the step itself needs, free of
  what earlier trials left;
- `held_bytes`: `keras_specnet.memory.held_bytes` on the first training
  batch, measured at the end of each epoch on that epoch's weights (what
  the threshold removes depends on them): what a compiled step holds from
  its forward to its backward pass, the figure SpecNet's threshold reduces;
- `step_seconds`: the median wall time of the epoch's training steps;
  `fit_seconds`: the trial's training time so far (the held-bytes
  measurements included).

`memory="step"` (the default) scores `memory_step_bytes`, `memory="peak"`
`memory_peak_bytes` and `memory="held"` `held_bytes`. The default is the
step's own memory because the raw peak grows from trial to trial: in a
search of SpecVGG16 (width 0.25) it read 91, 101 and 115 MB in three
successive trials whose step bytes were 73, 72 and 73 MB. On the CPU,
TensorFlow's default allocator does not count tensors below about 256 KiB
unless `TF_CPU_ALLOCATOR_USE_BFC=true` was set before TensorFlow started
(see `keras_specnet.memory`; `make` sets it), so tiny models read zero
without it. As Keras Tuner does, a trial keeps the metrics
of its best-scoring epoch.

A search resumes from its `directory` and `project_name` (Keras Tuner's
`overwrite=False`): finished trials are kept, an interrupted one runs
again. The objective settings and the hypermodel's configuration are
saved with the search; resuming with different ones raises a `ValueError`
instead of mixing incomparable scores.

`keras_specnet` does not import this module at start-up (Keras Tuner is
imported only when `keras_specnet.tuning` is first used).

Example:

```python
from keras_specnet import datasets, tuning

hypermodel = tuning.SpecNetHyperModel(
    "spec_lenet5", input_shape=(28, 28, 1), classes=10, beta_range=(0.0, 0.5)
)
tuner = tuning.make_tuner(
    "random", hypermodel, memory_budget=64 * 2**20, max_trials=4,
    directory="tune", project_name="spec_lenet5",
)
train = datasets.load("fashion_mnist", "train[:90%]", limit=4000)
val = datasets.load("fashion_mnist", "train[90%:]", limit=1000)
tuner.search(train, validation_data=val, epochs=2)
for row in tuning.trials_table(tuner):
    print(row["hyperparameters"], row["score"], row["held_bytes"])
```
"""

import inspect
import math
import numbers
import statistics
import time

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from keras_specnet import _checks, applications, memory
from keras_specnet.callbacks import MemoryProfiler

#: Score of a trial that ran out of memory: below any measured trial.
OUT_OF_MEMORY_SCORE = -1e9

#: Name of the tuners' objective (direction "max").
OBJECTIVE = "score"

#: Width-multiplier argument names the butterfly builders may use.
_WIDTH_ARGUMENTS = ("alpha", "scale", "width")

_OPTIMIZERS = ("adam", "sgd")

#: `memory=` choices of the tuners -> the metric held against the budget.
_MEMORY_FIGURES = {
    "peak": "memory_peak_bytes",
    "step": "memory_step_bytes",
    "held": "held_bytes",
}


def _spectral_models():
    return sorted(applications.SPECTRAL_MODELS)


def butterfly_models():
    """Registry names whose builder takes a `butterfly_base` argument."""
    return sorted(
        name
        for name, builder in applications.MODELS.items()
        if "butterfly_base" in inspect.signature(builder).parameters
    )


def _number_pair(name, value, minimum=0.0):
    """A pair `(low, high)` of finite numbers, `minimum <= low < high`."""
    try:
        low, high = value
    except (TypeError, ValueError):
        low = high = None
    if not all(
        isinstance(v, numbers.Real)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and v >= minimum
        for v in (low, high)
    ) or not low < high:
        raise _checks.invalid(
            name, f"a pair (low, high) of finite numbers with {minimum:g} <= low < high",
            value,
        )
    return float(low), float(high)


def _input_shape(value):
    if value is None:
        return None
    try:
        shape = tuple(value)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
        for v in shape
    ):
        raise _checks.invalid(
            "input_shape", "None or a tuple (height, width, channels) of positive integers",
            value,
        )
    return tuple(int(v) for v in shape)


def _model_kwargs(model, builder, model_kwargs, reserved):
    model_kwargs = dict(model_kwargs or {})
    parameters = inspect.signature(builder).parameters
    taken = sorted(set(model_kwargs) & set(reserved))
    if taken:
        raise _checks.invalid(
            "model_kwargs",
            f"builder arguments other than {', '.join(reserved)} (the hypermodel "
            "sets those)",
            model_kwargs,
        )
    unknown = sorted(set(model_kwargs) - set(parameters))
    if unknown:
        raise _checks.invalid(
            "model_kwargs",
            f"arguments of {model!r}'s builder ({', '.join(parameters)})",
            model_kwargs,
        )
    return model_kwargs


class _CompilingHyperModel(keras_tuner.HyperModel):
    """Shared parts: learning rate, optimizer, compile."""

    def __init__(
        self,
        model,
        input_shape,
        classes,
        learning_rate,
        learning_rate_range,
        optimizer,
        model_kwargs,
        name,
        tunable,
    ):
        super().__init__(name=name, tunable=tunable)
        self.input_shape = _input_shape(input_shape)
        self.classes = _checks.positive_int("classes", classes)
        self.learning_rate = _checks.positive_number("learning_rate", learning_rate)
        if learning_rate_range is not None:
            low, high = _number_pair("learning_rate_range", learning_rate_range)
            if low <= 0:
                raise _checks.invalid(
                    "learning_rate_range", "a pair (low, high) with 0 < low < high",
                    learning_rate_range,
                )
            if not low <= self.learning_rate <= high:
                raise _checks.invalid(
                    "learning_rate",
                    f"a default inside learning_rate_range ({low:g}, {high:g})",
                    learning_rate,
                )
            learning_rate_range = (low, high)
        self.learning_rate_range = learning_rate_range
        self.optimizer = _checks.one_of("optimizer", optimizer, _OPTIMIZERS)
        self.model = model

    def _learning_rate(self, hp):
        if self.learning_rate_range is None:
            return self.learning_rate
        low, high = self.learning_rate_range
        return hp.Float(
            "learning_rate", low, high, sampling="log", default=self.learning_rate
        )

    def _compile(self, model, learning_rate):
        if self.optimizer == "adam":
            optimizer = keras.optimizers.Adam(learning_rate)
        else:
            optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9)
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def _shape_kwargs(self):
        kwargs = {"classes": self.classes}
        if self.input_shape is not None:
            kwargs["input_shape"] = self.input_shape
        return kwargs

    def get_config(self):
        return {
            "class": type(self).__name__,
            "model": self.model,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "classes": self.classes,
            "learning_rate": self.learning_rate,
            "learning_rate_range": None
            if self.learning_rate_range is None
            else list(self.learning_rate_range),
            "optimizer": self.optimizer,
            "model_kwargs": dict(self.model_kwargs),
        }


class SpecNetHyperModel(_CompilingHyperModel):
    """Search space of a SpecNet model's threshold `beta`.

    `build(hp)` declares `hp.Float("beta", *beta_range, default=beta_default,
    sampling=beta_sampling)` and, when `learning_rate_range` is given,
    `hp.Float("learning_rate", *learning_rate_range, sampling="log",
    default=learning_rate)`, builds the registered model with that `beta`
    and compiles it (sparse categorical cross-entropy, accuracy).

    Args:
        model: str. A registry name of a spectral model (its builder takes
            `beta`), e.g. `"spec_vgg16"`. Defaults to `"spec_vgg16"`.
        input_shape: `(height, width, channels)` or `None` for the
            builder's default. Defaults to `None`.
        classes: int. Number of classes. Defaults to `10`.
        beta_range: `(low, high)`, `0 <= low < high`: the range searched.
            Defaults to `(0.3, 1.5)`.
        beta_default: float in `beta_range`, the value of `beta` when the
            hyper-parameter is not searched (Keras Tuner's default, also
            its first guess in some oracles). Defaults to `None`, the low
            end of `beta_range` (the least thresholding).
        beta_sampling: `"linear"` or `"log"` (`"log"` needs `low > 0`).
            Defaults to `"linear"`.
        learning_rate: float > 0. The learning rate, or its default when
            `learning_rate_range` is given. Defaults to `1e-3`.
        learning_rate_range: `None` (learning rate not searched) or
            `(low, high)`, `0 < low < high`, searched on a log scale.
            Defaults to `None`.
        optimizer: `"adam"` or `"sgd"` (momentum 0.9). Defaults to
            `"adam"`.
        model_kwargs: dict of further builder arguments (e.g.
            `{"width": 0.25}`), fixed for every trial. Defaults to `None`.
        name: Optional name of the hypermodel.
        tunable: bool. Whether its hyper-parameters are searched. Defaults
            to `True`.

    Example:

    ```python
    import keras_tuner
    from keras_specnet.tuning import SpecNetHyperModel

    hypermodel = SpecNetHyperModel(
        "spec_vgg16", input_shape=(28, 28, 1), model_kwargs={"width": 0.25}
    )
    model = hypermodel.build(keras_tuner.HyperParameters())  # beta = 0.3
    ```
    """

    def __init__(
        self,
        model="spec_vgg16",
        input_shape=None,
        classes=10,
        beta_range=(0.3, 1.5),
        beta_default=None,
        beta_sampling="linear",
        learning_rate=1e-3,
        learning_rate_range=None,
        optimizer="adam",
        model_kwargs=None,
        name=None,
        tunable=True,
    ):
        _checks.one_of("model", model, _spectral_models())
        super().__init__(
            model, input_shape, classes, learning_rate, learning_rate_range,
            optimizer, model_kwargs, name, tunable,
        )
        self.builder = applications.get(model)
        self.model_kwargs = _model_kwargs(
            model, self.builder, model_kwargs, ("beta", "input_shape", "classes")
        )
        self.beta_range = _number_pair("beta_range", beta_range)
        low, high = self.beta_range
        self.beta_sampling = _checks.one_of(
            "beta_sampling", beta_sampling, ("linear", "log")
        )
        if beta_sampling == "log" and low <= 0:
            raise _checks.invalid(
                "beta_range", "a pair (low, high) with 0 < low < high for "
                "beta_sampling='log'", beta_range,
            )
        if beta_default is None:
            beta_default = low
        if (
            isinstance(beta_default, bool)
            or not isinstance(beta_default, numbers.Real)
            or not low <= beta_default <= high
        ):
            raise _checks.invalid(
                "beta_default", f"a number inside beta_range ({low:g}, {high:g})",
                beta_default,
            )
        self.beta_default = float(beta_default)

    def build(self, hp):
        beta = hp.Float(
            "beta", *self.beta_range, sampling=self.beta_sampling,
            default=self.beta_default,
        )
        learning_rate = self._learning_rate(hp)
        model = self.builder(beta=beta, **self._shape_kwargs(), **self.model_kwargs)
        return self._compile(model, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(
            beta_range=list(self.beta_range),
            beta_default=self.beta_default,
            beta_sampling=self.beta_sampling,
        )
        return config


class ButterflyHyperModel(_CompilingHyperModel):
    """Search space of a Butterfly Transform model's base and width.

    `build(hp)` declares `hp.Choice("butterfly_base", bases,
    default=bases[0])`, and when `widths` is given `hp.Choice(WIDTH,
    widths, default=widths[0])` where `WIDTH` is the builder's own width
    argument (`alpha` for `MobileNetV1`, `scale` for `ShuffleNetV2`, read
    from its signature), plus the learning rate as in `SpecNetHyperModel`.
    It builds the registered model with those values and compiles it.

    Args:
        model: str. A registry name whose builder takes `butterfly_base`
            (see `butterfly_models()`), e.g. `"mobilenet_v1_bft"`. Defaults
            to `"mobilenet_v1_bft"`.
        bases: distinct integers >= 2, the butterfly bases searched; the
            first is the default. Defaults to `(2, 4, 8, 16)`.
        widths: `None` (the builder's default width) or distinct positive
            numbers, the width multipliers searched; the first is the
            default. Defaults to `None`.
        input_shape, classes, learning_rate, learning_rate_range,
        optimizer, model_kwargs, name, tunable: as in `SpecNetHyperModel`.

    Example:

    ```python
    import keras_tuner
    from keras_specnet.tuning import ButterflyHyperModel

    hypermodel = ButterflyHyperModel(
        "mobilenet_v1_bft", bases=(2, 4, 8), widths=(0.25, 0.5),
        input_shape=(32, 32, 3),
    )
    model = hypermodel.build(keras_tuner.HyperParameters())  # base 2, 0.25
    ```
    """

    def __init__(
        self,
        model="mobilenet_v1_bft",
        bases=(2, 4, 8, 16),
        widths=None,
        input_shape=None,
        classes=10,
        learning_rate=1e-3,
        learning_rate_range=None,
        optimizer="adam",
        model_kwargs=None,
        name=None,
        tunable=True,
    ):
        _checks.one_of("model", model, butterfly_models())
        super().__init__(
            model, input_shape, classes, learning_rate, learning_rate_range,
            optimizer, model_kwargs, name, tunable,
        )
        self.builder = applications.get(model)
        parameters = inspect.signature(self.builder).parameters
        self.width_argument = next(
            (arg for arg in _WIDTH_ARGUMENTS if arg in parameters), None
        )
        self.bases = self._choices(
            "bases", bases, "distinct integers >= 2",
            lambda v: isinstance(v, numbers.Integral) and v >= 2, int,
        )
        if widths is not None:
            if self.width_argument is None:
                raise _checks.invalid(
                    "widths", f"None: {model!r}'s builder has no width argument "
                    f"({', '.join(_WIDTH_ARGUMENTS)})", widths,
                )
            widths = self._choices(
                "widths", widths, "distinct finite numbers > 0",
                lambda v: isinstance(v, numbers.Real) and math.isfinite(v) and v > 0,
                float,
            )
        self.widths = widths
        reserved = ("butterfly_base", "input_shape", "classes")
        if widths is not None:
            reserved += (self.width_argument,)
        self.model_kwargs = _model_kwargs(model, self.builder, model_kwargs, reserved)

    @staticmethod
    def _choices(name, values, expected, valid, cast):
        try:
            values = tuple(values)
        except TypeError:
            values = ()
        if (
            not values
            or any(isinstance(v, bool) or not valid(v) for v in values)
            or len(set(values)) != len(values)
        ):
            raise _checks.invalid(name, f"a non-empty sequence of {expected}", values)
        return tuple(cast(v) for v in values)

    def build(self, hp):
        kwargs = dict(self._shape_kwargs(), **self.model_kwargs)
        kwargs["butterfly_base"] = hp.Choice(
            "butterfly_base", list(self.bases), default=self.bases[0]
        )
        if self.widths is not None:
            kwargs[self.width_argument] = hp.Choice(
                self.width_argument, list(self.widths), default=self.widths[0]
            )
        learning_rate = self._learning_rate(hp)
        return self._compile(self.builder(**kwargs), learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(
            bases=list(self.bases),
            widths=None if self.widths is None else list(self.widths),
        )
        return config


def _optional_budget(name, value):
    if value is None:
        return None
    return _checks.positive_number(name, value)


def _check_objective(memory_budget, memory_weight, time_budget, memory_kind):
    memory_budget = _optional_budget("memory_budget", memory_budget)
    time_budget = _optional_budget("time_budget", time_budget)
    memory_weight = _checks.non_negative_number("memory_weight", memory_weight)
    if memory_weight > 1:
        raise _checks.invalid("memory_weight", "a number in [0, 1]", memory_weight)
    if memory_weight and memory_budget is None:
        raise _checks.invalid(
            "memory_weight", "0 when no memory_budget is given (the weight "
            "scales memory / memory_budget)", memory_weight,
        )
    _checks.one_of("memory", memory_kind, list(_MEMORY_FIGURES))
    return memory_budget, memory_weight, time_budget


def memory_aware_score(
    accuracy,
    memory_bytes,
    memory_budget=None,
    memory_weight=0.0,
    step_seconds=None,
    time_budget=None,
):
    """The tuners' objective: accuracy within budgets, `-ratio` beyond them.

    Args:
        accuracy: float, the trial's accuracy (validation accuracy when the
            search has validation data).
        memory_bytes: the measured memory, in bytes.
        memory_budget: `None` or bytes > 0.
        memory_weight: float in `[0, 1]`: within budget, the score is
            `accuracy - memory_weight * memory_bytes / memory_budget`
            (needs `memory_budget`). Defaults to `0`.
        step_seconds: the measured time of one training step, in seconds
            (needed with `time_budget`).
        time_budget: `None` or seconds > 0 per training step.

    Returns:
        A dict: `score`, and `over_budget` (1.0 or 0.0). Over a budget the
        score is `-ratio`, `ratio` the largest of `memory_bytes /
        memory_budget` and `step_seconds / time_budget` (so below -1, and
        below every score within budget).
    """
    memory_budget, memory_weight, time_budget = _check_objective(
        memory_budget, memory_weight, time_budget, "peak"
    )
    ratios = []
    if memory_budget is not None:
        ratios.append(float(memory_bytes) / memory_budget)
    if time_budget is not None:
        if step_seconds is None:
            raise _checks.invalid(
                "step_seconds", "a number of seconds when time_budget is given",
                step_seconds,
            )
        ratios.append(float(step_seconds) / time_budget)
    if ratios and max(ratios) > 1:
        return {"score": -max(ratios), "over_budget": 1.0}
    score = float(accuracy)
    if memory_weight:
        score -= memory_weight * float(memory_bytes) / memory_budget
    return {"score": score, "over_budget": 0.0}


class _TrialMeter(keras.callbacks.Callback):
    """Adds `held_bytes`, times and the objective to each epoch's logs.

    Runs after `MemoryProfiler` (whose `memory_peak_bytes` it reads) and
    before Keras Tuner's own callbacks (which read the score).
    """

    def __init__(self, settings, accuracy_metric, sample):
        super().__init__()
        self.settings = settings
        self.accuracy_metric = accuracy_metric
        self.sample = sample  # NumPy (x, y): deep-copyable, as the tuner needs
        self.device = memory.default_device()

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._steps = []
        self._step_bytes = 0

    def on_train_batch_begin(self, batch, logs=None):
        # MemoryProfiler, before this callback, has just reset the peak.
        self._resident = tf.config.experimental.get_memory_info(self.device)["current"]
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._steps.append(time.perf_counter() - self._step_start)
        peak = tf.config.experimental.get_memory_info(self.device)["peak"]
        self._step_bytes = max(self._step_bytes, peak - self._resident)

    def on_epoch_end(self, epoch, logs=None):
        if self.accuracy_metric not in logs:
            raise keras_tuner.errors.FatalValueError(
                f"The tuner scores {self.accuracy_metric!r}, which this epoch's "
                f"logs lack (they have {', '.join(sorted(logs))})."
            )
        # Measured on the epoch's weights: how much the threshold removes,
        # and so what the spectral cache holds, depends on them.
        logs["held_bytes"] = float(memory.held_bytes(self.model, *self.sample))
        logs["memory_step_bytes"] = float(self._step_bytes)
        logs["step_seconds"] = float(statistics.median(self._steps))
        logs["fit_seconds"] = time.perf_counter() - self._start
        scored = logs[_MEMORY_FIGURES[self.settings["memory"]]]
        logs.update(
            memory_aware_score(
                logs[self.accuracy_metric],
                scored,
                memory_budget=self.settings["memory_budget"],
                memory_weight=self.settings["memory_weight"],
                step_seconds=logs["step_seconds"],
                time_budget=self.settings["time_budget"],
            )
        )
        logs["out_of_memory"] = 0.0


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
                "objective", f"None: the memory-aware tuners maximise "
                f"{OBJECTIVE!r} (see keras_specnet.tuning)", kwargs["objective"],
            )
        if not isinstance(hypermodel, keras_tuner.HyperModel):
            raise _checks.invalid(
                "hypermodel", "a keras_tuner.HyperModel (e.g. SpecNetHyperModel)",
                hypermodel,
            )
        memory_budget, memory_weight, time_budget = _check_objective(
            memory_budget, memory_weight, time_budget, memory
        )
        if accuracy_metric is not None and not isinstance(accuracy_metric, str):
            raise _checks.invalid(
                "accuracy_metric", "None or a metric name", accuracy_metric
            )
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

    def run_trial(self, trial, *args, **kwargs):
        accuracy_metric = self.settings["accuracy_metric"] or (
            "val_accuracy"
            if kwargs.get("validation_data") is not None
            or kwargs.get("validation_split")
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

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        # Keras Tuner imports TensorBoard's hparams plugin on every trial,
        # even with no TensorBoard callback; TensorFlow 2.21 no longer
        # installs tensorboard. Only ask for it when a callback needs it.
        if any(isinstance(c, keras.callbacks.TensorBoard) for c in callbacks):
            super()._configure_tensorboard_dir(callbacks, trial, execution)

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


def _jsonable(value):
    """`value` as it reads back from JSON (tuples as lists, ints as floats)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


_DOC = """Keras Tuner's `{base}` with the memory-aware objective.

    Maximises `"score"` (see `keras_specnet.tuning` and `memory_aware_score`)
    and records each trial's memory (`memory_peak_bytes`, `held_bytes`),
    times and budget status in its metrics.

    Args:
        hypermodel: a `keras_tuner.HyperModel`, e.g. `SpecNetHyperModel`.
        memory_budget: `None` or bytes > 0 that the scored memory may reach.
        memory_weight: float in `[0, 1]`, the weight of `memory /
            memory_budget` subtracted from the accuracy within budget.
            Defaults to `0`.
        time_budget: `None` or seconds > 0 per training step (median).
        memory: the figure held against the budget: `"step"`
            (`memory_step_bytes`), `"peak"` (MemoryProfiler's
            `memory_peak_bytes`) or `"held"` (`held_bytes`). Defaults to
            `"step"`.
        accuracy_metric: the logged accuracy to score. Defaults to `None`:
            `"val_accuracy"` when `search` gets validation data, else
            `"accuracy"`.
        **kwargs: the arguments of `keras_tuner.{base}` (`max_trials`,
            `directory`, `project_name`, `overwrite`, `seed`, ...), except
            `objective`.
    """


class MemoryAwareRandomSearch(_MemoryAwareTuner, keras_tuner.RandomSearch):
    __doc__ = _DOC.format(base="RandomSearch")


class MemoryAwareBayesianOptimization(
    _MemoryAwareTuner, keras_tuner.BayesianOptimization
):
    __doc__ = _DOC.format(base="BayesianOptimization")


class MemoryAwareHyperband(_MemoryAwareTuner, keras_tuner.Hyperband):
    __doc__ = _DOC.format(base="Hyperband")


#: `make_tuner` kinds.
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


_ROW_METRICS = (
    "score",
    "accuracy",
    "val_accuracy",
    "held_bytes",
    "memory_peak_bytes",
    "memory_mean_bytes",
    "memory_step_bytes",
    "step_seconds",
    "fit_seconds",
    "over_budget",
    "out_of_memory",
)


def trials_table(tuner):
    """The tuner's trials, best first, as a list of dicts.

    Each row: `trial_id`, `status` (`"ok"`, `"over budget"`, `"out of
    memory"`, or Keras Tuner's status for unfinished or failed trials),
    `hyperparameters` (without Keras Tuner's `tuner/*` bookkeeping), and the
    recorded metrics of `_ROW_METRICS` (`None` when not recorded). Trials
    with a score come first, by decreasing score; then the rest by id.
    """
    rows = []
    for trial in tuner.oracle.trials.values():
        row = {
            "trial_id": trial.trial_id,
            "hyperparameters": {
                k: v for k, v in trial.hyperparameters.values.items()
                if not k.startswith("tuner/")
            },
        }
        for name in _ROW_METRICS:
            row[name] = (
                float(trial.metrics.get_last_value(name))
                if trial.metrics.exists(name)
                else None
            )
        if row["out_of_memory"]:
            row["status"] = "out of memory"
        elif row["over_budget"]:
            row["status"] = "over budget"
        elif trial.status == "COMPLETED" and row["score"] is not None:
            row["status"] = "ok"
        else:
            row["status"] = str(trial.status).lower()
        rows.append(row)
    scored = sorted(
        (r for r in rows if r["score"] is not None and r["status"] != "running"),
        key=lambda r: -r["score"],
    )
    rest = sorted((r for r in rows if r not in scored), key=lambda r: r["trial_id"])
    return scored + rest


__all__ = [
    "ButterflyHyperModel",
    "MemoryAwareBayesianOptimization",
    "MemoryAwareHyperband",
    "MemoryAwareRandomSearch",
    "OBJECTIVE",
    "OUT_OF_MEMORY_SCORE",
    "SpecNetHyperModel",
    "TUNERS",
    "butterfly_models",
    "make_tuner",
    "memory_aware_score",
    "trials_table",
]
