"""Normalisation of the 8-bit pmfs and sample histograms against the pmf."""

import itertools

import numpy as np
import pytest
from scipy import stats

from keras_hvae.distributions import (
    DiscretizedGaussian,
    DiscretizedLogistic,
    DiscretizedLogisticMixture,
)
from tests.distributions import reference_pmfs as ref
from tests.distributions.helpers import WIDE, tensor, to_np

SUM_TOL = 1e-12 if WIDE == "float64" else 2e-5
CLASSES = {"logistic": DiscretizedLogistic, "normal": DiscretizedGaussian}


def mixture_pixel(channels, k, seed):
    rng = np.random.default_rng(seed)
    params = np.concatenate([
        rng.normal(0, 1, k),
        np.concatenate([np.concatenate([rng.uniform(-1.2, 1.2, k), rng.uniform(-3.5, -1.0, k),
                                        rng.normal(0, 1.5, k)]) for _ in range(channels)]),
    ])
    return params


def chi_square_p_value(samples, pmf):
    """p-value of observed category counts against ``pmf`` (cells with < 5
    expected counts pooled into one)."""
    counts = np.bincount(samples, minlength=len(pmf)).astype(float)
    expected = pmf * len(samples)
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    stat = np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep])
    return stats.chi2.sf(stat, df=keep.sum() - 1)


def to_levels(x, num_bins=256):
    k = (np.asarray(x, np.float64) + 1.0) * (num_bins - 1) / 2.0
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)  # on the grid
    assert np.all(k >= 0) and np.all(k <= num_bins - 1)  # in [-1, 1]
    return np.round(k).astype(int)


@pytest.mark.backend_suite
@pytest.mark.parametrize("family", ["logistic", "normal"])
@pytest.mark.parametrize("loc,log_scale", [(0.1, -2.0), (1.7, -9.0), (-0.3, 4.0),
                                           (0.0, -20.0), (-0.97, -3.0)])
