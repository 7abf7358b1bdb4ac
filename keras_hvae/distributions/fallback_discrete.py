"""The Categorical distribution of the keras-ops fallback (TFP API)."""

import keras
from keras import ops

from keras_hvae.distributions.fallback_base import (
    Distribution,
    as_sample_shape,
    as_tensor,
    dynamic_shape,
    infer_float_dtype,
    read_only,
    static_shape,
    uniform_open,
)


class Categorical(Distribution):
    """Categorical distribution over ``{0, ..., K-1}`` (last axis of params).

    Args:
        logits: float tensor ``(..., K)`` of unnormalised log-probabilities.
        probs: float tensor ``(..., K)`` of probabilities. Exactly one of them.
        dtype: dtype of samples.

    Example:
        >>> d = Categorical(logits=[[0.0, 1.0, 2.0]])
        >>> ops.convert_to_numpy(d.log_prob([2])).round(4)
        array([-0.4076], dtype=float32)
    """

    def __init__(self, logits=None, probs=None, dtype="int32", validate_args=False,
                 allow_nan_stats=True, name=None):
        del validate_args, allow_nan_stats
        if (logits is None) == (probs is None):
            raise ValueError("Categorical needs exactly one of `logits` or `probs`.")
        self._param_dtype = infer_float_dtype(logits, probs)
        self._logits = None if logits is None else as_tensor(logits, self._param_dtype)
        self._probs = None if probs is None else as_tensor(probs, self._param_dtype)
        self._dtype = keras.backend.standardize_dtype(dtype)
        self.name = name or "Categorical"

    logits = read_only("_logits", "The ``logits`` given at construction (or ``None``).")
    probs = read_only("_probs", "The ``probs`` given at construction (or ``None``).")

    def _param(self):
        return self._logits if self._logits is not None else self._probs

    def _batch_shape(self):
        return static_shape(self._param())[:-1]

    def logits_parameter(self):
        """Logits; ``log(probs)`` if probs were given (TFP convention)."""
        if self._logits is None:
            return ops.log(self._probs)
        return self._logits

    def probs_parameter(self):
        """Probabilities; ``softmax(logits)`` if logits were given."""
        if self._logits is None:
            return self._probs
        return ops.softmax(self._logits, axis=-1)

    def _log_probs(self):
        return ops.log_softmax(self.logits_parameter(), axis=-1)

    def log_prob(self, value):
        """``log p_k`` for integer ``value`` broadcast against ``batch_shape``."""
        k = ops.cast(ops.convert_to_tensor(value), "int32")
        num_categories = static_shape(self._param())[-1]
        one_hot = ops.one_hot(k, num_categories, dtype=self._param_dtype)
        log_probs = self._log_probs()
        return ops.sum(ops.where(one_hot > 0, log_probs, ops.zeros_like(one_hot)), axis=-1)

    def sample(self, sample_shape=(), seed=None):
        """Gumbel-max samples of shape ``sample_shape + batch_shape``."""
        shape = as_sample_shape(sample_shape) + dynamic_shape(self._param())
        u = uniform_open(shape, self._param_dtype, seed)
        gumbel = -ops.log(-ops.log(u))
        return ops.cast(ops.argmax(self._log_probs() + gumbel, axis=-1), self._dtype)
