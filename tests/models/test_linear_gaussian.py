"""The core's bounds against the closed-form marginal of a linear-Gaussian model."""

import keras
import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE
from tests.hvae_test_case import run_hvae_contract

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
    x = x[:32]
    # The one-sample ELBO (analytic KL) is unbiased for the ELBO, itself
    # <= log p(x): average 1000 draws per example to see it on every example.
    elbo = model.elbo(np.repeat(x, 1000, axis=0), seed=1).reshape(32, 1000).mean(axis=1)
    log_px = model.exact_log_marginal(x)
    assert np.all(elbo < log_px), (elbo - log_px).max()
    assert np.mean(log_px - elbo) > 0.1


def test_exact_posterior_makes_elbo_equal_log_marginal():
    model, x = make_model()
    model.set_encoder_to_exact_posterior()
    exact = model.exact_log_marginal(x)
    # With the exact posterior every importance weight equals p(x): the
    # one-sample bound with a Monte-Carlo KL is exact, sample by sample.
    np.testing.assert_allclose(model.iwae_bound(x, 1, seed=2), exact, atol=2e-3)
    np.testing.assert_allclose(model.iwae_bound(x[:16], 7, chunk_size=3, seed=3), exact[:16], atol=2e-3)
    # The analytic-KL ELBO is exact in expectation: average 400 draws.
    reps = model.elbo(np.repeat(x[:8], 4000, axis=0), seed=4).reshape(8, 4000).mean(axis=1)
    np.testing.assert_allclose(reps, exact[:8], atol=0.05)


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
    a = model.iwae_bound(x[:64], 200, chunk_size=200, seed=9)
    b = model.iwae_bound(x[:64], 200, chunk_size=50, seed=9)
    # different random numbers, same estimator: the means agree within MC error
    assert abs(np.mean(a) - np.mean(b)) < 0.03, (np.mean(a), np.mean(b))


def test_large_batches_are_scored_in_slices_under_the_row_budget(monkeypatch):
    model, x = make_model()
    set_wrong_encoder(model)
    rows = []
    original = model._run

    def recording(name, fn, *args):  # every compiled pass, with its batch of examples
        rows.append((int(args[0].shape[0]), int(name.split("_")[-1])))
        return original(name, fn, *args)

    monkeypatch.setattr(model, "_run", recording)
    monkeypatch.setattr(model, "iwae_max_rows", 1000)
    bound = model.iwae_bound(x[:100], 200, chunk_size=100, seed=3)
    # 1000 rows / (100 samples per pass) = 10 examples per pass, two chunks each
    assert bound.shape == (100,) and all(n * k <= 1000 for n, k in rows) and len(rows) == 20
    exact = model.exact_log_marginal(x[:100])
    # sliced or not, the same estimator: close to log p(x) and below it on average
    assert -0.01 < np.mean(exact - bound) < 0.1, np.mean(exact - bound)


def test_hvae_contract(tmp_path):
    fitted, x = make_model()
    # non-default training options, which the config round trips must keep
    model = LinearGaussianVAE(DATA_DIM, LATENT_DIM, sigma=SIGMA, free_bits=1.5, kl_warmup_steps=10, beta=0.5,
                              clip_norm=3.0, seed=4)
    model.build()
    model.set_weights(fitted.get_weights())
    model.compile(optimizer="adam")
    model.fit(x, batch_size=64, epochs=1, verbose=0)  # a compiled model: its preset comes from an uncompiled twin
    results = run_hvae_contract(model, x[:32], tmp_path, endpoints=["elbo", "sample", "encode"])
    for loaded in (results["config"], results["keras_file"], results["preset"]):
        assert (loaded.free_bits, loaded.clip_norm, loaded.beta, loaded.kl_warmup_steps) == (1.5, 3.0, 0.5, 10)


def test_bfloat16_model_scores_in_float32_and_close_to_float32():
    from keras_hvae.utils.precision import precision_scope

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    keras.utils.set_random_seed(0)
    full = LinearGaussianVAE(6, 2, sigma=0.5, seed=1)
    full.build()
    with precision_scope("bfloat16"):
        half = LinearGaussianVAE(6, 2, sigma=0.5, seed=1)
        half.build()
    half.set_weights(full.get_weights())
    assert half.encoder.compute_dtype == "bfloat16"
    a, b = full.elbo(x, seed=0), half.elbo(x, seed=0)
    assert b.dtype == np.float32
    np.testing.assert_allclose(b, a, rtol=0.02, atol=0.05)


def test_iwae_bound_keeps_every_pass_within_iwae_max_rows_for_any_k(monkeypatch):
    """k far above `iwae_max_rows` is scored in chunks by default (memory
    stays bounded), and the chunks combine to the exact bound."""
    model, x = make_model()
    model.set_encoder_to_exact_posterior()
    exact = model.exact_log_marginal(x[:3])
    monkeypatch.setattr(model, "iwae_max_rows", 50)
    rows = []
    original = model.log_importance_weights

    def recording(x, num_samples, seed=None):
        rows.append(int(x.shape[0]) * int(num_samples))
        return original(x, num_samples, seed)

    monkeypatch.setattr(model, "log_importance_weights", recording)
    bound = model.iwae_bound(x[:3], 400, seed=1)
    assert rows and max(rows) <= 50, rows
    np.testing.assert_allclose(bound, exact, atol=2e-3)
