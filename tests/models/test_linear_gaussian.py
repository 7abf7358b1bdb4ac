"""The core's bounds against the closed-form marginal of a linear-Gaussian model."""

import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE

pytestmark = pytest.mark.backend_suite

DATA_DIM, LATENT_DIM, SIGMA = 5, 2, 0.6


def make_model(seed=0):
    model = LinearGaussianVAE(DATA_DIM, LATENT_DIM, sigma=SIGMA, seed=seed)
    model.build()
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(DATA_DIM, LATENT_DIM)))
    W = q * np.array([2.0, 0.7])  # orthogonal columns: the exact posterior is diagonal
    b = rng.normal(size=DATA_DIM)
    model.decoder.set_weights([W.T.astype("float32"), b.astype("float32")])
    z = rng.normal(size=(256, LATENT_DIM))
    x = (z @ W.T + b + SIGMA * rng.normal(size=(256, DATA_DIM))).astype("float32")
    return model, x


def set_wrong_encoder(model, shift=0.4, scale_factor=1.4):
    A, c, cov = model.exact_posterior()
    model.encoder.set_weights([A.T.astype("float32"), (c + shift).astype("float32")])
    model.encoder_log_scale.assign((0.5 * np.log(np.diag(cov)) + np.log(scale_factor)).astype("float32"))


def test_elbo_is_below_log_marginal():
    model, x = make_model()
    elbo = model.elbo(x, seed=1)
    log_px = model.exact_log_marginal(x)
    # A one-sample ELBO with analytic KL is unbiased for the ELBO, itself
    # <= log p(x); with a random encoder the gap is large on every example.
    assert np.mean(elbo) < np.mean(log_px) - 0.1
    assert np.mean(elbo <= log_px + 1e-4) > 0.95


def test_exact_posterior_makes_elbo_equal_log_marginal():
    model, x = make_model()
    model.set_encoder_to_exact_posterior()
    np.testing.assert_allclose(model.elbo(x, seed=2), model.exact_log_marginal(x), atol=2e-3)
    # With the exact posterior every importance weight equals p(x).
    np.testing.assert_allclose(model.iwae_bound(x[:16], 7, seed=3), model.exact_log_marginal(x[:16]), atol=2e-3)


def test_iwae_rises_with_k_and_stays_below_log_marginal():
    model, x = make_model()
    set_wrong_encoder(model, shift=1.0, scale_factor=2.0)
    log_px = model.exact_log_marginal(x)
    means = [np.mean(model.iwae_bound(x, k, seed=10 + k)) for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2] < np.mean(log_px) + 1e-3, (means, np.mean(log_px))


def test_iwae_1000_with_wrong_encoder_is_within_005_nats():
    model, x = make_model()
    set_wrong_encoder(model)
    x = x[:64]
    bound = model.iwae_bound(x, 1000, chunk_size=250, seed=5)
    gap = model.exact_log_marginal(x) - bound
    assert np.mean(np.abs(gap)) < 0.05, np.mean(np.abs(gap))
    # the wrong encoder is really wrong: its ELBO is far from log p(x)
    assert np.mean(model.exact_log_marginal(x) - model.elbo(x, seed=6)) > 0.2


def test_chunking_does_not_change_the_bound_for_a_fixed_seed_stream():
    model, x = make_model()
    set_wrong_encoder(model)
    a = model.iwae_bound(x[:32], 200, chunk_size=200, seed=9)
    b = model.iwae_bound(x[:32], 200, chunk_size=50, seed=9)
    # different random numbers, same estimator: agree within MC error
    np.testing.assert_allclose(a, b, atol=0.05)
