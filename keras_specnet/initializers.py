"""Initializers of the butterfly factors of `ButterflyFusion`.

Each butterfly stage of `keras_specnet.layers.ButterflyFusion` holds one
weight of shape `(groups, radix, radix)`: a `radix x radix` matrix per
group of channels, indexed `[group, input, output]`. The layer turns the
names `"butterfly_he"`, `"identity"` and `"hadamard"` into these classes,
with the arguments that depend on its widths and stages.
"""

import math

import keras
import numpy as np

from keras_specnet import _checks


def sylvester_hadamard(order):
    """The unnormalised Sylvester Hadamard matrix of `order` (a power of 2).

    The ordering of `scipy.linalg.hadamard`: `H_1 = [[1]]`,
    `H_2k = [[H_k, H_k], [H_k, -H_k]]`.
    """
    if order < 1 or order & (order - 1):
        raise _checks.invalid("order", "a power of 2", order)
    h = np.ones((1, 1), "float32")
    while h.shape[0] < order:
        h = np.block([[h, h], [h, -h]])
    return h


def _check_stage_shape(name, shape):
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(
            f"Invalid shape for {name}. Expected a butterfly stage's shape "
            f"(groups, radix, radix). Received: shape={tuple(shape)}"
        )


@keras.saving.register_keras_serializable(package="keras_specnet")
class ButterflyHe(keras.initializers.RandomUniform):
    """He initialisation of a butterfly's edges, as the BFT paper advises.

    Every edge is drawn uniformly from `[-limit, limit]` with variance
    `(2 / fan_in) ** (1 / stages)`, so the product of the `stages` edges on
    a path from an input channel to an output channel has variance
    `2 / fan_in`: that of a He-initialised `Conv2D(filters, 1)` weight with
    `fan_in` input channels. Each output is a sum over `fan_in` such paths,
    so its variance is twice the input's, as with He initialisation.

    Args:
        fan_in: int. Input channels of the layer.
        stages: int. Butterfly stages of the layer.
        seed: Optional int, as in `keras.initializers.RandomUniform`.
    """

    def __init__(self, fan_in, stages, seed=None):
        self.fan_in = _checks.positive_int("fan_in", fan_in)
        self.stages = _checks.positive_int("stages", stages)
        variance = (2.0 / self.fan_in) ** (1.0 / self.stages)
        limit = math.sqrt(3.0 * variance)
        super().__init__(minval=-limit, maxval=limit, seed=seed)

    def __call__(self, shape, dtype=None):
        _check_stage_shape("ButterflyHe", shape)
        return super().__call__(shape, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        return {"fan_in": self.fan_in, "stages": self.stages, "seed": config["seed"]}


@keras.saving.register_keras_serializable(package="keras_specnet")
class ButterflyIdentity(keras.initializers.Initializer):
    """`scale` times the identity in every group of a butterfly stage.

    With `scale=1` in every stage the butterfly is the identity map; a stage
    with `scale=0` makes it the zero map (what `ButterflyFusion` uses in its
    last stage when the residual adds the identity).

    Args:
        scale: float. Value on the diagonal. Defaults to `1.0`.
    """

    def __init__(self, scale=1.0):
        self.scale = float(scale)

    def __call__(self, shape, dtype=None):
        _check_stage_shape("ButterflyIdentity", shape)
        eye = self.scale * np.eye(shape[1], dtype="float32")
        return keras.ops.cast(np.broadcast_to(eye, tuple(shape)), dtype or "float32")

    def get_config(self):
        return {"scale": self.scale}


@keras.saving.register_keras_serializable(package="keras_specnet")
class ButterflyHadamard(keras.initializers.Initializer):
    """The Sylvester Hadamard matrix in every group of a butterfly stage.

    The radix must be a power of 2. When all the stages of a
    `ButterflyFusion` are initialised so, the layer computes the
    unnormalised Walsh-Hadamard transform in Sylvester order.
    """

    def __call__(self, shape, dtype=None):
        _check_stage_shape("ButterflyHadamard", shape)
        h = sylvester_hadamard(shape[1])
        return keras.ops.cast(np.broadcast_to(h, tuple(shape)), dtype or "float32")

    def get_config(self):
        return {}