def test_single_component_pmf_sums_to_one(family, loc, log_scale):
    levels = np.arange(256).reshape(256, 1, 1, 1)
    d = CLASSES[family](tensor(np.full(levels.shape, loc), WIDE),
                        tensor(np.full(levels.shape, log_scale), WIDE), log_scale_min=-7.0)
    total = np.exp(to_np(d.log_prob(tensor(levels, "uint8")))).sum()
    np.testing.assert_allclose(total, 1.0, atol=SUM_TOL, rtol=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_mixture_pmf_sums_to_one(seed):
    # C = 1 over all 256 levels; C = 3 over all 16^3 colours of a 16-level grid
    # (same code path as 256 levels, but enumerable).
    params = mixture_pixel(1, 4, seed)
    params[:2] = [30.0, -30.0]  # extreme logits
    levels = np.arange(256).reshape(256, 1, 1, 1)
    d = DiscretizedLogisticMixture(tensor(np.tile(params, (256, 1, 1, 1)), WIDE), 4)
    np.testing.assert_allclose(np.exp(to_np(d.log_prob(tensor(levels, "uint8")))).sum(), 1.0,
                               atol=SUM_TOL, rtol=0)
    params = mixture_pixel(3, 3, seed)
    colours = np.array(list(itertools.product(range(16), repeat=3))).reshape(-1, 1, 1, 3)
    d = DiscretizedLogisticMixture(tensor(np.tile(params, (len(colours), 1, 1, 1)), WIDE), 3,
                                   num_bins=16)
    pmf = np.exp(to_np(d.log_prob(tensor(colours, "int32"))))
    np.testing.assert_allclose(pmf.sum(), 1.0, atol=SUM_TOL * 10, rtol=0)
    np.testing.assert_allclose(
        np.log(pmf), ref.mixture_log_prob(np.tile(params, (len(colours), 1, 1, 1)), 3, colours,
                                          num_bins=16),
        rtol=1e-6, atol=1e-5)


@pytest.mark.backend_suite
@pytest.mark.parametrize("family", ["logistic", "normal"])
@pytest.mark.parametrize("loc,log_scale", [(0.9, -2.5), (-0.2, -3.5)])
def test_single_component_samples_follow_pmf(family, loc, log_scale):
    shape = (1, 100, 200, 1)
    d = CLASSES[family](tensor(np.full(shape, loc), "float32"),
                        tensor(np.full(shape, log_scale), "float32"))
    levels = to_levels(to_np(d.sample(seed=12)))
    pmf = ref.bin_mass(ref.levels_to_float(np.arange(256)), loc, np.exp(log_scale), family)
    assert chi_square_p_value(levels.ravel(), pmf / pmf.sum()) > 1e-6
    assert to_np(d.sample(seed=12)).shape == shape


@pytest.mark.backend_suite
def test_mixture_rgb_samples_follow_joint_pmf():
    params = mixture_pixel(3, 3, seed=7)
    d = DiscretizedLogisticMixture(tensor(np.tile(params, (1, 100, 200, 1)), "float32"), 3,
                                   num_bins=16)
    levels = to_levels(to_np(d.sample(seed=3)), num_bins=16).reshape(-1, 3)
    colours = np.array(list(itertools.product(range(16), repeat=3))).reshape(-1, 1, 1, 3)
    pmf = np.exp(ref.mixture_log_prob(np.tile(params, (len(colours), 1, 1, 1)), 3, colours,
                                      num_bins=16))
    index = levels[:, 0] * 256 + levels[:, 1] * 16 + levels[:, 2]
    assert chi_square_p_value(index, pmf / pmf.sum()) > 1e-6


def test_mixture_grey_samples_and_mean():
    params = mixture_pixel(1, 2, seed=9)
    d = DiscretizedLogisticMixture(tensor(np.tile(params, (1, 100, 200, 1)), "float32"), 2)
    x = to_np(d.sample(seed=5))
    assert x.shape == (1, 100, 200, 1)
    levels = to_levels(x)
    tiles = np.tile(params, (256, 1, 1, 1))
    pmf = np.exp(ref.mixture_log_prob(tiles, 2, np.arange(256).reshape(256, 1, 1, 1)))
    assert chi_square_p_value(levels.ravel(), pmf / pmf.sum()) > 1e-6
    mean = to_np(d.mean())
    assert mean.shape == (1, 100, 200, 1) and np.all(np.abs(mean) <= 1)


def test_mixture_mean_stays_in_the_data_range_when_every_component_sits_on_an_edge():
    # every component's mean far below -1 (clipped to -1): the weighted sum of -1s must be -1 exactly, not
    # -1.0000001 from weights that sum to 1 only up to rounding (the shipped 8-bit preset's mean image did this)
    rng = np.random.default_rng(3)
    k = 5
    pixels = [np.concatenate([rng.normal(0, 3, k), np.full(k, sign * 3.0), rng.uniform(-3, -1, k), np.zeros(k)])
              for sign in (-1.0, 1.0) for _ in range(200)]
    d = DiscretizedLogisticMixture(tensor(np.stack(pixels).reshape(1, 20, 20, -1), "float32"), k)
    mean = to_np(d.mean()).ravel()
    assert np.all(mean >= -1.0) and np.all(mean <= 1.0), (mean.min(), mean.max())
    np.testing.assert_allclose(mean[:200], -1.0, atol=1e-6)
    np.testing.assert_allclose(mean[200:], 1.0, atol=1e-6)


def test_single_component_mean_is_clipped_location():
    loc = np.array([-1.7, -0.2, 0.4, 1.3], "float32").reshape(1, 2, 2, 1)
    for cls in CLASSES.values():
        np.testing.assert_allclose(to_np(cls(tensor(loc, "float32"), -2.0).mean()),
                                   np.clip(loc, -1, 1))


@pytest.mark.backend_suite
def test_mixture_sampling_couples_on_the_rounded_values():
    # One component: r wide; g = x_r + a quarter bin (c0 = tanh(20) = 1) and
    # b = x_g - a quarter bin (c2 = 1), both at the log-scale clamp. The model
    # puts ~10% of g on the bin above r; a sampler that coupled on the
    # *unrounded* r (as PixelCNN++'s does) would put ~25% there.
    quarter = 0.5 / 255
    # [logit, (mean, log-scale, coefficient) of r, of g, of b]; the coefficient
    # slots of r, g, b hold c0 (g <- r), c1 (b <- r), c2 (b <- g).
    params = np.array([0.0, 0.1, -1.5, 20.0, quarter, -9.0, 0.0, -quarter, -9.0, 20.0])
    n = 4000
    d = DiscretizedLogisticMixture(tensor(np.tile(params, (n, 1, 1, 1)), "float32"), 1)
    r, g, b = to_levels(to_np(d.sample(seed=21))).reshape(n, 3).T
    inner = (r > 3) & (r < 252)
    step = 2.0 / 255
    x_r, x_g = ref.levels_to_float(r[inner]), ref.levels_to_float(g[inner])
    s = np.exp(-7.0)
    p_up = ref.bin_mass(x_r + step, quarter + np.tanh(20.0) * x_r, s, "logistic")
    p_down = ref.bin_mass(x_g - step, -quarter + np.tanh(20.0) * x_g, s, "logistic")
    for observed, p in [(g[inner] == r[inner] + 1, p_up), (b[inner] == g[inner] - 1, p_down)]:
        expected = p.mean()
        assert 0.05 < expected < 0.15
        assert abs(observed.mean() - expected) < 5 * np.sqrt(expected * (1 - expected) / len(p))
