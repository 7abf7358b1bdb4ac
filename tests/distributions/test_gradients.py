"""Gradients of the 8-bit log-likelihoods stay finite at extreme parameters
(no NaN leaking out of an unselected ``where`` branch), on every backend."""

import keras
import numpy as np
import pytest

from keras_hvae.distributions import (
    DiscretizedGaussian,
    DiscretizedLogistic,
    DiscretizedLogisticMixture,
    ops_tfd,
    special_math,
)
from tests.distributions.helpers import to_np


def gradient(fn, value):
    """d sum(fn(v)) / dv at ``value`` (float32) with the backend's autodiff."""
    value = np.asarray(value, "float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(value)
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(fn(v))
        return tape.gradient(y, v).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v).sum())(value))
    if backend == "torch":
        import torch

        v = torch.tensor(value, requires_grad=True)
        fn(v).sum().backward()
        return v.grad.numpy()
    pytest.skip(f"no gradient helper for {backend}")


# (loc, log_scale, level) covering clamped and huge log-scales, far means and
# the edge bins.
CASES = np.array([(0.0, -20.0, 128), (1.0, -20.0, 255), (-3.0, -7.0, 0), (3.0, -7.0, 0),
                  (-3.0, -7.0, 255), (0.2, 200.0, 100), (0.0, 40.0, 255), (0.5, -3.0, 37),
                  (-40.0, -5.0, 128), (40.0, 0.0, 128)], "float32")


@pytest.mark.backend_suite
@pytest.mark.parametrize("cls", [DiscretizedLogistic, DiscretizedGaussian])
@pytest.mark.parametrize("log_scale_min", [-7.0, None])
def test_single_component_gradients_are_finite(cls, log_scale_min):
    levels = CASES[:, 2].reshape(-1, 1, 1, 1).astype("uint8")

    def fn(params):
        return cls(keras.ops.reshape(params[:, 0], (-1, 1, 1, 1)),
                   keras.ops.reshape(params[:, 1], (-1, 1, 1, 1)),
                   log_scale_min=log_scale_min).log_prob(levels)

    grads = gradient(fn, CASES[:, :2])
    assert np.all(np.isfinite(grads)), grads
    values = to_np(fn(keras.ops.convert_to_tensor(CASES[:, :2])))
    assert np.all(np.isfinite(values)), values


@pytest.mark.backend_suite
def test_mixture_gradients_are_finite():
    rng = np.random.default_rng(0)
    k = 3
    params = rng.normal(0, 1, (4, 2, 2, k * 10)).astype("float32")
    params[0, :, :, :k] = [50.0, -50.0, 0.0]
    params[1, :, :, k:] = -20.0  # every mean / log-scale / coefficient extreme
    params[2, :, :, k:] = 20.0
    params[3, :, :, k::3] = 100.0
    levels = rng.integers(0, 256, (4, 2, 2, 3)).astype("uint8")
    levels[:, 0, 0] = 0
    levels[:, 1, 1] = 255
    mask = np.ones((4, 2, 2, 1), "float32")
    mask[:, 0, 1] = 0

    def fn(p):
        return DiscretizedLogisticMixture(p, k).log_prob(levels, mask=mask)

    grads = gradient(fn, params)
    assert np.all(np.isfinite(grads))
    assert np.all(grads[:, 0, 1] == 0)  # masked pixel: no gradient


@pytest.mark.backend_suite
def test_fallback_normal_gradients_are_finite():
    def fn(loc):
        d = ops_tfd.Normal(loc, 1e-3)
        z = (0.0 - loc) / 1e-3
        return special_math.log_ndtr(z) + special_math.log_ndtr(-z) + d.log_prob(0.0)

    grads = gradient(fn, np.array([-50.0, -1.0, 0.0, 2.0, 50.0]))
    assert np.all(np.isfinite(grads))
