"""Model utilities: `count_flops`, the multiply-adds of a forward pass, and
`spectral_convolutions`, every `SpectralConv2D` of a model."""

import math

import keras

from keras_specnet import spectral


def _positions(shape):
    """Product of the sizes between the batch and the channel axes."""
    return math.prod(int(d) for d in shape[1:-1])


def _conv(layer):
    kh, kw = layer.kernel_size
    groups = getattr(layer, "groups", 1)
    cin = int(layer.input.shape[-1])
    return _positions(layer.output.shape) * kh * kw * (cin // groups) * layer.filters


def _depthwise(layer):
    kh, kw = layer.kernel_size
    out = layer.output.shape
    return _positions(out) * kh * kw * int(out[-1])


def _separable(layer):
    kh, kw = layer.kernel_size
    cin = int(layer.input.shape[-1])
    positions = _positions(layer.output.shape)
    return positions * cin * layer.depth_multiplier * (kh * kw + layer.filters)


def _dense(layer):
    shape = layer.input.shape
    return _positions(shape) * int(shape[-1]) * layer.units


def _spectral_conv(layer):
    """The spectral product, 4 real multiply-adds per complex one."""
    source = layer.input
    if spectral.is_spectral(source):
        p, q = int(source.shape[1]), int(source.shape[2])
    else:
        size = spectral.padded_size(
            int(source.shape[1]),
            int(source.shape[2]),
            layer.kernel_size[0] - 1,
            layer.kernel_size[1] - 1,
        )
        p, q = size[0], size[1] // 2 + 1
    return 4 * p * q * int(source.shape[-1]) * layer.filters


def _counter(layer):
    from keras_specnet.layers import ButterflyFusion, SpectralBlock, SpectralConv2D

    if isinstance(layer, (ButterflyFusion, SpectralBlock)):
        return lambda layer: layer.multiply_adds(layer.input.shape)
    if isinstance(layer, SpectralConv2D):
        return _spectral_conv
    if isinstance(layer, keras.layers.SeparableConv2D):
        return _separable
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return _depthwise
    if isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
        return _conv
    if isinstance(layer, keras.layers.Dense):
        return _dense
    return None


def spectral_convolutions(model):
    """Every `SpectralConv2D` of `model`, in layer order.

    The convolutions of a `SpectralBlock` are listed in its place, and
    nested models are searched layer by layer, so a builder's model gives
    the same convolutions whatever its `cache` (the `"block"` mode nests
    them in `SpectralBlock` layers).

    Args:
        model: a `keras.Model`.

    Returns:
        A list of `SpectralConv2D` layers.

    Example:

    ```python
    from keras_specnet.applications import SpecVGG16
    from keras_specnet.utils import spectral_convolutions

    model = SpecVGG16(width=0.25)
    print([layer.name for layer in spectral_convolutions(model)][:2])
    # ['block1_conv1', 'block1_conv2']
    ```
    """
    from keras_specnet.layers import SpectralBlock, SpectralConv2D

    if not isinstance(model, keras.Model):
        raise ValueError(
            f"Invalid value for argument `model`. Expected a keras.Model. Received: model={model!r}"
        )
    found = []
    for layer in model.layers:
        if isinstance(layer, SpectralBlock):
            found.extend(layer.convolutions)
        elif isinstance(layer, SpectralConv2D):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(spectral_convolutions(layer))
    return found


def count_flops(model, per_layer=False):
    """Multiply-adds of one example's forward pass through `model`.

    What is counted, per example (the batch axis excluded), as the
    efficient-architecture papers count FLOPs (MobileNet, ShuffleNet, BFT):

    - `Conv1D`/`Conv2D`/`Conv3D`: output positions x kernel size x input
      channels per group x filters;
    - `DepthwiseConv2D`: output positions x kernel size x output channels;
    - `SeparableConv2D`: its depthwise and its pointwise parts;
    - `Dense`: input positions (all axes but batch and features) x input
      features x units;
    - `ButterflyFusion`: positions x `size * sum(radices)`, the stages over
      the padded width (`ButterflyFusion.multiply_adds`);
    - `SpectralConv2D`: the per-frequency product of the input and kernel
      spectra, `P * (Q // 2 + 1) * in * filters` complex multiply-adds
      counted as 4 real ones each (the FFTs are not counted);
    - `SpectralBlock`: the same for each of its convolutions.

    Not counted: biases, batch normalisation, activations, pooling,
    additions, concatenations and reshapes (each linear in the activation
    size, a few percent of the total in these networks), and FFTs. Nested
    models are counted layer by layer. The model must be built on a fixed
    input shape.

    Args:
        model: a built functional or sequential `keras.Model`.
        per_layer: bool. Return a dict, layer name -> multiply-adds, of the
            counted layers instead of the total. Defaults to `False`.

    Returns:
        An int, or a dict with `per_layer=True`.

    Example:

    ```python
    from keras_specnet.applications import MobileNetV1
    from keras_specnet.utils import count_flops

    print(count_flops(MobileNetV1(alpha=0.25, input_shape=(32, 32, 3))) / 1e6, "M")
    ```
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"Invalid value for argument `model`. Expected a keras.Model. Received: model={model!r}"
        )
    counts = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            for name, value in count_flops(layer, per_layer=True).items():
                counts[f"{layer.name}/{name}"] = value
            continue
        counter = _counter(layer)
        if counter is None:
            continue
        try:
            counts[layer.name] = int(counter(layer))
        except (TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"Invalid value for argument `model`. Expected a model built on "
                f"fixed input shapes; could not count layer '{layer.name}' "
                f"({error}). Received: model={model.name!r}"
            ) from error
    return counts if per_layer else sum(counts.values())
