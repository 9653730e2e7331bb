"""Helpers shared by the tests: IDX files, saved weights, worker clusters, layer checks."""

import gzip
import json
import socket
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


#: Builder arguments that keep every registered model small (the suite's
#: widths); the architecture is the same as at full size.
SMALL_MODEL_ARGS = {
    "lenet5": {},
    "spec_lenet5": {},
    "alexnet": {"width": 0.125, "fc_units": 16},
    "spec_alexnet": {"width": 0.125, "fc_units": 16},
    "vgg16": {"width": 0.125, "fc_units": 16},
    "spec_vgg16": {"width": 0.125, "fc_units": 16},
    "densenet": {"width": 0.125, "num_layers": 2},
    "spec_densenet": {"width": 0.125, "num_layers": 2},
    "mobilenet_v1": {"alpha": 0.125},
    "mobilenet_v1_bft": {"alpha": 0.125},
    "shufflenet_v2": {"scale": 0.25},
    "shufflenet_v2_bft": {"scale": 0.25},
}


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


def h5_arrays(path):
    """Every dataset of an HDF5 file (a `.weights.h5`), as `{path in the file: array}`."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def free_ports(count):
    """`count` distinct TCP ports on localhost that were free a moment ago.

    All are bound at once, so that no two are the same, then released for
    the caller's processes to take.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_tf_configs(count):
    """The `TF_CONFIG` (JSON) of each of `count` workers of one localhost cluster.

    The cluster's workers listen on `free_ports`; item `i` is the
    configuration of worker `i` (worker 0 is the chief).
    """
    workers = [f"localhost:{port}" for port in free_ports(count)]
    return [
        json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        for index in range(count)
    ]


def _as_list(data):
    return list(data) if isinstance(data, (list, tuple)) else [data]


def _like(data, make):
    """`make(array)` for each input, in `data`'s structure (a list or one)."""
    made = [make(d) for d in _as_list(data)]
    return made if isinstance(data, (list, tuple)) else made[0]


def _outputs(layer_or_model, data, **kwargs):
    out = layer_or_model(data, **kwargs)
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def _input_like(array):
    import keras

    dtype = "complex64" if np.iscomplexobj(array) else "float32"
    return keras.Input(array.shape[1:], dtype=dtype)


def _dtype(x):
    import keras

    return keras.backend.standardize_dtype(x.dtype)


def _fresh(layer, **overrides):
    """A new, unbuilt layer made from `layer`'s config (with `overrides`)."""
    return type(layer).from_config({**layer.get_config(), **overrides})


#: Machine epsilon of the compute dtypes of the mixed policies.
_EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7}


def _real_view_layer():
    import keras
    from keras import ops

    class RealView(keras.layers.Layer):
        """The real and imaginary parts of a spectral tensor side by side
        (a real tensor as it is), as float32, for a loss to read."""

        def call(self, x):
            if "complex" in _dtype(x):
                return ops.concatenate([ops.real(x), ops.imag(x)], axis=-1)
            return ops.cast(x, "float32")

        def compute_output_spec(self, x):
            shape = tuple(x.shape)
            if "complex" in _dtype(x):
                shape = (*shape[:-1], 2 * shape[-1])
            return keras.KerasTensor(shape, "float32")

    return RealView()


def check_serialisation(layer):
    """Config, JSON and `serialize_keras_object` round trips of a new layer.

    Each revived layer has the class and the exact config of `layer`
    (tuples included, after JSON turned them into lists) and the same
    attributes.
    """
    import json

    import keras

    config = layer.get_config()
    json.dumps(config)  # a config must be JSON-serialisable
    revived = [
        type(layer).from_config(config),
        type(layer).from_config(json.loads(json.dumps(config))),
        keras.saving.deserialize_keras_object(
            json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        ),
    ]
    for clone in revived:
        assert type(clone) is type(layer), (type(clone), type(layer))
        assert clone.get_config() == config, (clone.get_config(), config)
        assert set(dir(clone)) == set(dir(layer)), set(dir(clone)) ^ set(dir(layer))


def _input_scale_layer():
    import keras
    import tensorflow as tf

    class InputScale(keras.layers.Layer):
        """A trainable scalar times the input (real or spectral)."""

        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")

        def call(self, x):
            if "complex" in _dtype(x):
                return x * tf.complex(self.scale, tf.zeros([], self.scale.dtype))
            return x * tf.cast(self.scale, x.dtype)

        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, x.dtype)

    return InputScale()


def check_training_step(layer, data):
    """One `fit` step of a tiny model made of `layer`: every weight trains.

    The model scales each input by a trainable scalar, applies `layer` and
    reads the real and imaginary parts of a spectral output; its loss is the
    mean square of that output. The step must give a finite loss and move
    each of the layer's trainable weights, and each input's scale, whose
    gradient comes through the layer's backward pass (so that a layer
    without weights is differentiated too); an eager gradient must reach
    them all as well.
    """
    import keras
    import tensorflow as tf

    inputs = _like(data, _input_like)
    scales = [_input_scale_layer() for _ in _as_list(inputs)]
    scaled = [scale(x) for scale, x in zip(scales, _as_list(inputs))]
    outputs = _real_view_layer()(layer(scaled if isinstance(inputs, list) else scaled[0]))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
    batch = len(_as_list(data)[0])
    target = np.zeros((batch, *model.output.shape[1:]), "float32")
    watched = [*layer.trainable_weights, *(s.scale for s in scales)]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(data, training=True)))
    missing = [w.path for w, g in zip(watched, tape.gradient(loss, watched)) if g is None]
    assert not missing, f"no gradient reaches {missing}"
    before = [np.array(w) for w in watched]
    history = model.fit(data, target, batch_size=batch, epochs=1, verbose=0)
    (loss,) = history.history["loss"]
    assert np.isfinite(loss), loss
    for weight, old in zip(watched, before):
        assert not np.array_equal(np.array(weight), old), f"{weight.path} did not train"


