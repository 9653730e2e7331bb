"""A light `import keras_specnet` and `specnet --help`; the backend checks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_specnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = {"tensorflow", "keras", "keras_tuner", "tensorflow_datasets"}

_CLI_PROBE = """
import sys
from keras_specnet import cli
try:
    cli.main({argv!r})
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r}))
"""


def _run(args, env=None, **kwargs):
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=env if env is not None else dict(os.environ),
        **kwargs,
    )


def _imported(importtime_stderr):
    """Top-level names of the modules listed by `python -X importtime`."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name.split(".")[0])
    return names


@pytest.mark.parametrize(
    "argv", [["--help"], ["models", "--help"], ["bench", "--help"], ["report", "--help"]]
)
def test_help_imports_nothing_heavy(argv):
    done = _run([sys.executable, "-c", _CLI_PROBE.format(argv=argv, heavy=HEAVY)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "usage: specnet" in done.stdout


def test_module_help_imports_nothing_heavy():
    done = _run([sys.executable, "-X", "importtime", "-m", "keras_specnet", "--help"])
    assert done.returncode == 0, done.stderr
    imported = _imported(done.stderr)
    assert "keras_specnet" in imported  # the listing is read correctly
    assert not imported & HEAVY, sorted(imported & HEAVY)
    for command in ("train", "report", "models", "tune", "bench"):
        assert command in done.stdout


def test_console_script_models_help_imports_nothing_heavy():
    script = os.path.join(os.path.dirname(sys.executable), "specnet")
    if not os.path.exists(script):
        pytest.skip("the specnet console script is not installed")
    done = _run([sys.executable, "-X", "importtime", script, "models", "--help"])
    assert done.returncode == 0, done.stderr
    assert "usage: specnet models" in done.stdout
    imported = _imported(done.stderr)
    assert "keras_specnet" in imported
    assert not imported & HEAVY, sorted(imported & HEAVY)


def _env(**changes):
    env = dict(os.environ)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


_IMPORT_PROBE = """
import sys
try:
    import keras_specnet
except ImportError as error:
    print("ImportError:", error)
print("keras imported:", "keras" in sys.modules)
"""


def test_another_keras_backend_is_refused_without_importing_keras():
    done = _run([sys.executable, "-c", _IMPORT_PROBE], env=_env(KERAS_BACKEND="jax"))
    assert done.returncode == 0, done.stderr
    error, imported = done.stdout.strip().splitlines()
    assert error.startswith(
        "ImportError: keras_specnet needs Keras's TensorFlow backend; found "
        "backend 'jax' (from the KERAS_BACKEND environment variable). Set "
        "KERAS_BACKEND=tensorflow before importing keras"
    )
    assert imported == "keras imported: False"


def test_the_backend_of_keras_json_is_refused(tmp_path):
    config = tmp_path / "keras.json"
    config.write_text(json.dumps({"backend": "torch"}))
    done = _run(
        [sys.executable, "-c", _IMPORT_PROBE],
        env=_env(KERAS_BACKEND=None, KERAS_HOME=str(tmp_path)),
    )
    error = done.stdout.strip().splitlines()[0]
    assert f"found backend 'torch' (from {config})" in error
    assert f'"backend": "tensorflow" in {config}' in error


def test_import_under_another_backend_fails():
    done = _run([sys.executable, "-c", "import keras_specnet"], env=_env(KERAS_BACKEND="jax"))
    assert done.returncode == 1
    assert "ImportError: keras_specnet needs Keras's TensorFlow backend" in done.stderr
    assert "'jax'" in done.stderr


def test_missing_tensorflow_is_named():
    # -S: no site-packages, so TensorFlow cannot be found; the package can.
    code = f"import sys; sys.path.insert(0, {ROOT!r}); import keras_specnet"
    done = _run([sys.executable, "-S", "-c", code])
    assert done.returncode == 1
    assert "keras_specnet needs TensorFlow 2.16 or newer" in done.stderr


def test_subpackages_load_on_first_use():
    done = _run(
        [
            sys.executable,
            "-c",
            (
                "import sys, keras_specnet\n"
                "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
                "layer = keras_specnet.layers.SpectralConv2D\n"
                "print(layer.__name__, 'keras_specnet.tuning' in sys.modules)\n"
            ),
        ],
        env=_env(KERAS_BACKEND=None),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "SpectralConv2D", "False"]


def test_lazy_attributes():
    from keras_specnet.layers import SpectralConv2D

    assert keras_specnet.layers.SpectralConv2D is SpectralConv2D
    assert {"layers", "tuning", "training", "datasets"} <= set(dir(keras_specnet))
    assert set(keras_specnet.__all__) >= {"applications", "utils", "__version__"}
    assert keras_specnet._keras_backend() == ("tensorflow", "the imported keras module")
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = keras_specnet.nothing


def test_a_saved_model_loads_after_importing_the_layers(tmp_path):
    from keras_specnet.applications import SpecLeNet5

    model = SpecLeNet5()
    path = tmp_path / "spec_lenet5.keras"
    model.save(path)
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = model.predict(x, verbose=0)
    done = _run(
        [
            sys.executable,
            "-c",
            (
                "import sys, numpy as np, keras\n"
                "import keras_specnet.layers\n"
                f"model = keras.saving.load_model({str(path)!r})\n"
                f"y = model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
                f"np.save({str(tmp_path / 'y.npy')!r}, y)\n"
                "print('keras_specnet.applications' in sys.modules)\n"
            ),
        ]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]  # the layers alone registered it
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)
