"""Normal and Logistic distributions of the keras-ops fallback (TFP API)."""

import math

import keras
from keras import ops

from keras_hvae.distributions import special_math
from keras_hvae.distributions.fallback_base import (
    Distribution,
    as_sample_shape,
    as_tensor,
    broadcast_shapes,
    infer_float_dtype,
    dynamic_shape,
    static_shape,
    uniform_open,
)


class _LocationScale(Distribution):
    """Common parameter handling of location-scale families."""

    def __init__(self, loc, scale, validate_args=False, allow_nan_stats=True, name=None):
        del validate_args, allow_nan_stats  # accepted for TFP compatibility
        self._dtype = infer_float_dtype(loc, scale)
        self._loc = as_tensor(loc, self._dtype)
        self._scale = as_tensor(scale, self._dtype)
        self.name = name or type(self).__name__

    @property
    def loc(self):
        """Location parameter (tensor as given, converted to ``dtype``)."""
        return self._loc

    @property
    def scale(self):
        """Scale parameter (tensor as given, converted to ``dtype``)."""
        return self._scale

    def _batch_shape(self):
        return broadcast_shapes(static_shape(self._loc), static_shape(self._scale))

    def _dynamic_batch_shape(self):
        return dynamic_shape(self._loc + self._scale)

    def _broadcast(self, x):
        return ops.broadcast_to(x, self._dynamic_batch_shape())

    def _z(self, x):
        x = as_tensor(x, self._dtype)
        return (x - self._loc) / self._scale

    def mean(self):
        """Mean, broadcast to ``batch_shape``."""
        return self._broadcast(self._loc)

    def mode(self):
        """Mode (equal to the location), broadcast to ``batch_shape``."""
        return self._broadcast(self._loc)

    def variance(self):
        """Variance, broadcast to ``batch_shape``."""
        return ops.square(self.stddev())


class Normal(_LocationScale):
    """Univariate normal ``N(loc, scale^2)`` with TFP's method names.

    Args:
        loc: float tensor (or number / array) of means.
        scale: float tensor of standard deviations (> 0); broadcast with loc.

    Example:
        >>> d = Normal(loc=0.0, scale=[1.0, 2.0])
        >>> d.log_prob(0.5).shape  # (2,)
        >>> d.sample(3, seed=1).shape  # (3, 2)
    """

    def log_prob(self, value):
        """Log density at ``value``."""
        z = self._z(value)
        return -0.5 * ops.square(z) - 0.5 * special_math.LOG_2PI - ops.log(self._scale)

    def cdf(self, value):
        """``P(X <= value)``, relatively accurate in both tails."""
        return special_math.ndtr(self._z(value))

    def log_cdf(self, value):
        """``log P(X <= value)``, finite far into the lower tail."""
        return special_math.log_ndtr(self._z(value))

    def survival_function(self, value):
        """``P(X > value)``."""
        return special_math.ndtr(-self._z(value))

    def log_survival_function(self, value):
        """``log P(X > value)``."""
        return special_math.log_ndtr(-self._z(value))

    def stddev(self):
        """Standard deviation, broadcast to ``batch_shape``."""
        return self._broadcast(self._scale)

    def entropy(self):
        """Differential entropy ``0.5 log(2 pi e) + log(scale)``."""
        return self._broadcast(
            0.5 * math.log(2.0 * math.pi * math.e) + ops.log(self._scale)
        )

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


class Logistic(_LocationScale):
    """Univariate logistic distribution with TFP's method names.

    Args:
        loc: float tensor of locations.
        scale: float tensor of scales (> 0); broadcast with loc.

    Example:
        >>> d = Logistic(0.0, 1.0)
        >>> d.log_cdf(-3.0)  # log(sigmoid(-3))
    """

    def log_prob(self, value):
        """Log density; uses the symmetry ``pdf(z) = pdf(-z)`` for accuracy."""
        z = ops.abs(self._z(value))
        return -z - 2.0 * ops.softplus(-z) - ops.log(self._scale)

    def cdf(self, value):
        """``sigmoid((value - loc) / scale)``."""
        return ops.sigmoid(self._z(value))

    def log_cdf(self, value):
        """``-softplus(-z)``."""
        return -ops.softplus(-self._z(value))

    def survival_function(self, value):
        """``sigmoid(-z)``."""
        return ops.sigmoid(-self._z(value))

    def log_survival_function(self, value):
        """``-softplus(z)``."""
        return -ops.softplus(self._z(value))

    def stddev(self):
        """``scale * pi / sqrt(3)``."""
        return self._broadcast(self._scale * (math.pi / math.sqrt(3.0)))

    def entropy(self):
        """``2 + log(scale)``."""
        return self._broadcast(2.0 + ops.log(self._scale))

    def sample(self, sample_shape=(), seed=None):
        """Reparameterised sample ``loc + scale * logit(u)``, ``u ~ U(0, 1)``.

        Args:
            sample_shape: int or tuple prepended to ``batch_shape``.
            seed: None, int or ``keras.random.SeedGenerator``.

        Returns:
            Tensor of shape ``sample_shape + batch_shape``.
        """
        shape = as_sample_shape(sample_shape) + self._dynamic_batch_shape()
        u = uniform_open(shape, self._dtype, seed)
        return self._loc + self._scale * (ops.log(u) - ops.log1p(-u))
