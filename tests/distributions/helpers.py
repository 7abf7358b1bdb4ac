"""Shared helpers of the distribution tests (imported, not a conftest)."""

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

requires_tensorflow = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TFP parity needs the TensorFlow backend"
)


def _float64_available():
    # JAX without jax_enable_x64 silently computes in float32.
    x = keras.ops.convert_to_tensor(np.zeros(1, "float64"))
    return keras.backend.standardize_dtype(x.dtype) == "float64"


FLOAT64 = _float64_available()

# Every test that is parametrised over dtypes uses this list; float64 is
# reported as skipped where the backend cannot represent it.
FLOAT_DTYPES = [
    "float32",
    pytest.param(
        "float64",
        marks=pytest.mark.skipif(not FLOAT64, reason="backend has no float64 (JAX x64 off)"),
    ),
]

# The widest float the backend supports, for the brute-force checks.
WIDE = "float64" if FLOAT64 else "float32"


def to_np(x):
    """Backend tensor → float64/int numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(x))


def tensor(x, dtype):
    return keras.ops.convert_to_tensor(np.asarray(x, dtype=dtype))
