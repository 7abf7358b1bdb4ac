"""Input checks at the API boundary, with messages that say what was expected."""

import numpy as np
from keras import ops


def to_numpy(x):
    """A numpy view of a concrete tensor or array-like."""
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(ops.convert_to_numpy(x))


_ALLOWED_KINDS = ("f", "u", "i", "b")


def check_images(x, data_shape, owner="model"):
    """Checks rank, per-example shape, dtype and finiteness of a batch.

    Args:
        x: a concrete batch (numpy array or eager tensor).
        data_shape: the expected shape of one example, e.g. `(28, 28, 1)`.
        owner: name used in error messages.

    Returns:
        The batch as a numpy array.

    Raises:
        ValueError: on a wrong rank or shape, a non-numeric dtype, or NaN/Inf.

    Example:
    >>> check_images(np.zeros((2, 28, 28, 1)), (28, 28, 1)).shape
    (2, 28, 28, 1)
    """
    arr = to_numpy(x)
    expected = (None,) + tuple(data_shape)
    if arr.ndim != len(expected):
        raise ValueError(
            f"{owner} expects inputs of rank {len(expected)} with shape "
            f"(batch, {', '.join(str(d) for d in data_shape)}); got shape {arr.shape}."
        )
    if tuple(arr.shape[1:]) != tuple(data_shape):
        raise ValueError(
            f"{owner} expects each example to have shape {tuple(data_shape)}; "
            f"got a batch of shape {arr.shape}."
        )
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise ValueError(
            f"{owner} expects a numeric (float or uint8) array; got dtype {arr.dtype}."
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{owner} expects finite inputs; found {bad} NaN/Inf values.")
    return arr
