"""The model registry: every named model, its twin, kind and arguments.

`specnet models`, `specnet train --model NAME`, `twin()` and the tuners'
model lists all read this table; nothing is inferred from a model's name.
"""

import dataclasses
import inspect

from keras_specnet import _checks
from keras_specnet.applications.alexnet import SPEC_ALEXNET_BETA, AlexNet, SpecAlexNet
from keras_specnet.applications.densenet import (
    SPEC_DENSENET_BETA,
    DenseNet,
    SpecDenseNet,
)
from keras_specnet.applications.lenet import SPEC_LENET5_BETA, LeNet5, SpecLeNet5
from keras_specnet.applications.mobilenet import MobileNetV1, MobileNetV1BFT
from keras_specnet.applications.shufflenet import ShuffleNetV2, ShuffleNetV2BFT
from keras_specnet.applications.vgg import SPEC_VGG16_BETA, VGG16, SpecVGG16

#: What a registered model is: `"spatial"` (Conv2D), `"spectral"` (SpecNet,
#: takes `beta`) or `"butterfly"` (Butterfly Transform, takes
#: `butterfly_base`).
KINDS = ("spatial", "spectral", "butterfly")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes:
        name: str. The registry name (`specnet train --model NAME`).
        builder: callable returning a `keras.Model`.
        twin: str. Registry name of the same architecture in the other
            form (spatial <-> spectral, pointwise <-> butterfly).
        kind: str. One of `KINDS`.
        width_argument: str or None. The builder's width multiplier
            (`"width"`, `"alpha"` or `"scale"`).
        fixed: dict. Arguments the registry passes to `builder` itself
            (a user cannot override them).
        excluded: tuple of str. Builder arguments that do not apply to
            this entry (`butterfly_base` of a pointwise MobileNetV1).
        default_beta: float or None. The spectral threshold of a
            `"spectral"` model when `beta` is not given.
    """

    name: str
    builder: object
    twin: str
    kind: str
    width_argument: str = None
    fixed: dict = dataclasses.field(default_factory=dict)
    excluded: tuple = ()
    default_beta: float = None

    @property
    def arguments(self):
        """The builder arguments a user may give for this entry, in order."""
        reserved = set(self.fixed) | set(self.excluded)
        return tuple(p for p in inspect.signature(self.builder).parameters if p not in reserved)

    def build(self, **kwargs):
        """`builder(**fixed, **kwargs)`, after checking the argument names."""
        unknown = sorted(set(kwargs) - set(self.arguments))
        if unknown:
            raise _checks.invalid(
                "kwargs",
                f"arguments of the {self.name!r} model ({', '.join(self.arguments)})",
                kwargs,
            )
        return self.builder(**self.fixed, **kwargs)


def _pair(spatial, spectral, spatial_builder, spectral_builder, beta, width):
    return (
        ModelSpec(spatial, spatial_builder, spectral, "spatial", width),
        ModelSpec(spectral, spectral_builder, spatial, "spectral", width, default_beta=beta),
    )


_SPECS = (
    *_pair("lenet5", "spec_lenet5", LeNet5, SpecLeNet5, SPEC_LENET5_BETA, None),
    *_pair("alexnet", "spec_alexnet", AlexNet, SpecAlexNet, SPEC_ALEXNET_BETA, "width"),
    *_pair("vgg16", "spec_vgg16", VGG16, SpecVGG16, SPEC_VGG16_BETA, "width"),
    *_pair("densenet", "spec_densenet", DenseNet, SpecDenseNet, SPEC_DENSENET_BETA, "width"),
    ModelSpec(
        "mobilenet_v1",
        MobileNetV1,
        "mobilenet_v1_bft",
        "spatial",
        "alpha",
        fixed={"fusion": "pointwise"},
        excluded=("butterfly_base",),
    ),
    ModelSpec(
        "mobilenet_v1_bft",
        MobileNetV1BFT,
        "mobilenet_v1",
        "butterfly",
        "alpha",
    ),
    ModelSpec(
        "shufflenet_v2",
        ShuffleNetV2,
        "shufflenet_v2_bft",
        "spatial",
        "scale",
        fixed={"fusion": "pointwise"},
        excluded=("butterfly_base",),
    ),
    ModelSpec(
        "shufflenet_v2_bft",
        ShuffleNetV2BFT,
        "shufflenet_v2",
        "butterfly",
        "scale",
    ),
)

#: Registry: name -> `ModelSpec`, each spatial model beside its twin.
REGISTRY = {spec.name: spec for spec in _SPECS}


def names(kind=None):
    """Registered names in registry order, all or those of one kind."""
    if kind is not None:
        _checks.one_of("kind", kind, KINDS)
    return [name for name, spec in REGISTRY.items() if kind in (None, spec.kind)]


def spec(name):
    """The `ModelSpec` registered under `name`."""
    _checks.one_of("model", name, list(REGISTRY))
    return REGISTRY[name]


def get(name):
    """The builder function registered under `name` (`get("vgg16") is VGG16`).

    Its defaults give the registered model; `build` also applies the
    entry's fixed arguments and refuses those that do not apply.
    """
    return spec(name).builder


def build(name, **kwargs):
    """The model registered under `name`, built with `kwargs`."""
    return spec(name).build(**kwargs)


def twin(name):
    """The registry name of a model's twin: `"vgg16"` <-> `"spec_vgg16"`,
    `"mobilenet_v1"` <-> `"mobilenet_v1_bft"`."""
    return spec(name).twin
