"""The search spaces: SpecNet's threshold `beta` and the butterfly base.

The models a hypermodel accepts, their width argument and their builder
arguments all come from `keras_specnet.applications.registry`; every trial's
model is built through the registry and compiled by
`keras_specnet.training.compile_classifier`.

The hypermodels work with any Keras Tuner tuner, Keras Tuner's own
(`keras_tuner.RandomSearch`, `BayesianOptimization`, `Hyperband`, ...) as
well as the memory-aware ones of `keras_specnet.tuning.tuners`. Their `fit`
trains with every callback the tuner hands it, and fails a trial whose loss
is not finite (`keras_tuner.errors.FailedTrialError`).
"""

import math
import numbers

import keras
import keras_tuner

from keras_specnet import _checks, training
from keras_specnet.applications import registry


def spectral_models():
    """Registry names of the spectral (SpecNet) models, sorted."""
    return sorted(registry.names("spectral"))


def butterfly_models():
    """Registry names of the Butterfly Transform models, sorted."""
    return sorted(registry.names("butterfly"))


def _model_kwargs(spec, model_kwargs, reserved):
    """`model_kwargs` as a dict, refusing reserved and unknown names."""
    model_kwargs = dict(model_kwargs or {})
    if set(model_kwargs) & set(reserved):
        raise _checks.invalid(
            "model_kwargs",
            f"builder arguments other than {', '.join(reserved)} (the hypermodel sets those)",
            model_kwargs,
        )
    if set(model_kwargs) - set(spec.arguments):
        raise _checks.invalid(
            "model_kwargs",
            f"arguments of the {spec.name!r} model ({', '.join(spec.arguments)})",
            model_kwargs,
        )
    return model_kwargs


def _valid(check, value):
    """Whether `check(value)` passes (a `_checks` function of one value)."""
    try:
        check(value)
    except ValueError:
        return False
    return True


def _choices(name, values, expected, check):
    """A non-empty tuple of distinct values, each passing `check`."""
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if not values or not all(_valid(check, v) for v in values) or len(set(values)) != len(values):
        raise _checks.invalid(name, f"a non-empty sequence of {expected}", values)
    return tuple(check(v) for v in values)


