"""Stable special functions against 400-digit mpmath, on every backend."""

import numpy as np
import pytest

from keras_hvae.distributions import special_math
from tests.distributions.helpers import FLOAT_DTYPES, tensor, to_np

mpmath = pytest.importorskip("mpmath")  # installed with torch (via sympy)

# 400 digits: enough that 1 - sigmoid(500) or 1 - Phi(15) do not round to 0
# in the brute-force differences below.
DIGITS = 400

# float64 results must be good to ~1e-10 relative (the asymptotic series of
# log_ndtr below -20 is good to 4e-9 in its *correction factor*, i.e. 4e-9
# absolute on values of size >= 200); float32 to ~1e-5.
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def mp_log_ndtr(x):
    with mpmath.workdps(DIGITS):
        return float(mpmath.log(mpmath.ncdf(mpmath.mpf(float(x)))))


def mp_log_sigmoid_diff(a, b):
    with mpmath.workdps(DIGITS):
        a, b = mpmath.mpf(float(a)), mpmath.mpf(float(b))
        return float(mpmath.log(1 / (1 + mpmath.exp(-a)) - 1 / (1 + mpmath.exp(-b))))


def mp_log_ndtr_diff(a, b):
    with mpmath.workdps(DIGITS):
        a, b = mpmath.mpf(float(a)), mpmath.mpf(float(b))
        return float(mpmath.log(mpmath.ncdf(a) - mpmath.ncdf(b)))


@pytest.mark.backend_suite
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_log_ndtr_and_ndtr(dtype):
    x = np.array([-1e3, -41.0, -20.5, -19.5, -10.5, -9.5, -5.0, -1.0, -0.3, 0.0,
                  0.4, 2.0, 4.9, 5.1, 7.9, 8.1, 30.0], dtype)
    expected = np.array([mp_log_ndtr(v) for v in x])
    np.testing.assert_allclose(to_np(special_math.log_ndtr(tensor(x, dtype))), expected,
                               **TOL[dtype])
    # ndtr itself: relative accuracy where it does not underflow.
    keep = expected > np.log(np.finfo(dtype).tiny) + 5
    np.testing.assert_allclose(to_np(special_math.ndtr(tensor(x, dtype)))[keep],
                               np.exp(expected[keep]), **TOL[dtype])


@pytest.mark.backend_suite
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_log_sigmoid_difference(dtype):
    # (centre, width) pairs: tiny and huge widths, both far tails, straddling 0.
    centre = np.array([0.0, 0.0, 3.0, -3.0, 40.0, -40.0, 500.0, -500.0, 0.0, 10.0, -700.0])
    width = np.array([1e-9, 1e-3, 0.5, 2.0, 1e-4, 1.0, 8.0, 1e-6, 60.0, 1e2, 3.0])
    a, b = centre + width / 2, centre - width / 2
    got = to_np(special_math.log_sigmoid_difference(
        tensor(a, dtype), tensor(b, dtype), tensor(np.log(width), dtype)))
    expected = np.array([mp_log_sigmoid_diff(u, v) for u, v in zip(a, b)])
    # In float32 the edges themselves are rounded (e.g. 40 +- 5e-5) while the
    # exact log-width is passed, as the discretised likelihoods do: 1e-4.
    tol = TOL[dtype] if dtype == "float64" else dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, expected, **tol)


@pytest.mark.backend_suite
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_log_ndtr_difference(dtype):
    centre = np.array([0.0, 0.0, 0.3, 2.0, -2.0, 6.0, -6.0, 15.0, -25.0, 0.0, 1.0, -3.0, 4.0])
    width = np.array([1e-9, 1e-3, 0.04, 0.5, 1.0, 1e-3, 0.2, 0.01, 2.0, 10.0, 0.02, 0.3, 3.0])
    a, b = centre + width / 2, centre - width / 2
    expected = np.array([mp_log_ndtr_diff(u, v) for u, v in zip(a, b)])
    got = to_np(special_math.log_ndtr_difference(
        tensor(a, dtype), tensor(b, dtype), tensor(np.log(width), dtype)))
    if dtype == "float64":
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    else:
        # Subtracting two float32 log-CDFs loses ~1e-6 of their size.
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # Without log_width the same (width computed from a - b).
    got2 = to_np(special_math.log_ndtr_difference(tensor(a, dtype), tensor(b, dtype)))
    if dtype == "float64":
        np.testing.assert_allclose(got2, expected, rtol=1e-6, atol=1e-6)
