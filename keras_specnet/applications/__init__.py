"""Model builders: the SpecNet paper's architectures and their spatial twins.

Each family has one configurable builder and two thin wrappers, the
spatial model and its SpecNet twin with identical hyper-parameters.
`MODELS` is the registry that `specnet train --model NAME` uses.
"""

from keras_specnet import _checks
from keras_specnet.applications.alexnet import AlexNet, SpecAlexNet
from keras_specnet.applications.densenet import DenseNet, SpecDenseNet
from keras_specnet.applications.lenet import LeNet5, SpecLeNet5
from keras_specnet.applications.vgg import VGG16, SpecVGG16

#: Registry: name -> builder, spatial models and their twins side by side.
MODELS = {
    "lenet5": LeNet5,
    "spec_lenet5": SpecLeNet5,
    "alexnet": AlexNet,
    "spec_alexnet": SpecAlexNet,
    "vgg16": VGG16,
    "spec_vgg16": SpecVGG16,
    "densenet": DenseNet,
    "spec_densenet": SpecDenseNet,
}

#: The registry names whose builder takes `beta`.
SPECTRAL_MODELS = frozenset(name for name in MODELS if name.startswith("spec_"))


def get(name):
    """The builder registered under `name` (see `MODELS`)."""
    _checks.one_of("model", name, list(MODELS))
    return MODELS[name]


def twin(name):
    """The registry name of a model's twin: `"vgg16"` <-> `"spec_vgg16"`."""
    get(name)
    return name[len("spec_"):] if name in SPECTRAL_MODELS else f"spec_{name}"


__all__ = [
    "AlexNet",
    "DenseNet",
    "LeNet5",
    "MODELS",
    "SPECTRAL_MODELS",
    "SpecAlexNet",
    "SpecDenseNet",
    "SpecLeNet5",
    "SpecVGG16",
    "VGG16",
    "get",
    "twin",
]
