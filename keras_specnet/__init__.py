"""keras_specnet: SpecNet's spectral-domain convolutions as Keras 3 layers.

Subpackages and modules:

- `keras_specnet.layers`: `SpectralConv2D`, `SpectralTanh`, `ToSpectral`,
  `ToSpatial`, `SpectralConcatenate`, `SpectralBatchNormalization`;
- `keras_specnet.applications`: `LeNet5`, `AlexNet`, `VGG16`, `DenseNet`
  and their SpecNet twins;
- `keras_specnet.cache`: what spectral layers keep for the backward pass;
- `keras_specnet.datasets`: `load(name, split, batch_size, ...)`;
- `keras_specnet.memory`: training-memory measurements;
- `keras_specnet.callbacks`: `MemoryProfiler`;
- `keras_specnet.spectral`: the spectral-tensor format;
- `keras_specnet.tuning`: Keras Tuner search of beta and the butterfly
  base, memory-aware (imported on first use, so that `import keras_specnet`
  does not import Keras Tuner);
- `keras_specnet.utils`: `count_flops`, multiply-adds of a forward pass.
"""

__version__ = "0.1.0"

try:
    import tensorflow  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        "keras_specnet needs TensorFlow 2.16 or newer. Install it with "
        "`pip install keras-specnet[tensorflow]`, or "
        "`pip install keras-specnet[tensorflow-cpu]` for the CPU-only build."
    ) from error

from keras_specnet import (  # noqa: E402
    applications,
    cache,
    callbacks,
    datasets,
    layers,
    memory,
    spectral,
    utils,
)


def __getattr__(name):
    # Lazy: `keras_specnet.tuning` imports Keras Tuner.
    if name == "tuning":
        import importlib

        return importlib.import_module("keras_specnet.tuning")
    raise AttributeError(f"module 'keras_specnet' has no attribute {name!r}")


__all__ = [
    "applications",
    "cache",
    "callbacks",
    "datasets",
    "layers",
    "memory",
    "spectral",
    "tuning",
    "utils",
    "__version__",
]
