"""Discretised Gaussian: normal mass per bin of a ``num_bins``-level grid."""

import keras

from keras_hvae.distributions import special_math
from keras_hvae.distributions.pixel_grid import DiscretizedLocationScale, bin_log_prob


def gaussian_bin_log_prob(x, loc, log_scale, num_bins):
    """Log-mass of the N(loc, exp(log_scale)^2) bin containing ``x``.

    Edge bins: ``log Phi(a)`` / ``log Phi(-b)`` via the tail-accurate
    :func:`special_math.log_ndtr`. Middle bins:
    :func:`special_math.log_ndtr_difference`, which reflects the bin to the
    lower half-line (never subtracting CDFs close to 1), subtracts in log
    space, and switches to a 4th-order expansion around the bin centre for
    bins that are narrow relative to the scale.

    Args:
        x: float data on the [-1, 1] grid.
        loc, log_scale: parameters broadcastable to ``x``.
        num_bins: number of levels.

    Returns:
        Tensor broadcast from the inputs.
    """
    return bin_log_prob(
        x, loc, log_scale, num_bins,
        log_cdf=special_math.log_ndtr,
        log_survival=lambda b: special_math.log_ndtr(-b),
        log_cdf_difference=special_math.log_ndtr_difference,
    )


class DiscretizedGaussian(DiscretizedLocationScale):
    """Normal density integrated over the bins of a ``num_bins``-level grid.

    ``P(k) = Phi(a_k) - Phi(b_k)`` for the standardised bin edges, with the
    two edge bins taking the tails. Computed in log space throughout (see
    :func:`gaussian_bin_log_prob`): relative accuracy ~1e-12 in float64
    everywhere, ~1e-5 in float32 within a few standard deviations.

    Args:
        loc: float tensor ``(B, ...)`` of means in [-1, 1] units.
        log_scale: float tensor broadcastable to ``loc`` (log std-dev).
        num_bins: grid levels (256 for 8-bit data).
        log_scale_min: optional lower clamp of ``log_scale`` (default none).

    Example:
        >>> d = DiscretizedGaussian(loc=ops.zeros((2, 8, 8, 3)), log_scale=-2.0)
        >>> tuple(d.log_prob(images_uint8).shape)
        (2,)
    """

    def __init__(self, loc, log_scale, num_bins=256, log_scale_min=None):
        super().__init__(loc, log_scale, num_bins=num_bins, log_scale_min=log_scale_min)

    def _element_log_prob(self, x):
        return gaussian_bin_log_prob(x, self.loc, self.log_scale, self.num_bins)

    def _standard_noise(self, shape, seed):
        return keras.random.normal(shape, dtype=self.dtype, seed=seed)
