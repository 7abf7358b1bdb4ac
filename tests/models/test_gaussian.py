"""The diagonal-Gaussian toolkit (`keras_hvae.models.gaussian`) on every backend."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models import gaussian

pytestmark = pytest.mark.backend_suite


def _np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype="float64")


def _params(seed=0, shape=(3, 4, 5, 2)):
    rng = np.random.default_rng(seed)
    f = lambda a: ops.convert_to_tensor(a.astype("float32"))  # noqa: E731
    return (
        f(rng.normal(size=shape)),
        f(rng.uniform(0.3, 2.0, size=shape)),
        f(rng.normal(size=shape)),
        f(rng.uniform(0.3, 2.0, size=shape)),
        f(rng.normal(size=shape)),
    )


def _hand_log_prob(z, loc, scale):
    return -0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi)


def _hand_kl(ql, qs, pl, ps):
    return np.log(ps / qs) + (qs**2 + (ql - pl) ** 2) / (2 * ps**2) - 0.5


def test_temperature_zero_returns_the_mean():
    loc, scale, *_ = _params()
    z = gaussian.reparameterized_sample(loc, scale, keras.random.SeedGenerator(1), temperature=0.0)
    np.testing.assert_array_equal(_np(z), _np(loc))
    z = gaussian.reparameterized_sample(loc, scale, keras.random.SeedGenerator(1), temperature=ops.convert_to_tensor(0.0))
    np.testing.assert_array_equal(_np(z), _np(loc))


@pytest.mark.parametrize("t", [1.0, 0.7, 2.5])
def test_tensor_temperature_equals_float_temperature(t):
    loc, scale, *_ = _params()
    a = gaussian.reparameterized_sample(loc, scale, keras.random.SeedGenerator(3), temperature=t)
    b = gaussian.reparameterized_sample(loc, scale, keras.random.SeedGenerator(3), temperature=ops.convert_to_tensor(t))
    np.testing.assert_array_equal(_np(a), _np(b))
    # and it is loc + t * scale * eps with the stream's eps
    eps = keras.random.normal(ops.shape(loc), dtype="float32", seed=keras.random.SeedGenerator(3))
    np.testing.assert_allclose(_np(a), _np(loc) + t * _np(scale) * _np(eps), rtol=1e-6, atol=1e-6)
    s1 = gaussian.standard_normal_sample((4, 3), keras.random.SeedGenerator(5), t)
    s2 = gaussian.standard_normal_sample((4, 3), keras.random.SeedGenerator(5), ops.convert_to_tensor(t))
    np.testing.assert_array_equal(_np(s1), _np(s2))


def test_sample_statistics_scale_with_temperature():
    loc = ops.ones((20000, 2)) * 3.0
    scale = ops.ones((20000, 2)) * 2.0
    z = _np(gaussian.reparameterized_sample(loc, scale, keras.random.SeedGenerator(0), temperature=0.5))
    assert abs(z.mean() - 3.0) < 0.03 and abs(z.std() - 1.0) < 0.03


def test_parameterisations():
    raw = ops.convert_to_tensor(np.array([[-3.0, 0.0, 2.0]], "float32"))
    np.testing.assert_allclose(
        _np(gaussian.softplus_scale(raw, 1e-3))[0], np.log1p(np.exp(np.array([-3.0, 0.0, 2.0]) + gaussian.SOFTPLUS_INV_ONE)) + 1e-3,
        rtol=1e-6,
    )
    assert _np(gaussian.softplus_scale(ops.zeros((1,))))[0] == pytest.approx(1.0, abs=1e-6)
    lv = np.array([[-40.0, -1.0, 0.0, 3.0, 40.0]], "float32")
    mu = ops.ones_like(lv)
    loc, scale = gaussian.loc_scale_from_log_var(mu, ops.convert_to_tensor(lv))
    clamped = gaussian.LOG_VAR_LIMIT * np.tanh(lv / gaussian.LOG_VAR_LIMIT)
    np.testing.assert_allclose(_np(scale), np.exp(0.5 * clamped), rtol=1e-5)
    np.testing.assert_array_equal(_np(loc), 1.0)
    assert _np(scale).max() < math.exp(0.5 * gaussian.LOG_VAR_LIMIT)
    np.testing.assert_allclose(_np(gaussian.clamped_log_var_scale(ops.convert_to_tensor(lv), None)), np.exp(0.5 * lv), rtol=1e-5)


@pytest.mark.parametrize("masked", [False, True])
def test_log_prob_and_kl_against_hand_computation(masked):
    ql, qs, pl, ps, z = _params()
    mask = None
    m = np.ones((3, 4, 5, 1))
    if masked:
        m = (np.random.default_rng(1).uniform(size=(3, 4, 5, 1)) < 0.6).astype("float32")
        mask = ops.convert_to_tensor(m)
    n = lambda t: _np(t)  # noqa: E731
    want_lp = (_hand_log_prob(n(z), n(ql), n(qs)) * m).sum(axis=(1, 2, 3))
    want_kl = (_hand_kl(n(ql), n(qs), n(pl), n(ps)) * m).sum(axis=(1, 2, 3))
    want_lr = ((_hand_log_prob(n(z), n(pl), n(ps)) - _hand_log_prob(n(z), n(ql), n(qs))) * m).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(_np(gaussian.log_prob(z, ql, qs, mask=mask)), want_lp, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_np(gaussian.kl_divergence(ql, qs, pl, ps, mask=mask)), want_kl, rtol=1e-5, atol=1e-4)
    kl, lr = gaussian.kl_and_log_ratio(z, ql, qs, pl, ps, mask=mask)
    np.testing.assert_allclose(_np(kl), want_kl, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_np(lr), want_lr, rtol=1e-5, atol=1e-4)
    assert tuple(kl.shape) == (3,) and tuple(lr.shape) == (3,)


def test_all_ones_mask_equals_no_mask_and_zero_mask_gives_zero():
    ql, qs, pl, ps, z = _params(seed=2)
    ones = ops.ones((3, 4, 5, 1))
    for a, b in zip(gaussian.kl_and_log_ratio(z, ql, qs, pl, ps), gaussian.kl_and_log_ratio(z, ql, qs, pl, ps, mask=ones)):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-4)
    kl, lr = gaussian.kl_and_log_ratio(z, ql, qs, pl, ps, mask=ops.zeros((3, 4, 5, 1)))
    np.testing.assert_array_equal(_np(kl), 0.0)
    np.testing.assert_array_equal(_np(lr), 0.0)


def test_posterior_terms():
    ql, qs, pl, ps, _ = _params(seed=4, shape=(5, 6))
    t = gaussian.posterior_terms(ql, qs, pl, ps, keras.random.SeedGenerator(7))
    z_ref = gaussian.reparameterized_sample(ql, qs, keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(_np(t["z"]), _np(z_ref))
    n = _np
    want_lr = (_hand_log_prob(n(t["z"]), n(pl), n(ps)) - _hand_log_prob(n(t["z"]), n(ql), n(qs))).sum(axis=1)
    np.testing.assert_allclose(_np(t["log_ratio"]), want_lr, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_np(t["kl"]), _hand_kl(n(ql), n(qs), n(pl), n(ps)).sum(axis=1), rtol=1e-5, atol=1e-4)
    one_sample = gaussian.posterior_terms(ql, qs, pl, ps, keras.random.SeedGenerator(7), analytic_kl=False)
    np.testing.assert_allclose(_np(one_sample["kl"]), -_np(one_sample["log_ratio"]), rtol=1e-6)
    at_mean = gaussian.posterior_terms(ql, qs, pl, ps, None, z=ql)
    np.testing.assert_array_equal(_np(at_mean["z"]), _np(ql))
