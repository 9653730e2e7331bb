"""Tests for `keras_specnet.datasets` (offline, fast)."""

import dataclasses
import gzip
import json
import logging
import os
import re
import struct

import numpy as np
import pytest
import tensorflow as tf

from keras_specnet import datasets

from helpers import encode_idx, random_split, write_idx, write_idx_dataset

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
N_TRAIN, N_TEST = 10, 6


# --------------------------------------------------------------------------
# Helpers


@pytest.fixture
def idx_dir(tmp_path):
    """A folder with 10 fake train and 6 fake test examples (test gzipped)."""
    train = random_split(N_TRAIN, 1)
    test = random_split(N_TEST, 2)
    write_idx_dataset(tmp_path, {"train": train, "t10k": test}, gzipped=("t10k",))
    return tmp_path, {"train": train, "test": test}


def collect(ds):
    """All batches of a dataset as (images, labels, batch sizes)."""
    batches = list(ds.as_numpy_iterator())
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    return images, labels, [len(b[1]) for b in batches]


def expected_images(raw):
    return raw[..., np.newaxis].astype(np.float32) / np.float32(255)


# --------------------------------------------------------------------------
# Dataset table


def test_dataset_table():
    assert sorted(datasets.DATASETS) == [
        "cifar10",
        "fashion_mnist",
        "mnist",
        "svhn_cropped",
    ]
    assert datasets.info("mnist").input_shape == (28, 28, 1)
    assert datasets.info("fashion_mnist").idx_files is True
    assert datasets.info("cifar10").input_shape == (32, 32, 3)
    assert datasets.info("svhn_cropped").idx_files is False
    assert all(d.classes == 10 for d in datasets.DATASETS.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        datasets.DATASETS["mnist"].classes = 3
    assert issubclass(datasets.DatasetNotAvailableError, FileNotFoundError)


def test_catalog_imports_no_tensorflow():
    import ast

    from keras_specnet.datasets import catalog

    with open(catalog.__file__) as f:
        tree = ast.parse(f.read())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported, "no imports found: the check would be vacuous"
    assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "tensorflow_datasets")]


# --------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    images, labels = random_split(5, 0)
    suffix = ".gz" if compress else ""
    images_path = write_idx(tmp_path / f"im{suffix}", images)
    labels_path = write_idx(tmp_path / f"lb{suffix}", labels)
    got_images = datasets.read_idx(images_path)
    got_labels = datasets.read_idx(labels_path)
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.dtype == np.uint8 and got_labels.shape == (5,)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_int32_big_endian(tmp_path):
    values = np.array([[1, -2, 70000]], np.int32)
    path = tmp_path / "ints"
    path.write_bytes(
        bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 1, 3) + values.astype(">i4").tobytes()
    )
    got = datasets.read_idx(path)
    np.testing.assert_array_equal(got, values)
    assert got.dtype == np.int32


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_bad_magic(tmp_path, compress):
    data = b"\x12\x34\x08\x01" + struct.pack(">I", 3) + b"abc"
    path = tmp_path / "bad-magic"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=r"bad magic number") as e:
        datasets.read_idx(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_truncated(tmp_path, compress):
    images, _ = random_split(3, 0)
    data = encode_idx(images)[:-100]
    path = tmp_path / "truncated"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=r"truncated") as e:
        datasets.read_idx(path)
    assert str(path) in str(e.value)


