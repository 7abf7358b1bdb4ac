"""Chooses the distribution module behind ``keras_hvae.distributions.tfd``.

- Keras backend TensorFlow: ``tensorflow_probability.distributions`` itself.
- JAX: ``tensorflow_probability.substrates.jax.distributions`` if it imports
  and a probe (``Normal(0, 1).log_prob(0.5)``) works; otherwise the fallback.
- Anything else (PyTorch, ...): the keras-ops fallback ``ops_tfd``.
- ``KERAS_HVAE_TFD=fallback`` forces the fallback on every backend
  (``KERAS_HVAE_TFD=auto`` or unset: the rules above).

The choice is made once per process, on first use.
"""

import os
import warnings

import keras

ENV_VAR = "KERAS_HVAE_TFD"
_FALLBACK_VALUES = ("fallback", "keras-ops", "keras_ops")
_cache = {}


def _fallback():
    from keras_hvae.distributions import ops_tfd

    return ops_tfd, "keras-ops"


def _try_tfp_tensorflow():
    try:
        import tensorflow_probability as tfp

        return tfp.distributions, "tfp"
    except Exception as err:  # broken/missing TFP: degrade, but say so
        warnings.warn(f"tensorflow_probability unusable ({err!r}); using the "
                      "keras-ops distribution fallback.", stacklevel=3)
        return None


def _try_tfp_jax():
    try:
        from tensorflow_probability.substrates import jax as tfp_jax

        tfd = tfp_jax.distributions
        tfd.Normal(0.0, 1.0).log_prob(0.5)  # fails on first use if incompatible
        return tfd, "tfp-jax"
    except Exception:
        return None


def resolve():
    """Returns ``(module, name)``; name is "tfp", "tfp-jax" or "keras-ops".

    Raises:
        ValueError: if ``KERAS_HVAE_TFD`` has an unknown value.

    Example:
        >>> module, name = resolve()
    """
    if "result" in _cache:
        return _cache["result"]
    mode = os.environ.get(ENV_VAR, "auto").strip().lower()
    if mode not in ("", "auto") + _FALLBACK_VALUES:
        raise ValueError(
            f"{ENV_VAR} must be 'auto' or 'fallback'; got {os.environ[ENV_VAR]!r}."
        )
    result = None
    if mode in ("", "auto"):
        backend = keras.backend.backend()
        if backend == "tensorflow":
            result = _try_tfp_tensorflow()
        elif backend == "jax":
            result = _try_tfp_jax()
    _cache["result"] = result or _fallback()
    return _cache["result"]


def tfd_backend_name():
    """Which implementation ``tfd`` is: "tfp", "tfp-jax" or "keras-ops".

    Example:
        >>> from keras_hvae.distributions import tfd_backend_name
        >>> tfd_backend_name()  # on the TensorFlow backend
        'tfp'
    """
    return resolve()[1]
