"""Where the data of a run comes from and how many examples each split has.

`provenance` gives a JSON-ready record (the command line stores it under the
key `"data"` of its JSON output); `provenance_line` turns it into one line
for the log.
"""

from keras_specnet import _checks
from keras_specnet.datasets import idx
from keras_specnet.datasets.catalog import info
from keras_specnet.datasets.sources import resolve, tfds_builder
from keras_specnet.datasets.splits import parse_split, split_length

__all__ = ["provenance", "provenance_line"]

_KINDS = {
    "idx": "IDX files in",
    "tfds": "TFDS data in",
    "tfds_download": "TFDS download into",
}


def _check_splits(splits):
    expected = (
        "a non-empty dict of label -> split string, e.g. {'train': "
        "'train[:90%]', 'validation': 'train[90%:]', 'test': 'test'}"
    )
    if not isinstance(splits, dict) or not splits:
        raise _checks.invalid("splits", expected, splits)
    for label in splits:
        if not isinstance(label, str) or not label:
            raise _checks.invalid("splits", expected, splits)
    return {label: parse_split(s, f"splits[{label!r}]") for label, s in splits.items()}


def _check_limits(limits, splits):
    if limits is None:
        return {}
    if not isinstance(limits, dict) or any(label not in splits for label in limits):
        raise _checks.invalid(
            "limits",
            f"None or a dict of label -> positive int (or None) with labels among {list(splits)}",
            limits,
        )
    return {
        label: _checks.positive_int(f"limits[{label!r}]", value)
        for label, value in limits.items()
        if value is not None
    }


def _tfds_count(builder, split, prepared):
    """Examples of `split` from the builder's split info, or None if unknown."""
    if builder is None:
        return None
    try:
        count = int(builder.info.splits[split].num_examples)
    except Exception:  # noqa: BLE001 -- no split info: KeyError, ValueError...
        return None
    # Before a download, a count of 0 means that TFDS does not know it.
    return count if prepared or count > 0 else None


def provenance(name, splits, data_dir=None, limits=None, download=True):
    """Where `load` reads each split from and how many examples it yields.

    Nothing is downloaded and no data is read: the counts come from the IDX
    file headers, or from the TFDS builder's split information.

    Args:
        name: The dataset name, a key of `DATASETS`.
        splits: A dict of label -> split string as `load` takes it, e.g.
            `{"train": "train[:90%]", "validation": "train[90%:]",
            "test": "test"}`.
        data_dir: As for `load`.
        limits: Optional dict of label -> positive int (or None): the
            `limit` given to `load` for that split.
        download: As for `load`.

    Returns:
        A JSON-ready dict `{"dataset": name, "source": "idx" | "tfds" |
        "tfds_download", "path": str, "examples": {label: int or None}}`.
        A count is None when it is not known before a TFDS download. When
        the splits come from different places (a folder with the IDX files
        of one split only), `source` and `path` are those of the first label
        and the extra key `"sources"` gives `{label: {"source", "path"}}`.

    Raises:
        ValueError: If an argument is invalid or an IDX header is corrupt.
        DatasetNotAvailableError: As `load` would raise it.

    Example:

    >>> provenance("fashion_mnist", {"train": "train[:90%]",
    ...            "validation": "train[90%:]", "test": "test"})
    ... # doctest: +SKIP
    {'dataset': 'fashion_mnist', 'source': 'idx',
     'path': '/usr/share/datasets/fashion-mnist',
     'examples': {'train': 54000, 'validation': 6000, 'test': 10000}}
    """
    spec = info(name)
    parsed = _check_splits(splits)
    limits = _check_limits(limits, splits)
    builders = {}
    examples, places = {}, {}
    for label, (base, start, stop) in parsed.items():
        found, _ = resolve(name, data_dir, base, download)
        limit = limits.get(label)
        if found.kind == "idx":
            n = idx.split_size(found.location, base)
            count = split_length(start, stop, n, limit)
        else:
            if "builder" not in builders:
                builders["builder"] = tfds_builder(spec, data_dir)[0]
            count = _tfds_count(builders["builder"], splits[label], found.kind == "tfds")
            if count is not None and limit is not None:
                count = min(count, limit)
        examples[label] = count
        places[label] = {"source": found.kind, "path": str(found.location)}
    first = places[next(iter(places))]
    record = {
        "dataset": name,
        "source": first["source"],
        "path": first["path"],
        "examples": examples,
    }
    if any(place != first for place in places.values()):
        record["sources"] = places
    return record


def _where(source, path):
    return f"{_KINDS.get(source, source)} {path}"


def provenance_line(record):
    """One line telling where the data comes from and the split sizes.

    Args:
        record: A dict returned by `provenance`.

    Returns:
        A line such as `data: fashion_mnist, IDX files in
        /usr/share/datasets/fashion-mnist (train 54,000, validation 6,000,
        test 10,000 examples)`.

    Raises:
        ValueError: If `record` is not such a dict.
    """
    keys = ("dataset", "source", "path", "examples")
    if (
        not isinstance(record, dict)
        or any(key not in record for key in keys)
        or not isinstance(record["examples"], dict)
    ):
        raise _checks.invalid(
            "record", f"a dict returned by datasets.provenance (keys {keys})", record
        )
    if "sources" in record:
        where = ", ".join(
            f"{label} from {_where(p['source'], p['path'])}"
            for label, p in record["sources"].items()
        )
    else:
        where = _where(record["source"], record["path"])
    counts = record["examples"]
    if counts and all(n is None for n in counts.values()):
        sizes = f"{', '.join(counts)}: numbers of examples not known yet"
    else:
        sizes = (
            ", ".join(
                f"{label} {'unknown' if n is None else format(n, ',')}"
                for label, n in counts.items()
            )
            + " examples"
        )
    return f"data: {record['dataset']}, {where} ({sizes})"
