"""Helpers shared by the 8-bit (``num_bins``-level) image distributions.

Data live on the grid ``{-1, -1 + 2/(n-1), ..., 1}`` with ``n = num_bins``
(``n = 256`` for 8-bit images); bin ``k`` is the interval of half-width
``h = 1/(n-1)`` around ``2k/(n-1) - 1``, and the two edge bins extend to
``-inf`` and ``+inf``. Integer inputs (``uint8``) are mapped with
``2k/(n-1) - 1``.
"""

import math

import keras
from keras import ops

from keras_hvae.distributions import special_math

from keras_hvae.distributions.fallback_base import infer_float_dtype


def half_bin_width(num_bins):
    """Half-width ``1/(num_bins - 1)`` of a bin on the [-1, 1] grid."""
    if int(num_bins) < 2:
        raise ValueError(f"num_bins must be >= 2, got {num_bins}.")
    return 1.0 / (int(num_bins) - 1)


def float_params(*params):
    """Converts parameters to tensors of one float dtype; returns (dtype, list)."""
    dtype = infer_float_dtype(*params)
    out = [ops.cast(ops.convert_to_tensor(p), dtype) for p in params]
    return dtype, out


def to_grid(x, dtype, num_bins):
    """Data → float ``dtype`` on [-1, 1]; integers are mapped ``2k/(n-1) - 1``.

    Args:
        x: uint8/int tensor of levels, or floats already on the [-1, 1] grid.
        dtype: float dtype of the result.
        num_bins: number of levels ``n``.

    Returns:
        Float tensor like ``x``.
    """
    x = ops.convert_to_tensor(x)
    x_dtype = keras.backend.standardize_dtype(x.dtype)
    if "int" in x_dtype or x_dtype == "bool":
        return ops.cast(x, dtype) * (2.0 / (num_bins - 1)) - 1.0
    return ops.cast(x, dtype)


def round_to_grid(x, num_bins):
    """Clips to [-1, 1] and rounds to the nearest of the ``num_bins`` levels."""
    levels = num_bins - 1
    k = ops.round((ops.clip(x, -1.0, 1.0) + 1.0) * (0.5 * levels))
    return k * (2.0 / levels) - 1.0


def edge_select(x, num_bins, lower_tail, upper_tail, middle):
    """Chooses the tail formulas for the first and last bin, ``middle`` else."""
    h = half_bin_width(num_bins)
    return ops.where(
        x < -1.0 + h, lower_tail, ops.where(x > 1.0 - h, upper_tail, middle)
    )


def log_bin_width(num_bins, log_scale):
    """``log(2h / scale)``: log width of a bin in standardised units."""
    return math.log(2.0 * half_bin_width(num_bins)) - log_scale


def bin_log_prob(x, loc, log_scale, num_bins, log_cdf, log_survival, log_cdf_difference):
    """Log-mass of the location-scale bin containing ``x`` on the grid.

    With ``a, b`` the standardised upper and lower edges
    ``(x - loc +- h) / exp(log_scale)`` of the bin: bin 0 takes
    ``log_cdf(a)`` (all mass below its upper edge), the last bin
    ``log_survival(b)``, the middle bins
    ``log_cdf_difference(a, b, log_bin_width)``.

    Args:
        x: float data on the [-1, 1] grid.
        loc, log_scale: parameters broadcastable to ``x``.
        num_bins: number of levels.
        log_cdf, log_survival: ``f(t)``, the log-CDF and log-survival
            function of the standard distribution.
        log_cdf_difference: ``f(a, b, log_width)``, ``log(CDF(a) - CDF(b))``.

    Returns:
        Tensor broadcast from the inputs.
    """
    h = half_bin_width(num_bins)
    inv_scale = ops.exp(-log_scale)
    centered = x - loc
    upper = inv_scale * (centered + h)
    lower = inv_scale * (centered - h)
    middle = log_cdf_difference(upper, lower, log_bin_width(num_bins, log_scale))
    return edge_select(x, num_bins, log_cdf(upper), log_survival(lower), middle)


def masked_sum(values, mask=None):
    """Sums ``values`` over all non-batch axes, skipping ``mask == 0`` entries.

    Args:
        values: tensor ``(B, ...)`` of per-element log-probabilities.
        mask: optional 0/1 tensor broadcastable to ``values`` (e.g.
            ``(B, H, W, 1)`` for per-pixel masks of ``(B, H, W, C)`` values).

    Returns:
        Tensor ``(B,)``.
    """
    if mask is not None:
        mask = ops.convert_to_tensor(mask)
        if keras.backend.standardize_dtype(mask.dtype) != "bool":
            mask = mask > 0
        values = ops.where(mask, values, ops.zeros_like(values))
    ndim = len(ops.shape(values))
    if ndim <= 1:
        return values
    return ops.sum(values, axis=tuple(range(1, ndim)))


class DiscretizedLocationScale:
    """Base of the single-component discretised location-scale families.

    Subclasses implement ``_element_log_prob(x)`` (clamped log-scale in
    ``self.log_scale``) and ``_standard_noise(shape, seed)``.
    """

    def __init__(self, loc, log_scale, num_bins=256, log_scale_min=None):
        self.num_bins = int(num_bins)
        half_bin_width(self.num_bins)
        self.dtype, (loc, log_scale) = float_params(loc, log_scale)
        if log_scale_min is not None:
            log_scale = special_math.maximum(log_scale, float(log_scale_min))
        self.loc = loc
        self.log_scale = log_scale
        self.log_scale_min = log_scale_min

    def _shape(self):
        return tuple(ops.shape(self.loc + self.log_scale))

    def log_prob(self, x, mask=None):
        """Log-probability of the discretised data, summed per example.

        Args:
            x: data ``(B, ...)`` on the [-1, 1] grid, or integer levels.
            mask: optional 0/1 tensor broadcastable to ``x``; entries with
                ``mask == 0`` are left out of the sum.

        Returns:
            Tensor ``(B,)``.
        """
        return masked_sum(self.log_prob_elements(x), mask)

    def log_prob_elements(self, x):
        """Per-element log-probabilities (no reduction), shape of ``x``."""
        x = to_grid(x, self.dtype, self.num_bins)
        return self._element_log_prob(x)

    def sample(self, seed=None):
        """Exact sample on the grid: continuous draw, clip, round to a level.

        Args:
            seed: None, int or ``keras.random.SeedGenerator``.

        Returns:
            Float tensor on the [-1, 1] grid, shape of ``loc``/``log_scale``.
        """
        noise = self._standard_noise(self._shape(), seed)
        return round_to_grid(self.loc + ops.exp(self.log_scale) * noise, self.num_bins)

    def mean(self):
        """Location clipped to [-1, 1] (what to display as a reconstruction).

        This is not the exact mean of the discretised distribution, which is
        pulled inwards near the edges of the range.
        """
        return ops.clip(self.loc + ops.zeros_like(self.log_scale), -1.0, 1.0)
