"""The SpecNet preprocessing: scaling, per-channel normalisation, augmentation."""

import numpy as np
import tensorflow as tf

from keras_specnet import _checks
from keras_specnet.datasets.catalog import info

__all__ = ["AUGMENTED", "NORMALIZATION", "PAD", "augment", "preprocess", "to_shape"]

# Per-channel statistics of the [0, 1]-scaled training images.
NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}

# Datasets whose training images are augmented, and the padding of the crop.
AUGMENTED = ("cifar10",)
PAD = 4


def _stateless_seed(seed):
    """A shape-[2] int64 seed for `tf.random.stateless_*` ops."""
    if seed is None:
        return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return tf.constant([int(seed), 0], dtype=tf.int64)
    seed = tf.convert_to_tensor(seed)
    seed.shape.assert_is_compatible_with([2])
    return tf.cast(seed, tf.int64)


def augment(images, seed):
    """Pad 4 (zeros), random crop back to size, random horizontal flip.

    Each image of the batch gets its own crop offset and flip.

    Args:
        images: A normalised float batch `(N, H, W, C)`.
        seed: A shape-`[2]` int64 stateless seed.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [n, 2], crop_seed, minval=0, maxval=2 * PAD + 1, dtype=tf.int32
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
            f"an image of shape {spec.input_shape} or a batch of them for {name!r}",
            f"<{images.dtype.name} tensor of shape {shape}>",
        )
    images = tf.cast(images, tf.float32) / 255.0
    if name in NORMALIZATION:
        mean, std = NORMALIZATION[name]
        images = (images - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
    if training and name in AUGMENTED:
        single = rank == 3
        batch = images[tf.newaxis] if single else images
        batch = augment(batch, _stateless_seed(seed))
        images = batch[0] if single else batch
    return images, labels


def to_shape(images, shape):
    """A batch of images at `shape` `(height, width, channels)`.

    Resized (bilinear) where the height and width differ, and grey images
    copied to three channels for a model taking three: how the benchmarks
    give Fashion-MNIST to the 32x32x3 models.
    """
    height, width, channels = shape
    if tuple(images.shape[1:3]) != (height, width):
        images = tf.image.resize(images, (height, width))
    if images.shape[-1] == 1 and channels == 3:
        images = tf.image.grayscale_to_rgb(images)
    return images
