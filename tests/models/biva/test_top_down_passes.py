"""BIVA's two top-down passes over one per-level step, and the tensor-k
pass of the `anomaly_score` endpoint (`AnomalyScoreMixin.anomaly_pass`)."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.models.biva.conftest import tiny_binary

pytestmark = pytest.mark.backend_suite


def _np(t):
    return np.asarray(ops.convert_to_numpy(t))


@pytest.fixture(scope="module", params=["biva", "lvae"])
def model_and_x(request):
    x = (np.random.default_rng(0).uniform(size=(4, 28, 28, 1)) < 0.3).astype("float32")
    model = tiny_binary(request.param)
    model.initialize(x)
    return model, ops.convert_to_tensor(x)


def test_top_down_dispatches_to_the_two_passes(model_and_x):
    model, x = model_and_x
    a = model.top_down(None, batch_size=3, temperature=0.5, seed=keras.random.SeedGenerator(4))
    b = model.prior_pass(3, temperature=0.5, seed=keras.random.SeedGenerator(4))
    np.testing.assert_array_equal(_np(a["params"]), _np(b["params"]))
    assert all(np.all(_np(k) == 0) for k in b["kl"]) and np.all(_np(b["log_ratio"]) == 0)
    state = model.bottom_up(x, seed=keras.random.SeedGenerator(2))
    a = model.top_down(state, prior_layers=1, seed=keras.random.SeedGenerator(5))
    b = model.posterior_pass(state, prior_layers=1, seed=keras.random.SeedGenerator(5))
    np.testing.assert_array_equal(_np(a["params"]), _np(b["params"]))
    np.testing.assert_array_equal(_np(a["log_ratio"]), _np(b["log_ratio"]))
    assert np.all(_np(b["kl"][0]) == 0) and all(np.all(_np(k) != 0) for k in b["kl"][1:])


def test_prior_pass_at_temperature_zero_is_the_mean_pass(model_and_x):
    model, _ = model_and_x
    a = model.prior_pass(2, temperature=0.0, seed=keras.random.SeedGenerator(1))
    b = model.prior_pass(2, use_mean=True)
    np.testing.assert_allclose(_np(a["params"]), _np(b["params"]), atol=1e-6)


@pytest.mark.parametrize("k", [0, 1, 3])
def test_tensor_k_pass_uses_the_prior_for_levels_up_to_k(model_and_x, k):
    model, x = model_and_x
    t = model.anomaly_terms_tensor_k(x, ops.convert_to_tensor(k, "int32"), seed=keras.random.SeedGenerator(0))
    kl = np.stack([_np(v) for v in t["kl"]], axis=1)
    assert kl.shape == (4, model.num_layers)
    assert np.all(kl[:, :k] == 0) and np.all(kl[:, k:] != 0)
    if k == model.num_layers:
        assert np.all(_np(t["log_ratio"]) == 0)
    assert np.all(np.isfinite(_np(t["log_px"])))
    # the python-int path agrees in which terms are there
    ref = model._forward(x, prior_layers=k, seed=keras.random.SeedGenerator(0))
    ref_kl = np.stack([_np(v) for v in ref["kl"]], axis=1)
    np.testing.assert_array_equal(kl == 0, ref_kl == 0)


def test_tensor_k_pass_matches_the_int_path_at_the_top_level(model_and_x):
    """For k = 0 the top level (the first draw of both paths) is the same
    posterior draw, so its KL agrees exactly."""
    model, x = model_and_x
    t = model.anomaly_terms_tensor_k(x, ops.convert_to_tensor(0, "int32"), seed=keras.random.SeedGenerator(9))
    ref = model._forward(x, prior_layers=0, seed=keras.random.SeedGenerator(9))
    np.testing.assert_allclose(_np(t["kl"][-1]), _np(ref["kl"][-1]), rtol=1e-6, atol=1e-6)
