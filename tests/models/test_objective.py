"""The shared objective: free bits, warm-up and clipping against brute force."""

import numpy as np
import keras
from keras import ops
import pytest

from keras_hvae.models.objective import free_bits_kl, kl_warmup_weight, negative_elbo
from keras_hvae.models.safe_update import all_finite, clip_by_global_norm

pytestmark = pytest.mark.backend_suite


def test_free_bits_value_is_max_of_lambda_and_batch_mean():
    kls = [np.array([0.5, 1.5], "float32"), np.array([3.0, 5.0], "float32")]
    total, means = free_bits_kl([ops.convert_to_tensor(k) for k in kls], free_bits=2.0)
    expected = sum(max(2.0, k.mean()) for k in kls)
    np.testing.assert_allclose(ops.convert_to_numpy(total), expected, rtol=1e-6)
    np.testing.assert_allclose([ops.convert_to_numpy(m) for m in means], [1.0, 4.0])


def test_free_bits_zero_is_plain_sum():
    kls = [np.array([0.5, 1.5], "float32"), np.array([0.1, 0.3], "float32")]
    total, _ = free_bits_kl([ops.convert_to_tensor(k) for k in kls], free_bits=0.0)
    np.testing.assert_allclose(ops.convert_to_numpy(total), 1.0 + 0.2, rtol=1e-6)


def test_negative_elbo_logs_ignore_free_bits_warmup_and_beta():
    log_px = ops.convert_to_tensor(np.array([-10.0, -20.0], "float32"))
    kls = [ops.convert_to_tensor(np.array([0.2, 0.4], "float32"))]
    loss, logs = negative_elbo(log_px, kls, free_bits=2.0, beta=0.5, warmup_weight=0.5)
    # loss = 15 + 0.5 * 0.5 * max(2, 0.3)
    np.testing.assert_allclose(ops.convert_to_numpy(loss), 15.0 + 0.25 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(logs["elbo"]), -15.3, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(logs["kl"]), 0.3, rtol=1e-6)


@pytest.mark.parametrize("step,warmup,expected", [(0, 100, 0.0), (25, 100, 0.25), (500, 100, 1.0), (3, 0, 1.0)])
def test_kl_warmup_is_linear_then_one(step, warmup, expected):
    np.testing.assert_allclose(ops.convert_to_numpy(kl_warmup_weight(step, warmup)), expected)


def test_clip_by_global_norm_matches_numpy():
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(5,)).astype("float32")]
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    clipped, measured = clip_by_global_norm([ops.convert_to_tensor(g) for g in grads], norm / 2)
    np.testing.assert_allclose(ops.convert_to_numpy(measured), norm, rtol=1e-5)
    for c, g in zip(clipped, grads):
        np.testing.assert_allclose(ops.convert_to_numpy(c), g / 2, rtol=1e-5)
    unclipped, _ = clip_by_global_norm([ops.convert_to_tensor(g) for g in grads], norm * 2)
    np.testing.assert_allclose(ops.convert_to_numpy(unclipped[0]), grads[0], rtol=1e-6)


def test_all_finite_detects_nan_in_any_gradient():
    good = [ops.ones((2,)), ops.zeros((3,))]
    bad = [ops.ones((2,)), ops.convert_to_tensor(np.array([0.0, np.nan, 1.0], "float32"))]
    assert bool(ops.convert_to_numpy(all_finite(ops.convert_to_tensor(1.0), good)))
    assert not bool(ops.convert_to_numpy(all_finite(ops.convert_to_tensor(1.0), bad)))
    assert not bool(ops.convert_to_numpy(all_finite(ops.convert_to_tensor(np.inf), good)))
