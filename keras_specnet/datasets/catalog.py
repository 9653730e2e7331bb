"""The supported datasets and where the system installs their files.

This module imports neither TensorFlow nor TensorFlow Datasets.
"""

import dataclasses

from keras_specnet import _checks

__all__ = [
    "DATASETS",
    "DEBIAN_PACKAGES",
    "DEFAULT_IDX_DIRS",
    "DatasetInfo",
    "IDX_FILES",
    "idx_file_names",
    "info",
]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a supported dataset.

    Attributes:
        name: The name used by this package, e.g. `"cifar10"`.
        input_shape: Shape of one preprocessed image, `(height, width,
            channels)`.
        classes: Number of classes; labels are `0 .. classes - 1`.
        tfds_name: The TensorFlow Datasets name of the dataset.
        idx_files: Whether the dataset can be read from MNIST-format IDX files.
    """

    name: str
    input_shape: tuple
    classes: int
    tfds_name: str
    idx_files: bool


DATASETS = {
    "mnist": DatasetInfo("mnist", (28, 28, 1), 10, "mnist", True),
    "fashion_mnist": DatasetInfo("fashion_mnist", (28, 28, 1), 10, "fashion_mnist", True),
    "cifar10": DatasetInfo("cifar10", (32, 32, 3), 10, "cifar10", False),
    "svhn_cropped": DatasetInfo("svhn_cropped", (32, 32, 3), 10, "svhn_cropped", False),
}

# Folders where the operating system installs IDX files of a dataset.
DEFAULT_IDX_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}

# Debian/Ubuntu packages that install a dataset into DEFAULT_IDX_DIRS.
DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}

# Base names of the IDX files of each split (each may also end in `.gz`).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_file_names(split_base=None, joiner=", "):
    """The IDX file names of a split (or of all splits), `.gz` optional.

    Example:

    >>> idx_file_names("test", " and ")
    't10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]'
    """
    bases = [split_base] if split_base else list(IDX_FILES)
    return joiner.join(f"{f}[.gz]" for b in bases for f in IDX_FILES[b])


def info(name):
    """Returns the `DatasetInfo` of a dataset.

    Args:
        name: One of `"mnist"`, `"fashion_mnist"`, `"cifar10"`,
            `"svhn_cropped"`.

    Returns:
        The `DatasetInfo` (input shape, number of classes, ...).

    Raises:
        ValueError: If `name` is not a supported dataset.

    Example:

    >>> info("cifar10").input_shape
    (32, 32, 3)
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise _checks.invalid("name", f"one of {sorted(DATASETS)}", name)
    return DATASETS[name]
