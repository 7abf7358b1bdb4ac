"""Parsing of layer arguments given as an int or a `(height, width)` pair.

Kernel sizes and strides are accepted as an int (the same on both axes) or
as a pair of ints (per-axis, e.g. `(1, 5)` for sequences laid out as a
`(1, T)` grid). JSON configs give pairs back as lists; both helpers turn
them into tuples.
"""

import numpy as np


def int_or_pair(value, name="value"):
    """`value` normalised: a Python int, or a `(height, width)` tuple of ints.

    Args:
        value: an int (numpy integers included) or a length-2 sequence.
        name: the argument's name, for the error message.

    Raises:
        ValueError: when `value` is neither.

    Example:
    >>> int_or_pair(3), int_or_pair([1, 5])
    (3, (1, 5))
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        pair = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an int or a pair (height, width) of ints, got {value!r}.") from None
    if len(pair) != 2:
        raise ValueError(f"`{name}` must be an int or a pair (height, width) of ints, got {value!r}.")
    return pair


def as_pair(value, name="value", *, height=None):
    """`value` as a `(height, width)` tuple of ints.

    An int `v` gives `(v, v)`, or `(height, v)` when `height` is given
    (`height=1` for sequences: an int kernel or stride runs along T).

    Example:
    >>> as_pair(3), as_pair(3, height=1), as_pair((2, 1))
    ((3, 3), (1, 3), (2, 1))
    """
    value = int_or_pair(value, name)
    if isinstance(value, int):
        return (value, value) if height is None else (int(height), value)
    return value
