"""The Normal distribution of the keras-ops fallback (TFP API) and its KL."""

import keras
from keras import ops

from keras_hvae.distributions import special_math
from keras_hvae.distributions.fallback_base import (
    Distribution,
    RegisterKL,
    as_sample_shape,
    as_tensor,
    broadcast_shapes,
    dynamic_shape,
    infer_float_dtype,
    read_only,
    static_shape,
)


class Normal(Distribution):
    """Univariate normal ``N(loc, scale^2)`` with TFP's method names.

    Args:
        loc: float tensor (or number / array) of means.
        scale: float tensor of standard deviations (> 0); broadcast with loc.

    Example:
        >>> d = Normal(loc=0.0, scale=[1.0, 2.0])
        >>> tuple(d.log_prob(0.5).shape)
        (2,)
        >>> tuple(d.sample(3, seed=1).shape)
        (3, 2)
    """

    def __init__(self, loc, scale, validate_args=False, allow_nan_stats=True, name=None):
        del validate_args, allow_nan_stats  # accepted for TFP compatibility
        self._dtype = infer_float_dtype(loc, scale)
        self._loc = as_tensor(loc, self._dtype)
        self._scale = as_tensor(scale, self._dtype)
        self.name = name or "Normal"

    loc = read_only("_loc", "Location parameter (tensor as given, converted to ``dtype``).")
    scale = read_only("_scale", "Scale parameter (tensor as given, converted to ``dtype``).")

    def _batch_shape(self):
        return broadcast_shapes(static_shape(self._loc), static_shape(self._scale))

    def _dynamic_batch_shape(self):
        return dynamic_shape(self._loc + self._scale)

    def log_prob(self, value):
        """Log density at ``value``."""
        z = (as_tensor(value, self._dtype) - self._loc) / self._scale
        return -0.5 * ops.square(z) - 0.5 * special_math.LOG_2PI - ops.log(self._scale)

    def mean(self):
        """Mean, broadcast to ``batch_shape``."""
        return ops.broadcast_to(self._loc, self._dynamic_batch_shape())

    def sample(self, sample_shape=(), seed=None):
        """Reparameterised sample ``loc + scale * eps``, ``eps ~ N(0, 1)``.

        Args:
            sample_shape: int or tuple prepended to ``batch_shape``.
            seed: None, int or ``keras.random.SeedGenerator``.

        Returns:
            Tensor of shape ``sample_shape + batch_shape``.
        """
        shape = as_sample_shape(sample_shape) + self._dynamic_batch_shape()
        eps = keras.random.normal(shape, dtype=self._dtype, seed=seed)
        return self._loc + self._scale * eps


@RegisterKL(Normal, Normal)
def _kl_normal_normal(a, b):
    """Same formula as TFP: ``0.5 ((mu_a - mu_b) / s_b)^2 + 0.5 expm1(2 d) - d``,
    ``d = log s_a - log s_b``."""
    diff_log_scale = ops.log(a.scale) - ops.log(b.scale)
    return (
        0.5 * ops.square(a.loc / b.scale - b.loc / b.scale)
        + 0.5 * ops.expm1(2.0 * diff_log_scale)
        - diff_log_scale
    )
