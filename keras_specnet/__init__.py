"""keras_specnet: SpecNet's spectral-domain convolutions as Keras 3 layers.

SpecNet is B. Guan et al., "SpecNet: Spectral Domain Convolutional Neural
Network", arXiv:1905.10915; the Butterfly Transform is K. Alizadeh vahid et
al., "Butterfly Transform: An Efficient FFT Based Neural Architecture
Design", CVPR 2020, arXiv:1906.02256.

Subpackages and modules, each imported on first use (`import keras_specnet`
imports neither TensorFlow nor Keras):

- `keras_specnet.layers`: `SpectralConv2D`, `SpectralTanh`, `ToSpectral`,
  `ToSpatial`, `SpectralConcatenate`, `SpectralBatchNormalization`,
  `SpectralBlock`, `SpectralDenseBlock`, `ButterflyFusion`;
- `keras_specnet.applications`: `LeNet5`, `AlexNet`, `VGG16`, `DenseNet`
  and their SpecNet twins, MobileNetV1 and ShuffleNetV2 with the Butterfly
  Transform, and the model registry;
- `keras_specnet.cache`: what spectral layers keep for the backward pass;
- `keras_specnet.callbacks`: `MemoryProfiler`;
- `keras_specnet.convert`: `spectralize(model)`, the SpecNet version of a
  Keras model (also `keras_specnet.spectralize`);
- `keras_specnet.datasets`: `load(name, split, batch_size, ...)`;
- `keras_specnet.memory`: training-memory measurements;
- `keras_specnet.saving`: `load_model(path)`, a saved `.keras` model with
  the package's layers registered (also `keras_specnet.load_model`);
- `keras_specnet.spectral`: the spectral-tensor format;
- `keras_specnet.training`: `compile_classifier`;
- `keras_specnet.tuning`: Keras Tuner search of beta and the butterfly
  base, memory-aware;
- `keras_specnet.utils`: `count_flops`, multiply-adds of a forward pass,
  and `spectral_convolutions`, every `SpectralConv2D` of a model.

Saved models: importing `keras_specnet.layers` registers the layers (and
their initializers) with Keras's serialization, under the package name
`keras_specnet`. `import keras_specnet` alone does not, so import the
layers before loading a saved model:

```python
import keras
import keras_specnet.layers  # registers SpectralConv2D, ToSpectral, ...

model = keras.saving.load_model("spec_lenet5.keras")
```

The package needs TensorFlow and Keras's TensorFlow backend: importing it
raises an `ImportError` when TensorFlow is not installed, or when Keras is
set to another backend (`KERAS_BACKEND`, or `"backend"` in
`~/.keras/keras.json`), without importing either of them to find out.
"""

import importlib
import importlib.util
import json
import os
import sys

__version__ = "0.1.0"

#: Subpackages and modules that `keras_specnet.NAME` imports on first use.
_SUBMODULES = (
    "applications",
    "cache",
    "callbacks",
    "convert",
    "datasets",
    "layers",
    "memory",
    "saving",
    "spectral",
    "training",
    "tuning",
    "utils",
)

#: Functions and classes that `keras_specnet.NAME` imports, with their module.
_ATTRIBUTES = {
    "spectralize": "convert",
    "SpectralizeReport": "convert",
    "load_model": "saving",
}

__all__ = [*_SUBMODULES, *_ATTRIBUTES, "__version__"]


def _check_tensorflow():
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError(
            "keras_specnet needs TensorFlow 2.16 or newer. Install it with "
            "`pip install keras-specnet[tensorflow]`, or "
            "`pip install keras-specnet[tensorflow-cpu]` for the CPU-only build."
        )


def _keras_config_path():
    """The `keras.json` Keras reads: in `$KERAS_HOME`, else `~/.keras`."""
    if "KERAS_HOME" in os.environ:
        folder = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"  # where Keras goes when the home is read-only
        folder = os.path.join(base, ".keras")
    return os.path.expanduser(os.path.join(folder, "keras.json"))


def _keras_backend():
    """`(backend, where it was found)`, as Keras will choose it.

    Keras is not imported: an imported `keras` module is asked, otherwise
    the `KERAS_BACKEND` environment variable, then the `"backend"` of
    Keras's configuration file, then Keras's default, TensorFlow.
    """
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend):
        return backend(), "the imported keras module"
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "the KERAS_BACKEND environment variable"
    path = _keras_config_path()
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict) and config.get("backend"):
        return config["backend"], path
    return "tensorflow", "Keras's default"


def _check_backend():
    backend, where = _keras_backend()
    if backend != "tensorflow":
        raise ImportError(
            "keras_specnet needs Keras's TensorFlow backend; found backend "
            f"{backend!r} (from {where}). Set KERAS_BACKEND=tensorflow before "
            'importing keras (or "backend": "tensorflow" in '
            f"{_keras_config_path()})."
        )


_check_tensorflow()
_check_backend()


def __getattr__(name):
    if name in _SUBMODULES:
        # import_module also sets the attribute, so this runs once per name.
        return importlib.import_module(f"{__name__}.{name}")
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}"), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_ATTRIBUTES))
