"""Image classification datasets used in the SpecNet experiments.

This package turns MNIST, Fashion-MNIST, CIFAR-10 and SVHN (cropped digits)
into batched, prefetched `tf.data.Dataset`s of `(images, labels)` pairs, with
the preprocessing of the SpecNet paper (B. Guan et al., "SpecNet: Spectral
Domain Convolutional Neural Network", arXiv:1905.10915):

* `mnist`, `fashion_mnist`: pixels scaled to `[0, 1]`, shape `(28, 28, 1)`.
* `cifar10`, `svhn_cropped`: pixels scaled to `[0, 1]`, then normalised per
  channel with the dataset's mean and standard deviation, shape `(32, 32, 3)`.
  CIFAR-10 training batches are augmented with a 4 pixel pad, a random 32x32
  crop and a random horizontal flip.

The data never comes from the internet unless nothing local is found and
`download=True`. With `data_dir`, `load` reads that folder only:

* the MNIST-format IDX files of the split (`mnist` and `fashion_mnist`
  only): `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`, or
  `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each optionally
  gzipped (`.gz`);
* or TensorFlow Datasets data prepared in it
  (`<data_dir>/<tfds_name>/<version>/`).

A `data_dir` holding neither (or missing) raises `DatasetNotAvailableError`
naming the folder and the files expected there; nothing else is tried.
Without `data_dir`, `load` looks, in this order, in:

1. TensorFlow Datasets data prepared in TFDS's default data dir
   (`~/tensorflow_datasets` or `$TFDS_DATA_DIR`).
2. `DEFAULT_IDX_DIRS[name]`, a folder of IDX files installed by the system;
   for `fashion_mnist` that is `/usr/share/datasets/fashion-mnist`, filled by
   the Debian/Ubuntu package `dataset-fashion-mnist`.
3. A TFDS download, if `download=True`.

If all of these fail, `DatasetNotAvailableError` says where it looked and how
to get the data. Random data is never substituted. `provenance` tells where
each split would be read from and how many examples it has, without reading
the data. See docs/data.md.

Modules: `catalog` (the dataset table, no TensorFlow import), `idx` (IDX
files), `splits` (split strings), `preprocessing`, `sources` (where the data
is), `loading` (`load`), `provenance`.

Example:

```python
from keras_specnet import datasets

train = datasets.load("fashion_mnist", "train[:90%]", batch_size=128, seed=0)
val = datasets.load("fashion_mnist", "train[90%:]", batch_size=256)
images, labels = next(iter(train))  # (128, 28, 28, 1) float32, (128,) int32
```
"""

from keras_specnet.datasets.catalog import (
    DATASETS,
    DEFAULT_IDX_DIRS,
    IDX_FILES,
    DatasetInfo,
    info,
)
from keras_specnet.datasets.idx import read_idx
from keras_specnet.datasets.loading import load
from keras_specnet.datasets.preprocessing import preprocess, to_shape
from keras_specnet.datasets.provenance import provenance, provenance_line
from keras_specnet.datasets.sources import (
    DatasetNotAvailableError,
    DataSource,
    source,
)

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
    "provenance",
    "provenance_line",
    "read_idx",
    "to_shape",
    "source",
]
