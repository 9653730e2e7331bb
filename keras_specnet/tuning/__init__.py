"""Keras Tuner search over beta and the butterfly base, aware of memory.

Two `keras_tuner.HyperModel`s declare the search spaces
(`keras_specnet.tuning.hypermodels`):

- `SpecNetHyperModel`: the spectral threshold `beta` of a SpecNet model
  (B. Guan et al., "SpecNet: Spectral Domain Convolutional Neural
  Network", arXiv:1905.10915), and optionally the learning rate;
- `ButterflyHyperModel`: the butterfly base, and optionally the width
  multiplier, of a model with Butterfly Transform fusion (K. Alizadeh
  vahid et al., "Butterfly Transform: An Efficient FFT Based Neural
  Architecture Design", CVPR 2020, arXiv:1906.02256).

Their models are the registry's spectral and butterfly entries
(`keras_specnet.applications.registry`; `butterfly_models()`). Keras
Tuner's own tuners take them as they are (`keras_tuner.RandomSearch(
SpecNetHyperModel(...), objective="val_accuracy", ...)`); their `fit`
passes every callback of the tuner and of `search` to `model.fit`, and
fails a trial whose loss is NaN or infinite
(`keras_tuner.errors.FailedTrialError`: recorded as `"FAILED"`, without a
score).

Three tuners run the search with Keras Tuner's own oracles and record the
training memory of every trial (`keras_specnet.tuning.tuners`):
`MemoryAwareRandomSearch`, `MemoryAwareBayesianOptimization` and
`MemoryAwareHyperband`, or `make_tuner(kind, ...)` with a key of `TUNERS`.
Their objective, `OBJECTIVE = "score"` (maximised), is computed after every
epoch by `memory_aware_score` from the epoch's accuracy and the memory
figure that `memory=` names in `MEMORY_FIGURES`
(`keras_specnet.tuning.objective`):

- within the budgets (or with no budget): `accuracy - memory_weight *
  memory / memory_budget`, so with the default `memory_weight=0` the
  validation accuracy itself;
- over a budget: `-ratio`, where `ratio > 1` is the largest of
  `memory / memory_budget` and `step_seconds / time_budget`: every trial
  over budget ranks below every trial within it;
- out of memory (a `ResourceExhaustedError` or `MemoryError` while the
  trial ran): `OUT_OF_MEMORY_SCORE`, with `out_of_memory = 1`.

Over-budget and out-of-memory trials are completed trials with these
scores, not failures: the search goes on, and the trial's metrics keep
what was measured. As Keras Tuner does, a trial keeps the metrics of its
best-scoring epoch; `trials_table(tuner)` lists them, best first
(`keras_specnet.tuning.report`).

A search resumes from its `directory` and `project_name` (Keras Tuner's
`overwrite=False`): finished trials are kept, an interrupted one runs
again. The objective settings and the hypermodel's configuration are saved
with the search; resuming with different ones raises a `ValueError`
instead of mixing incomparable scores.

`import keras_specnet` does not import this package (Keras Tuner is
imported only when `keras_specnet.tuning` is first used). The memory
figures, the choice of the scored one and worked searches are described
in docs/tuning.md.

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

from keras_specnet.tuning.hypermodels import (
    ButterflyHyperModel,
    SpecNetHyperModel,
    butterfly_models,
)
from keras_specnet.tuning.objective import (
    MEMORY_FIGURES,
    OBJECTIVE,
    OUT_OF_MEMORY_SCORE,
    memory_aware_score,
)
from keras_specnet.tuning.report import trials_table
from keras_specnet.tuning.tuners import (
    TUNERS,
    MemoryAwareBayesianOptimization,
    MemoryAwareHyperband,
    MemoryAwareRandomSearch,
    make_tuner,
)

__all__ = [
    "ButterflyHyperModel",
    "MEMORY_FIGURES",
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
