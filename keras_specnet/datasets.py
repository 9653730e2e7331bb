"""Image classification datasets used in the SpecNet experiments.

This module turns MNIST, Fashion-MNIST, CIFAR-10 and SVHN (cropped digits)
into batched, prefetched `tf.data.Dataset`s of `(images, labels)` pairs, with
the preprocessing of the SpecNet paper:

* `mnist`, `fashion_mnist`: pixels scaled to `[0, 1]`, shape `(28, 28, 1)`.
* `cifar10`, `svhn_cropped`: pixels scaled to `[0, 1]`, then normalised per
  channel with the dataset's mean and standard deviation, shape `(32, 32, 3)`.
  CIFAR-10 training batches are augmented with a 4 pixel pad, a random 32x32
  crop and a random horizontal flip.

The data never comes from the internet unless nothing local is found and
`download=True`. `load` looks, in this order, in:

1. `data_dir`, if it holds MNIST-format IDX files (`mnist` and `fashion_mnist`
   only): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally gzipped
   (`.gz`).
2. TensorFlow Datasets data prepared locally, in `data_dir` if given, else in
   TFDS's default data dir (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
3. `DEFAULT_IDX_DIRS[name]`, a folder of IDX files installed by the system;
   for `fashion_mnist` that is `/usr/share/datasets/fashion-mnist`, filled by
   the Debian/Ubuntu package `dataset-fashion-mnist`.
4. A TFDS download, if `download=True`.

If all of these fail, `DatasetNotAvailableError` says where it looked and how
to get the data. Random data is never substituted.

Example:

```python
from keras_specnet import datasets

train = datasets.load("fashion_mnist", "train[:90%]", batch_size=128, seed=0)
val = datasets.load("fashion_mnist", "train[90%:]", batch_size=256)
images, labels = next(iter(train))  # (128, 28, 28, 1) float32, (128,) int32
```
"""

import dataclasses
import gzip
import logging
import os
import re

import numpy as np
import tensorflow as tf

from keras_specnet import _checks

logger = logging.getLogger("keras_specnet.datasets")

__all__ = [
    "DATASETS",
    "DEFAULT_IDX_DIRS",
    "DataSource",
    "DatasetInfo",
    "DatasetNotAvailableError",
    "IDX_FILES",
    "info",
    "load",
    "preprocess",
    "read_idx",
    "source",
]


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a supported dataset.

    Attributes:
        name: The name used by this module, e.g. `"cifar10"`.
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
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (28, 28, 1), 10, "fashion_mnist", True
    ),
    "cifar10": DatasetInfo("cifar10", (32, 32, 3), 10, "cifar10", False),
    "svhn_cropped": DatasetInfo(
        "svhn_cropped", (32, 32, 3), 10, "svhn_cropped", False
    ),
}

# Folders where the operating system installs IDX files of a dataset.
DEFAULT_IDX_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}

# Debian/Ubuntu packages that install a dataset into DEFAULT_IDX_DIRS.
_DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}

# Base names of the IDX files of each split (each may also end in `.gz`).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Per-channel statistics of the [0, 1]-scaled training images.
_NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}

_AUGMENTED = ("cifar10",)
_PAD = 4
_MAX_SHUFFLE_BUFFER = 60000
_UNKNOWN_SIZE_SHUFFLE_BUFFER = 10000

_SPLIT_RE = re.compile(
    r"^(?P<base>train|test)"
    r"(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$"
)

