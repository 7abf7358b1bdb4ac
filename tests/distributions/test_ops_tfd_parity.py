"""The keras-ops fallback against TensorFlow Probability, in one process.

TensorFlow backend only (TFP is the reference). Random and extreme
parameters: scales from 1e-6 to 1e4, |logits| up to 50, values 1e10
standard deviations into the tails.
"""

import numpy as np
import pytest

from keras_hvae.distributions import ops_tfd
from tests.distributions.helpers import BACKEND, FLOAT_DTYPES, to_np

pytestmark = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TFP parity needs the TensorFlow backend"
)
if BACKEND == "tensorflow":
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    # TFP converts numpy parameters with a float32 dtype hint (float64 arrays
    # can end up float32), so it always gets explicitly typed tensors.
    T = tf.constant

RTOL = {"float32": 1e-4, "float64": 1e-5}
# Relative error is meaningless for results at or next to 0 (a log-probability
# of a category with logit 50 against -50, a KL between nearly equal normals):
# both implementations get them by rounding O(1) terms, so we allow an
# absolute error of a few ulps of 1 (float32: 1e-6, float64: 1e-12).
ATOL = {"float32": 1e-6, "float64": 1e-12}


def assert_parity(ours, theirs, dtype):
    ours, theirs = to_np(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL[dtype], atol=ATOL[dtype])


def check_methods(ours, theirs, methods, dtype, *args):
    for method in methods:
        a = getattr(ours, method)(*args)
        b = getattr(theirs, method)(*args)
        try:
            assert_parity(a, b, dtype)
        except AssertionError as err:
            raise AssertionError(f"{type(theirs).__name__}.{method}: {err}") from None


def loc_scale_grid(dtype):
    loc = np.array([-1e3, -3.0, 0.0, 0.5, 7.0, 1e3], dtype)[:, None]
    scale = np.array([1e-6, 1e-3, 0.3, 1.0, 50.0, 1e4], dtype)[None, :]
    x = np.array([-1e4, -40.0, -1.0, 0.0, 0.3, 5.0, 1e4], dtype)[:, None, None]
    return loc, scale, x


def random_loc_scale(dtype, n=50):
    rng = np.random.default_rng(1)
    loc = rng.normal(0, 3, n).astype(dtype)
    scale = np.exp(rng.uniform(-3, 3, n)).astype(dtype)
    x = rng.normal(0, 5, (3, n)).astype(dtype)
    return loc, scale, x


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("params", [loc_scale_grid, random_loc_scale])
def test_normal(dtype, params):
    loc, scale, x = params(dtype)
    ours, theirs = ops_tfd.Normal(loc, scale), tfd.Normal(T(loc), T(scale))
    assert ours.batch_shape == tuple(theirs.batch_shape.as_list())
    assert ours.event_shape == ()
    check_methods(ours, theirs, ["log_prob"], dtype, x)
    check_methods(ours, theirs, ["mean"], dtype)
    assert_parity(ours.loc, theirs.loc, dtype)
    assert_parity(ours.scale, theirs.scale, dtype)


