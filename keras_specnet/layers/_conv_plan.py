"""`SpectralConv2D`'s plan for an input: FFT size, kernel alignment and crop.

Before it computes anything, the layer works out from its input's shape and
its settings (`kernel_size`, `strides`, `padding`, `dilation_rate`,
`output_domain`, `output_size`):

- `fft_size`: the plane `(P, Q)` the product is taken on. A spectral input
  brings its own; a real map is zero-padded by the kernel's extent less one
  (none for a `"valid"` spatial output, whose crop reads no padding), the
  width rounded up to even.
- `offsets`: the zero rows and columns `Conv2D` with `padding` would put
  before the map; the kernel's spectrum is aligned by them, so that pixel
  `(i, j)` of the cropped product is `Conv2D`'s stride-1 output `(i, j)`.
- `crop`: the size of that stride-1 output (`"valid"`, `"same"` or `"full"`
  applied to the map's size), which `strides` then subsample; the whole
  plane for a spectral output.

An input or setting they do not fit raises the layer's error here.
"""

import collections

from keras_specnet import _checks, spectral
from keras_specnet.layers import _inputs

#: What `plan` returns: `fft_size` `(P, Q)`, `offsets` `(rows, cols)` and
#: `crop` `(rows, cols)`.
Plan = collections.namedtuple("Plan", "fft_size offsets crop")


def plan(layer, raw_shape, is_spectral):
    """The `Plan` of a `SpectralConv2D` for an input shape, or a clear error.

    `raw_shape` is the shape as received (channels first for a real
    channels-first map); `is_spectral` whether the input is a spectral
    tensor.
    """
    _inputs.check_sizes_known(layer, raw_shape, is_spectral, layer.data_format)
    layout = "channels_last" if is_spectral else layer.data_format
    shape = _inputs.channels_last_shape(raw_shape, layout)
    extent = spectral.dilated_size(layer.kernel_size, layer.dilation_rate)
    if layer.built and shape[-1] != layer.kernel.shape[2] * layer.groups:
        raise ValueError(
            f"Invalid input for SpectralConv2D '{layer.name}'. Expected "
            f"{layer.kernel.shape[2] * layer.groups} input channels, as when the "
            f"layer was built. Received: {_inputs.describe(raw_shape, is_spectral)}"
        )
    if is_spectral:
        fft_size, size, crop = _spectral_input(layer, shape, extent)
    else:
        fft_size, size, crop = _real_input(layer, raw_shape, shape, extent)
    offsets = tuple(
        spectral.conv_offset(n, k, s, layer.padding) for n, k, s in zip(size, extent, layer.strides)
    )
    return Plan(fft_size, offsets, crop)


def _conv_lengths(size, extent, padding):
    """The stride-1 `Conv2D` output's `(rows, cols)` on a map of `size`."""
    return tuple(spectral.conv_length(n, k, padding) for n, k in zip(size, extent))


def _spectral_input(layer, shape, extent):
    """`(fft_size, size, crop)` for a spectral input of `shape`.

    `size` is the map the spectral tensor stands for: `output_size` for a
    spatial output, the whole plane for a spectral one.
    """
    fft_size = spectral.fft_size_of(shape)
    if extent[0] > fft_size[0] or extent[1] > fft_size[1]:
        kernel = f"kernel {layer.kernel_size}"
        if layer.dilation_rate != (1, 1):
            kernel += f" with dilation_rate={layer.dilation_rate} (extent {extent})"
        raise ValueError(
            f"Invalid input for SpectralConv2D '{layer.name}'. The {kernel} "
            f"does not fit the spectral input's FFT size (P, Q)={fft_size}. "
            f"Received: {_inputs.describe(shape, True)}"
        )
    if layer.output_domain != "spatial":
        return fft_size, fft_size, fft_size
    size = layer.output_size
    if size is None:
        raise _checks.invalid(
            "output_size",
            "the (height, width) to crop to when a spectral input leaves as a spatial output",
            None,
        )
    if size[0] > fft_size[0] or size[1] > fft_size[1]:
        raise _checks.invalid(
            "output_size",
            f"at most the input's FFT size (P, Q)={fft_size}",
            size,
        )
    crop = _conv_lengths(size, extent, layer.padding)
    if min(crop) < 1:
        raise _checks.invalid(
            "output_size",
            f"at least the kernel's extent {extent} with padding='valid'",
            size,
        )
    if crop[0] > fft_size[0] or crop[1] > fft_size[1]:
        raise _checks.invalid(
            "output_size",
            f"at most the input's FFT size (P, Q)={fft_size} less the "
            f"kernel's extent {extent} plus 1 with padding='full'",
            size,
        )
    return fft_size, size, crop


def _real_input(layer, raw_shape, shape, extent):
    """`(fft_size, size, crop)` for a real map (`shape` channels last)."""
    if layer.output_size is not None:
        raise _checks.invalid(
            "output_size",
            "None for a real input (it is cropped to its own size)",
            layer.output_size,
        )
    size = (int(shape[1]), int(shape[2]))
    crop = _conv_lengths(size, extent, layer.padding)
    if min(crop) < 1:
        raise ValueError(
            f"Invalid input for SpectralConv2D '{layer.name}'. With "
            f"padding='valid' the kernel's extent {extent} must fit in the "
            f"map: expected a height and width of at least {extent}. "
            f"Received: {_inputs.describe(raw_shape, False)}"
        )
    # A "valid" crop reads no padding; a spectral output keeps the whole
    # linear convolution.
    valid_spatial = layer.padding == "valid" and layer.output_domain == "spatial"
    pad = (0, 0) if valid_spatial else (extent[0] - 1, extent[1] - 1)
    return spectral.padded_size(*size, *pad), size, crop
