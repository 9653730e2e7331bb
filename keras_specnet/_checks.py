"""Argument checks that raise the package's uniform `ValueError` messages."""

import math
import numbers


def invalid(name, expected, value):
    """A `ValueError` naming the argument, what was expected and what came."""
    return ValueError(
        f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value!r}"
    )


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise invalid(name, "a positive integer", value)
    return int(value)


def chunks(name, value):
    """A slice count: a positive int or `"auto"`."""
    if value == "auto":
        return value
    if isinstance(value, str):
        raise invalid(name, 'a positive integer or "auto"', value)
    return positive_int(name, value)


def int_or_auto(text):
    """A command line's slice count: `"auto"` or an int."""
    return text if text == "auto" else int(text)


def chunks_argument():
    """An argparse `type=` for a `--batch-chunks` option."""
    return argparse_type(lambda value: chunks("batch_chunks", value), int_or_auto)


def int_pair(name, value, minimum=1):
    """An int or a pair of ints, each >= `minimum`, as a tuple of two ints."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum for v in pair
    ):
        raise invalid(name, f"an integer >= {minimum} or a tuple of 2 such integers", value)
    return int(pair[0]), int(pair[1])


def non_negative_number(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value >= 0
        or value == float("inf")
    ):
        raise invalid(name, "a finite number >= 0", value)
    return float(value)


def one_of(name, value, choices):
    if value not in choices:
        raise invalid(name, f"one of {sorted(choices, key=str)}", value)
    return value


def positive_number(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value > 0
        or value == float("inf")
    ):
        raise invalid(name, "a finite number > 0", value)
    return float(value)


def integer(name, value, minimum=None):
    """An int (not a bool), at least `minimum` when it is given."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or (minimum is not None and value < minimum)
    ):
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise invalid(name, expected, value)
    return int(value)


def fraction(name, value):
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise invalid(name, "a number in [0, 1)", value)
    return float(value)


def number_pair(name, value, minimum=0.0):
    """A pair `(low, high)` of finite numbers, `minimum <= low < high`."""
    try:
        low, high = value
    except (TypeError, ValueError):
        low = high = None
    if (
        not all(
            isinstance(v, numbers.Real)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and v >= minimum
            for v in (low, high)
        )
        or not low < high
    ):
        raise invalid(
            name,
            f"a pair (low, high) of finite numbers with {minimum:g} <= low < high",
            value,
        )
    return float(low), float(high)


def input_shape(value, name="input_shape"):
    """None, or a tuple `(height, width, channels)` of positive ints."""
    if value is None:
        return None
    try:
        shape = tuple(value)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in shape
    ):
        raise invalid(name, "None or a tuple (height, width, channels) of positive integers", value)
    return tuple(int(v) for v in shape)


def argparse_type(check, convert):
    """An argparse `type=`: `convert(text)`, then `check(name, value)`.

    The argument's name in the message is its option (`--learning-rate`
    reads `learning_rate`), so the command line and the Python API word
    the same error alike.
    """

    def parse(text):
        import argparse

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {convert.__name__}, received {text!r}"
            ) from None
        try:
            return check(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse
