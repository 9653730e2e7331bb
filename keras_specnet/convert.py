"""`spectralize`: the SpecNet version of an existing Keras model.

`spectralize(model)` rebuilds a Sequential or functional Keras model with
each `keras.layers.Conv2D` replaced by a `SpectralConv2D` that carries the
same weights; every other layer is a copy of the original with its weights.
See docs/spectralize.md.
"""

import dataclasses
import inspect
import warnings

import keras

from keras_specnet import _checks
from keras_specnet import cache as _cache
from keras_specnet._conversion_plan import (
    HIDDEN_ACTIVATIONS as HIDDEN_ACTIVATIONS,  # documented here: docs/spectralize.md
)
from keras_specnet._conversion_plan import (
    Planner,
    _is_hidden_activation_layer,
    _is_same_max_pooling,
)
from keras_specnet.layers import SpectralConv2D, SpectralTanh, ToSpatial, ToSpectral


@dataclasses.dataclass(frozen=True)
class SpectralizeReport:
    """What `spectralize` did to a model, by layer name.

    Layers of a nested model are named `"outer/inner"`.

    Attributes:
        converted: tuple of the names of the `Conv2D` layers now
            `SpectralConv2D`s (each keeps its name).
        left: dict, name -> reason, of the convolution layers left as
            they are (`DepthwiseConv2D`, `SeparableConv2D`,
            `Conv2DTranspose`, `Conv1D`, a `Conv2D` with an argument
            `SpectralConv2D` does not take, ...).
        replaced: dict, name -> the class that now has the name, of the
            non-convolution layers replaced in spectral blocks (an
            activation by `SpectralTanh`, a max pooling by a `ToSpatial`
            with the pooling fused), or `"fused into NAME"` for an
            activation that the convolution `NAME` now applies.
        added: tuple of the names of the layers added: the
            `keras.layers.Activation` after a converted convolution, and
            in spectral blocks the `ToSpectral` and `ToSpatial` layers.
    """

    converted: tuple = ()
    left: dict = dataclasses.field(default_factory=dict)
    replaced: dict = dataclasses.field(default_factory=dict)
    added: tuple = ()


