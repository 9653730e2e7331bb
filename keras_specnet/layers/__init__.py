"""Spectral layers: convolution, activation and domain changes of SpecNet."""

from keras_specnet.layers.butterfly_fusion import ButterflyFusion
from keras_specnet.layers.spectral_batch_normalization import SpectralBatchNormalization
from keras_specnet.layers.spectral_concatenate import SpectralConcatenate
from keras_specnet.layers.spectral_conv2d import SpectralConv2D
from keras_specnet.layers.spectral_tanh import SpectralTanh
from keras_specnet.layers.to_spatial import ToSpatial
from keras_specnet.layers.to_spectral import ToSpectral

__all__ = [
    "ButterflyFusion",
    "SpectralBatchNormalization",
    "SpectralConcatenate",
    "SpectralConv2D",
    "SpectralTanh",
    "ToSpatial",
    "ToSpectral",
]
