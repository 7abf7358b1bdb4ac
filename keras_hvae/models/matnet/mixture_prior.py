"""A learned Gaussian-mixture prior over z_0 and the KL of Eq. 12.

The prior is ``p(z_0) = sum_i pi_i N(z_0; m_i, diag(s_i^2))`` with learned
means and log-scales (and, optionally, learned logits), built as a TFP ``MixtureSameFamily`` through
`keras_hvae.distributions.tfd` (TFP on TensorFlow, the keras-ops fallback
elsewhere) for the exact ``log p(z_0)`` used by the importance-weighted
bound.

Eq. 12 of the paper, as printed, approximates the KL from a Gaussian q to
a mixture with *uniform* weights by ``-log sum_i exp(-KL(q || p_i))``. By
default the mixture weights are the paper's: uniform and fixed,
``pi_i = 1/k`` (the logits are a non-trainable zero variable read through
``stop_gradient``); ``learn_weights=True`` makes them trainable logits. We
use the weighted form

    KL_12(q || p) = -log sum_i pi_i exp(-KL(q || p_i)),

which (i) is exact for one component, (ii) is an upper bound on the true
KL(q || p) for any weights, by Jensen's inequality on the convex
log-sum-exp (E_q[LSE_i(log pi_i + log p_i(z))] >= LSE_i(log pi_i +
E_q log p_i(z))), so an ELBO computed with it stays a lower bound on
log p(x); and (iii) for uniform weights equals the printed Eq. 12 plus the
constant ``log k``. The same quantities give the *component posterior*
``r_i = softmax_i(log pi_i - KL(q || p_i))`` used by `cluster` and by the
optional entropy penalty of Sec. 3.
"""

import keras
from keras import ops

from keras_hvae.distributions import tfd


def gaussian_kl_to_components(q_loc, q_scale, p_loc, p_scale):
    """Closed-form ``KL(q || p_i)`` for diagonal Gaussians, per component.

    Args:
        q_loc, q_scale: ``(B, d)``.
        p_loc, p_scale: ``(k, d)``.

    Returns:
        ``(B, k)``.
    """
    q_loc = ops.expand_dims(q_loc, 1)
    q_scale = ops.expand_dims(q_scale, 1)
    p_loc = ops.expand_dims(p_loc, 0)
    p_scale = ops.expand_dims(p_scale, 0)
    ratio = ops.square(q_scale / p_scale)
    kl = 0.5 * (ratio + ops.square((q_loc - p_loc) / p_scale) - 1.0 - ops.log(ratio))
    return ops.sum(kl, axis=-1)


def eq12_kl(q_loc, q_scale, logits, p_loc, p_scale):
    """The weighted Eq. 12: ``-log sum_i pi_i exp(-KL(q || p_i))``, ``(B,)``.

    ``pi = softmax(logits)``. Exact for k = 1; an upper bound on
    KL(q || p) otherwise (see the module docstring).

    Example:
    >>> mu, sigma = ops.zeros((3, 4)), ops.ones((3, 4))  # q(z_0 | x) for B=3
    >>> means, scales = keras.random.normal((5, 4), seed=0), ops.ones((5, 4))  # k=5 components
    >>> tuple(eq12_kl(mu, sigma, ops.zeros((5,)), means, scales).shape)
    (3,)
    """
    kls = gaussian_kl_to_components(q_loc, q_scale, p_loc, p_scale)
    log_pi = ops.log_softmax(logits, axis=-1)
    return -ops.logsumexp(log_pi - kls, axis=-1)


def printed_eq12_kl(q_loc, q_scale, p_loc, p_scale):
    """Eq. 12 exactly as printed (no weights): ``-log sum_i exp(-KL_i)``.

    Equals `eq12_kl` with uniform weights minus ``log k``; kept for reference.
    """
    kls = gaussian_kl_to_components(q_loc, q_scale, p_loc, p_scale)
    return -ops.logsumexp(-kls, axis=-1)


def component_posterior_logits(q_loc, q_scale, logits, p_loc, p_scale):
    """``log pi_i - KL(q || p_i)``; its softmax is the component posterior."""
    kls = gaussian_kl_to_components(q_loc, q_scale, p_loc, p_scale)
    return ops.log_softmax(logits, axis=-1) - kls


