"""Independent brute-force pmfs of the 8-bit likelihoods (float64 numpy and
mpmath), written from the definitions without calling the library.

A bin's mass is CDF(upper edge) - CDF(lower edge); bin 0 takes CDF(upper
edge) and the last bin 1 - CDF(lower edge). Above the location the same
difference is taken between survival functions (sf(lower) - sf(upper)),
which is equal but keeps relative precision instead of cancelling 1 - 1.
"""

import numpy as np
from scipy import special


def logistic_cdf(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def logistic_sf(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(z))


def normal_cdf(z):
    return special.ndtr(z)


def normal_sf(z):
    return special.ndtr(-z)


FAMILIES = {"logistic": (logistic_cdf, logistic_sf), "normal": (normal_cdf, normal_sf)}


def levels_to_float(levels, num_bins=256):
    return 2.0 * np.asarray(levels, np.float64) / (num_bins - 1) - 1.0


def bin_mass(x, loc, scale, family, num_bins=256):
    """Mass of the bin around grid value ``x`` (float64 numpy, broadcasting)."""
    cdf, sf = FAMILIES[family]
    h = 1.0 / (num_bins - 1)
    upper = (x + h - loc) / scale
    lower = (x - h - loc) / scale
    middle = np.where(x - loc > 0, sf(lower) - sf(upper), cdf(upper) - cdf(lower))
    return np.where(x < -1 + h / 2, cdf(upper), np.where(x > 1 - h / 2, sf(lower), middle))


def single_log_prob(loc, log_scale, levels, family, num_bins=256, log_scale_min=-7.0,
                    mask=None):
    """(B,) log-probabilities of a single-component discretised law."""
    log_scale = np.asarray(log_scale, np.float64)
    if log_scale_min is not None:
        log_scale = np.maximum(log_scale, log_scale_min)
    x = levels_to_float(levels, num_bins)
    log_mass = np.log(bin_mass(x, np.asarray(loc, np.float64), np.exp(log_scale), family,
                               num_bins))
    if mask is not None:
        log_mass = np.where(np.broadcast_to(mask, log_mass.shape) > 0, log_mass, 0.0)
    return log_mass.reshape(log_mass.shape[0], -1).sum(-1)


def mixture_parts(params, num_mixtures, log_scale_min=-7.0):
    """Splits PixelCNN++ params (B,H,W,K(1+3C)) by reshaping to (C, 3K)."""
    params = np.asarray(params, np.float64)
    k = num_mixtures
    channels = (params.shape[-1] // k - 1) // 3
    logits = params[..., :k]
    rest = params[..., k:].reshape(params.shape[:-1] + (channels, 3 * k))
    means = rest[..., :k]
    log_scales = np.maximum(rest[..., k:2 * k], log_scale_min)
    coeffs = np.tanh(rest[..., 2 * k:])
    return logits, means, log_scales, coeffs


def coupled_means(means, coeffs, x):
    """PixelCNN++ coupling: mean_g += c0 x_r, mean_b += c1 x_r + c2 x_g."""
    out = means.copy()
    if means.shape[-2] == 3:
        x_r, x_g = x[..., 0, None], x[..., 1, None]
        out[..., 1, :] = means[..., 1, :] + coeffs[..., 0, :] * x_r
        out[..., 2, :] = means[..., 2, :] + coeffs[..., 1, :] * x_r + coeffs[..., 2, :] * x_g
    return out


def mixture_log_prob(params, num_mixtures, levels, num_bins=256, log_scale_min=-7.0,
                     mask=None):
    """(B,) log-probabilities of the discretised logistic mixture."""
    logits, means, log_scales, coeffs = mixture_parts(params, num_mixtures, log_scale_min)
    x = levels_to_float(levels, num_bins)  # (B, H, W, C)
    mass = bin_mass(x[..., None], coupled_means(means, coeffs, x), np.exp(log_scales),
                    "logistic", num_bins)  # (B, H, W, C, K)
    if mask is not None:
        mass = np.where(np.asarray(mask)[..., None] > 0, mass, 1.0)
    weights = special.softmax(logits, axis=-1)
    pixel = np.sum(weights * np.prod(mass, axis=-2), axis=-1)
    return np.log(pixel).reshape(pixel.shape[0], -1).sum(-1)


# ----------------------------------------------------------------- mpmath
def mp_log_bin_mass(x, loc, scale, family, num_bins=256):
    """log mass of one bin with 60-digit mpmath (no underflow in any tail)."""
    import mpmath

    with mpmath.workdps(60):
        x, loc, scale = mpmath.mpf(float(x)), mpmath.mpf(float(loc)), mpmath.mpf(float(scale))
        h = mpmath.mpf(1) / (num_bins - 1)
        if family == "logistic":
            def cdf(z):
                return 1 / (1 + mpmath.exp(-z))
        else:
            cdf = mpmath.ncdf

        def sf(z):
            return cdf(-z)

        upper, lower = (x + h - loc) / scale, (x - h - loc) / scale
        if x < -1 + h / 2:
            mass = cdf(upper)
        elif x > 1 - h / 2:
            mass = sf(lower)
        elif x > loc:
            mass = sf(lower) - sf(upper)
        else:
            mass = cdf(upper) - cdf(lower)
        return float(mpmath.log(mass))
