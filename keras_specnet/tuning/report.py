"""A search's trials as rows, and its settings as they read back from JSON."""

import numbers

#: The metrics of a trial that `trials_table` reports.
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


def _status(trial, row):
    if row["out_of_memory"]:
        return "out of memory"
    if row["over_budget"]:
        return "over budget"
    if trial.status == "COMPLETED" and row["score"] is not None:
        return "ok"
    return str(trial.status).lower()


def trials_table(tuner, trials=None):
    """The tuner's trials, best first, as a list of JSON-ready dicts.

    Each row: `trial_id`, `status` (`"ok"`, `"over budget"`, `"out of
    memory"`, or Keras Tuner's status for unfinished or failed trials),
    `hyperparameters` (without Keras Tuner's `tuner/*` bookkeeping), and the
    recorded metrics: `score`, `accuracy`, `val_accuracy`, `held_bytes`,
    `memory_peak_bytes`, `memory_mean_bytes`, `memory_step_bytes`,
    `step_seconds`, `fit_seconds`, `over_budget`, `out_of_memory` (`None`
    when not recorded). Trials with a score come first, by decreasing
    score; then the rest by id.

    Args:
        tuner: a Keras Tuner tuner.
        trials: the `keras_tuner.engine.trial.Trial`s to report. Defaults
            to every trial of the tuner's oracle.
    """
    rows = []
    for trial in tuner.oracle.trials.values() if trials is None else trials:
        row = {
            "trial_id": trial.trial_id,
            "hyperparameters": {
                k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")
            },
        }
        for name in _ROW_METRICS:
            row[name] = (
                float(trial.metrics.get_last_value(name)) if trial.metrics.exists(name) else None
            )
        row["status"] = _status(trial, row)
        rows.append(row)
    scored = sorted(
        (r for r in rows if r["score"] is not None and r["status"] != "running"),
        key=lambda r: -r["score"],
    )
    rest = sorted((r for r in rows if r not in scored), key=lambda r: r["trial_id"])
    return scored + rest


def _jsonable(value):
    """`value` as it reads back from JSON (tuples as lists, numbers as floats).

    A saved search's settings are compared in this form with the current
    ones, so that `(1, 2)` and `[1.0, 2.0]` count as the same.
    """
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value
