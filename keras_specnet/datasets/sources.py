"""Where a dataset is read from, and what to say when it is nowhere.

Without `data_dir` the sources are tried in this order: TFDS data prepared
in TFDS's default data dir, the system folder of IDX files
(`DEFAULT_IDX_DIRS`), then a TFDS download (when `download=True`). With `data_dir`, only that
folder is used: it must hold the IDX files of the split or TFDS data
prepared for the dataset, else `DatasetNotAvailableError` says what was
expected there. See docs/data.md.
"""

import dataclasses
import os

from keras_specnet.datasets import idx
from keras_specnet.datasets.catalog import (
    DATASETS,
    DEBIAN_PACKAGES,
    DEFAULT_IDX_DIRS,
    IDX_FILES,
    idx_file_names,
    info,
)
from keras_specnet.datasets.splits import parse_split

__all__ = [
    "DataSource",
    "DatasetNotAvailableError",
    "not_available",
    "resolve",
    "source",
    "tfds",
    "tfds_builder",
]


class DatasetNotAvailableError(FileNotFoundError):
    """Raised when a dataset cannot be read from where it was looked for.

    The message names the dataset, every place that was looked in (or the
    `data_dir` that was given and what it should have held), the TFDS error
    if a download was tried, and how to get the data.
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


def tfds():
    """The `tensorflow_datasets` module, imported on first use (it is slow)."""
    import tensorflow_datasets

    return tensorflow_datasets


def tfds_builder(spec, data_dir):
    """The TFDS builder (never downloads) or the error text if it fails."""
    try:
        return tfds().builder(spec.tfds_name, data_dir=data_dir), None
    except Exception as e:  # noqa: BLE001 -- TFDS raises many kinds.
        return None, f"{type(e).__name__}: {e}"


def _prepared(builder):
    # is_prepared() warns about a missing folder: look for the folder first.
    return (
        builder is not None and os.path.isdir(os.fspath(builder.data_dir)) and builder.is_prepared()
    )


def _how_to_get(name):
    all_idx = idx_file_names()
    if name in DEBIAN_PACKAGES:
        text = (
            f"On Debian/Ubuntu run `apt-get install {DEBIAN_PACKAGES[name]}` "
            f"(it installs the IDX files into {DEFAULT_IDX_DIRS.get(name)}), or "
            "pass `data_dir=` (`--data-dir` on the command line) pointing at a "
            f"folder with the four IDX files {all_idx}."
        )
    else:
        text = (
            f"Run `tfds.load({name!r})` once on a machine with internet access "
            "and pass that TFDS data dir (default ~/tensorflow_datasets) as "
            "`data_dir=` (`--data-dir` on the command line)"
        )
        if DATASETS[name].idx_files:
            text += (
                ", or pass `data_dir=` pointing at a folder with the four MNIST "
                f"IDX files {all_idx}"
            )
        text += "."
    return text + " See docs/data.md."


def not_available(name, looked, tfds_error=None, download=True):
    """The `DatasetNotAvailableError` when nothing was found without data_dir."""
    lines = [f"Dataset {name!r} is not available on this machine. Looked in:"]
    lines += [f"  - {place}" for place in looked]
    if tfds_error:
        lines.append(f"TFDS download failed: {tfds_error}")
    elif not download:
        lines.append("No TFDS download was tried (download=False).")
    lines.append(_how_to_get(name))
    return DatasetNotAvailableError("\n".join(lines))


def _refusal(spec, data_dir, split_base, reason, builder, builder_error, download):
    """The `DatasetNotAvailableError` for a data_dir that cannot be used."""
    if builder is not None:
        tfds_folder = os.fspath(builder.data_dir)
    else:
        tfds_folder = os.path.join(data_dir, spec.tfds_name, "<version>")
    lines = [
        f"Dataset {spec.name!r} is not available in data_dir={data_dir!r}: "
        f"{reason}. Expected in that folder:"
    ]
    if spec.idx_files:
        lines.append(
            f"  - the IDX files of the {split_base!r} split, "
            f"{idx_file_names(split_base, ' and ')} (raw or gzipped), or"
        )
    lines.append(
        f"  - TFDS data prepared for {spec.tfds_name!r}, in the layout "
        f"<data_dir>/{spec.tfds_name}/<version>/, here {tfds_folder}{os.sep}"
        + ("" if builder is not None else f" (TFDS builder: {builder_error})")
    )
    system = DEFAULT_IDX_DIRS.get(spec.name) if spec.idx_files else None
    lines.append(
        "With data_dir given, no other place is looked in"
        + (f" (not the system folder {system})" if system else "")
        + " and no TFDS download is tried; leave data_dir out (no --data-dir) "
        "to use them."
    )
    if not download:
        lines.append("No TFDS download was tried (download=False).")
    lines.append(_how_to_get(spec.name))
    return DatasetNotAvailableError("\n".join(lines))


def _resolve_in(spec, data_dir, split_base, download):
    """The source inside a data_dir the user gave, or the refusal."""
    if spec.idx_files and idx.split_files(data_dir, split_base):
        return DataSource("idx", data_dir)
    # The builder gives the TFDS layout, for the message too.
    builder, builder_error = tfds_builder(spec, data_dir)
    if not os.path.exists(data_dir):
        reason = "the folder does not exist"
    elif not os.path.isdir(data_dir):
        reason = "it is not a folder"
    else:
        if _prepared(builder):
            return DataSource("tfds", os.fspath(builder.data_dir))
        if spec.idx_files:
            missing = [
                base
                for base in IDX_FILES[split_base]
                if not any(
                    os.path.isfile(os.path.join(data_dir, base + suffix)) for suffix in ("", ".gz")
                )
            ]
            reason = (
                f"the folder holds neither the IDX files of the {split_base!r} "
                f"split (missing: {', '.join(missing)}) nor TFDS data prepared "
                f"for {spec.tfds_name!r}"
            )
        else:
            reason = f"the folder holds no TFDS data prepared for {spec.tfds_name!r}"
    raise _refusal(spec, data_dir, split_base, reason, builder, builder_error, download)


def resolve(name, data_dir, split_base, download):
    """Finds the source of a split of a dataset.

    Returns:
        `(DataSource, looked)`: the source and the list of the places looked
        in before it, as text (for the message of a failed download).

    Raises:
        DatasetNotAvailableError: If `data_dir` is given and holds no data
            of the split, or if nothing is found and `download` is False.
    """
    spec = info(name)
    if data_dir is not None:
        found = _resolve_in(spec, os.fspath(data_dir), split_base, download)
        return found, []
    looked = []
    builder, builder_error = tfds_builder(spec, None)
    if _prepared(builder):
        return DataSource("tfds", os.fspath(builder.data_dir)), looked
    if builder is not None:
        looked.append(
            f"TFDS default data dir: {spec.tfds_name} is not prepared in "
            f"{os.fspath(builder.data_dir)}"
        )
    else:
        looked.append(f"TFDS default data dir: could not create the TFDS builder ({builder_error})")
    default_idx = DEFAULT_IDX_DIRS.get(name) if spec.idx_files else None
    if default_idx:
        if idx.split_files(default_idx, split_base):
            return DataSource("idx", default_idx), looked
        looked.append(f"{default_idx}: no IDX files {idx_file_names(split_base, ' and ')}")
    if download and builder is not None:
        return DataSource("tfds_download", os.fspath(builder.data_dir)), looked
    raise not_available(name, looked, download=download)


def source(name, data_dir=None, split="train", download=True):
    """Tells where `load` would read a dataset from, without reading it.

    Args:
        name: The dataset name, a key of `DATASETS`.
        data_dir: Optional folder of IDX files or TFDS data dir. When given,
            it is the only place looked in.
        split: The split, as for `load`; only `"train"`/`"test"` matters.
        download: Whether a TFDS download is allowed as a last resort (only
            without `data_dir`).

    Returns:
        A `DataSource`. With `download=True` and nothing local, its kind is
        `"tfds_download"` (the download itself may still fail).

    Raises:
        ValueError: If `name` or `split` is invalid.
        DatasetNotAvailableError: If `data_dir` is given but does not exist
            or holds no data of the split, or if nothing local is found and
            `download` is False.

    Example:

    >>> source("fashion_mnist", download=False)  # doctest: +SKIP
    DataSource(kind='idx', location='/usr/share/datasets/fashion-mnist')
    """
    info(name)
    split_base, _, _ = parse_split(split)
    return resolve(name, data_dir, split_base, download)[0]
