"""Input checks shared by the spectral layers, and the real maps' layouts."""

import keras
from keras import ops

from keras_specnet import _checks, spectral

#: Layouts of a real map: NHWC or NCHW. A spectral tensor has one layout,
#: `(batch, P, Q // 2 + 1, channels)`, whatever the real maps' format.
DATA_FORMATS = ("channels_last", "channels_first")

#: Permutations between a channels-first map and its channels-last view.
TO_CHANNELS_LAST = (0, 2, 3, 1)
TO_CHANNELS_FIRST = (0, 3, 1, 2)


def data_format(value):
    """`value`, or `keras.config.image_data_format()` for None; checked."""
    if value is None:
        value = keras.config.image_data_format()
    return _checks.one_of("data_format", value, DATA_FORMATS)


def channels_last_shape(shape, data_format="channels_last"):
    """A rank-4 real map's shape as `(batch, height, width, channels)`."""
    shape = tuple(shape)
    if data_format == "channels_first" and len(shape) == 4:
        return tuple(shape[i] for i in TO_CHANNELS_LAST)
    return shape


def from_channels_last_shape(shape, data_format="channels_last"):
    """A `(batch, height, width, channels)` shape in `data_format`."""
    shape = tuple(shape)
    if data_format == "channels_first":
        return tuple(shape[i] for i in TO_CHANNELS_FIRST)
    return shape


def refuse_data_format(layer_name, kwargs):
    """A layer with only spectral inputs and outputs takes no `data_format`.

    Spectral tensors keep one layout whatever the real maps' format; the
    layers where a real map enters or leaves (`ToSpectral`, `ToSpatial`,
    `SpectralConv2D`) take the format instead.
    """
    if "data_format" in kwargs:
        raise _checks.invalid(
            "data_format",
            f"no data_format for {layer_name}: its inputs and outputs are "
            "spectral tensors, whose layout is always (batch, P, Q // 2 + 1, "
            "channels); give the real maps' format to the layers where they "
            "enter or leave the spectral domain (ToSpectral, ToSpatial, "
            "SpectralConv2D)",
            kwargs["data_format"],
        )


def describe(shape, is_spectral):
    kind = "spectral (complex64)" if is_spectral else "real"
    return f"a {kind} tensor of shape {tuple(shape)}"


def _real_layout(data_format):
    if data_format == "channels_first":
        return "(batch, channels, height, width)"
    return "(batch, height, width, channels)"


def check_rank4(layer, shape, data_format="channels_last"):
    """Rank 4 with a known channel count, before anything else is looked at.

    `data_format` is the layout of a real input (a spectral one is always
    channels last); the message shows the shape as received.
    """
    if len(shape) != 4:
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. Expected a "
            f"rank-4 tensor: a real map {_real_layout(data_format)} or a "
            "spectral tensor (batch, P, Q // 2 + 1, channels). "
            f"Received: input shape={tuple(shape)}"
        )
    if channels_last_shape(shape, data_format)[-1] is None:
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. The channel "
            f"dimension must be known. Received: input shape={tuple(shape)}"
        )


def check_sizes_known(layer, shape, is_spectral, data_format="channels_last"):
    """Height and width (or P and Q // 2 + 1) must be static.

    `data_format` applies to a real input only.
    """
    layout = "channels_last" if is_spectral else data_format
    check_rank4(layer, shape, layout)
    view = channels_last_shape(shape, layout)
    if view[1] is None or view[2] is None:
        what = "P and Q // 2 + 1" if is_spectral else "height and width"
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. The "
            f"{what} must be known (not None) to choose the FFT size. "
            f"Received: {describe(shape, is_spectral)}"
        )
    if is_spectral and shape[2] < 2:
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. A spectral "
            "tensor has at least 2 columns (Q // 2 + 1 with Q even and >= 2). "
            f"Received: {describe(shape, is_spectral)}"
        )


def as_spectral_dtype(x):
    """A spectral input in the format's dtype, complex64 (a complex128 one is cast).

    As a Keras layer casts a float input to its compute dtype, so that the
    eager output has the dtype that the symbolic call declares.
    """
    if spectral.is_spectral(x) and x.dtype != spectral.SPECTRAL_DTYPE:
        return ops.cast(x, spectral.SPECTRAL_DTYPE)
    return x


def require_domain(layer, x, spectral_expected):
    """Raise when `x` is not in the domain the layer takes."""
    got = spectral.is_spectral(x)
    if got != spectral_expected:
        expected = (
            "a spectral (complex64) tensor, as made by ToSpectral or a "
            "SpectralConv2D with output_domain='spectral'"
            if spectral_expected
            else "a real (float) tensor"
        )
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. Expected "
            f"{expected}. Received: {describe(x.shape, got)} of dtype {x.dtype}"
        )
