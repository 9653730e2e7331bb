"""TFDS's download-and-prepare code path for the four datasets, offline.

The first test resolves each builder's URLs and checksums and creates the
download manager as `download_and_prepare` does, so that a missing
dependency of TFDS (a package its builders import) fails here rather than on
a user's first download. The second runs `download_and_prepare` itself on
small files written here in the formats the servers deliver: the
download is replaced, TFDS's extraction, example generation and writing run
as they are. A socket guard makes any network access fail the test.
"""

import io
import os
import re
import socket
import tarfile

import numpy as np
import pytest

from keras_specnet import datasets

from helpers import write_idx

tfds = pytest.importorskip("tensorflow_datasets")

NAMES = sorted(datasets.DATASETS)
N_TRAIN, N_TEST = 12, 5


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection or resolve a host fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _download_config():
    # No prepared copy from TFDS's GCS bucket: the data comes from the URLs.
    return tfds.download.DownloadConfig(try_download_gcs=False)


@pytest.mark.parametrize("name", NAMES)
def test_builder_urls_checksums_and_download_manager(name, tmp_path, no_network):
    spec = datasets.info(name)
    builder = tfds.builder(spec.tfds_name, data_dir=tmp_path)
    url_infos = builder.url_infos  # reads the builder's checksums.tsv
    assert url_infos, f"no URLs registered for {name}"
    for url, url_info in url_infos.items():
        assert re.match(r"^https?://\S+$", url), url
        assert url_info.size > 0, url
        assert re.fullmatch(r"[0-9a-f]{64}", url_info.checksum), url
    # As DatasetBuilder._make_download_manager does for download_and_prepare.
    config = _download_config()
    download_dir = tmp_path / "downloads"
    manager = tfds.download.DownloadManager(
        download_dir=download_dir,
        extract_dir=download_dir / "extracted",
        manual_dir=download_dir / "manual",
        url_infos=url_infos,
        dataset_name=builder.name,
        force_download=config.download_mode.force_download,
        force_extraction=config.download_mode.force_download,
        force_checksums_validation=config.force_checksums_validation,
        verify_ssl=config.verify_ssl,
    )
    assert os.fspath(manager.download_dir) == os.fspath(download_dir)
    assert os.path.isdir(download_dir / "extracted")
    assert not builder.is_prepared()
    # Nothing was downloaded or prepared.
    assert sorted(os.listdir(tmp_path)) == ["downloads"]


# --------------------------------------------------------------------------
# download_and_prepare on small files


def _mnist_files(folder, rng):
    """The four gzipped IDX files of the MNIST servers; returns the labels."""
    labels = {}
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels[prefix] = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels[prefix])
    return {"train": labels["train"], "test": labels["t10k"]}


def _cifar10_files(folder, rng):
    """cifar-10-binary.tar.gz: label byte + 3072 pixel bytes per record."""
    labels = {
        "train": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "test": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }

    def records(values):
        pixels = rng.integers(0, 256, (len(values), 3072), dtype=np.uint8)
        return np.concatenate([values[:, None], pixels], axis=1).tobytes()

    train_parts = np.array_split(labels["train"], 5)
    members = {f"data_batch_{i + 1}.bin": records(p) for i, p in enumerate(train_parts)}
    members["test_batch.bin"] = records(labels["test"])
    members["batches.meta.txt"] = "\n".join(
        "airplane automobile bird cat deer dog frog horse ship truck".split()
    ).encode()
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as archive:
        for member, data in members.items():
            entry = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return labels


def _svhn_files(folder, rng):
    """The .mat files of the SVHN server (read by TFDS with scipy)."""
    from scipy import io as scipy_io

    labels = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST), ("extra", 3)):
        digits = rng.integers(1, 11, n)  # SVHN stores the digit 0 as 10
        images = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        scipy_io.savemat(folder / f"{split}_32x32.mat", {"X": images, "y": digits[:, None]})
        labels[split] = (digits % 10).astype(np.uint8)
    return labels


FILES = {
    "mnist": _mnist_files,
    "fashion_mnist": _mnist_files,
    "cifar10": _cifar10_files,
    "svhn_cropped": _svhn_files,
}


@pytest.fixture
def served_files(tmp_path, monkeypatch):
    """Serves local files for the download URLs: `DownloadManager.download`
    returns them (by file name), `download_and_extract` extracts them with
    TFDS's own extractor."""
    folder = tmp_path / "server"
    folder.mkdir()
    manager = tfds.download.DownloadManager

    def download(self, url_or_urls):
        def local(url):
            path = folder / os.path.basename(url)
            assert path.is_file(), f"unexpected download of {url}"
            return path

        return tfds.core.utils.map_nested(local, url_or_urls)

    def download_and_extract(self, url_or_urls):
        return self.extract(download(self, url_or_urls))

    monkeypatch.setattr(manager, "download", download)
    monkeypatch.setattr(manager, "download_and_extract", download_and_extract)
    # The MNIST builder reads a fixed number of examples from its files.
    from tensorflow_datasets.image_classification import mnist

    monkeypatch.setattr(mnist, "_TRAIN_EXAMPLES", N_TRAIN)
    monkeypatch.setattr(mnist, "_TEST_EXAMPLES", N_TEST)
    return folder


def _labels_read(name, split, data_dir):
    ds = datasets.load(name, split, batch_size=4, data_dir=data_dir, shuffle=False)
    batches = list(ds.as_numpy_iterator())
    for images, _ in batches:
        assert images.shape[1:] == datasets.info(name).input_shape
        assert images.dtype == np.float32
    return np.concatenate([labels for _, labels in batches])


@pytest.mark.parametrize("name", NAMES)
def test_download_and_prepare_offline(name, tmp_path, served_files, no_network):
    spec = datasets.info(name)
    labels = FILES[name](served_files, np.random.default_rng(0))
    data_dir = tmp_path / "tfds"
    builder = tfds.builder(spec.tfds_name, data_dir=data_dir)
    builder.download_and_prepare(download_config=_download_config())
    assert builder.is_prepared()
    assert builder.info.splits["train"].num_examples == N_TRAIN
    assert builder.info.splits["test"].num_examples == N_TEST

    # The prepared data is what a data_dir pointing there gives.
    found = datasets.source(name, data_dir=data_dir, download=False)
    assert found == datasets.DataSource("tfds", os.fspath(builder.data_dir))
    for split in ("train", "test"):
        np.testing.assert_array_equal(
            np.sort(_labels_read(name, split, data_dir)), np.sort(labels[split])
        )

    # provenance: the builder's split sizes, sliced and limited like load.
    splits = {"train": "train[:75%]", "validation": "train[75%:]", "test": "test"}
    limits = {"test": 3}
    record = datasets.provenance(name, splits, data_dir=data_dir, limits=limits)
    loaded = {
        label: len(
            list(
                datasets.load(
                    name,
                    split,
                    batch_size=1,
                    data_dir=data_dir,
                    limit=limits.get(label),
                ).as_numpy_iterator()
            )
        )
        for label, split in splits.items()
    }
    assert record == {
        "dataset": name,
        "source": "tfds",
        "path": os.fspath(builder.data_dir),
        "examples": loaded,
    }
    assert loaded == {"train": 9, "validation": 3, "test": 3}
    assert datasets.provenance_line(record) == (
        f"data: {name}, TFDS data in {builder.data_dir} (train 9, validation 3, test 3 examples)"
    )
