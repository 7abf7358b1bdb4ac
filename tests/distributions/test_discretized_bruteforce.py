"""8-bit likelihoods against brute-force float64 numpy / mpmath pmfs.

The reference (reference_pmfs.py) never calls library code: it reshapes the
PixelCNN++ parameters itself, applies the colour coupling by hand and sums
the mixture in probability space.
"""

import numpy as np
import pytest

from keras_hvae.distributions import (
    DiscretizedGaussian,
    DiscretizedLogistic,
    DiscretizedLogisticMixture,
)
from tests.distributions import reference_pmfs as ref
from tests.distributions.helpers import WIDE, tensor, to_np

# float64 backends: the brute-force difference of CDFs is itself only good to
# ~1e-11 relative, so 1e-9. float32 (JAX without x64): a standardised edge
# (x - mu) * exp(7) carries ~1e-4 absolute error, per-example sums of a dozen
# log-masses ~1e-3.
TOL = {"float64": dict(rtol=1e-9, atol=1e-9), "float32": dict(rtol=1e-4, atol=2e-3)}[WIDE]
CLASSES = {"logistic": DiscretizedLogistic, "normal": DiscretizedGaussian}

# (loc, raw log-scale, level): log-scale at / below the clamp (-7), means
# beyond +-1, x at 0 and 255, very wide and very narrow laws, far tails whose
# mass is still a normal float64.
EXTREMES = {
    "logistic": [(0.0, -20.0, 128), (1.0, -20.0, 255), (-1.0, -7.0, 0), (0.0, -20.0, 140),
                 (1.8, 0.0, 255), (1.8, 0.0, 0), (-2.5, -1.0, 0), (-2.5, -1.0, 255),
                 (0.3, 5.0, 200), (-0.9, -3.0, 255), (0.9, -4.0, 0), (0.2, -7.0, 127)],
    "normal": [(0.0, -20.0, 128), (1.0, -20.0, 255), (-1.0, -7.0, 0), (0.0, -20.0, 130),
               (1.8, 0.0, 255), (1.8, 0.0, 0), (-2.5, -1.0, 0), (-2.5, -1.0, 255),
               (0.3, 5.0, 200), (-0.9, -2.0, 255), (0.9, -2.5, 0), (0.003, -7.0, 128)],
}


def random_single(seed, family, shape=(8, 3, 3, 3)):
    rng = np.random.default_rng(seed)
    loc = rng.uniform(-1.3, 1.3, shape)
    # Gaussian tails underflow float64 beyond ~37 standard deviations, so the
    # float64 reference needs wider Gaussians (deep tails: mpmath test below).
    log_scale = rng.uniform(-4.5 if family == "logistic" else -2.7, 0.5, shape)
    levels = rng.integers(0, 256, shape)
    levels[0, 0, 0] = 0
    levels[1, 0, 0] = 255
    return loc, log_scale, levels


def random_mixture(seed, channels, k=3, shape=(12, 2, 2)):
    rng = np.random.default_rng(seed)
    params = np.empty(shape + (k * (1 + 3 * channels),))
    params[..., :k] = rng.normal(0, 2, shape + (k,))
    params[0, 0, 0, :k] = [50.0, -50.0, 0.0][:k]
    params[1, 0, 0, :k] = [-50.0, -50.0, 50.0][:k]
    rest = np.empty(shape + (channels, 3 * k))
    rest[..., :k] = rng.uniform(-1.3, 1.3, shape + (channels, k))
    rest[..., k:2 * k] = rng.uniform(-4.5, 0.5, shape + (channels, k))
    rest[..., 2 * k:] = rng.normal(0, 1.5, shape + (channels, k))
    params[..., k:] = rest.reshape(shape + (3 * channels * k,))
    levels = rng.integers(0, 256, shape + (channels,))
    levels[2, 0, 0] = 0
    levels[3, 1, 1] = 255
    return params, levels


