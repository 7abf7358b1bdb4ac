"""Which implementation `keras_hvae.distributions.tfd` resolves to."""

import os
import subprocess
import sys

import pytest

import keras_hvae.distributions as kd
from keras_hvae.distributions import ops_tfd, tfd_backend_name
from tests.distributions.helpers import BACKEND, requires_tensorflow

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FALLBACK_NAMES = ("Normal", "Categorical", "Independent", "MixtureSameFamily",
                  "kl_divergence")


def _tfp_jax_substrate_works():
    try:
        from tensorflow_probability.substrates import jax as tfp_jax

        tfp_jax.distributions.Normal(0.0, 1.0).log_prob(0.5)
        return True
    except Exception:
        return False


def test_fallback_namespace_has_the_subset():
    for name in FALLBACK_NAMES:
        assert callable(getattr(ops_tfd, name)), name


@requires_tensorflow
def test_tensorflow_backend_gets_tfp_itself():
    import tensorflow_probability as tfp

    if os.environ.get("KERAS_HVAE_TFD", "auto") != "auto":
        pytest.skip("KERAS_HVAE_TFD override set for this run")
    assert kd.tfd is tfp.distributions
    assert tfd_backend_name() == "tfp"


@pytest.mark.backend_suite
def test_non_tensorflow_backends_get_substrate_or_fallback():
    if BACKEND == "tensorflow" or "KERAS_HVAE_TFD" in os.environ:
        pytest.skip("checks the JAX / PyTorch choice")
    if BACKEND == "jax" and _tfp_jax_substrate_works():
        assert tfd_backend_name() == "tfp-jax"
    else:
        # PyTorch always; JAX where the TFP substrate is broken (TFP 0.25 with
        # jax 0.10 fails with AttributeError on import).
        assert tfd_backend_name() == "keras-ops"
        assert kd.tfd is ops_tfd


@pytest.mark.backend_suite
def test_env_override_forces_fallback_in_a_fresh_process():
    code = (
        "import keras_hvae.distributions as d;"
        "print(d.tfd_backend_name(), d.tfd is d.ops_tfd, d.tfd.Normal.__module__)"
    )
    env = dict(os.environ, KERAS_HVAE_TFD="fallback", KERAS_BACKEND=BACKEND)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == [
        "keras-ops", "True", "keras_hvae.distributions.fallback_continuous"
    ]


def test_env_override_in_process(fresh_resolver, monkeypatch):
    monkeypatch.setenv("KERAS_HVAE_TFD", "fallback")
    module, name = fresh_resolver.resolve()
    assert module is ops_tfd and name == "keras-ops"


def test_unknown_env_value_is_rejected(fresh_resolver, monkeypatch):
    monkeypatch.setenv("KERAS_HVAE_TFD", "pytorch-distributions")
    with pytest.raises(ValueError, match="KERAS_HVAE_TFD must be 'auto' or 'fallback'"):
        fresh_resolver.resolve()