def spectralize(
    model,
    beta=0.0,
    *,
    chain=False,
    fft_padding=None,
    cache="bitmask",
    cache_dtype="float32",
    batch_chunks=4,
    return_report=False,
):
    """The model with its `Conv2D` layers as `SpectralConv2D`, same weights.

    Every `keras.layers.Conv2D` that `SpectralConv2D` can compute becomes a
    `SpectralConv2D` of the same name, kernel and bias; every other layer is
    a copy of the original, same name, same weights (the original model is
    not changed and shares nothing with the result).

    By default (`chain=False`) each convolution is one `SpectralConv2D`
    with a real input and `output_domain="spatial"`, and a convolution's
    own activation (`Conv2D(..., activation="relu")`) follows it as a
    `keras.layers.Activation` named `f"{name}_activation"`: with `beta=0`
    the result computes what the original computes, up to float32
    rounding.

    With `chain=True`, runs of convolutions become SpecNet's spectral
    blocks (Algorithm 1 of the paper), which changes the function: a
    convolution's spectral output feeds the next convolution directly, its
    hidden activation (ReLU, tanh, ...: `HIDDEN_ACTIVATIONS`, its own or an
    activation layer after it) becomes the spectral tanh, applied by the
    convolution, and the block returns to the spatial domain where a layer
    other than a convolution or such an activation follows: a max pooling
    with `"same"` padding becomes a `ToSpatial` with the pooling fused
    (same name), anything else gets a `ToSpatial` before it. A block takes
    the FFT of its input padded by `k - 1` for its first `k x k` kernel,
    the later convolutions being circular over that size, as SpecNet and
    the package's Spec models do; `fft_padding=N` opens each block with a
    `ToSpectral(N)` instead. With `N` at least the sum of `k - 1` over a
    block, the block is exactly the linear convolution by its kernels,
    cropped once at its end; the spatial model crops after each
    convolution, so even a linear block with `beta=0` differs from it near
    the borders. Only stride-1 `"same"` convolutions join blocks; a
    strided one takes a real input and gives a spatial output (its hidden
    activation still becomes the spectral tanh, as in SpecNet's strided
    stems).

    Left as they are, and reported: `DepthwiseConv2D`, `SeparableConv2D`,
    `Conv2DTranspose`, 1-D and 3-D convolutions, subclasses of `Conv2D`,
    and a `Conv2D` whose arguments `SpectralConv2D` does not take (its
    `padding`, `dilation_rate`, `groups` and `data_format` pass through
    when `SpectralConv2D` accepts them), with LoRA enabled, quantized, or
    with an input of unknown height or width. With `return_report=False`
    a `UserWarning` names them; with `return_report=True` the
    `SpectralizeReport` lists them, and no warning is given.

    Args:
        model: a built `keras.Sequential` or functional `keras.Model`
            (nested Sequential and functional models are converted too).
        beta: float >= 0. Spectral threshold of every `SpectralConv2D`
            (see `SpectralConv2D`). Defaults to `0.0` (keep all).
        chain: bool. Group convolutions into spectral blocks. Defaults to
            `False`.
        fft_padding: `None` or int >= 0. With `chain=True`, the padding of
            a `ToSpectral` that opens each block; `None` lets the block's
            first convolution take the real map (padding `k - 1`).
            Defaults to `None`.
        cache, cache_dtype, batch_chunks: what each `SpectralConv2D` (and
            each `ToSpatial` with pooling) keeps for the backward pass and
            in how many batch slices it works (see `SpectralConv2D`).
            Defaults to `"bitmask"`, `"float32"`, `4`.
        return_report: bool. Return `(model, SpectralizeReport)` instead of
            the model. Defaults to `False`.

    Returns:
        A new model (Sequential for a Sequential model), compiled as the
        original when it was compiled; with `return_report=True`, the pair
        `(model, report)`.

    Example:

    ```python
    import keras
    import keras_specnet

    vgg = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    spec_vgg, report = keras_specnet.spectralize(vgg, return_report=True)
    len(report.converted)  # 13
    ```
    """
    if not isinstance(model, keras.Model) or not _is_graph_model(model):
        raise _checks.invalid("model", "a keras.Sequential or a functional keras.Model", model)
    try:
        has_inputs = bool(model.inputs)
    except AttributeError:  # a Sequential model that was never built
        has_inputs = False
    if not model.built or not has_inputs:
        raise _checks.invalid(
            "model",
            "a built model, with known inputs (made with keras.Input, or called on data once)",
            model,
        )
    beta = _checks.non_negative_number("beta", beta)
    if not isinstance(chain, bool):
        raise _checks.invalid("chain", "True or False", chain)
    if fft_padding is not None:
        fft_padding = _checks.integer("fft_padding", fft_padding, minimum=0)
        if not chain:
            raise _checks.invalid("fft_padding", "None when chain=False", fft_padding)
    _cache.check(cache, cache_dtype)
    batch_chunks = _checks.chunks("batch_chunks", batch_chunks)
    if not isinstance(return_report, bool):
        raise _checks.invalid("return_report", "True or False", return_report)
    converter = _Converter(
        model,
        beta=beta,
        chain=chain,
        fft_padding=fft_padding,
        saving={"cache": cache, "cache_dtype": cache_dtype, "batch_chunks": batch_chunks},
    )
    new_model = converter.convert(model)
    report = converter.report()
    if return_report:
        return new_model, report
    if report.left:
        listed = ", ".join(f"{name} ({reason})" for name, reason in report.left.items())
        warnings.warn(
            f"spectralize left {len(report.left)} convolution layer(s) as "
            f"they are: {listed}. Pass return_report=True to get them as a "
            "SpectralizeReport.",
            UserWarning,
            stacklevel=2,
        )
    return new_model


def _is_graph_model(model):
    """Sequential, or functional (a graph of nodes that clone_model rebuilds)."""
    return isinstance(model, keras.Sequential) or hasattr(model, "_nodes_by_depth")


