"""Input checks for the likelihood heads.

The eager checks (numpy; not for traced code) raise ``ValueError`` with a
message that names the likelihood, what it expects and what it found; the
API's entry points call them. `batch_violations` is the in-graph check
(keras.ops, any backend) that every train step runs on its batch.
"""

import numpy as np
from keras import backend, ops

from keras_hvae.utils.validation import to_numpy


def _fmt(v):
    return repr(round(float(v), 6))


def describe_values(arr):
    """``"values in [lo, hi]"`` for a non-empty array."""
    return f"values in [{_fmt(np.min(arr))}, {_fmt(np.max(arr))}]"


def check_image_batch(x, owner, expects, rank=4):
    """Converts ``x`` to numpy and checks rank and finiteness.

    Args:
        x: concrete tensor or array.
        owner: name used in messages (e.g. ``"BernoulliLikelihood"``).
        expects: what the owner expects, for the NaN/Inf message.
        rank: required rank (``None`` to skip).

    Returns:
        The numpy array.

    Raises:
        ValueError: on wrong rank or NaN/Inf values.
    """
    arr = to_numpy(x)
    if rank is not None and arr.ndim != rank:
        raise ValueError(
            f"{owner} expects images of rank {rank} (batch, height, width, "
            f"channels), got shape {tuple(arr.shape)}."
        )
    if arr.dtype.kind == "f" and arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{owner} expects {expects}; found NaN/Inf ({bad} values).")
    return arr


def check_binary(x, owner):
    """Data must be in {0, 1} (bool, int or float)."""
    expects = "binary data in {0, 1}"
    arr = check_image_batch(x, owner, expects)
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{owner} expects {expects}; found {describe_values(arr)}.")


def check_grid(x, owner, num_bins):
    """Integer levels in [0, n-1], or floats on the n-level grid in [-1, 1]."""
    levels = num_bins - 1
    if num_bins == 256:
        expects = ("8-bit images: uint8 or floats on the 256-level grid in [-1, 1]")
    else:
        expects = (f"{num_bins}-level images: integers in [0, {levels}] or floats "
                   f"on the {num_bins}-level grid in [-1, 1]")
    arr = check_image_batch(x, owner, expects)
    if not arr.size:
        return
    if arr.dtype.kind in "iub":
        if arr.min() < 0 or arr.max() > levels:
            raise ValueError(
                f"{owner} expects {expects}; found integer {describe_values(arr)}."
            )
        return
    if arr.dtype.kind != "f":
        raise ValueError(f"{owner} expects {expects}; found dtype {arr.dtype}.")
    if arr.min() < -1.0 - 1e-6 or arr.max() > 1.0 + 1e-6:
        hint = " (unscaled 0..255 data? map it with x / 127.5 - 1)" if arr.max() > 1.5 else ""
        raise ValueError(f"{owner} expects {expects}; found {describe_values(arr)}{hint}.")
    scaled = (arr.astype(np.float64) + 1.0) * (levels / 2.0)
    off = np.abs(scaled - np.round(scaled)) > 1e-3
    if np.any(off):
        example = arr[off].flat[0]
        raise ValueError(
            f"{owner} expects {expects}; found {int(np.count_nonzero(off))} values "
            f"off the grid, e.g. {_fmt(example)} (dequantised or [0, 1] data?)."
        )


def check_unit_interval(x, owner):
    """Floats in [0, 1] (uniformly dequantised 8-bit data)."""
    expects = "uniformly dequantised float images in [0, 1]"
    arr = check_image_batch(x, owner, expects)
    if arr.dtype.kind != "f":
        raise ValueError(
            f"{owner} expects {expects}; found dtype {arr.dtype} (dequantise 8-bit "
            "levels with GaussianLikelihood.dequantize(x, seed))."
        )
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"{owner} expects {expects}; found {describe_values(arr)}.")


def batch_violations(x, low=None, high=None, binary=False, grid_levels=None, off_support=False):
    """In-graph (keras.ops) check of a batch against a likelihood's support.

    A few element-wise comparisons and reductions: cheap next to a model's
    forward pass, and traceable on every backend.

    Args:
        x: the raw batch (any dtype; integers are never NaN/Inf).
        low, high: the support's bounds (None: unbounded).
        binary: values must be exactly 0 or 1.
        grid_levels: floats must lie on the grid of `grid_levels + 1`
            levels in [-1, 1] (to 1e-3 of a step).
        off_support: a Python bool: the dtype itself is wrong (say integers
            for a continuous likelihood): flag the batch as off the support.

    Returns:
        `(flags, low, high)`: a float32 vector of four 0/1 flags (NaN/Inf,
        below `low`, above `high`, off the support; the order of
        `keras_hvae.models.batch_checks.KINDS`) and the lowest and highest
        finite values (float32 scalars).

    Example:
    >>> flags, lo, hi = batch_violations(np.array([0.0, 255.0]), low=0.0, high=1.0, binary=True)
    >>> ops.convert_to_numpy(flags).tolist(), float(hi)
    ([0.0, 0.0, 1.0, 1.0], 255.0)
    """
    x = ops.convert_to_tensor(x)
    is_float = "float" in backend.standardize_dtype(x.dtype)
    x = ops.cast(x, "float32")
    finite = ops.isfinite(x) if is_float else ops.ones_like(x, dtype="bool")
    safe = ops.where(finite, x, ops.zeros_like(x))
    no = ops.zeros((), "bool")
    below = ops.any(safe < low) if low is not None else no
    above = ops.any(safe > high) if high is not None else no
    off = ops.ones((), "bool") if off_support else no
    if binary:
        off = ops.logical_or(off, ops.any(ops.logical_and(safe != 0.0, safe != 1.0)))
    if grid_levels is not None and is_float:
        scaled = (safe + 1.0) * (grid_levels / 2.0)
        off = ops.logical_or(off, ops.any(ops.abs(scaled - ops.round(scaled)) > 1e-3))
    flags = ops.cast(ops.stack([ops.logical_not(ops.all(finite)), below, above, off]), "float32")
    lowest = ops.min(ops.where(finite, x, ops.full_like(x, np.inf)))
    highest = ops.max(ops.where(finite, x, ops.full_like(x, -np.inf)))
    return flags, lowest, highest
