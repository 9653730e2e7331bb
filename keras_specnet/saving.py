"""`load_model`: a saved `.keras` model with the package's layers known.

`keras.saving.load_model` finds a custom layer only when the module that
registers it has been imported: `import keras_specnet` alone imports no
subpackage, so a model saved with the package's layers fails to load after
it. `keras_specnet.load_model` imports them first, and turns what goes wrong
with the file (missing, not a `.keras` archive, truncated or corrupt, a
class nobody registered) into a `ModelFileError` that names the file and the
problem instead of an error from deep inside `zipfile`, `h5py` or Keras's
deserialization.
"""

import json
import os
import re
import zipfile

#: The members every `.keras` archive holds (Keras 3's format).
_CONFIG = "config.json"
_UNKNOWN_CLASS = re.compile(r"Could not (?:locate|deserialize) (\w+) '([^']+)'")


class ModelFileError(ValueError):
    """A model file that cannot be loaded: the message names it and why."""


class MissingModelFileError(ModelFileError, FileNotFoundError):
    """A model file that does not exist."""


def _fail(path, problem, cls=ModelFileError):
    return cls(f"Cannot load the model file {path!r}: {problem}")


def _read_config(path):
    """The archive's `config.json`, or a `ModelFileError` saying what is wrong."""
    if not os.path.exists(path):
        raise _fail(path, "no such file.", MissingModelFileError)
    if os.path.isdir(path):
        raise _fail(path, "it is a directory; expected a `.keras` file.")
    if not path.endswith(".keras"):
        raise _fail(
            path,
            "expected a file ending in `.keras` (the zip archive that "
            "`model.save(...)` writes in Keras 3).",
        )
    if not zipfile.is_zipfile(path):
        raise _fail(
            path,
            f"it is not a zip archive ({os.path.getsize(path)} bytes): the "
            "file is truncated, corrupt, or not a model saved by Keras 3.",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            if _CONFIG not in archive.namelist():
                raise _fail(path, f"the archive has no {_CONFIG}: not a Keras 3 model file.")
            config = json.loads(archive.read(_CONFIG))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise _fail(path, f"its {_CONFIG} cannot be read ({error}).") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise _fail(path, f"its {_CONFIG} holds no model configuration.")
    return config


def load_model(path, **kwargs):
    """Loads a `.keras` model that may use the package's layers.

    Imports `keras_specnet.layers` (which registers the layers and the
    butterfly initializers with Keras's serialization), then calls
    `keras.saving.load_model`.

    Args:
        path: str or path-like. A `.keras` file written by `model.save`.
        **kwargs: passed to `keras.saving.load_model` (`custom_objects`,
            `compile`, `safe_mode`).

    Returns:
        The Keras model.

    Raises:
        MissingModelFileError: the file does not exist (a `ModelFileError`
            and a `FileNotFoundError`).
        ModelFileError: a `ValueError` naming the file and the problem: not
            a `.keras` zip archive, truncated or corrupt, no model
            configuration, weights that cannot be read, or a class that
            neither Keras, the package nor `custom_objects` defines.
    """
    import keras

    import keras_specnet.layers  # noqa: F401  (registers the layers)

    path = os.fspath(path)
    _read_config(path)
    try:
        return keras.saving.load_model(path, **kwargs)
    except TypeError as error:
        found = _UNKNOWN_CLASS.search(str(error))
        if found is None:
            raise
        kind, name = found.groups()
        raise _fail(
            path,
            f"it uses the {kind} {name!r}, which neither Keras nor keras_specnet "
            "defines. Import the module that registers it (with "
            "`keras.saving.register_keras_serializable`) or pass it in "
            "`custom_objects`.",
        ) from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
        raise _fail(path, f"the archive is corrupt or incomplete ({error}).") from None
    except ValueError as error:
        if isinstance(error, ModelFileError):
            raise
        raise _fail(path, f"Keras cannot load it ({error}).") from None
