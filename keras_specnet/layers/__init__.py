"""Spectral layers of SpecNet and the Butterfly Transform's channel fusion.

Importing this package registers every layer (and the butterfly
initializers) with Keras's serialization under the package
`keras_specnet`: `import keras_specnet.layers` before
`keras.saving.load_model` of a model that uses them.
"""

from keras_specnet.layers.butterfly_fusion import ButterflyFusion
from keras_specnet.layers.spectral_batch_normalization import SpectralBatchNormalization
from keras_specnet.layers.spectral_block import SpectralBlock, SpectralDenseBlock
from keras_specnet.layers.spectral_concatenate import SpectralConcatenate
from keras_specnet.layers.spectral_conv2d import SpectralConv2D
from keras_specnet.layers.spectral_tanh import SpectralTanh
from keras_specnet.layers.to_spatial import ToSpatial
from keras_specnet.layers.to_spectral import ToSpectral

__all__ = [
    "ButterflyFusion",
    "SpectralBatchNormalization",
    "SpectralBlock",
    "SpectralConcatenate",
    "SpectralConv2D",
    "SpectralDenseBlock",
    "SpectralTanh",
    "ToSpatial",
    "ToSpectral",
]