@pytest.mark.backend_suite
@pytest.mark.parametrize("family", ["logistic", "normal"])
def test_single_component_random(family):
    loc, log_scale, levels = random_single(0, family)
    lsmin = -7.0 if family == "logistic" else None
    d = CLASSES[family](tensor(loc, WIDE), tensor(log_scale, WIDE), **(
        {} if family == "logistic" else {"log_scale_min": None}))
    expected = ref.single_log_prob(loc, log_scale, levels, family, log_scale_min=lsmin)
    got = to_np(d.log_prob(tensor(levels, "uint8")))
    assert got.shape == (8,) and got.dtype == np.dtype(WIDE)
    np.testing.assert_allclose(got, expected, **TOL)


@pytest.mark.parametrize("family", ["logistic", "normal"])
def test_single_component_extremes(family):
    loc, raw, levels = (np.array(v) for v in zip(*EXTREMES[family]))
    shape = (len(loc), 1, 1, 1)
    d = CLASSES[family](tensor(loc.reshape(shape), WIDE), tensor(raw.reshape(shape), WIDE),
                        log_scale_min=-7.0)
    got = to_np(d.log_prob(tensor(levels.reshape(shape), "uint8")))
    expected = ref.single_log_prob(loc.reshape(shape), raw.reshape(shape),
                                   levels.reshape(shape), family, log_scale_min=-7.0)
    np.testing.assert_allclose(got, expected, **TOL)
    assert np.all(expected > -800)  # the cases really are representable


@pytest.mark.parametrize("family", ["logistic", "normal"])
def test_single_component_deep_tails_against_mpmath(family):
    pytest.importorskip("mpmath")
    # Masses like exp(-2700) or Phi(-2700): zero in float64, finite in log space.
    cases = [(-1.5, -20.0, 255), (1.5, -7.0, 0), (0.0, -7.0, 200), (-0.99, -6.0, 230),
             (0.5, -1.0, 128), (30.0, 0.0, 0)]
    loc, raw, levels = (np.array(v, np.float64) for v in zip(*cases))
    shape = (len(cases), 1, 1, 1)
    d = CLASSES[family](tensor(loc.reshape(shape), WIDE), tensor(raw.reshape(shape), WIDE),
                        log_scale_min=-7.0)
    got = to_np(d.log_prob(tensor(levels.reshape(shape), "uint8")))
    expected = [ref.mp_log_bin_mass(ref.levels_to_float(k), m, np.exp(max(s, -7.0)), family)
                for m, s, k in cases]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=TOL["rtol"], atol=TOL["atol"])


@pytest.mark.backend_suite
@pytest.mark.parametrize("channels", [1, 3])
def test_mixture_random(channels):
    params, levels = random_mixture(1, channels)
    d = DiscretizedLogisticMixture(tensor(params, WIDE), num_mixtures=3)
    got = to_np(d.log_prob(tensor(levels, "uint8")))
    np.testing.assert_allclose(got, ref.mixture_log_prob(params, 3, levels), **TOL)
    # uint8 levels and floats on the [-1, 1] grid are the same data.
    as_float = tensor(levels / 127.5 - 1.0, WIDE)
    np.testing.assert_allclose(to_np(d.log_prob(as_float)), got, rtol=1e-6, atol=1e-6)


def test_mixture_extremes_with_coupling():
    # One pixel per example; K = 2; coefficients saturated at +-1 push the
    # coupled g / b means far beyond [-1, 1]; log-scales clamped.
    k = 2
    rows = [
        # logits, then per channel (means K, raw log-scales K, raw coeffs K)
        ([50.0, -50.0], [[0.9, -0.2], [-20.0, -1.0], [20.0, 0.0]],
         [[0.95, 0.0], [-20.0, -2.0], [-20.0, 0.0]], [[-1.5, 0.1], [-3.0, -8.0], [20.0, 1.0]]),
        ([0.0, 0.0], [[1.8, -2.5], [0.0, -1.0], [0.5, -0.5]],
         [[-1.2, 1.4], [-1.0, -0.5], [2.0, -2.0]], [[0.0, 0.0], [5.0, -4.0], [-1.0, 3.0]]),
        ([-3.0, 3.0], [[-0.99, 0.99], [-7.0, -7.0], [0.0, 0.0]],
         [[0.0, 0.0], [-4.0, -4.0], [0.0, 0.0]], [[0.0, 0.0], [-3.5, -3.5], [0.0, 0.0]]),
    ]
    params = np.array([np.concatenate([lg] + [np.concatenate(ch) for ch in (r, g, b)])
                       for lg, r, g, b in rows]).reshape(3, 1, 1, k * 10)
    levels = np.array([[255, 0, 0], [255, 0, 128], [0, 255, 127]]).reshape(3, 1, 1, 3)
    d = DiscretizedLogisticMixture(tensor(params, WIDE), num_mixtures=k)
    expected = ref.mixture_log_prob(params, k, levels)
    assert np.all(np.isfinite(expected))
    np.testing.assert_allclose(to_np(d.log_prob(tensor(levels, "uint8"))), expected, **TOL)