def categorical_params(dtype):
    rng = np.random.default_rng(2)
    logits = np.stack([
        rng.normal(0, 3, 5),
        [50.0, -50.0, 0.0, 0.0, 0.0],
        [-50.0] * 5,
        [1e-3, 0.0, -1e-3, 2.0, 2.0],
    ]).astype(dtype)
    probs = np.array([[0.0, 0.2, 0.3, 0.5, 0.0], [1.0, 0, 0, 0, 0],
                      [0.2] * 5, [1e-7, 0.1, 0.1, 0.3, 0.5 - 1e-7]], dtype)
    k = np.array([[0, 1, 2, 3], [4, 0, 4, 2], [1, 1, 0, 4]], "int32")
    return logits, probs, k


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("kind", ["logits", "probs"])
def test_categorical(dtype, kind):
    logits, probs, k = categorical_params(dtype)
    values = logits if kind == "logits" else probs
    ours = ops_tfd.Categorical(**{kind: values})
    theirs = tfd.Categorical(**{kind: T(values)})
    assert ours.batch_shape == (4,)
    check_methods(ours, theirs, ["log_prob"], dtype, k)
    check_methods(ours, theirs, ["probs_parameter", "logits_parameter"], dtype)
    if kind == "logits":
        assert_parity(ours.logits, theirs.logits, dtype)
        assert ours.probs is None


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_independent_normal(dtype):
    rng = np.random.default_rng(3)
    loc = rng.normal(0, 2, (3, 4, 5)).astype(dtype)
    scale = np.exp(rng.uniform(-6, 6, (3, 4, 5))).astype(dtype)
    x = (rng.normal(0, 30, (2, 3, 4, 5))).astype(dtype)
    ours = ops_tfd.Independent(ops_tfd.Normal(loc, scale), reinterpreted_batch_ndims=2)
    theirs = tfd.Independent(tfd.Normal(T(loc), T(scale)), reinterpreted_batch_ndims=2)
    assert ours.batch_shape == (3,) and ours.event_shape == (4, 5)
    assert isinstance(ours.distribution, ops_tfd.Normal)
    check_methods(ours, theirs, ["log_prob"], dtype, x)
    check_methods(ours, theirs, ["mean"], dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_mixture_same_family_scalar_components(dtype):
    logits = np.array([[0.0, 1.0, -2.0, 0.5], [50.0, -50.0, 0.0, 0.0],
                       [-50.0, -50.0, -50.0, 50.0]], dtype)
    loc = np.array([[-1e3, 0.0, 2.0, 1e3], [0.0, 1.0, -1.0, 5.0], [3.0, -3.0, 0.0, 0.1]], dtype)
    scale = np.array([[1e-3, 1.0, 0.5, 1e4], [1e-6, 2.0, 0.3, 1.0], [1.0, 1.0, 50.0, 1e-2]], dtype)
    x = np.array([-1e4, -30.0, -1.0, 0.0, 0.7, 2.0, 1e3, 1e4], dtype)[:, None]
    ours = ops_tfd.MixtureSameFamily(ops_tfd.Categorical(logits=logits),
                                     ops_tfd.Normal(loc, scale))
    theirs = tfd.MixtureSameFamily(tfd.Categorical(logits=T(logits)),
                                   tfd.Normal(T(loc), T(scale)))
    assert ours.batch_shape == (3,) and ours.event_shape == ()
    check_methods(ours, theirs, ["log_prob"], dtype, x)
    check_methods(ours, theirs, ["mean"], dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_mixture_same_family_vector_components(dtype):
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 5, (2, 3)).astype(dtype)
    loc = rng.normal(0, 1, (2, 3, 5)).astype(dtype)
    scale = np.exp(rng.uniform(-2, 2, (2, 3, 5))).astype(dtype)
    x = rng.normal(0, 3, (4, 2, 5)).astype(dtype)
    ours = ops_tfd.MixtureSameFamily(
        ops_tfd.Categorical(logits=logits), ops_tfd.Independent(ops_tfd.Normal(loc, scale), 1))
    theirs = tfd.MixtureSameFamily(
        tfd.Categorical(logits=T(logits)), tfd.Independent(tfd.Normal(T(loc), T(scale)), 1))
    assert ours.batch_shape == (2,) and ours.event_shape == (5,)
    check_methods(ours, theirs, ["log_prob"], dtype, x)
    check_methods(ours, theirs, ["mean"], dtype)
    assert tuple(to_np(ours.sample(7, seed=1)).shape) == (7, 2, 5)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_kl_divergence(dtype):
    loc, scale, _ = loc_scale_grid(dtype)
    a = (loc, scale)
    b = (np.ascontiguousarray(loc.T[::-1] * 0.5), np.ascontiguousarray(scale.T[::-1]))
    assert_parity(
        ops_tfd.kl_divergence(ops_tfd.Normal(*a), ops_tfd.Normal(*b)),
        tfd.kl_divergence(tfd.Normal(*map(T, a)), tfd.Normal(*map(T, b))),
        dtype,
    )
    rng = np.random.default_rng(5)
    qa = (rng.normal(0, 2, (4, 6)).astype(dtype), np.exp(rng.uniform(-5, 5, (4, 6))).astype(dtype))
    qb = (rng.normal(0, 2, (4, 6)).astype(dtype), np.exp(rng.uniform(-5, 5, (4, 6))).astype(dtype))
    ours = ops_tfd.kl_divergence(ops_tfd.Independent(ops_tfd.Normal(*qa), 1),
                                 ops_tfd.Independent(ops_tfd.Normal(*qb), 1))
    theirs = tfd.kl_divergence(tfd.Independent(tfd.Normal(*map(T, qa)), 1),
                               tfd.Independent(tfd.Normal(*map(T, qb)), 1))
    assert_parity(ours, theirs, dtype)
    # The method form, as in TFP.
    assert_parity(ops_tfd.Normal(*qa).kl_divergence(ops_tfd.Normal(*qb)),
                  tfd.Normal(*map(T, qa)).kl_divergence(tfd.Normal(*map(T, qb))), dtype)


def test_sample_shapes_match_tfp():
    loc, scale = np.zeros((2, 3), "float32"), np.ones((1, 3), "float32")
    for ours, theirs in [
        (ops_tfd.Normal(loc, scale), tfd.Normal(loc, scale)),
        (ops_tfd.Categorical(logits=loc), tfd.Categorical(logits=loc)),
        (ops_tfd.Independent(ops_tfd.Normal(loc, scale), 1),
         tfd.Independent(tfd.Normal(loc, scale), 1)),
    ]:
        for shape in [(), 4, (4, 5)]:
            a, b = ours.sample(shape, seed=3), theirs.sample(shape, seed=3)
            assert to_np(a).shape == tuple(b.shape), type(theirs).__name__
            assert to_np(a).dtype == b.dtype.as_numpy_dtype
