"""Free bits in BIVA apply to z^BU_i and z^TD_i separately (and to z_L), as
in the authors' code, not to their per-level sum; the logs stay per level."""

import numpy as np
import pytest
from keras import ops

from tests.hvae_test_case import record_objective
from tests.models.biva.conftest import tiny_binary

pytestmark = pytest.mark.backend_suite


def _np(t):
    return np.asarray(ops.convert_to_numpy(t), "float64")


def _objective(model, x, choose_lambda):
    return record_objective(model, ops.convert_to_tensor(x), choose_lambda)


def _expected(terms, lam, key):
    """-mean log p(x|z) + sum over `terms[key]` of max(lambda, batch-mean KL)."""
    recon = -_np(terms["log_px"]).mean()
    return recon + sum(max(lam, _np(k).mean()) for k in terms[key])


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(16, 28, 28, 1)) < 0.3).astype("float32")


def _model(variant="biva"):
    model = tiny_binary(variant, seed=2)
    model.build()
    return model


def test_free_bits_are_per_variable_with_lambda_two(batch):
    model = _model()
    L = model.num_layers
    loss, logs, terms = _objective(model, batch, lambda t: 2.0)
    groups = terms["free_bits_groups"]
    assert len(groups) == 2 * L - 1 and len(terms["kl"]) == L
    # z^BU_i, z^TD_i per level below the top, then z_L
    for i in range(L - 1):
        np.testing.assert_array_equal(_np(groups[2 * i]), _np(terms["kl_bottom_up"][i]))
        np.testing.assert_array_equal(_np(groups[2 * i + 1]), _np(terms["kl_top_down"][i]))
    np.testing.assert_array_equal(_np(groups[-1]), _np(terms["kl"][-1]))
    # the groups split the per-level KL exactly
    np.testing.assert_allclose(
        sum(_np(g) for g in groups), sum(_np(k) for k in terms["kl"]), rtol=1e-5, atol=1e-4
    )
    assert loss == pytest.approx(_expected(terms, 2.0, "free_bits_groups"), abs=1e-5 * max(1.0, abs(loss)))
    # the logs stay per level, without free bits
    np.testing.assert_allclose([float(_np(m)) for m in logs["kl_layers"]],
                               [_np(k).mean() for k in terms["kl"]], rtol=1e-5, atol=1e-5)
    assert float(_np(logs["kl"])) == pytest.approx(sum(_np(k).mean() for k in terms["kl"]), rel=1e-5, abs=1e-4)


def test_a_level_over_lambda_whose_parts_are_under_it(batch):
    """BU + TD of a level above lambda, each part below it: per level the
    level would pay BU + TD, per variable it pays 2 * lambda."""
    model = _model()
    chosen = {}

    def choose(terms):
        bu = [_np(k).mean() for k in terms["kl_bottom_up"][:-1]]
        td = [_np(k).mean() for k in terms["kl_top_down"][:-1]]
        i = int(np.argmax(np.minimum(bu, td)))
        a, b = bu[i], td[i]
        assert min(a, b) > 0.05, (bu, td)
        chosen["lam"] = 0.5 * (max(a, b) + a + b)  # max(a, b) < lambda < a + b
        chosen["parts"] = (a, b)
        return chosen["lam"]

    loss, _, terms = _objective(model, batch, choose)
    lam = chosen["lam"]
    a, b = chosen["parts"]
    assert max(a, b) < lam < a + b
    per_variable = _expected(terms, lam, "free_bits_groups")
    per_level = _expected(terms, lam, "kl")
    assert loss == pytest.approx(per_variable, abs=1e-5 * max(1.0, abs(loss)))
    assert per_variable - per_level > 0.9 * max(a, b)  # what the per-level budget gave


@pytest.mark.parametrize("variant", ["lvae", "lvae+"])
def test_lvae_variants_keep_one_variable_per_level(batch, variant):
    model = _model(variant)
    loss, _, terms = _objective(model, batch, lambda t: 2.0)
    assert len(terms["free_bits_groups"]) == len(terms["kl"]) == model.num_layers
    assert loss == pytest.approx(_expected(terms, 2.0, "kl"), abs=1e-5 * max(1.0, abs(loss)))


def test_evaluation_loss_has_no_free_bits(batch):
    model = _model()
    model.free_bits = 50.0
    loss, logs = model.compute_objective(ops.convert_to_tensor(batch), training=False)
    assert float(_np(loss)) == pytest.approx(-float(_np(logs["elbo"])), rel=1e-5)