# IDX element types: magic-number code -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DatasetNotAvailableError(FileNotFoundError):
    """Raised when a dataset is found nowhere locally and cannot be downloaded.

    The message names the dataset, every place that was looked in, the TFDS
    error if a download was tried, and how to get the data.
    """


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where `load` reads a dataset from.

    Attributes:
        kind: `"idx"` (a folder of IDX files), `"tfds"` (TFDS data prepared
            locally) or `"tfds_download"` (nothing local; TFDS would
            download it).
        location: The IDX folder, or the TFDS dataset folder
            (`<data_dir>/<name>/<version>`).
    """

    kind: str
    location: str

    def describe(self, name):
        """A one-line, human-readable description, e.g. for logging."""
        if self.kind == "idx":
            return f"{name}: reading IDX files from {self.location}"
        if self.kind == "tfds":
            return f"{name}: reading TFDS data prepared in {self.location}"
        return f"{name}: downloading with TFDS into {self.location}"


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


# --------------------------------------------------------------------------
# IDX files


def read_idx(path):
    """Reads an MNIST-format IDX file, raw or gzip-compressed.

    The file starts with a magic number `0x00 0x00 <type> <ndim>` (type
    `0x08` is uint8; int8, int16, int32, float32 and float64 are accepted
    too), then `ndim` big-endian int32 sizes, then the data. Gzip compression
    is recognised from the content, not the file name.

    Args:
        path: Path of the file.

    Returns:
        A numpy array with the shape given in the header, in native byte
        order.

    Raises:
        ValueError: If the magic number is invalid, or the amount of data
            does not match the header, or a gzip file is corrupt. The message
            names the file.
        FileNotFoundError: If the file does not exist.

    Example:

    >>> labels = read_idx("/usr/share/datasets/fashion-mnist/"
    ...                   "t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> labels.shape, labels.dtype  # doctest: +SKIP
    ((10000,), dtype('uint8'))
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"Corrupt gzip-compressed IDX file {path}: {e}") from e
    if len(raw) < 4:
        raise ValueError(
            f"Invalid IDX file {path}: it has {len(raw)} bytes, fewer than the "
            "4 bytes of the magic number."
        )
    zero1, zero2, code, ndim = raw[:4]
    if zero1 != 0 or zero2 != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"Invalid IDX file {path}: bad magic number 0x{raw[:4].hex()} "
            "(expected 0x0000 then a type code among "
            f"{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)} and a number of "
            "dimensions >= 1; 0x00000803 is uint8 with 3 dimensions)."
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(
            f"Invalid IDX file {path}: truncated header (a {ndim}-dimensional "
            f"header needs {header_size} bytes, the file has {len(raw)})."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual != expected:
        raise ValueError(
            f"Invalid IDX file {path}: the header gives shape {shape} of "
            f"{dtype.name} ({expected} bytes of data) but the file has "
            f"{actual} bytes of data"
            + (" (truncated?)." if actual < expected else ".")
        )
    array = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def _idx_file(folder, base):
    """The path of IDX file `base` (raw preferred over `.gz`) or None."""
    for candidate in (base, base + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def _idx_split_files(folder, split_base):
    """(images path, labels path) of a split in `folder`, or None."""
    if not folder or not os.path.isdir(folder):
        return None
    paths = tuple(_idx_file(folder, base) for base in IDX_FILES[split_base])
    return paths if all(paths) else None


def _read_idx_split(folder, split_base, shape):
    """Reads images (N, H, W, 1) uint8 and labels (N,) int32 of a split."""
    images_path, labels_path = _idx_split_files(folder, split_base)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != shape[:2]:
        raise ValueError(
            f"Invalid IDX image file {images_path}: expected uint8 images of "
            f"shape (N, {shape[0]}, {shape[1]}), got {images.dtype} of shape "
            f"{images.shape}."
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"Invalid IDX label file {labels_path}: expected {images.shape[0]} "
            f"labels (one per image in {images_path}), got shape {labels.shape}."
        )
    return images[..., np.newaxis], labels.astype(np.int32)


# --------------------------------------------------------------------------
# Splits


def _split_error(split):
    return _checks.invalid(
        "split",
        "'train' or 'test', optionally sliced like 'train[:90%]', "
        "'train[90%:]', 'test[:1000]' or 'train[100:200]'",
        split,
    )


def _parse_split(split):
    """Returns (base, start, stop); start/stop are strings or None."""
    match = _SPLIT_RE.match(split) if isinstance(split, str) else None
    if match is None:
        raise _split_error(split)
    for bound in (match["start"], match["stop"]):
        if bound is not None and bound.endswith("%") and abs(int(bound[:-1])) > 100:
            raise _split_error(split)
    return match["base"], match["start"], match["stop"]


def _slice_bounds(start, stop, n):
    """Python slice bounds for a TFDS-like slice of a split of n examples.

    Percent bounds are rounded to the closest example like TFDS does.
    """

    def absolute(bound):
        if bound is None:
            return None
        if bound.endswith("%"):
            return int(round(int(bound[:-1]) * n / 100.0))
        return int(bound)

    return slice(absolute(start), absolute(stop)).indices(n)[:2]


# --------------------------------------------------------------------------
# Preprocessing


def _stateless_seed(seed):
    """A shape-[2] int64 seed for `tf.random.stateless_*` ops."""
    if seed is None:
        return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return tf.constant([int(seed), 0], dtype=tf.int64)
    seed = tf.convert_to_tensor(seed)
    seed.shape.assert_is_compatible_with([2])
    return tf.cast(seed, tf.int64)


def _augment(images, seed):
    """Pad 4 (zeros), random 32x32 crop, random horizontal flip, per image.

    `images` is a normalised float batch (N, H, W, C).
    """
    crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2)
    )
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [_PAD, _PAD], [_PAD, _PAD], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [n, 2], crop_seed, minval=0, maxval=2 * _PAD + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis, :]
    cols = offsets[:, 1:] + tf.range(width)[tf.newaxis, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([n], flip_seed) < 0.5
    return tf.where(
        flip[:, tf.newaxis, tf.newaxis, tf.newaxis],
        tf.reverse(cropped, axis=[2]),
        cropped,
    )


def preprocess(name, images, labels, training=False, seed=None):
    """Applies the SpecNet preprocessing to a batch or a single image.

    Pixels (`uint8`, or any real dtype holding values in `[0, 255]`) are cast
    to float32 and divided by 255. For `cifar10` and `svhn_cropped` each
    channel is then normalised with the dataset's mean and standard deviation.
    With `training=True`, `cifar10` images are augmented: zero-padded by 4
    pixels on each side *after* normalisation (so the padding is the mean
    colour), randomly cropped back to 32x32 and randomly flipped left-right,
    independently for each image of a batch. `training` has no effect on
    the other datasets.

    Args:
        name: The dataset name, a key of `DATASETS`.
        images: A single image `(H, W, C)` or a batch `(N, H, W, C)`; for
            `mnist` and `fashion_mnist` the channel axis may be missing
            (`(28, 28)` or `(N, 28, 28)`).
        labels: Integer label(s), returned as int32.
        training: Whether to apply the training augmentation.
        seed: None (random), a Python int, or a shape-`[2]` integer tensor
            (a stateless seed). The same seed gives the same augmentation.

    Returns:
        A tuple `(images, labels)`: float32 images of shape `info(name).
        input_shape` (with the batch axis if the input had one) and int32
        labels.

    Raises:
        ValueError: If `name` is unknown or `images` has the wrong shape.

    Example:

    >>> import numpy as np
    >>> x, y = preprocess("cifar10", np.zeros((2, 32, 32, 3), np.uint8), [3, 5])
    >>> x.shape, x.dtype.name, y.dtype.name
    (TensorShape([2, 32, 32, 3]), 'float32', 'int32')
    """
    spec = info(name)
    images = tf.convert_to_tensor(images)
    labels = tf.cast(labels, tf.int32)
    rank = images.shape.rank
    shape = tuple(images.shape.as_list())
    height, width, channels = spec.input_shape
    if channels == 1 and rank in (2, 3) and shape[-2:] == (height, width):
        images = images[..., tf.newaxis]  # (28, 28) or (N, 28, 28)
        rank += 1
    if rank not in (3, 4) or tuple(images.shape.as_list()[-3:]) != spec.input_shape:
        raise _checks.invalid(
            "images",
            f"an image of shape {spec.input_shape} or a batch of them for "
            f"{name!r}",
            f"<{images.dtype.name} tensor of shape {shape}>",
        )
    images = tf.cast(images, tf.float32) / 255.0
    if name in _NORMALIZATION:
        mean, std = _NORMALIZATION[name]
        images = (images - tf.constant(mean, tf.float32)) / tf.constant(
            std, tf.float32
        )
    if training and name in _AUGMENTED:
        single = rank == 3
        batch = images[tf.newaxis] if single else images
        batch = _augment(batch, _stateless_seed(seed))
        images = batch[0] if single else batch
    return images, labels


# --------------------------------------------------------------------------
# Sources


def _tfds():
    import tensorflow_datasets as tfds  # Imported lazily: it is slow.

    return tfds


def _tfds_builder(spec, data_dir):
    """The TFDS builder (never downloads) or the error text if it fails."""
    try:
        return _tfds().builder(spec.tfds_name, data_dir=data_dir), None
    except Exception as e:  # noqa: BLE001 -- TFDS raises many kinds.
        return None, f"{type(e).__name__}: {e}"


def _resolve(name, data_dir, split_base, download):
    """Finds the source of a dataset.

    Returns:
        (DataSource or None, list of the places looked in, as text).
    """
    spec = info(name)
    looked = []
    idx_names = " and ".join(f"{b}[.gz]" for b in IDX_FILES[split_base])
    if data_dir is not None:
        data_dir = os.fspath(data_dir)
        if spec.idx_files:
            if _idx_split_files(data_dir, split_base):
                return DataSource("idx", data_dir), looked
            looked.append(f"{data_dir}: no IDX files {idx_names}")
    builder, builder_error = _tfds_builder(spec, data_dir)
    # is_prepared() warns about a missing folder: look for the folder first.
    if (
        builder is not None
        and os.path.isdir(os.fspath(builder.data_dir))
        and builder.is_prepared()
    ):
        return DataSource("tfds", os.fspath(builder.data_dir)), looked
    tfds_dir = f"TFDS data dir {data_dir}" if data_dir else "TFDS default data dir"
    if builder is not None:
        looked.append(
            f"{tfds_dir}: {spec.tfds_name} is not "
            f"prepared in {os.fspath(builder.data_dir)}"
        )
    else:
        looked.append(
            f"{tfds_dir}: could not create the "
            f"TFDS builder ({builder_error})"
        )
    default_idx = DEFAULT_IDX_DIRS.get(name) if spec.idx_files else None
    if default_idx:
        if _idx_split_files(default_idx, split_base):
            return DataSource("idx", default_idx), looked
        looked.append(f"{default_idx}: no IDX files {idx_names}")
    if download and builder is not None:
        return DataSource("tfds_download", os.fspath(builder.data_dir)), looked
    return None, looked


def _how_to_get(name):
    if name in _DEBIAN_PACKAGES:
        return (
            f"On Debian/Ubuntu run `apt-get install {_DEBIAN_PACKAGES[name]}` (it "
            f"installs the IDX files into {DEFAULT_IDX_DIRS.get(name)}), or pass "
            "`data_dir=` (`--data-dir` on the command line) pointing at a folder "
            "with the four IDX files "
            + ", ".join(f"{b}[.gz]" for pair in IDX_FILES.values() for b in pair)
            + "."
        )
    text = (
        f"Run `tfds.load({name!r})` once on a machine with internet access and "
        "pass that TFDS data dir (default ~/tensorflow_datasets) as `data_dir=` "
        "(`--data-dir` on the command line)"
    )
    if DATASETS[name].idx_files:
        text += (
            ", or pass `data_dir=` pointing at a folder with the four MNIST IDX "
            "files "
            + ", ".join(f"{b}[.gz]" for pair in IDX_FILES.values() for b in pair)
        )
    return text + "."


def _not_available(name, looked, tfds_error=None, download=True):
    lines = [f"Dataset {name!r} is not available on this machine. Looked in:"]
    lines += [f"  - {place}" for place in looked]
    if tfds_error:
        lines.append(f"TFDS download failed: {tfds_error}")
    elif not download:
        lines.append("No TFDS download was tried (download=False).")
    lines.append(_how_to_get(name))
    return DatasetNotAvailableError("\n".join(lines))


def source(name, data_dir=None, split="train", download=True):
    """Tells where `load` would read a dataset from, without reading it.

    Args:
        name: The dataset name, a key of `DATASETS`.
        data_dir: Optional folder of IDX files or TFDS data dir.
        split: The split, as for `load`; only `"train"`/`"test"` matters.
        download: Whether a TFDS download is allowed as a last resort.

    Returns:
        A `DataSource`. With `download=True` and nothing local, its kind is
        `"tfds_download"` (the download itself may still fail).

    Raises:
        ValueError: If `name` or `split` is invalid.
        DatasetNotAvailableError: If nothing local is found and `download`
            is False.

    Example:

    >>> source("fashion_mnist", download=False)  # doctest: +SKIP
    DataSource(kind='idx', location='/usr/share/datasets/fashion-mnist')
    """
    info(name)
    split_base, _, _ = _parse_split(split)
    found, looked = _resolve(name, data_dir, split_base, download)
    if found is None:
        raise _not_available(name, looked, download=download)
    return found


# --------------------------------------------------------------------------
# Loading


def _idx_dataset(spec, folder, split_base, start, stop, limit):
    images, labels = _read_idx_split(folder, split_base, spec.input_shape)
    begin, end = _slice_bounds(start, stop, len(labels))
    images, labels = images[begin:end], labels[begin:end]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return tf.data.Dataset.from_tensor_slices((images, labels)), len(labels)


def _tfds_dataset(spec, split, data_dir, download, shuffle, seed, limit):
    tfds = _tfds()
    read_config = tfds.ReadConfig(shuffle_seed=seed) if seed is not None else None
    ds = tfds.load(
        spec.tfds_name,
        split=split,
        data_dir=data_dir,
        download=download,
        as_supervised=True,
        shuffle_files=shuffle,
        read_config=read_config,
    )
    if limit is not None:
        ds = ds.take(limit)
    size = int(ds.cardinality())
    return ds, (size if size >= 0 else None)


def load(
    name,
    split="train",
    batch_size=64,
    *,
    shuffle=None,
    augment=None,
    data_dir=None,
    download=True,
    seed=None,
    limit=None,
    drop_remainder=False,
):
    """Loads a dataset as a batched, preprocessed `tf.data.Dataset`.

    See the module docstring for where the data is looked for. The source
    used is logged at INFO level on the `"keras_specnet.datasets"` logger.
    Shuffling happens on the uint8 images, before the float conversion, with
    a buffer covering the whole split (at most 60000 examples).

    Args:
        name: `"mnist"`, `"fashion_mnist"`, `"cifar10"` or `"svhn_cropped"`.
        split: `"train"` or `"test"`, optionally sliced like TFDS splits:
            `"train[:90%]"`, `"train[90%:]"`, `"test[:1000]"`,
            `"train[100:200]"` (integer or percent bounds, each optional).
        batch_size: Positive number of examples per batch.
        shuffle: Whether to shuffle the examples (reshuffled every epoch).
            Defaults to True for train splits, False for test splits.
        augment: Whether to apply the training augmentation (pad 4, random
            32x32 crop, random horizontal flip). Only defined for `cifar10`;
            defaults to True for `cifar10` train splits, else False.
        data_dir: Optional folder holding the four IDX files
            (`mnist`/`fashion_mnist`) or a TFDS data dir.
        download: Whether TFDS may download the dataset when it is found
            nowhere locally.
        seed: Optional int making shuffling and augmentation deterministic.
        limit: Optional positive int: keep only the first `limit` examples of
            the (sliced) split.
        drop_remainder: Whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset` yielding `(images, labels)`: float32 images of
        shape `(batch, *info(name).input_shape)` and int32 labels of shape
        `(batch,)`.

    Raises:
        ValueError: If an argument is invalid, or an IDX file is corrupt.
        DatasetNotAvailableError: If the dataset is found nowhere and cannot
            be downloaded.

    Example:

    >>> ds = load("fashion_mnist", "test", batch_size=256,
    ...           limit=1000)  # doctest: +SKIP
    >>> images, labels = next(iter(ds))  # doctest: +SKIP
    >>> images.shape  # doctest: +SKIP
    TensorShape([256, 28, 28, 1])
    """
    spec = info(name)
    split_base, start, stop = _parse_split(split)
    batch_size = _checks.positive_int("batch_size", batch_size)
    if limit is not None:
        limit = _checks.positive_int("limit", limit)
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
    ):
        raise _checks.invalid("seed", "an integer or None", seed)
    if shuffle is None:
        shuffle = split_base == "train"
    if augment is None:
        augment = split_base == "train" and name in _AUGMENTED
    if augment and name not in _AUGMENTED:
        raise _checks.invalid(
            "augment",
            f"False or None for {name!r} (augmentation is only defined for "
            f"{list(_AUGMENTED)})",
            augment,
        )

    found, looked = _resolve(name, data_dir, split_base, download)
    if found is None:
        raise _not_available(name, looked, download=download)
    logger.info(found.describe(name))
    if found.kind == "idx":
        ds, size = _idx_dataset(spec, found.location, split_base, start, stop, limit)
    else:
        try:
            ds, size = _tfds_dataset(
                spec,
                split,
                data_dir,
                found.kind == "tfds_download",
                shuffle,
                seed,
                limit,
            )
        except Exception as e:  # noqa: BLE001 -- TFDS raises many kinds.
            if found.kind != "tfds_download":
                raise
            raise _not_available(
                name, looked, tfds_error=f"{type(e).__name__}: {e}"
            ) from e

    if shuffle:
        if size is None:
            buffer = _UNKNOWN_SIZE_SHUFFLE_BUFFER
        else:
            buffer = max(1, min(size, _MAX_SHUFFLE_BUFFER))
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if augment:
        # One random number per example, re-drawn every epoch, seeds the
        # stateless augmentation ops (deterministic when `seed` is set).
        noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        salt = tf.constant(0 if seed is None else seed, tf.int64)

        def _train_map(example, r):
            return preprocess(name, *example, training=True, seed=tf.stack([r, salt]))

        ds = tf.data.Dataset.zip((ds, noise)).map(
            _train_map, num_parallel_calls=tf.data.AUTOTUNE
        )
    else:
        ds = ds.map(
            lambda x, y: preprocess(name, x, y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
