"""Likelihood heads: shapes, values, validation messages, serialisation."""

import math

import keras
import numpy as np
import pytest
from scipy import special, stats

from keras_hvae.distributions import (
    BernoulliLikelihood,
    DiscretizedGaussianLikelihood,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
    bits_per_dim,
    get_likelihood,
)
from tests.distributions import reference_pmfs as ref
from tests.distributions.helpers import WIDE, tensor, to_np

ALL = [BernoulliLikelihood(), DiscretizedLogisticMixtureLikelihood(num_mixtures=3),
       DiscretizedLogisticLikelihood(), GaussianLikelihood(), DiscretizedGaussianLikelihood()]
NAMES = ["bernoulli", "discretized_logistic_mixture", "discretized_logistic", "gaussian",
         "discretized_gaussian"]


def data_for(lik, shape, rng):
    if isinstance(lik, BernoulliLikelihood):
        return rng.integers(0, 2, shape).astype("float32")
    if isinstance(lik, GaussianLikelihood):
        return ((rng.integers(0, 256, shape) + rng.uniform(size=shape)) / 256).astype("float32")
    return rng.integers(0, 256, shape).astype("uint8")


@pytest.mark.backend_suite
@pytest.mark.parametrize("lik", ALL, ids=NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_ranges(lik, channels):
    rng = np.random.default_rng(0)
    shape = (2, 5, 4, channels)
    params = rng.normal(0, 1, shape[:3] + (lik.num_params(channels),)).astype("float32")
    x = data_for(lik, shape, rng)
    lik.validate(x)
    log_prob = to_np(lik.log_prob(params, x))
    assert log_prob.shape == (2,) and np.all(np.isfinite(log_prob))
    sample, mean = to_np(lik.sample(params, seed=1)), to_np(lik.mean(params))
    assert sample.shape == shape and mean.shape == shape
    if not isinstance(lik, GaussianLikelihood):  # samples of a density are unbounded
        lik.validate(sample)
    lo, hi = (0.0, 1.0) if isinstance(lik, (BernoulliLikelihood, GaussianLikelihood)) else (-1, 1)
    assert mean.min() >= lo and mean.max() <= hi
    # preprocess gives what the networks see: floats in the data range.
    seen = to_np(lik.preprocess(x))
    assert seen.dtype == np.float32 and seen.min() >= lo and seen.max() <= hi
    # A mask of ones changes nothing; a mask of zeros gives 0.
    ones, zeros = np.ones(shape[:3] + (1,), "float32"), np.zeros(shape[:3] + (1,), "float32")
    np.testing.assert_allclose(to_np(lik.log_prob(params, x, mask=ones)), log_prob, rtol=1e-6)
    np.testing.assert_array_equal(to_np(lik.log_prob(params, x, mask=zeros)), 0.0)


def test_num_params():
    assert BernoulliLikelihood().num_params(1) == 1
    assert DiscretizedLogisticMixtureLikelihood().num_params(3) == 100
    assert DiscretizedLogisticMixtureLikelihood(num_mixtures=5).num_params(1) == 20
    assert DiscretizedLogisticLikelihood().num_params(3) == 6
    assert GaussianLikelihood().num_params(3) == 6
    assert DiscretizedGaussianLikelihood().num_params(1) == 2
    with pytest.raises(ValueError, match="supports 1 or 3 channels, got 2"):
        DiscretizedLogisticMixtureLikelihood().num_params(2)


def test_values_against_references():
    rng = np.random.default_rng(1)
    shape = (3, 4, 4, 1)
    logits = rng.normal(0, 3, shape)
    x = rng.integers(0, 2, shape)
    expected = np.sum(x * -np.logaddexp(0, -logits) + (1 - x) * -np.logaddexp(0, logits),
                      axis=(1, 2, 3))
    np.testing.assert_allclose(to_np(BernoulliLikelihood().log_prob(tensor(logits, WIDE), x)),
                               expected, rtol=1e-6)
    np.testing.assert_allclose(to_np(BernoulliLikelihood().mean(tensor(logits, WIDE))),
                               special.expit(logits), rtol=1e-6)

    loc, log_scale = rng.uniform(0, 1, shape), rng.uniform(-3, 0, shape)
    params = np.concatenate([loc, log_scale], -1)
    y = rng.uniform(0, 1, shape)
    expected = stats.norm(loc, np.exp(log_scale)).logpdf(y).sum((1, 2, 3))
    lik = GaussianLikelihood()
    np.testing.assert_allclose(to_np(lik.log_prob(tensor(params, WIDE), tensor(y, WIDE))),
                               expected, rtol=1e-6)
    assert lik.dequantization_correction(784) == pytest.approx(-784 * math.log(256))

    levels = rng.integers(0, 256, shape)
    for lik, family in [(DiscretizedLogisticLikelihood(), "logistic"),
                        (DiscretizedGaussianLikelihood(), "normal")]:
        expected = ref.single_log_prob(loc * 2 - 1, log_scale, levels, family)
        got = lik.log_prob(tensor(np.concatenate([loc * 2 - 1, log_scale], -1), WIDE),
                           tensor(levels, "uint8"))
        np.testing.assert_allclose(to_np(got), expected, rtol=1e-6)


def test_bits_per_dim():
    assert bits_per_dim(784 * math.log(2.0), 784) == pytest.approx(1.0)
    np.testing.assert_allclose(to_np(bits_per_dim(keras.ops.convert_to_tensor([2000.0]), 784)),
                               [2000.0 / (784 * math.log(2))], rtol=1e-6)


@pytest.mark.backend_suite
def test_validate_messages():
    bern, dlm = BernoulliLikelihood(), DiscretizedLogisticMixtureLikelihood()
    good = np.zeros((2, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match=r"rank 4 \(batch, height, width, channels\), "
                                         r"got shape \(4, 4, 1\)"):
        bern.validate(good[0])
    with pytest.raises(ValueError, match=r"binary data in \{0, 1\}; found values in "
                                         r"\[0\.0, 0\.93\]"):
        bern.validate(np.concatenate([good, good + 0.93]))
    with pytest.raises(ValueError, match="found NaN/Inf"):
        bern.validate(np.where(good == 0, np.nan, good))
    with pytest.raises(ValueError, match=r"expects 8-bit images: uint8 or floats on the "
                                         r"256-level grid in \[-1, 1\]; found values in "
                                         r"\[0\.0, 255\.0\]"):
        dlm.validate(good + np.arange(4, dtype="float32").reshape(1, 1, 4, 1) * 85.0)
    with pytest.raises(ValueError, match="found NaN/Inf"):
        DiscretizedLogisticLikelihood().validate(good + np.inf)
    with pytest.raises(ValueError, match="off the grid, e.g. 0.1"):
        dlm.validate(good + 0.1)
    with pytest.raises(ValueError, match=r"found integer values in \[-3.0, 0.0\]"):
        dlm.validate(np.concatenate([good, good - 3]).astype("int32"))
    with pytest.raises(ValueError, match=r"rank 4"):
        DiscretizedGaussianLikelihood().validate(np.zeros((5, 3)))
    with pytest.raises(ValueError,
                       match=r"float images in \[0, 1\]; found values in \[-0.5, 0.0\]"):
        GaussianLikelihood().validate(np.concatenate([good, good - 0.5]))
    with pytest.raises(ValueError, match="found dtype uint8"):
        GaussianLikelihood().validate(good.astype("uint8"))
    # Valid inputs pass, also as backend tensors.
    bern.validate(keras.ops.convert_to_tensor(good))
    dlm.validate(np.full((1, 2, 2, 3), 255, "uint8"))
    dlm.validate(keras.ops.convert_to_tensor(np.linspace(-1, 1, 256, dtype="float32")
                                             .reshape(4, 8, 8, 1)))
    GaussianLikelihood().validate(good + 0.999)


@pytest.mark.parametrize("lik", ALL, ids=NAMES)
def test_config_round_trips(lik):
    assert type(lik).from_config(lik.get_config()) == lik
    serialized = keras.saving.serialize_keras_object(lik)
    assert serialized["registered_name"] == f"keras_hvae>{type(lik).__name__}"
    assert keras.saving.deserialize_keras_object(serialized) == lik
    assert get_likelihood(serialized) == lik
    assert get_likelihood(lik) is lik


def test_get_likelihood_names_and_errors():
    for name, lik in zip(NAMES, ALL):
        assert type(get_likelihood(name)) is type(lik)
        assert type(get_likelihood(type(lik).__name__)) is type(lik)
    lik = get_likelihood({"name": "discretized_logistic_mixture", "num_mixtures": 5})
    assert lik.num_mixtures == 5 and lik.num_params(3) == 50
    with pytest.raises(ValueError, match="Unknown likelihood 'poisson'"):
        get_likelihood("poisson")
    with pytest.raises(ValueError, match="get_likelihood expects"):
        get_likelihood(3)


def test_gaussian_dequantize():
    x = np.arange(256, dtype="uint8").reshape(1, 16, 16, 1)
    y = to_np(GaussianLikelihood.dequantize(x, seed=0))
    assert np.all(y >= x / 256.0) and np.all(y < (x.astype(float) + 1) / 256.0)
    GaussianLikelihood().validate(y)
