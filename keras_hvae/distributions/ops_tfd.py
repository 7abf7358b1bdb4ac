"""The keras-ops fallback for the TFP distribution API (a module namespace).

``keras_hvae.distributions.tfd`` resolves to this module wherever TensorFlow
Probability is unavailable for the running Keras backend (PyTorch; JAX when
the TFP JAX substrate does not work) or when ``KERAS_HVAE_TFD=fallback``.
It implements exactly the subset the models use, with TFP's names and
signatures, in ``keras.ops`` only (float32 and float64, TFP-style
broadcasting); each distribution has ``log_prob``, ``sample`` and (but
``Categorical``) ``mean``:

- ``Normal(loc, scale)``
- ``Categorical(logits=None, probs=None, dtype="int32")``
- ``Independent(distribution, reinterpreted_batch_ndims)``
- ``MixtureSameFamily(mixture_distribution, components_distribution)``
- ``kl_divergence(a, b)`` for Normal / Independent(Normal) pairs, each KL
  registered beside its class with ``RegisterKL`` as in TFP.

``sample(sample_shape=(), seed=None)`` accepts whatever ``keras.random``
accepts as ``seed`` (None, int, ``keras.random.SeedGenerator``); samples do
not match TFP's random streams.

Example:
    >>> from keras_hvae.distributions import ops_tfd as tfd
    >>> mu, sigma = ops.zeros((3, 4)), ops.ones((3, 4))
    >>> q = tfd.Independent(tfd.Normal(mu, sigma), reinterpreted_batch_ndims=1)
    >>> p = tfd.Independent(tfd.Normal(0.0 * mu, 1.0), reinterpreted_batch_ndims=1)
    >>> kl = tfd.kl_divergence(q, p)
    >>> tuple(kl.shape)  # (batch,)
    (3,)
"""

from keras_hvae.distributions.fallback_base import Distribution, RegisterKL, kl_divergence
from keras_hvae.distributions.fallback_composite import Independent, MixtureSameFamily
from keras_hvae.distributions.fallback_continuous import Normal
from keras_hvae.distributions.fallback_discrete import Categorical

__all__ = [
    "Categorical",
    "Distribution",
    "Independent",
    "MixtureSameFamily",
    "Normal",
    "RegisterKL",
    "kl_divergence",
]
