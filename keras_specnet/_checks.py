"""Argument checks that raise the package's uniform `ValueError` messages."""

import numbers


def invalid(name, expected, value):
    """A `ValueError` naming the argument, what was expected and what came."""
    return ValueError(
        f"Invalid value for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise invalid(name, "a positive integer", value)
    return int(value)


def int_pair(name, value, minimum=1):
    """An int or a pair of ints, each >= `minimum`, as a tuple of two ints."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= minimum
        for v in pair
    ):
        raise invalid(
            name, f"an integer >= {minimum} or a tuple of 2 such integers", value
        )
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
