"""The keras-ops fallback on the running backend: values against scipy/numpy,
dtypes, shapes, sampling statistics, seeds and error messages.

These run on TensorFlow, JAX and PyTorch (TFP parity is in
test_ops_tfd_parity.py).
"""

import keras
import numpy as np
import pytest
from scipy import special, stats

from keras_hvae.distributions import ops_tfd as tfd
from tests.distributions.helpers import FLOAT_DTYPES, tensor, to_np

TOL = {"float32": dict(rtol=1e-4, atol=1e-6), "float64": dict(rtol=1e-9, atol=1e-12)}


def check(got, expected, dtype):
    got = to_np(got)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    np.testing.assert_allclose(got, expected, **TOL[dtype])


@pytest.mark.backend_suite
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_normal_against_scipy(dtype):
    loc = np.array([[-3.0], [0.0], [2.5]], dtype)
    scale = np.array([1e-3, 0.5, 1.0, 30.0], dtype)
    x = np.array([-40.0, -1.0, 0.0, 0.2, 3.0, 40.0], dtype)[:, None, None]
    d = tfd.Normal(tensor(loc, dtype), tensor(scale, dtype))
    ref = stats.norm(loc.astype("float64"), scale.astype("float64"))
    x64 = x.astype("float64")
    assert d.batch_shape == (3, 4)
    check(d.log_prob(tensor(x, dtype)), ref.logpdf(x64), dtype)
    check(d.mean(), np.broadcast_to(loc, (3, 4)), dtype)


@pytest.mark.backend_suite
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_categorical_against_numpy(dtype):
    cat_logits = np.array([[0.0, 1.0, 2.0], [50.0, -50.0, 0.0]], dtype)
    c = tfd.Categorical(logits=tensor(cat_logits, dtype))
    log_probs = special.log_softmax(cat_logits.astype("float64"), axis=-1)
    k = np.array([[2, 1], [0, 0]])
    check(c.log_prob(k), np.take_along_axis(log_probs[None], k[..., None], -1)[..., 0], dtype)
    check(c.probs_parameter(), np.exp(log_probs), dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_mixture_and_independent_against_numpy(dtype):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2, 3)).astype(dtype)
    loc = rng.normal(0, 2, (2, 3)).astype(dtype)
    scale = np.exp(rng.uniform(-2, 1, (2, 3))).astype(dtype)
    x = rng.normal(0, 3, (5, 2)).astype(dtype)
    d = tfd.MixtureSameFamily(tfd.Categorical(logits=tensor(logits, dtype)),
                              tfd.Normal(tensor(loc, dtype), tensor(scale, dtype)))
    lw = special.log_softmax(logits.astype("float64"), -1)
    comp = stats.norm(loc.astype("float64"), scale.astype("float64")).logpdf(
        x.astype("float64")[..., None])
    check(d.log_prob(tensor(x, dtype)), special.logsumexp(lw + comp, -1), dtype)
    check(d.mean(), np.sum(np.exp(lw) * loc, -1), dtype)

    ind = tfd.Independent(tfd.Normal(tensor(loc, dtype), tensor(scale, dtype)), 1)
    assert ind.batch_shape == (2,) and ind.event_shape == (3,)
    xi = rng.normal(0, 1, (4, 2, 3)).astype(dtype)
    expected = stats.norm(loc.astype("float64"), scale.astype("float64")).logpdf(
        xi.astype("float64")).sum(-1)
    check(ind.log_prob(tensor(xi, dtype)), expected, dtype)


@pytest.mark.backend_suite
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_kl_normal_closed_form(dtype):
    ma, sa, mb, sb = (np.array(v, dtype) for v in
                      ([0.0, 1.0, -3.0], [1.0, 1e-3, 10.0], [1.0, 1.0, 2.0], [2.0, 1.0, 1e-2]))
    ma64, sa64, mb64, sb64 = (v.astype("float64") for v in (ma, sa, mb, sb))
    expected = np.log(sb64 / sa64) + (sa64**2 + (ma64 - mb64) ** 2) / (2 * sb64**2) - 0.5
    a = tfd.Normal(tensor(ma, dtype), tensor(sa, dtype))
    b = tfd.Normal(tensor(mb, dtype), tensor(sb, dtype))
    check(tfd.kl_divergence(a, b), expected, dtype)
    ia, ib = tfd.Independent(a, 1), tfd.Independent(b, 1)
    check(tfd.kl_divergence(ia, ib), expected.sum(), dtype)


