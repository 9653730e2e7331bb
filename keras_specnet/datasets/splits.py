"""Split strings: `"train"`, `"test"`, optionally sliced like TFDS splits."""

import re

from keras_specnet import _checks

__all__ = ["parse_split", "slice_bounds", "split_error", "split_length"]

_SPLIT_RE = re.compile(
    r"^(?P<base>train|test)"
    r"(?:\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$"
)


def split_error(split, name="split"):
    """The `ValueError` for a split string that cannot be parsed."""
    return _checks.invalid(
        name,
        "'train' or 'test', optionally sliced like 'train[:90%]', "
        "'train[90%:]', 'test[:1000]' or 'train[100:200]'",
        split,
    )


def parse_split(split, name="split"):
    """Returns (base, start, stop); start/stop are strings or None.

    Example:

    >>> parse_split("train[:90%]")
    ('train', None, '90%')
    """
    match = _SPLIT_RE.match(split) if isinstance(split, str) else None
    if match is None:
        raise split_error(split, name)
    for bound in (match["start"], match["stop"]):
        if bound is not None and bound.endswith("%") and abs(int(bound[:-1])) > 100:
            raise split_error(split, name)
    return match["base"], match["start"], match["stop"]


def slice_bounds(start, stop, n):
    """Python slice bounds for a TFDS-like slice of a split of n examples.

    Percent bounds are rounded to the closest example like TFDS does.

    Example:

    >>> slice_bounds(None, "90%", 60000)
    (0, 54000)
    """

    def absolute(bound):
        if bound is None:
            return None
        if bound.endswith("%"):
            return int(round(int(bound[:-1]) * n / 100.0))
        return int(bound)

    return slice(absolute(start), absolute(stop)).indices(n)[:2]


def split_length(start, stop, n, limit=None):
    """How many examples a slice of a split of n examples keeps, then limit."""
    begin, end = slice_bounds(start, stop, n)
    length = max(0, end - begin)
    return length if limit is None else min(length, limit)
