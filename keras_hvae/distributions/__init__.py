"""Distributions for keras_hvae: the ``tfd`` resolver and image likelihoods.

- ``tfd``: the TFP distributions API for the running Keras backend
  (``tensorflow_probability.distributions`` on TensorFlow, the TFP JAX
  substrate where it works, else the keras-ops fallback ``ops_tfd``; set
  ``KERAS_HVAE_TFD=fallback`` to force the fallback). Resolved lazily on first
  access; ``tfd_backend_name()`` says which one it is.
- ``DiscretizedLogisticMixture``, ``DiscretizedLogistic``,
  ``DiscretizedGaussian``: exact 8-bit image likelihoods in ``keras.ops``.
- Likelihood heads (``BernoulliLikelihood``, ...) and ``get_likelihood``.

Example:
    >>> from keras_hvae.distributions import tfd, get_likelihood
    >>> prior = tfd.Normal(0.0, 1.0)
    >>> lik = get_likelihood("bernoulli")
"""

from keras_hvae.distributions import ops_tfd
from keras_hvae.distributions.discretized_gaussian import DiscretizedGaussian
from keras_hvae.distributions.discretized_logistic import DiscretizedLogistic
from keras_hvae.distributions.discretized_logistic_mixture import (
    DiscretizedLogisticMixture,
)
from keras_hvae.distributions.likelihoods import (
    BernoulliLikelihood,
    DiscretizedGaussianLikelihood,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
    Likelihood,
    bits_per_dim,
    get_likelihood,
)
from keras_hvae.distributions.resolver import tfd_backend_name

__all__ = [
    "BernoulliLikelihood",
    "DiscretizedGaussian",
    "DiscretizedGaussianLikelihood",
    "DiscretizedLogistic",
    "DiscretizedLogisticLikelihood",
    "DiscretizedLogisticMixture",
    "DiscretizedLogisticMixtureLikelihood",
    "GaussianLikelihood",
    "Likelihood",
    "bits_per_dim",
    "get_likelihood",
    "ops_tfd",
    "tfd",
    "tfd_backend_name",
]


def __getattr__(name):
    # ``tfd`` is resolved on first access so that importing this package does
    # not import TensorFlow Probability unless it is used.
    if name == "tfd":
        from keras_hvae.distributions.resolver import resolve

        module = resolve()[0]
        globals()["tfd"] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
