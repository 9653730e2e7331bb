"""Model builders: spatial architectures and their SpecNet twins."""

from keras_specnet import _checks
from keras_specnet.applications.lenet import LeNet5, SpecLeNet5

#: Registry used by the command line: name -> builder.
MODELS = {"lenet5": LeNet5, "spec_lenet5": SpecLeNet5}

#: The registry names whose builder takes `beta`.
SPECTRAL_MODELS = frozenset(name for name in MODELS if name.startswith("spec_"))


def get(name):
    """The builder registered under `name` (see `MODELS`)."""
    _checks.one_of("model", name, list(MODELS))
    return MODELS[name]


__all__ = ["LeNet5", "SpecLeNet5", "MODELS", "SPECTRAL_MODELS", "get"]
