"""Analytic KL divergences of the keras-ops fallback."""

from keras import ops

from keras_hvae.distributions.fallback_composite import Independent
from keras_hvae.distributions.fallback_continuous import Normal


def _kl_normal_normal(a, b):
    # Same formula as TFP: 0.5 ((mu_a - mu_b) / s_b)^2 + 0.5 expm1(2 d) - d,
    # d = log s_a - log s_b.
    diff_log_scale = ops.log(a.scale) - ops.log(b.scale)
    return (
        0.5 * ops.square(a.loc / b.scale - b.loc / b.scale)
        + 0.5 * ops.expm1(2.0 * diff_log_scale)
        - diff_log_scale
    )


def kl_divergence(distribution_a, distribution_b, allow_nan_stats=True, name=None):
    """Analytic ``KL(a || b)`` for the pairs the fallback supports.

    Supported: ``Normal``-``Normal`` and ``Independent``-``Independent`` with the
    same ``reinterpreted_batch_ndims`` whose wrapped pair is supported (e.g.
    ``Independent(Normal)``), summed over the event dims.

    Args:
        distribution_a: fallback distribution ``a``.
        distribution_b: fallback distribution ``b``.

    Returns:
        Tensor of shape ``broadcast(a.batch_shape, b.batch_shape)``.

    Raises:
        TypeError: for any other pair (including TFP objects).

    Example:
        >>> kl_divergence(Normal(0.0, 1.0), Normal(1.0, 2.0))  # 0.4431...
    """
    del allow_nan_stats, name
    a, b = distribution_a, distribution_b
    if type(a) is Normal and type(b) is Normal:
        return _kl_normal_normal(a, b)
    if type(a) is Independent and type(b) is Independent:
        n = a.reinterpreted_batch_ndims
        if n == b.reinterpreted_batch_ndims:
            kl = kl_divergence(a.distribution, b.distribution)
            return ops.sum(kl, axis=tuple(range(-n, 0))) if n else kl
    raise TypeError(
        "keras-ops kl_divergence has no analytic form for "
        f"({_describe(a)}, {_describe(b)}); supported pairs are Normal-Normal "
        "and Independent(Normal)-Independent(Normal) with equal "
        "reinterpreted_batch_ndims."
    )


def _describe(d):
    if isinstance(d, Independent):
        return f"Independent({_describe(d.distribution)}, ndims={d.reinterpreted_batch_ndims})"
    return f"{type(d).__module__}.{type(d).__name__}"
