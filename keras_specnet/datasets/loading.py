"""`load`: a dataset as a batched, preprocessed `tf.data.Dataset`."""

import logging

import numpy as np
import tensorflow as tf

from keras_specnet import _checks
from keras_specnet.datasets import idx
from keras_specnet.datasets.catalog import info
from keras_specnet.datasets.preprocessing import AUGMENTED, preprocess
from keras_specnet.datasets.sources import not_available, resolve, tfds
from keras_specnet.datasets.splits import parse_split, slice_bounds

__all__ = ["load"]

logger = logging.getLogger("keras_specnet.datasets")

MAX_SHUFFLE_BUFFER = 60000
UNKNOWN_SIZE_SHUFFLE_BUFFER = 10000


def _idx_dataset(spec, folder, split_base, start, stop, limit):
    images, labels = idx.read_split(folder, split_base, spec.input_shape)
    begin, end = slice_bounds(start, stop, len(labels))
    images, labels = images[begin:end], labels[begin:end]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return tf.data.Dataset.from_tensor_slices((images, labels)), len(labels)


def _tfds_dataset(spec, split, data_dir, download, shuffle, seed, limit):
    module = tfds()
    read_config = module.ReadConfig(shuffle_seed=seed) if seed is not None else None
    ds = module.load(
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

    See the package docstring (and docs/data.md) for where the data is
    looked for. The source used is logged at INFO level on the
    `"keras_specnet.datasets"` logger. Shuffling happens on the uint8
    images, before the float conversion, with a buffer covering the whole
    split (at most 60000 examples).

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
        data_dir: Optional folder holding the IDX files of the split
            (`mnist`/`fashion_mnist`) or a TFDS data dir with the dataset
            prepared in it. When given, it is the only place looked in.
        download: Whether TFDS may download the dataset when it is found
            nowhere locally (only without `data_dir`).
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
        DatasetNotAvailableError: If `data_dir` is given but does not exist
            or holds no data of the split, or if the dataset is found nowhere
            and cannot be downloaded.

    Example:

    >>> ds = load("fashion_mnist", "test", batch_size=256,
    ...           limit=1000)  # doctest: +SKIP
    >>> images, labels = next(iter(ds))  # doctest: +SKIP
    >>> images.shape  # doctest: +SKIP
    TensorShape([256, 28, 28, 1])
    """
    spec = info(name)
    split_base, start, stop = parse_split(split)
    batch_size = _checks.positive_int("batch_size", batch_size)
    if limit is not None:
        limit = _checks.positive_int("limit", limit)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise _checks.invalid("seed", "an integer or None", seed)
    if shuffle is None:
        shuffle = split_base == "train"
    if augment is None:
        augment = split_base == "train" and name in AUGMENTED
    if augment and name not in AUGMENTED:
        raise _checks.invalid(
            "augment",
            f"False or None for {name!r} (augmentation is only defined for {list(AUGMENTED)})",
            augment,
        )

    found, looked = resolve(name, data_dir, split_base, download)
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
            raise not_available(name, looked, tfds_error=f"{type(e).__name__}: {e}") from e

    if shuffle:
        if size is None:
            buffer = UNKNOWN_SIZE_SHUFFLE_BUFFER
        else:
            buffer = max(1, min(size, MAX_SHUFFLE_BUFFER))
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if augment:
        # One random number per example, re-drawn every epoch, seeds the
        # stateless augmentation ops (deterministic when `seed` is set).
        noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        salt = tf.constant(0 if seed is None else seed, tf.int64)

        def _train_map(example, r):
            return preprocess(name, *example, training=True, seed=tf.stack([r, salt]))

        ds = tf.data.Dataset.zip((ds, noise)).map(_train_map, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(
            lambda x, y: preprocess(name, x, y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
