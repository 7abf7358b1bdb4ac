"""The diagonal-Gaussian toolkit every family uses for its latent layers.

One place for what BIVA, MatNet, the text models and the linear-Gaussian
reference model need of a Gaussian latent:

* parameterisations, raw network outputs -> `(loc, scale)`:
  `softplus_scale` (BIVA: `softplus(raw + softplus^{-1}(1)) + min_scale`)
  and `clamped_log_var_scale` / `loc_scale_from_log_var` (MatNet:
  `[mu; log sigma^2]` with the log-variance soft-clamped by a tanh);
* reparameterised sampling with a temperature (a Python number or a
  tensor): `reparameterize` (given noise) and `reparameterized_sample`
  (noise from a `keras.random.SeedGenerator`, the same on every backend);
* per-example densities, summed over every non-batch axis, optionally
  over the unmasked entries only (0/1 masks broadcastable to the sample,
  e.g. the `(B, H, W, 1)` padding masks of the text models):
  `diagonal_normal`, `log_prob`, `kl_divergence`, `kl_and_log_ratio`;
* `posterior_terms`: z ~ q plus the per-layer terms the core wants
  (`z`, `kl`, `log_ratio`).

Distribution objects come from `keras_hvae.distributions.tfd` and live on
tensors inside a forward pass only; no layer returns one.
"""

import math

import keras
from keras import ops

from keras_hvae.distributions import tfd

#: softplus^{-1}(1): a raw scale of 0 gives a standard deviation of ~1.
SOFTPLUS_INV_ONE = math.log(math.e - 1.0)

#: log-variances are soft-clamped to (-LOG_VAR_LIMIT, LOG_VAR_LIMIT) with tanh
LOG_VAR_LIMIT = 10.0


# ---------------------------------------------------------------- parameterisations
def softplus_scale(raw_scale, min_scale=0.0):
    """Standard deviation `softplus(raw + softplus^{-1}(1)) + min_scale`.

    A raw value of 0 gives a standard deviation of `1 + min_scale`.
    """
    return ops.softplus(raw_scale + SOFTPLUS_INV_ONE) + min_scale


def clamp_log_var(log_var, limit=LOG_VAR_LIMIT):
    """`limit * tanh(log_var / limit)`: a smooth clamp to (-limit, limit)."""
    return limit * ops.tanh(log_var / limit)


def clamped_log_var_scale(log_var, limit=LOG_VAR_LIMIT):
    """Standard deviation `exp(0.5 * clamp(log_var))` (no clamp if `limit` is None)."""
    if limit is not None:
        log_var = clamp_log_var(log_var, limit)
    return ops.exp(0.5 * log_var)


def loc_scale_from_log_var(mu, log_var, limit=LOG_VAR_LIMIT):
    """`(loc, scale)` from `[mu; log sigma^2]`, the log-variance soft-clamped."""
    return mu, clamped_log_var_scale(log_var, limit)


# ------------------------------------------------------------------------- sampling
def reparameterize(loc, scale, eps, temperature=1.0):
    """`loc + (temperature * scale) * eps` for given standard-normal noise.

    `temperature` may be a Python number or a scalar tensor (the SavedModel's
    `sample` endpoint passes one); temperature 0 gives `loc`.
    """
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature == 1.0:
        return loc + scale * eps
    return loc + (scale * ops.cast(temperature, scale.dtype)) * eps


def reparameterized_sample(loc, scale, seed, temperature=1.0):
    """`loc + temperature * scale * eps` with `eps ~ N(0, I)` drawn from `seed`.

    Args:
        loc, scale: tensors of the same shape.
        seed: a `keras.random.SeedGenerator` (or int).
        temperature: multiplies the standard deviation (number or tensor).

    Returns:
        A tensor shaped like `loc`.
    """
    eps = keras.random.normal(ops.shape(loc), dtype=loc.dtype, seed=seed)
    return reparameterize(loc, scale, eps, temperature)


def standard_normal_sample(shape, seed, temperature=1.0, dtype="float32"):
    """A draw of `N(0, temperature^2 I)` of the given shape."""
    eps = keras.random.normal(shape, dtype=dtype, seed=seed)
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature == 1.0:
        return eps
    return eps * ops.cast(temperature, dtype)


# ------------------------------------------------------------------------ densities
def diagonal_normal(loc, scale):
    """`Independent(Normal(loc, scale))` over every non-batch axis."""
    return tfd.Independent(
        tfd.Normal(loc=loc, scale=scale),
        reinterpreted_batch_ndims=len(loc.shape) - 1,
    )


def _masked_sum(values, mask):
    mask = ops.cast(mask, values.dtype)
    return ops.sum(values * mask, axis=list(range(1, len(values.shape))))


def log_prob(z, loc, scale, mask=None):
    """`log N(z; loc, scale^2)` per example, `(B,)`, summed over the unmasked entries."""
    if mask is None:
        return diagonal_normal(loc, scale).log_prob(z)
    return _masked_sum(tfd.Normal(loc=loc, scale=scale).log_prob(z), mask)


def kl_divergence(q_loc, q_scale, p_loc, p_scale, mask=None):
    """Closed-form `KL(N(q) || N(p))` per example, `(B,)`, over the unmasked entries."""
    if mask is None:
        return tfd.kl_divergence(diagonal_normal(q_loc, q_scale), diagonal_normal(p_loc, p_scale))
    q, p = tfd.Normal(loc=q_loc, scale=q_scale), tfd.Normal(loc=p_loc, scale=p_scale)
    return _masked_sum(tfd.kl_divergence(q, p), mask)


def kl_and_log_ratio(z, q_loc, q_scale, p_loc, p_scale, mask=None):
    """Closed-form `KL(q || p)` and `log p(z) - log q(z)` per example, `(B,)`.

    With `mask` (0/1, broadcastable to `z`) both are summed over the
    unmasked entries only.
    """
    if mask is not None:
        q, p = tfd.Normal(loc=q_loc, scale=q_scale), tfd.Normal(loc=p_loc, scale=p_scale)
        mask = ops.cast(mask, z.dtype)
        axes = list(range(1, len(z.shape)))
        kl = ops.sum(tfd.kl_divergence(q, p) * mask, axis=axes)
        return kl, ops.sum((p.log_prob(z) - q.log_prob(z)) * mask, axis=axes)
    q = diagonal_normal(q_loc, q_scale)
    p = diagonal_normal(p_loc, p_scale)
    return tfd.kl_divergence(q, p), p.log_prob(z) - q.log_prob(z)


def posterior_terms(q_loc, q_scale, p_loc, p_scale, seed, analytic_kl=True, mask=None, z=None):
    """Samples z ~ q and returns the terms the core needs for one layer.

    Args:
        q_loc, q_scale: parameters of q(z | .).
        p_loc, p_scale: parameters of the (conditional) prior p(z | .).
        seed: random stream (unused when `z` is given).
        analytic_kl: use the closed-form Gaussian KL (lower variance) for
            the ELBO; otherwise `log q(z) - log p(z)` at the sample.
        mask: optional 0/1 mask broadcastable to z (padding).
        z: an already drawn sample of q (e.g. the posterior mean).

    Returns:
        dict with `z`, `kl` (batch,), `log_ratio` (batch,) =
        `log p(z) - log q(z)` at the sample.
    """
    if z is None:
        z = reparameterized_sample(q_loc, q_scale, seed)
    kl, log_ratio = kl_and_log_ratio(z, q_loc, q_scale, p_loc, p_scale, mask=mask)
    if not analytic_kl:
        kl = -log_ratio
    return {"z": z, "kl": kl, "log_ratio": log_ratio}