class _Converter(Planner):
    """One conversion: plans, new layers, spectral tensors and the report."""

    def __init__(self, model, beta, chain, fft_padding, saving):
        self.beta = beta
        self.chain = chain
        self.fft_padding = fft_padding
        self.saving = saving
        self.parameters = inspect.signature(SpectralConv2D.__init__).parameters
        self.plans = {}  # id(original Conv2D) -> _ConvPlan
        self.consumers = {}  # id(original layer) -> layers using its output (None: output)
        self.inbound = {}  # id(original layer) -> its nodes in the model
        self.fused_into = {}  # id(activation layer) -> the conv that applies it
        self.clones = {}  # id(original layer) -> its copy (or the original Conv2D)
        self.originals = {}  # id(copy) -> the original layer
        self.convs = {}  # id(original Conv2D) -> its SpectralConv2D
        self.activations = {}  # id(original Conv2D) -> the Activation after it
        self.pairs = []  # (original layer, new layer) whose weights are copied
        self.paths = {}  # id(original layer) -> "outer/" prefix of its name
        self.spectral = {}  # id(spectral KerasTensor) -> (tensor, (H, W), producer name)
        self.spatial = {}  # id(spectral KerasTensor) -> its ToSpatial output
        self.fused_outputs = {}  # id(output of a conv with a fused activation) -> it
        self.sequence = None  # the layers applied, when rebuilding a Sequential
        self.names = set(_all_names(model))
        self.converted, self.left, self.replaced, self.added = [], {}, {}, []

    # -- the report ---------------------------------------------------------

    def report(self):
        return SpectralizeReport(
            converted=tuple(self.converted),
            left=dict(self.left),
            replaced=dict(self.replaced),
            added=tuple(self.added),
        )

    def _name(self, layer):
        return self.paths.get(id(layer), "") + layer.name

    def _unique(self, base):
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    # -- conversion of one model ---------------------------------------------

    def convert(self, model, path=""):
        self._analyse(model, path)
        if isinstance(model, keras.Sequential):
            new_model = self._convert_sequential(model, path)
        else:
            new_model = self._convert_functional(model, path)
        if path == "":
            for original, new in self.pairs:
                if getattr(original, "weights", None):  # ops (`x + y`) have none
                    new.set_weights(original.get_weights())
        return new_model

    def _convert_sequential(self, model, path):
        inputs = _input_like(model.inputs[0])
        x = inputs
        outer, self.sequence = self.sequence, []
        try:
            for layer in model.layers:
                x = self.call(self.clone(layer, path), x)
            self._to_spatial(x)
            layers = self.sequence
        finally:
            self.sequence = outer
        new_model = keras.Sequential([inputs, *layers], name=model.name, trainable=model.trainable)
        if model.compiled:
            new_model.compile_from_config(model.get_compile_config())
        return new_model

    def _convert_functional(self, model, path):
        outer, self.sequence = self.sequence, None
        try:
            new_model = keras.models.clone_model(
                model,
                input_tensors=keras.tree.map_structure(_input_like, model.input),
                clone_function=lambda layer: self.clone(layer, path),
                call_function=self.call,
            )
            flat = new_model.outputs
            if any(id(x) in self.spectral for x in flat):
                outputs = keras.tree.map_structure(self._to_spatial, new_model.output)
                compiled = new_model.compiled
                new_model = keras.Model(new_model.input, outputs, name=model.name)
                if compiled:
                    new_model.compile_from_config(model.get_compile_config())
        finally:
            self.sequence = outer
        return new_model

    # -- layers ----------------------------------------------------------------

    def clone(self, layer, path):
        """The copy of `layer`; a converted Conv2D stands for itself until called."""
        if id(layer) in self.clones:
            return self.clones[id(layer)]
        plan = self.plans.get(id(layer))
        if plan is not None and plan.kwargs is not None:
            new = layer
        elif isinstance(layer, keras.Model) and _is_graph_model(layer):
            new = self.convert(layer, f"{path}{layer.name}/")
        else:
            if plan is not None:
                self.left[self._name(layer)] = plan.reason
            new = layer.__class__.from_config(layer.get_config())
            self.pairs.append((layer, new))
        self.clones[id(layer)] = new
        self.originals[id(new)] = layer
        return new

    def _apply(self, layer, *args, **kwargs):
        if self.sequence is not None:
            self.sequence.append(layer)
        return layer(*args, **kwargs)

    def _to_spatial(self, x):
        """A spectral tensor of this conversion back in the spatial domain."""
        if id(x) not in self.spectral:
            return x
        if id(x) not in self.spatial:
            _, size, producer = self.spectral[id(x)]
            name = self._unique(f"{producer}_ifft")
            self.added.append(name)
            layer = ToSpatial(size, name=name, **self.saving)
            self.spatial[id(x)] = self._apply(layer, x)
        return self.spatial[id(x)]

    def _mark_spectral(self, tensor, size, producer):
        self.spectral[id(tensor)] = (tensor, size, producer)
        return tensor

    def call(self, layer, *args, **kwargs):
        """Calls a new layer, or what stands for it, on the new tensors."""
        plan = self.plans.get(id(layer))
        if plan is not None and plan.kwargs is not None and self.clones.get(id(layer)) is layer:
            return self._call_conv(layer, *args, **kwargs)
        x = args[0] if len(args) == 1 and not kwargs else None
        original = self.originals.get(id(layer), layer)
        fused = self.fused_into.get(id(original))
        if fused is not None and x is not None and id(x) in self.fused_outputs:
            self.replaced[self._name(original)] = f"fused into {self._name(fused)}"
            return x
        if x is not None and id(x) in self.spectral:
            size = self.spectral[id(x)][1]
            if _is_hidden_activation_layer(layer):
                self.replaced[self._name(original)] = "SpectralTanh"
                out = self._apply(SpectralTanh(name=layer.name), x)
                return self._mark_spectral(out, size, layer.name)
            if _is_same_max_pooling(layer):
                self.replaced[self._name(original)] = "ToSpatial"
                pooling = ToSpatial(
                    size,
                    pool_size=layer.pool_size,
                    pool_strides=layer.strides,
                    name=layer.name,
                    **self.saving,
                )
                return self._apply(pooling, x)
        args, kwargs = keras.tree.map_structure(self._to_spatial, (args, kwargs))
        return self._apply(layer, *args, **kwargs)

    def _call_conv(self, original, x, **kwargs):
        plan = self.plans[id(original)]
        spectral_in = id(x) in self.spectral
        if spectral_in and not plan.chainable:
            x, spectral_in = self._to_spatial(x), False
        if plan.chainable and not spectral_in and self.fft_padding is not None:
            name = self._unique(f"{original.name}_fft")
            self.added.append(name)
            size = tuple(x.shape[1:3])
            x = self._apply(ToSpectral(self.fft_padding, name=name), x)
            x, spectral_in = self._mark_spectral(x, size, name), True
        size = self.spectral[id(x)][1] if spectral_in else tuple(x.shape[1:3])
        layer = self.convs.get(id(original))
        if layer is None:
            layer = SpectralConv2D(
                **plan.kwargs,
                activation="spectral_tanh" if plan.spectral_tanh else None,
                output_domain="spectral" if plan.spectral_out else "spatial",
                output_size=size if spectral_in and not plan.spectral_out else None,
            )
            self.convs[id(original)] = layer
            self.pairs.append((original, layer))
            self.converted.append(self._name(original))
        out = self._apply(layer, x, **kwargs)
        if plan.fused is not None:
            self.fused_outputs[id(out)] = out
        if plan.spectral_out:
            return self._mark_spectral(out, size, layer.name)
        if plan.activation is not None:
            activation = self.activations.get(id(original))
            if activation is None:  # one per layer, shared as the layer is
                name = self._unique(f"{original.name}_activation")
                self.added.append(name)
                activation = keras.layers.Activation(
                    original.activation,
                    name=name,
                    dtype=original.dtype_policy,
                    activity_regularizer=plan.activity_regularizer,
                )
                self.activations[id(original)] = activation
            out = self._apply(activation, out)
        return out


def _input_like(tensor):
    """A new `keras.Input` like `tensor`, named after its input layer."""
    layer = tensor._keras_history.operation
    name = layer.name if isinstance(layer, keras.layers.InputLayer) else None
    return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=name)


def _all_names(model):
    """The names of a model's layers, nested models' layers included."""
    for layer in model.layers:
        yield layer.name
        if isinstance(layer, keras.Model):
            yield from _all_names(layer)
