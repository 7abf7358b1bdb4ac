"""Bernoulli and Categorical distributions of the keras-ops fallback."""

import keras
from keras import ops

from keras_hvae.distributions.fallback_base import (
    Distribution,
    as_sample_shape,
    as_tensor,
    infer_float_dtype,
    dynamic_shape,
    static_shape,
    uniform_open,
)
from keras_hvae.distributions.special_math import multiply_no_nan


def _check_one_of(logits, probs, cls):
    if (logits is None) == (probs is None):
        raise ValueError(f"{cls} needs exactly one of `logits` or `probs`.")


def _mul_exp(x, log_p):
    """``x * exp(log_p)`` that is 0 where ``exp(log_p) == 0`` (TFP's _mul_exp)."""
    p = ops.exp(log_p)
    return ops.where(ops.equal(p, 0), ops.zeros_like(p), x * p)


class Bernoulli(Distribution):
    """Bernoulli distribution over {0, 1}, parameterised by logits or probs.

    Args:
        logits: float tensor, log-odds of a 1 (preferred: stable everywhere).
        probs: float tensor, probability of a 1. Exactly one of the two.
        dtype: dtype of samples and of ``mode()``.

    Example:
        >>> d = Bernoulli(logits=[-50.0, 0.0, 50.0])
        >>> d.log_prob([1, 1, 1])  # [-50, -0.693, -2e-22]
    """

    def __init__(self, logits=None, probs=None, dtype="int32", validate_args=False,
                 allow_nan_stats=True, name=None):
        del validate_args, allow_nan_stats
        _check_one_of(logits, probs, "Bernoulli")
        self._param_dtype = infer_float_dtype(logits, probs)
        self._logits = None if logits is None else as_tensor(logits, self._param_dtype)
        self._probs = None if probs is None else as_tensor(probs, self._param_dtype)
        self._dtype = keras.backend.standardize_dtype(dtype)
        self.name = name or "Bernoulli"

    @property
    def logits(self):
        """The ``logits`` given at construction (``None`` if probs were given)."""
        return self._logits

    @property
    def probs(self):
        """The ``probs`` given at construction (``None`` if logits were given)."""
        return self._probs

    def _param(self):
        return self._logits if self._logits is not None else self._probs

    def _batch_shape(self):
        return static_shape(self._param())

    def logits_parameter(self):
        """Log-odds, computed from probs if needed."""
        if self._logits is None:
            return ops.log(self._probs) - ops.log1p(-self._probs)
        return self._logits

    def probs_parameter(self):
        """Probability of a 1, computed from logits if needed."""
        if self._logits is None:
            return self._probs
        return ops.sigmoid(self._logits)

    def _outcome_log_probs(self):
        if self._logits is None:
            return ops.log1p(-self._probs), ops.log(self._probs)
        s = self._logits
        return -ops.softplus(s), -ops.softplus(-s)

    def log_prob(self, value):
        """``x log p + (1 - x) log(1 - p)``; with logits
        ``-softplus(-l) x - softplus(l) (1 - x)``."""
        log_p0, log_p1 = self._outcome_log_probs()
        x = as_tensor(value, self._param_dtype)
        return multiply_no_nan(log_p0, 1.0 - x) + multiply_no_nan(log_p1, x)

    def mean(self):
        """Probability of a 1 (float)."""
        return self.probs_parameter()

    def mode(self):
        """1 where ``p > 0.5`` else 0, in ``dtype``."""
        return ops.cast(self.probs_parameter() > 0.5, self._dtype)

    def entropy(self):
        """``-(p log p + (1 - p) log(1 - p))`` computed from logits if given."""
        if self._logits is None:
            p1 = self._probs
            p0 = 1.0 - p1
        else:
            p0, p1 = ops.sigmoid(-self._logits), ops.sigmoid(self._logits)
        log_p0, log_p1 = self._outcome_log_probs()
        return -(multiply_no_nan(log_p0, p0) + multiply_no_nan(log_p1, p1))

    def sample(self, sample_shape=(), seed=None):
        """Samples in ``dtype`` of shape ``sample_shape + batch_shape``."""
        shape = as_sample_shape(sample_shape) + dynamic_shape(self._param())
        u = uniform_open(shape, self._param_dtype, seed)
        if self._logits is None:
            draws = u < self._probs
        else:
            # u < sigmoid(l)  <=>  logit(u) < l ; exact for |l| large.
            draws = (ops.log(u) - ops.log1p(-u)) < self._logits
        return ops.cast(draws, self._dtype)


class Categorical(Distribution):
    """Categorical distribution over ``{0, ..., K-1}`` (last axis of params).

    Args:
        logits: float tensor ``(..., K)`` of unnormalised log-probabilities.
        probs: float tensor ``(..., K)`` of probabilities. Exactly one of them.
        dtype: dtype of samples and of ``mode()``.

    Example:
        >>> d = Categorical(logits=[[0.0, 1.0, 2.0]])
        >>> d.log_prob([2])  # [-0.4076]
    """

    def __init__(self, logits=None, probs=None, dtype="int32", validate_args=False,
                 allow_nan_stats=True, name=None):
        del validate_args, allow_nan_stats
        _check_one_of(logits, probs, "Categorical")
        self._param_dtype = infer_float_dtype(logits, probs)
        self._logits = None if logits is None else as_tensor(logits, self._param_dtype)
        self._probs = None if probs is None else as_tensor(probs, self._param_dtype)
        self._dtype = keras.backend.standardize_dtype(dtype)
        self.name = name or "Categorical"

    @property
    def logits(self):
        """The ``logits`` given at construction (or ``None``)."""
        return self._logits

    @property
    def probs(self):
        """The ``probs`` given at construction (or ``None``)."""
        return self._probs

    def _param(self):
        return self._logits if self._logits is not None else self._probs

    def _batch_shape(self):
        return static_shape(self._param())[:-1]

    def num_categories(self):
        """Number of categories ``K`` (static int)."""
        return static_shape(self._param())[-1]

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
        one_hot = ops.one_hot(k, self.num_categories(), dtype=self._param_dtype)
        log_probs = self._log_probs()
        return ops.sum(ops.where(one_hot > 0, log_probs, ops.zeros_like(one_hot)), axis=-1)

    def mode(self):
        """Most likely category, in ``dtype``."""
        return ops.cast(ops.argmax(self._param(), axis=-1), self._dtype)

    def entropy(self):
        """``-sum_k p_k log p_k`` (0 contribution where ``p_k == 0``)."""
        if self._logits is None:
            log_probs = ops.log(self._probs)
        else:
            log_probs = ops.log_softmax(self._logits, axis=-1)
        return -ops.sum(_mul_exp(log_probs, log_probs), axis=-1)

    def sample(self, sample_shape=(), seed=None):
        """Gumbel-max samples of shape ``sample_shape + batch_shape``."""
        shape = as_sample_shape(sample_shape) + dynamic_shape(self._param())
        u = uniform_open(shape, self._param_dtype, seed)
        gumbel = -ops.log(-ops.log(u))
        return ops.cast(ops.argmax(self._log_probs() + gumbel, axis=-1), self._dtype)
