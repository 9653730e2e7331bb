"""Input checks shared by the spectral layers."""

from keras_specnet import spectral


def describe(shape, is_spectral):
    kind = "spectral (complex64)" if is_spectral else "real"
    return f"a {kind} tensor of shape {tuple(shape)}"


def check_rank4(layer, shape):
    """Rank 4 with a known channel count, before anything else is looked at."""
    if len(shape) != 4:
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. Expected a "
            "rank-4 tensor: a real map (batch, height, width, channels) or a "
            "spectral tensor (batch, P, Q // 2 + 1, channels). "
            f"Received: input shape={tuple(shape)}"
        )
    if shape[-1] is None:
        raise ValueError(
            f"Invalid input for {type(layer).__name__} '{layer.name}'. The channel "
            f"dimension must be known. Received: input shape={tuple(shape)}"
        )


def check_sizes_known(layer, shape, is_spectral):
    """Height and width (or P and Q // 2 + 1) must be static."""
    check_rank4(layer, shape)
    if shape[1] is None or shape[2] is None:
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
