"""Compiling a classifier the same way everywhere in the package.

`specnet train`, `specnet tune`, the hypermodels and the benchmarks compile
with `compile_classifier`: sparse categorical cross-entropy, accuracy, and
Adam (learning rate 1e-3) or SGD with momentum 0.9 (learning rate 0.01)
unless a learning rate is given.
"""

import keras

from keras_specnet import _checks

#: Optimizer name -> its default learning rate.
DEFAULT_LEARNING_RATES = {"adam": 1e-3, "sgd": 1e-2}

#: The optimizers `compile_classifier` takes.
OPTIMIZERS = tuple(DEFAULT_LEARNING_RATES)

#: Momentum of the SGD optimizer.
SGD_MOMENTUM = 0.9


def make_optimizer(optimizer="adam", learning_rate=None):
    """A new `keras.optimizers.Adam` or `SGD` (momentum 0.9).

    Args:
        optimizer: str. `"adam"` or `"sgd"`. Defaults to `"adam"`.
        learning_rate: float > 0 or None. `None` takes the optimizer's
            default (`DEFAULT_LEARNING_RATES`). Defaults to `None`.
    """
    _checks.one_of("optimizer", optimizer, OPTIMIZERS)
    if learning_rate is None:
        learning_rate = DEFAULT_LEARNING_RATES[optimizer]
    learning_rate = _checks.positive_number("learning_rate", learning_rate)
    if optimizer == "adam":
        return keras.optimizers.Adam(learning_rate)
    return keras.optimizers.SGD(learning_rate, momentum=SGD_MOMENTUM)


def compile_classifier(model, optimizer="adam", learning_rate=None):
    """Compile `model` for integer labels; returns `model`.

    Loss `"sparse_categorical_crossentropy"`, metric `"accuracy"`, the
    optimizer of `make_optimizer(optimizer, learning_rate)`.
    """
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
