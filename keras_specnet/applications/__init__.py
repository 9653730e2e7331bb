"""Model builders: the SpecNet paper's architectures and their spatial twins.

Each family has one configurable builder and two thin wrappers, the
spatial model and its SpecNet twin with identical hyper-parameters.
MobileNetV1 and ShuffleNetV2 pair their pointwise form with the
Butterfly Transform form (`"mobilenet_v1"` <-> `"mobilenet_v1_bft"`).
`MODELS` is the registry that `specnet train --model NAME` uses.
"""

from keras_specnet import _checks
from keras_specnet.applications.alexnet import AlexNet, SpecAlexNet
from keras_specnet.applications.densenet import DenseNet, SpecDenseNet
from keras_specnet.applications.lenet import LeNet5, SpecLeNet5
from keras_specnet.applications.mobilenet import (
    MobileNetV1,
    MobileNetV1BFT,
    MobileNetV1Pointwise,
)
from keras_specnet.applications.shufflenet import (
    ShuffleNetV2,
    ShuffleNetV2BFT,
    ShuffleNetV2Pointwise,
)
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
    "mobilenet_v1": MobileNetV1Pointwise,
    "mobilenet_v1_bft": MobileNetV1BFT,
    "shufflenet_v2": ShuffleNetV2Pointwise,
    "shufflenet_v2_bft": ShuffleNetV2BFT,
}

#: Pointwise models and their Butterfly Transform twins.
BUTTERFLY_TWINS = {
    "mobilenet_v1": "mobilenet_v1_bft",
    "shufflenet_v2": "shufflenet_v2_bft",
}

#: The registry names whose builder takes `beta`.
SPECTRAL_MODELS = frozenset(name for name in MODELS if name.startswith("spec_"))


def get(name):
    """The builder registered under `name` (see `MODELS`)."""
    _checks.one_of("model", name, list(MODELS))
    return MODELS[name]


def twin(name):
    """The registry name of a model's twin: `"vgg16"` <-> `"spec_vgg16"`,
    `"mobilenet_v1"` <-> `"mobilenet_v1_bft"`."""
    get(name)
    for pointwise, butterfly in BUTTERFLY_TWINS.items():
        if name in (pointwise, butterfly):
            return butterfly if name == pointwise else pointwise
    return name[len("spec_"):] if name in SPECTRAL_MODELS else f"spec_{name}"


__all__ = [
    "AlexNet",
    "BUTTERFLY_TWINS",
    "DenseNet",
    "LeNet5",
    "MODELS",
    "MobileNetV1",
    "MobileNetV1BFT",
    "MobileNetV1Pointwise",
    "SPECTRAL_MODELS",
    "SpecAlexNet",
    "SpecDenseNet",
    "SpecLeNet5",
    "SpecVGG16",
    "ShuffleNetV2",
    "ShuffleNetV2BFT",
    "ShuffleNetV2Pointwise",
    "VGG16",
    "get",
    "twin",
]
