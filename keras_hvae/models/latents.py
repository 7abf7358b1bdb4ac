"""Diagonal-Gaussian latent layers as used by every family.

Model code builds TFP distributions through `keras_hvae.distributions.tfd`
on tensors inside the forward pass (never returned from a layer's `call`),
draws its own reparameterised noise from a `keras.random.SeedGenerator`
(the same on every backend), and hands the core these per-example terms.
"""

from keras import ops
import keras

from keras_hvae.distributions import tfd


def diagonal_normal(loc, scale):
    """`Independent(Normal(loc, scale))` over every non-batch axis."""
    return tfd.Independent(
        tfd.Normal(loc=loc, scale=scale),
        reinterpreted_batch_ndims=len(loc.shape) - 1,
    )


def scale_from_log_var(log_var):
    """Standard deviation from a log-variance."""
    return ops.exp(0.5 * log_var)


def reparameterized_sample(loc, scale, seed, temperature=1.0):
    """`loc + temperature * scale * eps` with `eps ~ N(0, I)`.

    Args:
        loc, scale: tensors of the same shape.
        seed: a `keras.random.SeedGenerator` (or int).
        temperature: multiplies the standard deviation.

    Returns:
        A tensor shaped like `loc`.
    """
    eps = keras.random.normal(ops.shape(loc), dtype=loc.dtype, seed=seed)
    # `temperature` may be a tensor (the SavedModel's `sample` endpoint).
    if not (isinstance(temperature, (int, float)) and temperature == 1.0):
        scale = scale * ops.cast(temperature, scale.dtype)
    return loc + scale * eps


def posterior_terms(q_loc, q_scale, p_loc, p_scale, seed, analytic_kl=True):
    """Samples z ~ q and returns the terms the core needs for one layer.

    Args:
        q_loc, q_scale: parameters of q(z | .).
        p_loc, p_scale: parameters of the (conditional) prior p(z | .).
        seed: random stream.
        analytic_kl: use the closed-form Gaussian KL (lower variance) for
            the ELBO; otherwise `log q(z) - log p(z)` at the sample.

    Returns:
        dict with `z`, `kl` (batch,), `log_ratio` (batch,) =
        `log p(z) - log q(z)` at the sample.
    """
    z = reparameterized_sample(q_loc, q_scale, seed)
    q = diagonal_normal(q_loc, q_scale)
    p = diagonal_normal(p_loc, p_scale)
    log_ratio = p.log_prob(z) - q.log_prob(z)
    kl = tfd.kl_divergence(q, p) if analytic_kl else -log_ratio
    return {"z": z, "kl": kl, "log_ratio": log_ratio}
