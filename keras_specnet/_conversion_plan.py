"""How `spectralize` plans a conversion, before it builds anything.

`Planner` walks a model's layers once: who consumes each layer's output,
which `Conv2D`s become `SpectralConv2D`s and with which arguments (or why
they are left), and in spectral blocks which activations and poolings are
fused and which convolutions hand spectral tensors to the next. The
rebuilding is `keras_specnet.convert`'s.
"""

import dataclasses

import keras

from keras_specnet.layers import SpectralConv2D

#: Activations that a spectral block replaces with SpecNet's spectral tanh:
#: the element-wise activations of hidden layers.
HIDDEN_ACTIVATIONS = (
    "celu",
    "elu",
    "gelu",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "mish",
    "relu",
    "relu6",
    "selu",
    "silu",
    "softplus",
    "softsign",
    "swish",
    "tanh",
)

#: Activation layers that a spectral block replaces like those activations.
_ACTIVATION_LAYERS = (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)

#: Convolution layers that are reported when they are left as they are.
_CONVOLUTIONS = tuple(
    getattr(keras.layers, name)
    for name in (
        "Conv1D",
        "Conv1DTranspose",
        "Conv2D",
        "Conv2DTranspose",
        "Conv3D",
        "Conv3DTranspose",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
    )
    if hasattr(keras.layers, name)
)

#: `Conv2D` arguments that `SpectralConv2D` may take, with the value it
#: computes when it does not take them.
_PASSED_THROUGH = (
    ("padding", "same"),
    ("dilation_rate", (1, 1)),
    ("groups", 1),
    ("data_format", "channels_last"),
)


@dataclasses.dataclass
class _ConvPlan:
    """How one `Conv2D` is converted (`kwargs` None: it is left)."""

    kwargs: dict = None
    reason: str = None
    activation: object = None  # the spatial activation kept after the layer
    spectral_tanh: bool = False  # the layer applies spectral tanh (blocks)
    chainable: bool = False  # may take and give spectral tensors (blocks)
    fused: object = None  # the activation layer it absorbs (blocks)
    spectral_out: bool = False
    activity_regularizer: object = None  # moves to the activation kept after it


def _activation_name(activation):
    """A built-in activation's name, `None` for linear, else the object."""
    if activation is None:
        return None
    if not isinstance(activation, str):
        try:
            activation = keras.activations.serialize(activation)
        except ValueError:
            return activation
    return None if activation == "linear" else activation


def _is_hidden_activation_layer(layer):
    if type(layer) in _ACTIVATION_LAYERS:
        return True
    return (
        type(layer) is keras.layers.Activation
        and _activation_name(layer.activation) in HIDDEN_ACTIVATIONS
    )


def _is_same_max_pooling(layer):
    return (
        type(layer) is keras.layers.MaxPooling2D
        and layer.padding == "same"
        and layer.data_format == "channels_last"
    )


def _normalized(value):
    return tuple(value) if isinstance(value, list) else value