def test_read_idx_too_long_and_corrupt_gzip(tmp_path):
    too_long = tmp_path / "too-long"
    too_long.write_bytes(encode_idx(np.zeros((2,), np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match=re.escape(str(too_long))):
        datasets.read_idx(too_long)
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(gzip.compress(encode_idx(np.zeros((50,), np.uint8)))[:-12])
    with pytest.raises(ValueError, match=re.escape(str(corrupt))):
        datasets.read_idx(corrupt)


# --------------------------------------------------------------------------
# load from IDX files


def test_load_idx_values_and_batches(idx_dir, caplog):
    folder, data = idx_dir
    with caplog.at_level(logging.INFO, logger="keras_specnet.datasets"):
        ds = datasets.load("fashion_mnist", "train", batch_size=4, data_dir=folder, shuffle=False)
    assert f"fashion_mnist: reading IDX files from {folder}" in caplog.text
    first_images, first_labels = next(iter(ds))
    assert first_images.shape == (4, 28, 28, 1)
    assert first_images.dtype == tf.float32
    assert first_labels.dtype == tf.int32
    images, labels, sizes = collect(ds)
    assert sizes == [4, 4, 2]
    np.testing.assert_array_equal(images, expected_images(data["train"][0]))
    np.testing.assert_array_equal(labels, data["train"][1].astype(np.int32))

    ds = datasets.load(
        "fashion_mnist",
        "train",
        batch_size=4,
        data_dir=folder,
        shuffle=False,
        drop_remainder=True,
    )
    assert collect(ds)[2] == [4, 4]


def test_load_idx_gzipped_test_split(idx_dir):
    folder, data = idx_dir
    ds = datasets.load("mnist", "test", batch_size=4, data_dir=folder)
    images, labels, sizes = collect(ds)
    assert sizes == [4, 2]
    # Test splits are not shuffled by default.
    np.testing.assert_array_equal(images, expected_images(data["test"][0]))
    np.testing.assert_array_equal(labels, data["test"][1])


@pytest.mark.parametrize(
    "split, limit, base, rows",
    [
        ("train", 3, "train", slice(0, 3)),
        ("train[:50%]", None, "train", slice(0, 5)),
        ("train[5:]", None, "train", slice(5, 10)),
        ("train[90%:]", None, "train", slice(9, 10)),
        ("train[:35%]", None, "train", slice(0, 4)),  # rounded like TFDS
        ("train[2:8]", 4, "train", slice(2, 6)),
        ("train[-3:]", None, "train", slice(7, 10)),
        ("test[:3]", None, "test", slice(0, 3)),
        ("test[50%:]", 100, "test", slice(3, 6)),
    ],
)
def test_load_idx_slicing_and_limit(idx_dir, split, limit, base, rows):
    folder, data = idx_dir
    ds = datasets.load(
        "fashion_mnist",
        split,
        batch_size=4,
        data_dir=folder,
        shuffle=False,
        limit=limit,
    )
    images, labels, _ = collect(ds)
    np.testing.assert_array_equal(images, expected_images(data[base][0][rows]))
    np.testing.assert_array_equal(labels, data[base][1][rows])


def test_shuffle_with_seed_is_deterministic_permutation(idx_dir):
    folder, data = idx_dir

    def order(seed):
        ds = datasets.load("mnist", "train", batch_size=3, data_dir=folder, seed=seed)
        images, labels, _ = collect(ds)
        # Identify each example by its position in the written data.
        flat = data["train"][0].reshape(N_TRAIN, -1)
        got = np.rint(images.reshape(len(images), -1) * 255).astype(np.uint8)
        idx = [int(np.flatnonzero((flat == row).all(axis=1))[0]) for row in got]
        np.testing.assert_array_equal(labels, data["train"][1][idx])
        return idx

    first = order(seed=7)
    assert sorted(first) == list(range(N_TRAIN))
    assert order(seed=7) == first
    assert any(order(seed=s) != first for s in (8, 9, 10))
    assert first != list(range(N_TRAIN))


def test_shuffle_reshuffles_each_epoch(idx_dir):
    folder, _ = idx_dir
    ds = datasets.load("mnist", "train", batch_size=10, data_dir=folder, seed=3)
    epochs = [collect(ds)[1].tolist() for _ in range(4)]
    assert all(sorted(e) == sorted(epochs[0]) for e in epochs)
    assert any(e != epochs[0] for e in epochs[1:])


def test_augment_only_for_cifar10(idx_dir):
    folder, _ = idx_dir
    with pytest.raises(ValueError, match=r"Invalid value for argument `augment`"):
        datasets.load("mnist", data_dir=folder, augment=True)


# --------------------------------------------------------------------------
# preprocess


CIFAR_MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
CIFAR_STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
SVHN_MEAN = np.array([0.4377, 0.4438, 0.4728], np.float32)
SVHN_STD = np.array([0.1980, 0.2010, 0.1970], np.float32)


def test_preprocess_mean_image_maps_to_zero():
    image = np.broadcast_to(CIFAR_MEAN * 255, (32, 32, 3)).astype(np.float32)
    x, y = datasets.preprocess("cifar10", image, 3)
    assert x.shape == (32, 32, 3) and x.dtype == tf.float32
    assert y.dtype == tf.int32 and int(y) == 3
    np.testing.assert_allclose(x.numpy(), 0.0, atol=1e-5)


@pytest.mark.parametrize(
    "name, mean, std",
    [("cifar10", CIFAR_MEAN, CIFAR_STD), ("svhn_cropped", SVHN_MEAN, SVHN_STD)],
)
def test_preprocess_normalisation_constants(name, mean, std):
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    x, y = datasets.preprocess(name, batch, np.array([1, 2], np.int64))
    assert x.shape == (2, 32, 32, 3)
    assert y.dtype == tf.int32
    expected = (batch.astype(np.float32) / 255 - mean) / std
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_preprocess_mnist_scaling_and_channel_axis():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    x, _ = datasets.preprocess("mnist", batch, [0, 1, 2], training=True)
    assert x.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(x.numpy(), expected_images(batch))
    single, _ = datasets.preprocess("fashion_mnist", batch[0, ..., None], 0)
    assert single.shape == (28, 28, 1)
    with pytest.raises(ValueError, match=r"Invalid value for argument `images`"):
        datasets.preprocess("cifar10", batch, [0, 1, 2])


def _window_of(padded, out):
    """(dy, dx, flipped) such that `out` is that window of `padded`, or None."""
    for dy in range(9):
        for dx in range(9):
            window = padded[dy : dy + 32, dx : dx + 32]
            if np.array_equal(window, out):
                return dy, dx, False
            if np.array_equal(window[:, ::-1], out):
                return dy, dx, True
    return None


def test_preprocess_training_crop_and_flip():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    reference, _ = datasets.preprocess("cifar10", image, 0)
    padded = np.pad(reference.numpy(), [(4, 4), (4, 4), (0, 0)])
    found = []
    for seed in range(16):
        out, _ = datasets.preprocess("cifar10", image, 0, training=True, seed=seed)
        assert out.shape == (32, 32, 3)
        again, _ = datasets.preprocess("cifar10", image, 0, training=True, seed=seed)
        np.testing.assert_array_equal(out.numpy(), again.numpy())
        window = _window_of(padded, out.numpy())
        assert window is not None, f"seed {seed}: not a crop of the padded image"
        found.append(window)
    assert any(flipped for _, _, flipped in found)
    assert any(not flipped for _, _, flipped in found)
    assert len({(dy, dx) for dy, dx, _ in found}) > 1


def test_preprocess_training_covers_all_offsets():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    reference, _ = datasets.preprocess("cifar10", image, 0)
    padded = np.pad(reference.numpy(), [(4, 4), (4, 4), (0, 0)])
    batch = np.stack([image] * 200)
    out, _ = datasets.preprocess("cifar10", batch, [0] * 200, training=True, seed=11)
    windows = [_window_of(padded, o) for o in out.numpy()]
    assert None not in windows
    assert {dy for dy, _, _ in windows} == set(range(9))
    assert {dx for _, dx, _ in windows} == set(range(9))
    assert any(dy != dx for dy, dx, _ in windows)
    flips = sum(flipped for _, _, flipped in windows)
    assert 50 < flips < 150


def test_preprocess_training_batch_is_per_image():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    batch = np.stack([image] * 8)
    out, _ = datasets.preprocess("cifar10", batch, [0] * 8, training=True, seed=5)
    assert out.shape == (8, 32, 32, 3)
    out = out.numpy()
    assert any(not np.array_equal(out[0], out[i]) for i in range(1, 8))


# --------------------------------------------------------------------------
# TFDS path (mocked, offline)


@pytest.fixture
def no_network(monkeypatch):
    """Makes any real TFDS download fail loudly."""
    from tensorflow_datasets.core.download import download_manager

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download data")

    manager = download_manager.DownloadManager
    monkeypatch.setattr(manager, "download", refuse)
    monkeypatch.setattr(manager, "download_and_extract", refuse)


@pytest.fixture
def tfds_default_dir(tmp_path, monkeypatch):
    """An empty folder as TFDS's default data dir."""
    from tensorflow_datasets.core import constants

    folder = tmp_path / "tfds-default"
    folder.mkdir()
    monkeypatch.setattr(constants, "DATA_DIR", str(folder))
    return folder


def test_tfds_cifar10_mock_data(tfds_default_dir, no_network):
    # `mock_data` patches `download_and_prepare` (nothing is fetched) and
    # generates random uint8 images from the builder's feature spec, which is
    # part of the TFDS code, so it works offline. Without data_dir, the
    # dataset is not prepared in the default data dir: `load` takes the
    # download path, which `mock_data` serves.
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=10):
        assert datasets.source("cifar10").kind == "tfds_download"
        ds = datasets.load("cifar10", "train", batch_size=4, seed=0, augment=False)
        images, labels, sizes = collect(ds)
        raw = tfds.load("cifar10", split="train", as_supervised=True)
        raw_images = np.stack([x for x, _ in raw.as_numpy_iterator()])
        aug = datasets.load("cifar10", "train", batch_size=5, seed=0)
        aug_images, _, aug_sizes = collect(aug)
        aug_again = datasets.load("cifar10", "train", batch_size=5, seed=0)
        np.testing.assert_array_equal(collect(aug_again)[0], aug_images)
    assert sizes == [4, 4, 2]
    assert images.dtype == np.float32 and images.shape == (10, 32, 32, 3)
    assert labels.dtype == np.int32 and set(labels) <= set(range(10))
    # Same examples, shuffled: compare sorted per-image sums after undoing
    # the normalisation.
    pixels = (images * CIFAR_STD + CIFAR_MEAN) * 255
    np.testing.assert_allclose(
        np.sort(pixels.sum(axis=(1, 2, 3))),
        np.sort(raw_images.astype(np.float32).sum(axis=(1, 2, 3))),
        rtol=1e-4,
    )
    assert aug_sizes == [5, 5] and aug_images.shape == (10, 32, 32, 3)


# --------------------------------------------------------------------------
# Missing data


def test_missing_mnist(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(datasets.DatasetNotAvailableError) as e:
        datasets.load("mnist", data_dir=empty, download=False)
    message = str(e.value)
    assert "'mnist'" in message
    assert str(empty) in message
    assert "tfds.load('mnist')" in message
    assert "train-images-idx3-ubyte" in message
    assert "download=False" in message
    assert isinstance(e.value, FileNotFoundError)


def test_missing_fashion_mnist(tmp_path, monkeypatch, tfds_default_dir):
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setitem(datasets.DEFAULT_IDX_DIRS, "fashion_mnist", str(system))
    with pytest.raises(datasets.DatasetNotAvailableError) as e:
        datasets.load("fashion_mnist", "test", download=False)
    message = str(e.value)
    assert "'fashion_mnist'" in message
    assert str(tfds_default_dir) in message
    assert f"{system}: no IDX files t10k-images-idx3-ubyte" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir" in message
    assert "download=False" in message
    with pytest.raises(datasets.DatasetNotAvailableError):
        datasets.source("fashion_mnist", download=False)


def test_missing_cifar10_default_tfds_dir(tmp_path, monkeypatch):
    from tensorflow_datasets.core import constants

    monkeypatch.setattr(constants, "DATA_DIR", str(tmp_path))
    with pytest.raises(datasets.DatasetNotAvailableError) as e:
        datasets.load("cifar10", "test", download=False)
    message = str(e.value)
    assert "'cifar10'" in message
    assert str(tmp_path) in message
    assert "tfds.load('cifar10')" in message


def test_failed_download_is_reported(tfds_default_dir, monkeypatch):
    import tensorflow_datasets as tfds

    def failing_load(*args, **kwargs):
        assert kwargs["download"] is True
        raise OSError("no route to host")

    monkeypatch.setattr(tfds, "load", failing_load)
    with pytest.raises(datasets.DatasetNotAvailableError) as e:
        datasets.load("svhn_cropped", download=True)
    message = str(e.value)
    assert "'svhn_cropped'" in message
    assert "OSError: no route to host" in message
    assert str(tfds_default_dir) in message


def test_source(idx_dir, monkeypatch, tfds_default_dir):
    folder, _ = idx_dir
    assert datasets.source("mnist", data_dir=folder) == datasets.DataSource("idx", str(folder))
    monkeypatch.setitem(datasets.DEFAULT_IDX_DIRS, "fashion_mnist", str(folder))
    found = datasets.source("fashion_mnist", download=False)
    assert found == datasets.DataSource("idx", str(folder))
    found = datasets.source("cifar10", download=True)
    assert found.kind == "tfds_download"
    assert found.location.startswith(str(tfds_default_dir))


# --------------------------------------------------------------------------
# A data_dir that was given is used or refused


@pytest.fixture
def system_idx_dir(idx_dir, monkeypatch, tfds_default_dir):
    """Fashion-MNIST IDX files in the system folder; an empty TFDS default dir.

    Everything that could be used instead of a bad data_dir is there.
    """
    folder, _ = idx_dir
    monkeypatch.setitem(datasets.DEFAULT_IDX_DIRS, "fashion_mnist", str(folder))
    return folder


def _refusal(call, *args, **kwargs):
    with pytest.raises(datasets.DatasetNotAvailableError) as e:
        call(*args, **kwargs)
    return str(e.value)


@pytest.mark.parametrize("call", [datasets.source, datasets.load])
@pytest.mark.parametrize("download", [True, False])
def test_data_dir_missing_is_refused(tmp_path, system_idx_dir, call, download):
    missing = tmp_path / "no-such-folder"
    message = _refusal(call, "fashion_mnist", data_dir=missing, split="test", download=download)
    assert f"data_dir={str(missing)!r}" in message
    assert "does not exist" in message
    assert "t10k-images-idx3-ubyte" in message
    assert "t10k-labels-idx1-ubyte" in message
    assert ".gz" in message
    assert "<data_dir>/fashion_mnist/<version>/" in message
    assert os.path.join(str(missing), "fashion_mnist", "3.0.1") in message
    assert not missing.exists()  # nothing was created there


@pytest.mark.parametrize("call", [datasets.source, datasets.load])
def test_data_dir_without_files_is_refused(tmp_path, system_idx_dir, call):
    # The data_dir holds the train files only; the test split is asked for.
    folder = tmp_path / "train-only"
    folder.mkdir()
    write_idx_dataset(folder, {"train": random_split(4, 0)})
    message = _refusal(call, "mnist", split="test", data_dir=folder)
    assert f"data_dir={str(folder)!r}" in message
    assert "holds neither the IDX files of the 'test' split" in message
    assert "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]" in message
    assert os.path.join(str(folder), "mnist", "3.0.1") in message
    assert "no TFDS download is tried" in message
    # The train split of the same folder is read.
    assert datasets.source("mnist", data_dir=folder) == datasets.DataSource("idx", str(folder))


def test_data_dir_is_not_passed_over_for_the_system_folder(tmp_path, system_idx_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    # Without data_dir the system folder is used ...
    assert datasets.source("fashion_mnist", download=False) == (
        datasets.DataSource("idx", str(system_idx_dir))
    )
    # ... with an unusable data_dir it is not.
    message = _refusal(datasets.load, "fashion_mnist", data_dir=empty)
    assert f"not the system folder {system_idx_dir}" in message
    assert "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]" in message


def test_data_dir_is_not_passed_over_for_a_download(tmp_path, monkeypatch, no_network):
    import tensorflow_datasets as tfds

    def refused_load(*args, **kwargs):
        raise AssertionError("tfds.load was called for an unusable data_dir")

    monkeypatch.setattr(tfds, "load", refused_load)
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("cifar10", "svhn_cropped"):
        message = _refusal(datasets.load, name, data_dir=empty, download=True)
        assert f"data_dir={str(empty)!r}" in message
        assert f"holds no TFDS data prepared for {name!r}" in message
        assert f"<data_dir>/{name}/<version>/" in message
        assert "idx3-ubyte" not in message.split("\n")[1]
    file_path = tmp_path / "a-file"
    file_path.write_text("")
    message = _refusal(datasets.source, "cifar10", data_dir=file_path)
    assert "is not a folder" in message and str(file_path) in message


# --------------------------------------------------------------------------
# provenance


def test_read_idx_shape_reads_the_header_only(tmp_path):
    images, labels = random_split(7, 0)
    raw = write_idx(tmp_path / "images", images)
    packed = write_idx(tmp_path / "labels.gz", labels)
    assert datasets.idx.read_idx_shape(raw) == (7, 28, 28)
    assert datasets.idx.read_idx_shape(packed) == (7,)
    # The data after the header is not read: a truncated file still has a
    # shape (read_idx refuses it).
    cut = tmp_path / "cut"
    cut.write_bytes(encode_idx(images)[:40])
    assert datasets.idx.read_idx_shape(cut) == (7, 28, 28)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 3))
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        datasets.idx.read_idx_shape(bad)


def _loaded_count(folder, split, limit):
    ds = datasets.load("mnist", split, batch_size=4, data_dir=folder, shuffle=False, limit=limit)
    return sum(len(labels) for _, labels in ds.as_numpy_iterator())


@pytest.mark.parametrize(
    "splits, limits",
    [
        ({"train": "train", "test": "test"}, None),
        (
            {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"},
            None,
        ),
        ({"train": "train[:35%]", "test": "test[50%:]"}, {"train": 3}),
        ({"train": "train[2:8]", "test": "test[-2:]"}, {"train": 4, "test": 100}),
        ({"train": "train[-3:]", "validation": "train[5:2]"}, {"validation": None}),
    ],
)
def test_provenance_idx_counts_equal_load(idx_dir, splits, limits):
    folder, _ = idx_dir
    record = datasets.provenance("mnist", splits, data_dir=folder, limits=limits)
    assert record == {
        "dataset": "mnist",
        "source": "idx",
        "path": str(folder),
        "examples": {
            label: _loaded_count(folder, split, (limits or {}).get(label))
            for label, split in splits.items()
        },
    }
    assert list(record["examples"]) == list(splits)
    assert json.loads(json.dumps(record)) == record


def test_provenance_line(idx_dir):
    folder, _ = idx_dir
    record = datasets.provenance(
        "fashion_mnist",
        {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"},
        data_dir=folder,
    )
    assert record["examples"] == {"train": 9, "validation": 1, "test": N_TEST}
    assert datasets.provenance_line(record) == (
        f"data: fashion_mnist, IDX files in {folder} (train 9, validation 1, test 6 examples)"
    )
    big = dict(
        record,
        path="/usr/share/datasets/fashion-mnist",
        examples={"train": 54000, "validation": 6000, "test": 10000},
    )
    assert datasets.provenance_line(big) == (
        "data: fashion_mnist, IDX files in /usr/share/datasets/fashion-mnist "
        "(train 54,000, validation 6,000, test 10,000 examples)"
    )
    tfds_record = {
        "dataset": "cifar10",
        "source": "tfds_download",
        "path": "/data/cifar10/3.0.2",
        "examples": {"train": None, "test": 10000},
    }
    assert datasets.provenance_line(tfds_record) == (
        "data: cifar10, TFDS download into /data/cifar10/3.0.2 "
        "(train unknown, test 10,000 examples)"
    )
    with pytest.raises(ValueError, match=r"Invalid value for argument `record`"):
        datasets.provenance_line({"dataset": "mnist"})


def test_provenance_before_a_download(tfds_default_dir):
    record = datasets.provenance(
        "cifar10", {"train": "train[:90%]", "test": "test"}, limits={"train": 5}
    )
    assert record["dataset"] == "cifar10"
    assert record["source"] == "tfds_download"
    assert record["path"] == os.path.join(str(tfds_default_dir), "cifar10", "3.0.2")
    # Nothing is downloaded, and TFDS has no split sizes before it is.
    assert record["examples"] == {"train": None, "test": None}
    assert os.listdir(tfds_default_dir) == []
    assert "cifar10, TFDS download into" in datasets.provenance_line(record)
    with pytest.raises(datasets.DatasetNotAvailableError):
        datasets.provenance("cifar10", {"test": "test"}, download=False)


def test_provenance_mixed_sources(tmp_path, monkeypatch, tfds_default_dir):
    # The system folder holds the train files only: the test split comes
    # from a TFDS download, as `load` would do.
    folder = tmp_path / "train-only"
    folder.mkdir()
    write_idx_dataset(folder, {"train": random_split(4, 0)})
    monkeypatch.setitem(datasets.DEFAULT_IDX_DIRS, "fashion_mnist", str(folder))
    record = datasets.provenance("fashion_mnist", {"train": "train", "test": "test"})
    assert (record["source"], record["path"]) == ("idx", str(folder))
    assert record["examples"] == {"train": 4, "test": None}
    assert record["sources"]["test"]["source"] == "tfds_download"
    line = datasets.provenance_line(record)
    assert f"train from IDX files in {folder}" in line
    assert "test from TFDS download into" in line


def test_provenance_refuses_what_load_refuses(tmp_path, idx_dir):
    folder, _ = idx_dir
    message = _refusal(datasets.provenance, "mnist", {"test": "test"}, data_dir=tmp_path / "none")
    assert "t10k-images-idx3-ubyte" in message
    with pytest.raises(ValueError, match=r"argument `splits`"):
        datasets.provenance("mnist", {}, data_dir=folder)
    with pytest.raises(ValueError, match=r"argument `splits`"):
        datasets.provenance("mnist", ["train"], data_dir=folder)
    with pytest.raises(
        ValueError,
        match=re.escape("Invalid value for argument `splits['val']`")
        + r".*"
        + re.escape("Received: splits['val']='validation'"),
    ):
        datasets.provenance("mnist", {"val": "validation"}, data_dir=folder)
    with pytest.raises(ValueError, match=r"argument `limits`"):
        datasets.provenance("mnist", {"train": "train"}, data_dir=folder, limits={"test": 3})
    with pytest.raises(ValueError, match=re.escape("argument `limits['train']`")):
        datasets.provenance("mnist", {"train": "train"}, data_dir=folder, limits={"train": 0})
    with pytest.raises(ValueError, match=r"argument `name`"):
        datasets.provenance("foo", {"train": "train"})


# --------------------------------------------------------------------------
# Argument errors


def test_bad_name():
    expected = (
        "Invalid value for argument `name`. Expected one of ['cifar10', "
        "'fashion_mnist', 'mnist', 'svhn_cropped']. Received: name='foo'"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        datasets.load("foo")
    with pytest.raises(ValueError, match=re.escape(expected)):
        datasets.info("foo")


@pytest.mark.parametrize(
    "split",
    ["validation", "train[", "train[:90]%", "train[1:2:3]", "train[:101%]", "", 3],
)
def test_bad_split(split):
    with pytest.raises(
        ValueError,
        match=re.escape("Invalid value for argument `split`. Expected 'train' or 'test'")
        + r".*"
        + re.escape(f"Received: split={split!r}"),
    ):
        datasets.load("mnist", split)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4"])
def test_bad_batch_size(batch_size):
    expected = (
        "Invalid value for argument `batch_size`. Expected a positive integer. "
        f"Received: batch_size={batch_size!r}"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        datasets.load("mnist", batch_size=batch_size)


@pytest.mark.parametrize("limit", [0, -5, 1.5])
def test_bad_limit(limit):
    expected = (
        "Invalid value for argument `limit`. Expected a positive integer. "
        f"Received: limit={limit!r}"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        datasets.load("mnist", limit=limit)


# --------------------------------------------------------------------------
# Real data (Debian package dataset-fashion-mnist)


@pytest.mark.skipif(
    not os.path.isdir(DEBIAN_FASHION_MNIST),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_real_fashion_mnist_test_split(monkeypatch, tmp_path):
    from tensorflow_datasets.core import constants

    # Make sure the Debian folder is used, not some local TFDS copy.
    monkeypatch.setattr(constants, "DATA_DIR", str(tmp_path))
    assert datasets.source("fashion_mnist", split="test", download=False) == (
        datasets.DataSource("idx", DEBIAN_FASHION_MNIST)
    )
    ds = datasets.load("fashion_mnist", "test", batch_size=128, limit=256, download=False)
    images, labels, sizes = collect(ds)
    assert sizes == [128, 128]
    assert images.shape == (256, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.5
    assert labels.dtype == np.int32 and set(labels) <= set(range(10))

    first = datasets.load("fashion_mnist", "test[:2000]", batch_size=1000, download=False)
    assert set(collect(first)[1]) == set(range(10))
