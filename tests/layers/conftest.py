"""Fixtures and helpers for the layer tests (all backends)."""

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed_everything():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def channel_stats(y):
    """Per-channel mean and (population) std over every axis but the last."""
    y = to_numpy(y).astype("float64")
    axes = tuple(range(y.ndim - 1))
    return y.mean(axis=axes), y.std(axis=axes)


def trainable_gradients(layer, x, weights, **call_kwargs):
    """Gradients of sum(layer(x) * weights) w.r.t. layer.trainable_variables.

    Returns a list of numpy arrays (one per trainable variable, same order).
    Uses the backend's own autodiff.
    """
    backend = keras.backend.backend()
    variables = layer.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, **call_kwargs) * weights)
        grads = tape.gradient(loss, variables)
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(tv):
            y, _ = layer.stateless_call(tv, non_trainable, x, **call_kwargs)
            return jnp.sum(y * weights)

        grads = jax.grad(loss_fn)(trainable)
    elif backend == "torch":
        import torch

        y = layer(x, **call_kwargs)
        loss = torch.sum(y * torch.as_tensor(weights, device=y.device))
        grads = torch.autograd.grad(loss, [v.value for v in variables])
    else:  # pragma: no cover
        pytest.skip(f"no gradient helper for backend {backend}")
    return [to_numpy(g) for g in grads]


def weights_of(model):
    """{variable path: numpy value} of every weight of a model or layer."""
    return {v.path: to_numpy(v) for v in model.weights}


# The helpers are handed to the tests as fixtures (importing `conftest` from a
# test module is ambiguous next to tests/conftest.py).
@pytest.fixture(name="to_numpy")
def _to_numpy_fixture():
    return to_numpy


@pytest.fixture(name="channel_stats")
def _channel_stats_fixture():
    return channel_stats


@pytest.fixture(name="trainable_gradients")
def _trainable_gradients_fixture():
    return trainable_gradients


@pytest.fixture(name="weights_of")
def _weights_of_fixture():
    return weights_of