class Planner:
    """The analysis half of a conversion, mixed into the converter.

    Reads `self.chain`, `self.beta`, `self.saving` and `self.parameters`;
    fills `self.paths`, `self.consumers`, `self.inbound`, `self.plans` and
    `self.fused_into`.
    """

    def _analyse(self, model, path):
        """Consumers and inbound nodes of each layer, then each Conv2D's plan."""
        layers = list(model.layers)
        for layer in layers:
            self.paths[id(layer)] = path
        if isinstance(model, keras.Sequential):
            for i, layer in enumerate(layers):
                self.consumers[id(layer)] = [layers[i + 1]] if i + 1 < len(layers) else [None]
                self.inbound[id(layer)] = list(layer._inbound_nodes[:1])
        else:
            for nodes in model._nodes_by_depth.values():
                for node in nodes:
                    if node.is_input or node.operation is None:
                        continue
                    self.inbound.setdefault(id(node.operation), []).append(node)
                    for tensor in node.input_tensors:
                        producer = tensor._keras_history.operation
                        if producer is not None:
                            self.consumers.setdefault(id(producer), []).append(node.operation)
            for tensor in model.outputs:
                producer = tensor._keras_history.operation
                self.consumers.setdefault(id(producer), []).append(None)
        for layer in layers:
            if isinstance(layer, _CONVOLUTIONS):
                self.plans[id(layer)] = self._plan(layer)
        if self.chain:
            self._plan_blocks(layers)

    def _plan(self, layer):
        """How `layer` becomes a `SpectralConv2D`, or why it cannot."""
        if type(layer) is not keras.layers.Conv2D:
            if isinstance(layer, keras.layers.Conv2D):
                return _ConvPlan(
                    reason=f"{type(layer).__name__}: a subclass of Conv2D, whose call may differ"
                )
            return _ConvPlan(
                reason=f"{type(layer).__name__}: only keras.layers.Conv2D is converted"
            )
        config = layer.get_config()
        kwargs = {}
        for argument, computed in _PASSED_THROUGH:
            value = _normalized(config.get(argument, computed))
            if argument in self.parameters:
                kwargs[argument] = value
            elif value != computed:
                return _ConvPlan(
                    reason=(
                        f"{argument}={value!r}: SpectralConv2D takes no `{argument}` "
                        f"argument (it computes {argument}={computed!r})"
                    )
                )
        if getattr(layer, "lora_enabled", False) or config.get("lora_rank"):
            return _ConvPlan(reason="LoRA is enabled")
        if getattr(layer.dtype_policy, "quantization_mode", None):
            return _ConvPlan(reason=f"quantized ({layer.dtype_policy.quantization_mode})")
        channels_first = _normalized(config.get("data_format")) == "channels_first"
        for node in self.inbound.get(id(layer), []):
            shape = node.input_tensors[0].shape
            size = shape[2:4] if channels_first else shape[1:3]
            if len(shape) != 4 or None in size:
                return _ConvPlan(
                    reason=(
                        f"input shape {shape}: SpectralConv2D needs a known height "
                        "and width (build the model with a fixed input shape)"
                    )
                )
        kwargs.update(
            filters=config["filters"],
            kernel_size=_normalized(config["kernel_size"]),
            strides=_normalized(config["strides"]),
            use_bias=config["use_bias"],
            kernel_initializer=config["kernel_initializer"],
            bias_initializer=config["bias_initializer"],
            kernel_regularizer=config["kernel_regularizer"],
            bias_regularizer=config["bias_regularizer"],
            kernel_constraint=config["kernel_constraint"],
            bias_constraint=config["bias_constraint"],
            beta=self.beta,
            name=layer.name,
            dtype=layer.dtype_policy,
            trainable=layer.trainable,
            **self.saving,
        )
        try:
            SpectralConv2D(**kwargs, output_domain="spatial")
        except ValueError as error:
            return _ConvPlan(reason=str(error))
        activation = _activation_name(layer.activation)
        plan = _ConvPlan(kwargs=kwargs, activation=activation)
        if self.chain and (activation is None or activation in HIDDEN_ACTIVATIONS):
            plan.spectral_tanh = activation is not None
            plan.activation = None
            plan.chainable = (
                kwargs.get("padding", "same") == "same"
                and kwargs["strides"] == (1, 1)
                and kwargs.get("dilation_rate", (1, 1)) == (1, 1)
                and kwargs.get("groups", 1) == 1
                and not channels_first
                and len(self.inbound.get(id(layer), [])) == 1
            )
        # An activity regularizer sees the layer's output, activation included.
        if plan.activation is not None:
            plan.activity_regularizer = layer.activity_regularizer
        elif layer.activity_regularizer is not None:
            kwargs["activity_regularizer"] = layer.activity_regularizer
        return plan

    def _plan_blocks(self, layers):
        """Fused activations and the output domain of each chainable conv."""
        for layer in layers:
            plan = self.plans.get(id(layer))
            if plan is None or not plan.chainable:
                continue
            after = self.consumers.get(id(layer), [None])
            if (
                not plan.spectral_tanh
                and len(after) == 1
                and after[0] is not None
                and _is_hidden_activation_layer(after[0])
                and len(self.inbound.get(id(after[0]), [])) == 1
            ):
                plan.fused = after[0]
                plan.spectral_tanh = True
                self.fused_into[id(after[0])] = layer
                after = self.consumers.get(id(after[0]), [None])
            plan.spectral_out = all(self._takes_spectral(c) for c in after)

    def _takes_spectral(self, layer):
        if layer is None:
            return False
        plan = self.plans.get(id(layer))
        if plan is not None:
            return plan.chainable
        return _is_hidden_activation_layer(layer) or _is_same_max_pooling(layer)
