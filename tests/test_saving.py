"""`keras_specnet.load_model`: saved models in a fresh process, and bad files."""

import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import keras_specnet
from keras_specnet.layers import (
    ButterflyFusion,
    SpectralBatchNormalization,
    SpectralConv2D,
    ToSpatial,
    ToSpectral,
)
from keras_specnet.saving import MissingModelFileError, ModelFileError


def _spectral_model():
    inputs = keras.Input((8, 8, 1))
    z = ToSpectral(padding=2)(inputs)
    z = SpectralConv2D(4, 3, beta=0.05, activation="spectral_tanh", cache="bitmask")(z)
    z = SpectralBatchNormalization(cache="bitmask")(z)
    x = ToSpatial((8, 8), pool_size=2, pool_strides=1, cache="bitmask")(z)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def _butterfly_model():
    inputs = keras.Input((4, 4, 8))
    x = ButterflyFusion(8, base=2)(inputs)
    x = ButterflyFusion(12, base=4, residual=False, data_format="channels_last")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def _save(model, folder, name):
    path = folder / f"{name}.keras"
    model.save(path)
    return path


_CHILD = """
import sys
import numpy as np
import keras
import keras_specnet

spectral, butterfly, x_spectral, x_butterfly, out = sys.argv[1:]
try:
    keras.saving.load_model(spectral)
    print("keras alone: loaded")
except TypeError as error:
    print("keras alone: TypeError", "SpectralConv2D" in str(error) or "ToSpectral" in str(error))
print("layers imported:", "keras_specnet.layers" in sys.modules)
a = keras_specnet.load_model(spectral).predict(np.load(x_spectral), verbose=0)
b = keras_specnet.load_model(butterfly).predict(np.load(x_butterfly), verbose=0)
np.savez(out, spectral=a, butterfly=b)
"""


@pytest.mark.slow  # starts a child process
def test_saved_models_load_in_a_fresh_process_with_equal_predictions(tmp_path):
    rng = np.random.default_rng(0)
    models = {"spectral": _spectral_model(), "butterfly": _butterfly_model()}
    inputs = {
        "spectral": rng.standard_normal((3, 8, 8, 1)).astype("float32"),
        "butterfly": rng.standard_normal((3, 4, 4, 8)).astype("float32"),
    }
    for name, model in models.items():
        # A fit step first: the moving statistics and the weights are not
        # at their initial values.
        model.compile(optimizer="sgd", loss="mse", jit_compile=False)
        target = np.zeros((3, *model.output.shape[1:]), "float32")
        model.fit(inputs[name], target, epochs=1, verbose=0)
    paths = [_save(models[name], tmp_path, name) for name in models]
    arrays = []
    for name in models:
        arrays.append(tmp_path / f"x_{name}.npy")
        np.save(arrays[-1], inputs[name])
    out = tmp_path / "out.npz"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, [*paths, *arrays, out])],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    # `import keras_specnet` alone registers nothing: Keras cannot find the
    # package's classes, and the error names one of them.
    assert "keras alone: TypeError True" in lines, done.stdout
    assert "layers imported: False" in lines, done.stdout
    loaded = np.load(out)
    for name, model in models.items():
        np.testing.assert_array_equal(loaded[name], model.predict(inputs[name], verbose=0))


def test_load_model_is_exported_and_loads_in_process(tmp_path):
    model = _butterfly_model()
    path = _save(model, tmp_path, "butterfly")
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 8)).astype("float32")
    loaded = keras_specnet.load_model(path, compile=False)
    assert keras_specnet.load_model is keras_specnet.saving.load_model
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The bytes of a saved spectral model."""
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    _spectral_model().save(path)
    return path.read_bytes()


def _check_error(path, *fragments, error=ModelFileError):
    with pytest.raises(error) as caught:
        keras_specnet.load_model(path)
    message = str(caught.value)
    assert repr(str(path)) in message, message
    for fragment in fragments:
        assert fragment in message, message
    assert isinstance(caught.value, ValueError)
    # Short, and not a chain of TensorFlow, h5py or zipfile errors.
    assert len(message) < 500, message
    chained = caught.value.__cause__ or (
        None if caught.value.__suppress_context__ else caught.value.__context__
    )
    assert chained is None, repr(chained)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.keras"
    _check_error(path, "no such file", error=MissingModelFileError)
    with pytest.raises(FileNotFoundError):
        keras_specnet.load_model(path)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.99])
def test_truncated_file(tmp_path, saved, fraction):
    path = tmp_path / "truncated.keras"
    path.write_bytes(saved[: int(len(saved) * fraction)])
    _check_error(path, "not a zip archive", f"({int(len(saved) * fraction)} bytes)", "truncated")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.keras"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _check_error(path, "not a zip archive")


def _rewrite(source, target, change):
    """Copy the zip `source` to `target`, each member's bytes through `change(name, data)`."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            data = change(name, old.read(name))
            if data is not None:
                new.writestr(name, data)
    return target


@pytest.fixture
def saved_path(tmp_path, saved):
    path = tmp_path / "model.keras"
    path.write_bytes(saved)
    return path


def test_a_class_nobody_defines(tmp_path, saved_path):
    def rename(name, data):
        if name != "config.json":
            return data
        text = json.dumps(json.loads(data))
        assert "SpectralConv2D" in text
        return text.replace("SpectralConv2D", "NoSuchSpectralLayer")

    path = _rewrite(saved_path, tmp_path / "unknown.keras", rename)
    _check_error(path, "'NoSuchSpectralLayer'", "neither Keras nor keras_specnet")


def test_an_archive_without_a_config(tmp_path, saved_path):
    path = _rewrite(
        saved_path, tmp_path / "no_config.keras", lambda n, d: None if n == "config.json" else d
    )
    _check_error(path, "no config.json")


def test_a_config_that_is_not_json(tmp_path, saved_path):
    path = _rewrite(
        saved_path, tmp_path / "bad_config.keras", lambda n, d: b"{" if n == "config.json" else d
    )
    _check_error(path, "config.json cannot be read")


def test_corrupt_weights(tmp_path, saved_path):
    path = _rewrite(
        saved_path,
        tmp_path / "bad_weights.keras",
        lambda n, d: b"not hdf5" if n == "model.weights.h5" else d,
    )
    _check_error(path, "corrupt or incomplete")


def test_not_a_keras_file(tmp_path, saved_path):
    other = tmp_path / "model.h5"
    other.write_bytes(saved_path.read_bytes())
    _check_error(other, "ending in `.keras`")
    folder = tmp_path / "folder.keras"
    folder.mkdir()
    _check_error(folder, "a directory")
