"""Per-image Bernoulli and continuous Gaussian observation models.

Same small API as the discretised classes (``log_prob(x, mask=None)`` summed
to ``(B,)``, ``sample(seed=None)``, ``mean()``) so the likelihood heads can
treat all five observation models alike.
"""

import keras
from keras import ops

from keras_hvae.distributions import special_math
from keras_hvae.distributions.fallback_base import uniform_open
from keras_hvae.distributions.pixel_grid import float_params, masked_sum


class BernoulliImage:
    """Independent Bernoulli pixels parameterised by logits.

    Args:
        logits: float tensor ``(B, ...)``.

    Example:
        >>> d = BernoulliImage(ops.zeros((2, 28, 28, 1)))  # decoder logits
        >>> tuple(d.log_prob(binary_images).shape)
        (2,)
    """

    def __init__(self, logits):
        self.dtype, (self.logits,) = float_params(logits)

    def log_prob_elements(self, x):
        """``-softplus(-l) x - softplus(l) (1 - x)`` per element."""
        x = ops.cast(ops.convert_to_tensor(x), self.dtype)
        return -ops.softplus(-self.logits) * x - ops.softplus(self.logits) * (1.0 - x)

    def log_prob(self, x, mask=None):
        """Summed log-probability ``(B,)``; ``mask == 0`` entries skipped."""
        return masked_sum(self.log_prob_elements(x), mask)

    def sample(self, seed=None):
        """0/1 samples as floats, shape of ``logits``."""
        u = uniform_open(tuple(ops.shape(self.logits)), self.dtype, seed)
        return ops.cast((ops.log(u) - ops.log1p(-u)) < self.logits, self.dtype)

    def mean(self):
        """Pixel probabilities ``sigmoid(logits)``."""
        return ops.sigmoid(self.logits)


class GaussianImage:
    """Independent continuous Gaussian pixels (a density, not a pmf).

    Args:
        loc: float tensor ``(B, ...)``.
        log_scale: float tensor broadcastable to ``loc``.
        log_scale_min: optional lower clamp of ``log_scale``.
        clip_range: ``(lo, hi)`` used by ``mean()`` for display, or ``None``.

    Example:
        >>> d = GaussianImage(ops.full((2, 8, 8, 3), 0.5), -2.0, clip_range=(0.0, 1.0))
        >>> dequantised_images = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype("float32")
        >>> tuple(d.log_prob(dequantised_images).shape)
        (2,)
    """

    def __init__(self, loc, log_scale, log_scale_min=None, clip_range=None):
        self.dtype, (loc, log_scale) = float_params(loc, log_scale)
        if log_scale_min is not None:
            log_scale = special_math.maximum(log_scale, float(log_scale_min))
        self.loc, self.log_scale, self.clip_range = loc, log_scale, clip_range

    def log_prob_elements(self, x):
        """Gaussian log density per element."""
        x = ops.cast(ops.convert_to_tensor(x), self.dtype)
        z = (x - self.loc) * ops.exp(-self.log_scale)
        return -0.5 * ops.square(z) - 0.5 * special_math.LOG_2PI - self.log_scale

    def log_prob(self, x, mask=None):
        """Summed log density ``(B,)``; ``mask == 0`` entries skipped."""
        return masked_sum(self.log_prob_elements(x), mask)

    def sample(self, seed=None):
        """Unclipped reparameterised sample ``loc + exp(log_scale) * eps``."""
        shape = tuple(ops.shape(self.loc + self.log_scale))
        eps = keras.random.normal(shape, dtype=self.dtype, seed=seed)
        return self.loc + ops.exp(self.log_scale) * eps

    def mean(self):
        """``loc`` (clipped to ``clip_range`` if set)."""
        loc = self.loc + ops.zeros_like(self.log_scale)
        if self.clip_range is None:
            return loc
        return ops.clip(loc, *self.clip_range)