class _FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `keras_tuner.errors.FailedTrialError` on a NaN or infinite loss.

    Checks the training loss after every batch and the training and
    validation losses after every epoch. Keras Tuner records a trial that
    raises `FailedTrialError` as `"FAILED"`, without a score and without
    retrying it, so it never ranks among the best trials.

    Args:
        values: dict, the trial's hyper-parameter values (for the message).
    """

    def __init__(self, values):
        super().__init__()
        self.values = dict(values)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, ("loss",), f"batch {batch + 1} of epoch {self._epoch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, ("loss", "val_loss"), f"the end of epoch {epoch + 1}")

    def _check(self, logs, names, when):
        for name in names:
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                raise keras_tuner.errors.FailedTrialError(
                    f"The trial's `{name}` is {float(value)} at {when}: the model "
                    f"diverged with the hyper-parameters {self.values}."
                )


class _CompilingHyperModel(keras_tuner.HyperModel):
    """Shared parts: the registry entry, shapes, learning rate, optimizer."""

    def __init__(
        self,
        model,
        kind_models,
        input_shape,
        classes,
        learning_rate,
        learning_rate_range,
        optimizer,
        name,
        tunable,
    ):
        _checks.one_of("model", model, kind_models)
        super().__init__(name=name, tunable=tunable)
        self.model = model
        self.spec = registry.spec(model)
        self.input_shape = _checks.input_shape(input_shape)
        self.classes = _checks.positive_int("classes", classes)
        self.learning_rate = _checks.positive_number("learning_rate", learning_rate)
        if learning_rate_range is not None:
            low, high = _checks.number_pair("learning_rate_range", learning_rate_range)
            if low <= 0:
                raise _checks.invalid(
                    "learning_rate_range",
                    "a pair (low, high) with 0 < low < high",
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
        self.optimizer = _checks.one_of("optimizer", optimizer, training.OPTIMIZERS)

    def _learning_rate(self, hp):
        if self.learning_rate_range is None:
            return self.learning_rate
        low, high = self.learning_rate_range
        return hp.Float("learning_rate", low, high, sampling="log", default=self.learning_rate)

    def _build_compiled(self, hp, **kwargs):
        """The registered model built with `kwargs`, compiled for the trial."""
        learning_rate = self._learning_rate(hp)
        kwargs["classes"] = self.classes
        if self.input_shape is not None:
            kwargs["input_shape"] = self.input_shape
        model = self.spec.build(**kwargs, **self.model_kwargs)
        return training.compile_classifier(model, self.optimizer, learning_rate)

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        """Trains the trial's model: `model.fit(*args, **kwargs)`.

        Every argument of the tuner's `search` reaches `model.fit`, and so
        do all the callbacks the tuner passes: those given to `search` (e.g.
        `keras.callbacks.EarlyStopping`) and the tuner's own (the checkpoint
        of the trial's best epoch, the epoch reports). A callback that
        fails the trial on a non-finite loss comes first.

        Args:
            hp: the trial's `keras_tuner.HyperParameters`.
            model: the model `build(hp)` returned.
            *args: positional arguments of `model.fit` (the data).
            callbacks: list of Keras callbacks, or `None`.
            **kwargs: further arguments of `model.fit` (`epochs`,
                `validation_data`, `batch_size`, ...).

        Returns:
            The `History` of `model.fit`.

        Raises:
            keras_tuner.errors.FailedTrialError: when the training loss
                (after any batch) or the training or validation loss (after
                an epoch) is NaN or infinite. Keras Tuner then records the
                trial as `"FAILED"`, without a score, and goes on with the
                search.
        """
        guard = _FailOnNonFiniteLoss(hp.values)
        return model.fit(*args, callbacks=[guard, *(callbacks or [])], **kwargs)

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
    and compiles it with `keras_specnet.training.compile_classifier`
    (sparse categorical cross-entropy, accuracy). `fit(hp, model, ...)` is
    `model.fit` with every callback the tuner passes, and fails the trial
    (`keras_tuner.errors.FailedTrialError`) when a loss becomes NaN or
    infinite. Any Keras Tuner tuner takes it, e.g.
    `keras_tuner.RandomSearch(hypermodel, objective="val_accuracy")`.

    SpecNet: B. Guan et al., "SpecNet: Spectral Domain Convolutional Neural
    Network", arXiv:1905.10915.

    Args:
        model: str. The registry name of a spectral model
            (`applications.registry.names("spectral")`), e.g.
            `"spec_vgg16"`. Defaults to `"spec_vgg16"`.
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
        optimizer: one of `keras_specnet.training.OPTIMIZERS`: `"adam"` or
            `"sgd"` (momentum 0.9). Defaults to `"adam"`.
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
        super().__init__(
            model,
            spectral_models(),
            input_shape,
            classes,
            learning_rate,
            learning_rate_range,
            optimizer,
            name,
            tunable,
        )
        self.model_kwargs = _model_kwargs(
            self.spec, model_kwargs, ("beta", "input_shape", "classes")
        )
        self.beta_range = _checks.number_pair("beta_range", beta_range)
        low, high = self.beta_range
        self.beta_sampling = _checks.one_of("beta_sampling", beta_sampling, ("linear", "log"))
        if beta_sampling == "log" and low <= 0:
            raise _checks.invalid(
                "beta_range",
                "a pair (low, high) with 0 < low < high for beta_sampling='log'",
                beta_range,
            )
        if beta_default is None:
            beta_default = low
        if (
            isinstance(beta_default, bool)
            or not isinstance(beta_default, numbers.Real)
            or not low <= beta_default <= high
        ):
            raise _checks.invalid(
                "beta_default",
                f"a number inside beta_range ({low:g}, {high:g})",
                beta_default,
            )
        self.beta_default = float(beta_default)

    def build(self, hp):
        beta = hp.Float(
            "beta",
            *self.beta_range,
            sampling=self.beta_sampling,
            default=self.beta_default,
        )
        return self._build_compiled(hp, beta=beta)

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
    widths, default=widths[0])` where `WIDTH` is the model's width argument
    in the registry (`registry.spec(model).width_argument`: `alpha` for
    MobileNetV1, `scale` for ShuffleNetV2), plus the learning rate as in
    `SpecNetHyperModel`. It builds the registered model with those values
    and compiles it; `fit` is `SpecNetHyperModel`'s.

    Butterfly Transform: K. Alizadeh vahid et al., "Butterfly Transform: An
    Efficient FFT Based Neural Architecture Design", CVPR 2020,
    arXiv:1906.02256.

    Args:
        model: str. The registry name of a butterfly model (see
            `butterfly_models()`), e.g. `"mobilenet_v1_bft"`. Defaults to
            `"mobilenet_v1_bft"`.
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
        super().__init__(
            model,
            butterfly_models(),
            input_shape,
            classes,
            learning_rate,
            learning_rate_range,
            optimizer,
            name,
            tunable,
        )
        self.width_argument = self.spec.width_argument
        self.bases = _choices(
            "bases",
            bases,
            "distinct integers >= 2",
            lambda v: _checks.integer("bases", v, minimum=2),
        )
        if widths is not None:
            if self.width_argument is None:
                raise _checks.invalid("widths", f"None: {model!r} has no width argument", widths)
            widths = _choices(
                "widths",
                widths,
                "distinct finite numbers > 0",
                lambda v: _checks.positive_number("widths", v),
            )
        self.widths = widths
        reserved = ("butterfly_base", "input_shape", "classes")
        if widths is not None:
            reserved += (self.width_argument,)
        self.model_kwargs = _model_kwargs(self.spec, model_kwargs, reserved)

    def build(self, hp):
        kwargs = {
            "butterfly_base": hp.Choice("butterfly_base", list(self.bases), default=self.bases[0])
        }
        if self.widths is not None:
            kwargs[self.width_argument] = hp.Choice(
                self.width_argument, list(self.widths), default=self.widths[0]
            )
        return self._build_compiled(hp, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            bases=list(self.bases),
            widths=None if self.widths is None else list(self.widths),
        )
        return config
