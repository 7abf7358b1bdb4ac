"""Bad inputs get clear errors (the round trips are in tests/hvae_test_case.py,
run by every family's tests)."""

import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE


@pytest.mark.backend_suite
@pytest.mark.parametrize(
    "x,match",
    [
        (np.zeros((4, 6, 1), "float32"), "rank 2"),
        (np.zeros((4, 7), "float32"), r"shape \(6,\)"),
        (np.array([["a"] * 6]), "numeric"),
        (np.full((2, 6), np.nan, "float32"), "NaN/Inf"),
        (np.full((2, 6), np.inf, "float32"), "NaN/Inf"),
    ],
)
def test_bad_inputs_raise_clear_errors(x, match):
    model = LinearGaussianVAE(6, 2)
    with pytest.raises(ValueError, match=match):
        model.elbo(x)