@pytest.mark.parametrize("family", ["logistic", "normal"])
def test_single_component_masks(family):
    loc, log_scale, levels = random_single(2, family)
    rng = np.random.default_rng(3)
    d = CLASSES[family](tensor(loc, WIDE), tensor(log_scale, WIDE), log_scale_min=-7.0)
    for mask in (rng.integers(0, 2, loc.shape[:3] + (1,)), rng.integers(0, 2, loc.shape)):
        expected = ref.single_log_prob(loc, log_scale, levels, family, mask=mask)
        got = to_np(d.log_prob(tensor(levels, "uint8"), mask=tensor(mask, WIDE)))
        np.testing.assert_allclose(got, expected, **TOL)
    zeros = tensor(np.zeros(loc.shape[:3] + (1,)), WIDE)
    np.testing.assert_array_equal(to_np(d.log_prob(tensor(levels, "uint8"), mask=zeros)), 0.0)


@pytest.mark.backend_suite
def test_mixture_masks():
    params, levels = random_mixture(4, 3)
    rng = np.random.default_rng(5)
    d = DiscretizedLogisticMixture(tensor(params, WIDE), num_mixtures=3)
    pixel_mask = rng.integers(0, 2, levels.shape[:3] + (1,))
    channel_mask = rng.integers(0, 2, levels.shape)
    for mask in (pixel_mask, channel_mask):
        got = to_np(d.log_prob(tensor(levels, "uint8"), mask=tensor(mask, "int32")))
        np.testing.assert_allclose(got, ref.mixture_log_prob(params, 3, levels, mask=mask),
                                   **TOL)
    # Masked-out pixels are excluded: changing their values changes nothing.
    other = np.where(pixel_mask > 0, levels, 255 - levels)
    np.testing.assert_allclose(
        to_np(d.log_prob(tensor(other, "uint8"), mask=tensor(pixel_mask, WIDE))),
        to_np(d.log_prob(tensor(levels, "uint8"), mask=tensor(pixel_mask, WIDE))),
        rtol=1e-12, atol=0)


def test_mixture_mean_and_parameter_errors():
    params, _ = random_mixture(6, 3)
    d = DiscretizedLogisticMixture(tensor(params, WIDE), num_mixtures=3)
    logits, means, _, coeffs = ref.mixture_parts(params, 3)
    m_r = np.clip(means[..., 0, :], -1, 1)
    m_g = np.clip(means[..., 1, :] + coeffs[..., 0, :] * m_r, -1, 1)
    m_b = np.clip(means[..., 2, :] + coeffs[..., 1, :] * m_r + coeffs[..., 2, :] * m_g, -1, 1)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    expected = np.stack([np.sum(w * m, -1) for m in (m_r, m_g, m_b)], -1)
    np.testing.assert_allclose(to_np(d.mean()), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expects 4 \(C=1\) or 10 \(C=3\).*got 7"):
        DiscretizedLogisticMixture(np.zeros((1, 2, 2, 7), "float32"), num_mixtures=1)
    with pytest.raises(ValueError, match=r"describe 3 channel\(s\); got data of shape"):
        d.log_prob(np.zeros((12, 2, 2, 1), "uint8"))
    with pytest.raises(ValueError, match="got 14"):  # C = 2 is not supported
        DiscretizedLogisticMixture(np.zeros((1, 2, 2, 14), "float32"), num_mixtures=2)
