"""Helpers shared by the tests: MNIST-format IDX files and layer checks."""

import gzip
import struct

import numpy as np


def encode_idx(array):
    """A uint8 array as the bytes of an IDX file (header and data)."""
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_idx(path, array):
    """Write `array` as an IDX file at `path`, gzipped when it ends in `.gz`."""
    data = encode_idx(array)
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def random_split(n, seed):
    """`n` random 28x28 uint8 images and labels 0-9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    return images, labels


def learnable_split(n, seed):
    """`n` 28x28 images with a bright bar whose row gives the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 * c + 4 : 2 * c + 6, 4:24] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_idx_dataset(folder, splits, gzipped=()):
    """Write MNIST-format IDX files into `folder`; returns `folder`.

    Args:
        splits: dict. File prefix (`"train"`, `"t10k"`) -> `(images, labels)`.
        gzipped: prefixes whose files are written gzipped (`.gz`).
    """
    for prefix, (images, labels) in splits.items():
        suffix = ".gz" if prefix in gzipped else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return folder


def _outputs(layer_or_model, data):
    out = layer_or_model(data)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def _input_like(array):
    import keras

    dtype = "complex64" if np.iscomplexobj(array) else "float32"
    return keras.Input(array.shape[1:], dtype=dtype)


def run_layer_test(layer, data, tmp_path):
    """The serialisation checks every public layer must pass.

    - `get_config` / `from_config` round trip: the clone has the same
      config and, given the layer's weights, the same outputs;
    - `.keras` round trip of a model made of the layer: the loaded layer has
      the same class and the model gives identical outputs;
    - weights round trip: `save_weights` / `load_weights` into a new layer
      built from the config give identical outputs.

    Args:
        layer: a new, unbuilt layer.
        data: its input, an array or a list of arrays.
        tmp_path: a folder for the saved files.

    Returns:
        The layer loaded back from the `.keras` file.
    """
    import keras

    expected = _outputs(layer, data)

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone(data)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(_outputs(clone, data), expected)

    if isinstance(data, (list, tuple)):
        inputs = [_input_like(d) for d in data]
    else:
        inputs = _input_like(data)
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    np.testing.assert_array_equal(_outputs(loaded, data), _outputs(model, data))

    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    fresh = keras.Model(inputs, type(layer).from_config(layer.get_config())(inputs))
    fresh.load_weights(weights)
    np.testing.assert_array_equal(_outputs(fresh, data), _outputs(model, data))
    return loaded.layers[-1]