def check_mixed_precision(layer, data, expected, policy):
    """The layer under a mixed policy, with `layer`'s weights.

    Float weights stay float32, a spectral output stays complex64, a real
    output comes in the policy's compute dtype, the symbolic call declares
    the eager output's dtype, and the values are those of the float32
    layer (`expected`) within a few roundings of the compute dtype.
    """
    import keras

    compute_dtype = keras.DTypePolicy(policy).compute_dtype
    mixed = _fresh(layer, dtype=policy)
    mixed(data)
    mixed.set_weights(layer.get_weights())
    out = mixed(data)
    for weight in mixed.weights:
        if "float" in _dtype(weight):
            assert _dtype(weight) == "float32", (weight.path, _dtype(weight))
    want = "complex64" if np.iscomplexobj(expected) else compute_dtype
    assert _dtype(out) == want, (policy, _dtype(out), want)
    symbolic = _fresh(layer, dtype=policy)(_like(data, _input_like))
    assert _dtype(symbolic) == _dtype(out), (_dtype(symbolic), _dtype(out))
    got = np.asarray(out).astype(expected.dtype)
    scale = max(float(np.max(np.abs(expected))), 1.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=8 * _EPSILON[compute_dtype] * scale)


def run_layer_test(
    layer,
    data,
    tmp_path,
    *,
    expected_output_shape=None,
    expected_output_dtype=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_training_check=True,
    run_mixed_precision_check=True,
):
    """The checks every public layer must pass.

    - serialisation (`check_serialisation`): `get_config` / `from_config`,
      through JSON, and `keras.saving.serialize_keras_object` /
      `deserialize_keras_object`;
    - build: `build` on the input shapes builds the layer, with the
      expected numbers of weights, of the shapes a call gives;
    - symbolic call on `KerasTensor`s (batch `None`) and eager call on
      `data`: the expected output shape (batch `None` when symbolic) and
      dtype, and the same weights as `build`;
    - the config clone, given the layer's weights, gives the same outputs;
    - `.keras` round trip of a model made of the layer: the loaded layer
      has the same class and the model gives identical outputs;
    - weights round trip: `save_weights` / `load_weights` into a new layer
      built from the config give identical outputs;
    - one `fit` step of a model made of the layer (`check_training_step`);
    - `mixed_float16` and `mixed_bfloat16` (`check_mixed_precision`).

    Args:
        layer: a new, unbuilt layer.
        data: its input, an array or a list of arrays.
        tmp_path: a folder for the saved files.
        expected_output_shape: the output's shape for `data` (batch
            included), or None to check only that the symbolic and the
            eager call agree.
        expected_output_dtype: the output's dtype under the float32
            policy, or None to check only that both calls agree.
        expected_num_trainable_weights: int or None (not checked).
        expected_num_non_trainable_weights: int or None (not checked).
        run_training_check: bool. Run the `fit` step.
        run_mixed_precision_check: bool. Run the mixed-precision checks.

    Returns:
        The layer loaded back from the `.keras` file.
    """
    import keras

    assert not layer.built or not layer.weights, "run_layer_test takes a new, unbuilt layer"
    check_serialisation(layer)

    def check_weights(built):
        assert built.built
        if expected_num_trainable_weights is not None:
            assert len(built.trainable_weights) == expected_num_trainable_weights, [
                w.path for w in built.trainable_weights
            ]
        if expected_num_non_trainable_weights is not None:
            assert len(built.non_trainable_weights) == expected_num_non_trainable_weights, [
                w.path for w in built.non_trainable_weights
            ]
        return [tuple(w.shape) for w in built.weights]

    def check_output(out, symbolic):
        assert not isinstance(out, (list, tuple)), "one output expected"
        if expected_output_shape is not None:
            want = tuple(expected_output_shape)
            if symbolic:
                want = (None, *want[1:])
            assert tuple(out.shape) == want, (tuple(out.shape), want)
        if expected_output_dtype is not None:
            assert _dtype(out) == expected_output_dtype, (_dtype(out), expected_output_dtype)

    shapes = _like(data, lambda d: tuple(d.shape))
    built = _fresh(layer)
    built.build(shapes)
    weight_shapes = check_weights(built)

    symbolic_layer = _fresh(layer)
    symbolic = symbolic_layer(_like(data, _input_like))
    check_output(symbolic, symbolic=True)
    assert check_weights(symbolic_layer) == weight_shapes

    out = layer(data)
    check_output(out, symbolic=False)
    assert check_weights(layer) == weight_shapes
    assert tuple(symbolic.shape)[1:] == tuple(out.shape)[1:], (symbolic.shape, out.shape)
    assert _dtype(symbolic) == _dtype(out), (_dtype(symbolic), _dtype(out))
    expected = np.asarray(out)

    clone = _fresh(layer)
    clone(data)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(_outputs(clone, data), expected)

    inputs = _like(data, _input_like)
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[-1]) is type(layer)
    np.testing.assert_array_equal(_outputs(loaded, data), _outputs(model, data))

    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    fresh = keras.Model(inputs, _fresh(layer)(inputs))
    fresh.load_weights(weights)
    np.testing.assert_array_equal(_outputs(fresh, data), _outputs(model, data))

    if run_mixed_precision_check:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            check_mixed_precision(layer, data, expected, policy)
    if run_training_check:
        check_training_step(_fresh(layer), data)
    return loaded.layers[-1]
