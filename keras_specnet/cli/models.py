"""`specnet models`: the model registry, with parameter counts."""

from keras_specnet import _io

HELP = "list the registered models with their parameter counts"
DESCRIPTION = (
    "List the models of keras_specnet.applications.registry: each one's twin, "
    "default spectral threshold and parameter counts on 28x28x1 and 32x32x3 "
    "inputs (10 classes)."
)

_SHAPES = ((28, 28, 1), (32, 32, 3))


def add_arguments(parser):
    """`specnet models` takes no options."""


def run(args):
    """Print the table; returns its text."""
    import keras

    from keras_specnet.applications import registry

    header = ("model", "twin", "default beta", "params 28x28x1", "params 32x32x3")
    rows = []
    for name in registry.names():
        spec = registry.spec(name)
        counts = []
        for shape in _SHAPES:
            counts.append(f"{spec.build(input_shape=shape).count_params():,}")
            keras.backend.clear_session()
        beta = spec.default_beta if spec.kind == "spectral" else None
        rows.append((name, spec.twin, "-" if beta is None else f"{beta:g}", *counts))
    text = _io.format_table(header, rows, left=len(header))
    print(text)
    return text
