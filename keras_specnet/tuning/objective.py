"""The tuners' objective: accuracy within the budgets, `-ratio` beyond them.

`memory_aware_score` turns an epoch's accuracy and measured memory (and
step time) into the `"score"` the tuners maximise; `_TrialMeter` measures
what it needs after every epoch of a trial and writes it into the logs.

The memory figures of a trial's metrics:

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

`MEMORY_FIGURES` names the figure each `memory=` choice of the tuners holds
against the budget. The default, `"step"`, is the step's own memory because
the allocator peak also counts what earlier trials left and so grows from
trial to trial (see docs/tuning.md). On the CPU, TensorFlow's default
allocator does not count small tensors unless `TF_CPU_ALLOCATOR_USE_BFC=true`
was set before TensorFlow started (see `keras_specnet.memory`), so tiny
models read zero without it.
"""

import statistics
import time

import keras
import keras_tuner
import tensorflow as tf

from keras_specnet import _checks, memory

#: Score of a trial that ran out of memory: below any measured trial.
OUT_OF_MEMORY_SCORE = -1e9

#: Name of the tuners' objective (direction "max").
OBJECTIVE = "score"

#: `memory=` choices of the tuners -> the metric held against the budget.
MEMORY_FIGURES = {
    "peak": "memory_peak_bytes",
    "step": "memory_step_bytes",
    "held": "held_bytes",
}


def _optional_budget(name, value):
    if value is None:
        return None
    return _checks.positive_number(name, value)


def _check_objective(memory_budget, memory_weight, time_budget, memory_kind):
    """The checked budgets and weight: `(memory_budget, memory_weight, time_budget)`."""
    memory_budget = _optional_budget("memory_budget", memory_budget)
    time_budget = _optional_budget("time_budget", time_budget)
    memory_weight = _checks.non_negative_number("memory_weight", memory_weight)
    if memory_weight > 1:
        raise _checks.invalid("memory_weight", "a number in [0, 1]", memory_weight)
    if memory_weight and memory_budget is None:
        raise _checks.invalid(
            "memory_weight",
            "0 when no memory_budget is given (the weight scales memory / memory_budget)",
            memory_weight,
        )
    _checks.one_of("memory", memory_kind, list(MEMORY_FIGURES))
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
        below every score within budget, which is at least
        `-memory_weight >= -1`).
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
                "step_seconds",
                "a number of seconds when time_budget is given",
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

    Args:
        settings: the tuner's objective settings (`memory_budget`,
            `memory_weight`, `time_budget`, `memory`).
        accuracy_metric: the logged accuracy to score.
        sample: NumPy `(x, y)`, the batch `held_bytes` is measured on
            (deep-copyable, as the tuner needs).
    """

    def __init__(self, settings, accuracy_metric, sample):
        super().__init__()
        self.settings = settings
        self.accuracy_metric = accuracy_metric
        self.sample = sample
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
        scored = logs[MEMORY_FIGURES[self.settings["memory"]]]
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
