"""Model builders: the SpecNet paper's architectures and their spatial twins.

Each family has one configurable builder and thin wrappers for its
variants: the spatial model and its SpecNet twin with identical
hyper-parameters, MobileNetV1 and ShuffleNetV2 with pointwise convolutions
or the Butterfly Transform. `registry` names them all (`specnet models`).
"""

from keras_specnet.applications import registry
from keras_specnet.applications.alexnet import AlexNet, SpecAlexNet
from keras_specnet.applications.densenet import DenseNet, SpecDenseNet
from keras_specnet.applications.lenet import LeNet5, SpecLeNet5
from keras_specnet.applications.mobilenet import MobileNetV1, MobileNetV1BFT
from keras_specnet.applications.registry import (
    REGISTRY,
    ModelSpec,
    build,
    get,
    twin,
)
from keras_specnet.applications.shufflenet import ShuffleNetV2, ShuffleNetV2BFT
from keras_specnet.applications.vgg import VGG16, SpecVGG16

__all__ = [
    "AlexNet",
    "DenseNet",
    "LeNet5",
    "MobileNetV1",
    "MobileNetV1BFT",
    "ModelSpec",
    "REGISTRY",
    "SpecAlexNet",
    "SpecDenseNet",
    "SpecLeNet5",
    "SpecVGG16",
    "ShuffleNetV2",
    "ShuffleNetV2BFT",
    "VGG16",
    "build",
    "get",
    "registry",
    "twin",
]
