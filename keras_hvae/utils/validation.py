"""Input checks at the API boundary, with messages that say what was expected.

`check_images` checks a batch; `check_count`, `check_temperature`,
`check_seed` and `check_flag` check one argument; `checked_arguments`
applies them by argument name (`ARGUMENT_CHECKS`) to a public method, which
is how every model's `sample`, `iwae_bound`, `anomaly_score`, ... checks
`num_samples`, `temperature`, `seed`, `k`, ... in one place.
"""

import functools
import inspect
import math

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
        ValueError: on a wrong rank or shape, an empty batch, a non-numeric
            dtype, or NaN/Inf.

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
    check_not_empty(arr, owner)
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise ValueError(
            f"{owner} expects a numeric (float or uint8) array; got dtype {arr.dtype}."
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{owner} expects finite inputs; found {bad} NaN/Inf values.")
    return arr


def check_not_empty(arr, owner="model", what="examples"):
    """Raises a `ValueError` for a batch with no examples.

    Example:
    >>> check_not_empty(np.zeros((1, 2)), "BIVA").shape
    (1, 2)
    """
    if len(arr) == 0:
        raise ValueError(f"{owner} got an empty batch (0 {what}); pass at least one.")
    return arr


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_count(value, name, minimum=1):
    """A whole-number argument (`num_samples`, `k`, ...) as a Python int.

    Args:
        value: the argument; Python and numpy integers are accepted,
            floats (even 2.0), strings and bools are not.
        name: the argument's name, for the message.
        minimum: the smallest allowed value.

    Returns:
        `int(value)`.

    Raises:
        TypeError: not an integer. ValueError: below `minimum`.

    Example:
    >>> check_count(np.int64(3), "num_samples")
    3
    """
    if not _is_integer(value):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}.")
    return int(value)


def check_optional_count(value, name, minimum=1):
    """`check_count`, with None passed through (e.g. `chunk_size=None`).

    Example:
    >>> check_optional_count(None, "chunk_size") is None
    True
    """
    return None if value is None else check_count(value, name, minimum)


def check_temperature(value, name="temperature", allow_zero=False):
    """A finite temperature > 0 (>= 0 with `allow_zero`) as a Python float.

    Args:
        value: the argument (int or float).
        name: the argument's name, for the message.
        allow_zero: accept 0 (where it has a meaning, e.g. greedy text).

    Returns:
        `float(value)`.

    Raises:
        TypeError: not a number. ValueError: NaN, infinite, negative or
            (unless `allow_zero`) zero.

    Example:
    >>> check_temperature(1)
    1.0
    """
    bound = ">= 0" if allow_zero else "> 0"
    if not _is_real(value):
        raise TypeError(f"{name} must be a finite number {bound}; got {value!r} ({type(value).__name__}).")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}.")
    return v


def check_seed(seed, name="seed"):
    """None, an int (numpy integers become Python ints) or a
    `keras.random.SeedGenerator`.

    Raises:
        TypeError: anything else (a string, a float, a bool).

    Example:
    >>> check_seed(np.int32(7))
    7
    """
    import keras

    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    if _is_integer(seed):
        return int(seed)
    raise TypeError(f"{name} must be None, an int or a keras.random.SeedGenerator; got {seed!r} "
                    f"({type(seed).__name__}).")


def check_flag(value, name):
    """A bool (Python or numpy) as a Python bool; anything else is a TypeError.

    Example:
    >>> check_flag(np.bool_(True), "mean")
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__}).")
    return bool(value)


#: `{argument name: check(value, name)}` applied by `checked_arguments` to
#: every public method of the models that has an argument of that name.
ARGUMENT_CHECKS = {
    "num_samples": check_count,
    "chunk_size": check_optional_count,
    # 0 is the limit of a shrinking standard deviation: prior means (and,
    # for text, greedy words)
    "temperature": lambda v, name: check_temperature(v, name, allow_zero=True),
    "seed": check_seed,
    "k": lambda v, name: check_count(v, name, minimum=0),
    "num_top_layers": lambda v, name: check_count(v, name, minimum=0),
    "keep_layers": lambda v, name: check_count(v, name, minimum=0),
    "mean": check_flag,
    "as_uint8": check_flag,
}


def checked_arguments(method, checks=None):
    """`method` wrapped so that its arguments named in `checks` are checked
    (and normalised: numpy ints to ints, temperatures to floats) before it
    runs; a method without such arguments is returned as is.

    Args:
        method: a function (e.g. a model's `sample`).
        checks: `{argument name: check(value, name)}` (default
            `ARGUMENT_CHECKS`).

    Returns:
        The wrapped function (its `__wrapped__` is `method`).

    Example:
    >>> def draw(num_samples, temperature=1.0):
    ...     return num_samples, temperature
    >>> checked_arguments(draw)(np.int64(2), temperature=1)
    (2, 1.0)
    """
    checks = ARGUMENT_CHECKS if checks is None else checks
    if getattr(method, "_checked_arguments", None) is checks:
        return method
    signature = inspect.signature(method)
    names = [n for n in signature.parameters if n in checks]
    if not names:
        return method

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{method.__qualname__}(): {e}") from None
        for n in names:
            if n in bound.arguments:
                bound.arguments[n] = checks[n](bound.arguments[n], f"{method.__name__}: {n}")
        return method(*bound.args, **bound.kwargs)

    wrapper._checked_arguments = checks
    return wrapper