@keras.saving.register_keras_serializable(package="keras_hvae")
class GaussianMixturePrior(keras.layers.Layer):
    """A learned mixture of ``k`` diagonal Gaussians in ``dim`` dimensions.

    Args:
        num_components: k.
        dim: dimension of z_0.
        init_spread: standard deviation of the initial component means.
        seed: int seed of the initial means.
        learn_weights: False (the paper's Eq. 12): uniform, fixed weights
            ``1/k`` (a non-trainable zero ``logits`` variable, read through
            ``stop_gradient``); True: trainable mixture logits.

    Example:
    >>> prior = GaussianMixturePrior(10, 32)
    >>> z0 = keras.random.normal((3, 32), seed=0)
    >>> tuple(prior.log_prob(z0).shape)                         # exact log p(z_0)
    (3,)
    >>> tuple(prior.kl(ops.zeros((3, 32)), ops.ones((3, 32))).shape)  # weighted Eq. 12
    (3,)
    """

    def __init__(self, num_components, dim, init_spread=1.0, seed=None, learn_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.num_components = int(num_components)
        self.dim = int(dim)
        self.init_spread = float(init_spread)
        self.seed = seed
        self.learn_weights = bool(learn_weights)
        k, d = self.num_components, self.dim
        self.logits = self.add_weight(
            shape=(k,), initializer="zeros", name="logits", trainable=self.learn_weights
        )
        self.locs = self.add_weight(
            shape=(k, d),
            initializer=keras.initializers.RandomNormal(stddev=self.init_spread, seed=seed),
            name="locs",
        )
        self.log_scales = self.add_weight(shape=(k, d), initializer="zeros", name="log_scales")
        self.built = True

    # tensors, not Variables, for TFP (see DESIGN.md)
    def parameters(self):
        """``(logits (k,), locs (k, d), scales (k, d))`` as tensors (the
        logits through ``stop_gradient`` unless ``learn_weights``)."""
        logits = ops.convert_to_tensor(self.logits)
        if not self.learn_weights:
            logits = ops.stop_gradient(logits)
        locs = ops.convert_to_tensor(self.locs)
        scales = ops.exp(ops.convert_to_tensor(self.log_scales))
        return logits, locs, scales

    def distribution(self):
        """The TFP ``MixtureSameFamily`` (built on tensors, inside the call)."""
        logits, locs, scales = self.parameters()
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=logits),
            components_distribution=tfd.Independent(tfd.Normal(loc=locs, scale=scales), reinterpreted_batch_ndims=1),
        )

    def log_prob(self, z):
        """Exact ``log p(z)``, ``(B,)``."""
        return self.distribution().log_prob(z)

    def kl(self, q_loc, q_scale):
        """The weighted Eq. 12 approximation of KL(q || p), ``(B,)``."""
        logits, locs, scales = self.parameters()
        return eq12_kl(q_loc, q_scale, logits, locs, scales)

    def responsibilities(self, q_loc, q_scale):
        """Component posterior ``softmax(log pi_i - KL(q || p_i))``, ``(B, k)``."""
        logits, locs, scales = self.parameters()
        return ops.softmax(component_posterior_logits(q_loc, q_scale, logits, locs, scales), axis=-1)

    def sample(self, num_samples, seed, temperature=1.0):
        """Draws a component, then a Gaussian sample (std times `temperature`)."""
        logits, locs, scales = self.parameters()
        tiled = ops.broadcast_to(ops.expand_dims(logits, 0), (num_samples, self.num_components))
        idx = keras.random.categorical(tiled, 1, seed=seed)[:, 0]
        onehot = ops.one_hot(idx, self.num_components, dtype=locs.dtype)
        loc = ops.matmul(onehot, locs)
        scale = ops.matmul(onehot, scales)
        eps = keras.random.normal((num_samples, self.dim), dtype=locs.dtype, seed=seed)
        return loc + temperature * scale * eps

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_components": self.num_components,
                "dim": self.dim,
                "init_spread": self.init_spread,
                "seed": self.seed,
                "learn_weights": self.learn_weights,
            }
        )
        return config


def entropy(probs, eps=1e-12):
    """Entropy of each row of ``probs`` in nats, ``(B,)``."""
    return -ops.sum(probs * ops.log(probs + eps), axis=-1)