def test_kl_unsupported_pairs_raise_type_error():
    n = tfd.Normal(0.0, 1.0)
    cat = tfd.Categorical(logits=[0.0, 1.0])
    with pytest.raises(TypeError, match="no analytic form.*Categorical"):
        tfd.kl_divergence(cat, cat)
    with pytest.raises(TypeError, match="Normal-Normal"):
        tfd.kl_divergence(n, cat)
    with pytest.raises(TypeError, match="no analytic form.*Normal"):
        tfd.kl_divergence(tfd.Independent(n, 0), n)
    loc = keras.ops.zeros((2, 3))
    with pytest.raises(TypeError, match="ndims=1.*ndims=2"):
        tfd.kl_divergence(tfd.Independent(tfd.Normal(loc, 1.0), 1),
                          tfd.Independent(tfd.Normal(loc, 1.0), 2))


def test_constructor_errors():
    with pytest.raises(ValueError, match="exactly one of `logits` or `probs`"):
        tfd.Categorical()
    with pytest.raises(ValueError, match="exactly one"):
        tfd.Categorical(logits=[0.0], probs=[1.0])
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims=3"):
        tfd.Independent(tfd.Normal(keras.ops.zeros((2, 3)), 1.0), 3)


@pytest.mark.backend_suite
def test_samples_have_the_right_statistics():
    n = 40000
    se = 1.0 / np.sqrt(n)
    normal = to_np(tfd.Normal(np.array([1.0, -2.0], "float32"), np.array([0.5, 3.0], "float32"))
                   .sample(n, seed=1))
    assert normal.shape == (n, 2)
    np.testing.assert_allclose(normal.mean(0), [1.0, -2.0], atol=5 * se * 3.0)
    np.testing.assert_allclose(normal.std(0), [0.5, 3.0], rtol=0.03)

    cat = to_np(tfd.Categorical(probs=np.array([0.2, 0.0, 0.8], "float32")).sample(n, seed=4))
    np.testing.assert_allclose(np.bincount(cat, minlength=3) / n, [0.2, 0.0, 0.8], atol=5 * se)

    mix = tfd.MixtureSameFamily(
        tfd.Categorical(logits=np.log(np.array([0.3, 0.7], "float32"))),
        tfd.Normal(np.array([-10.0, 10.0], "float32"), np.array([1.0, 1.0], "float32")))
    draws = to_np(mix.sample((n // 2, 2), seed=5))
    assert draws.shape == (n // 2, 2)
    np.testing.assert_allclose((draws > 0).mean(), 0.7, atol=5 * se)


@pytest.mark.backend_suite
def test_seeds_int_generator_and_independent_streams():
    d = tfd.Normal(np.zeros(5, "float32"), 1.0)
    a, b = to_np(d.sample(seed=7)), to_np(d.sample(seed=7))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, to_np(d.sample(seed=8)))
    gen = keras.random.SeedGenerator(3)
    assert not np.array_equal(to_np(d.sample(seed=gen)), to_np(d.sample(seed=gen)))
    # A mixture must not reuse one integer seed for the choice and the noise:
    # with well separated unit components the within-component noise must be
    # independent of which component was picked.
    mix = tfd.MixtureSameFamily(
        tfd.Categorical(logits=np.zeros(2, "float32")),
        tfd.Normal(np.array([-100.0, 100.0], "float32"), 1.0))
    draws = to_np(mix.sample(20000, seed=11))
    noise = np.where(draws > 0, draws - 100.0, draws + 100.0)
    assert abs(np.corrcoef(noise, draws > 0)[0, 1]) < 0.05
    with pytest.raises(ValueError, match="seed"):
        d.sample(seed="abc")
