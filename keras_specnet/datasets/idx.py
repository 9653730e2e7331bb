"""MNIST-format IDX files: reading a file, finding and reading a split."""

import gzip
import os

import numpy as np

from keras_specnet.datasets.catalog import IDX_FILES

__all__ = [
    "read_idx",
    "read_idx_shape",
    "read_split",
    "split_files",
    "split_size",
]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX element types: magic-number code -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _parse_header(path, raw):
    """(dtype, shape, header size) from the first bytes of an IDX file."""
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
    return _IDX_DTYPES[code], shape, header_size


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
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"Corrupt gzip-compressed IDX file {path}: {e}") from e
    dtype, shape, header_size = _parse_header(path, raw)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual != expected:
        raise ValueError(
            f"Invalid IDX file {path}: the header gives shape {shape} of "
            f"{dtype.name} ({expected} bytes of data) but the file has "
            f"{actual} bytes of data" + (" (truncated?)." if actual < expected else ".")
        )
    array = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx_shape(path):
    """The shape an IDX file's header gives, reading only the header.

    Gzip compression is recognised from the content, as in `read_idx`. The
    data after the header is neither read nor checked (`read_idx` checks it).

    Raises:
        ValueError: If the magic number or the header is invalid, or a gzip
            file is corrupt. The message names the file.
        FileNotFoundError: If the file does not exist.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == _GZIP_MAGIC
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as f:
            raw = f.read(4)
            if len(raw) == 4:
                raw += f.read(4 * raw[3])
    except (OSError, EOFError) as e:
        raise ValueError(f"Corrupt gzip-compressed IDX file {path}: {e}") from e
    return _parse_header(path, raw)[1]


def _find_file(folder, base):
    """The path of IDX file `base` (raw preferred over `.gz`) or None."""
    for candidate in (base, base + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def split_files(folder, split_base):
    """(images path, labels path) of split `split_base` in `folder`, or None."""
    if not folder or not os.path.isdir(folder):
        return None
    paths = tuple(_find_file(folder, base) for base in IDX_FILES[split_base])
    return paths if all(paths) else None


def _count_mismatch(labels_path, images_path, expected, shape):
    return ValueError(
        f"Invalid IDX label file {labels_path}: expected {expected} "
        f"labels (one per image in {images_path}), got shape {shape}."
    )


def read_split(folder, split_base, shape):
    """Reads images (N, H, W, 1) uint8 and labels (N,) int32 of a split."""
    images_path, labels_path = split_files(folder, split_base)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != shape[:2]:
        raise ValueError(
            f"Invalid IDX image file {images_path}: expected uint8 images of "
            f"shape (N, {shape[0]}, {shape[1]}), got {images.dtype} of shape "
            f"{images.shape}."
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise _count_mismatch(labels_path, images_path, images.shape[0], labels.shape)
    return images[..., np.newaxis], labels.astype(np.int32)


def split_size(folder, split_base):
    """The number of examples of a split, from the IDX headers only."""
    images_path, labels_path = split_files(folder, split_base)
    images_shape = read_idx_shape(images_path)
    labels_shape = read_idx_shape(labels_path)
    if len(labels_shape) != 1 or labels_shape[0] != images_shape[0]:
        raise _count_mismatch(labels_path, images_path, images_shape[0], labels_shape)
    return images_shape[0]
