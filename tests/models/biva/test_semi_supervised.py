"""Semi-supervised BIVA (Appendix B): mixed batches with y = -1 for
unlabelled examples, q(y|x) predictions, and the 100-label MNIST check."""

import os
import time

import keras
import numpy as np
import pytest

from keras_hvae.models.biva import (
    BIVAClassifier,
    SemiSupervisedBIVA,
    default_alpha,
    semi_supervised_dataset,
)


def tiny_ssl(**overrides):
    cfg = dict(num_classes=3, filters=4, latent_sizes=[4, 2], layers_per_block=1, alpha=2.0, seed=0)
    cfg.update(overrides)
    return SemiSupervisedBIVA.from_architecture("binary_28x28", **cfg)


def test_mixed_batch_training_step_and_predictions():
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=(12, 28, 28, 1)) < 0.3).astype("float32")
    y = np.array([0, 1, 2, -1, -1, -1, 0, 1, 2, -1, -1, -1], "int32")
    model = tiny_ssl()
    model.initialize(x)
    loss, logs = model.compute_objective((keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)))
    # the mixed bound: labelled examples use log p(x, y), unlabelled ones sum y out
    t = model.class_terms(keras.ops.convert_to_tensor(x), seed=0)
    assert tuple(t["log_px"].shape) == (12, 3) and len(t["kl"]) == 2
    assert np.isfinite(float(loss)) and 0.0 <= float(logs["accuracy"]) <= 1.0
    model.compile(optimizer=keras.optimizers.Adamax(1e-2))
    history = model.fit(x, y, batch_size=6, epochs=2, verbose=0, shuffle=False)
    assert {"classification_loss", "accuracy", "elbo", "kl_1", "kl_2"} <= set(history.history)
    assert np.all(np.isfinite(history.history["loss"]))
    probs = model.predict(x[:5], verbose=0)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.classify(x[:5]).shape == (5,)
    assert model.elbo(x[:4], seed=1).shape == (4,)
    assert model.sample_class([0, 2], seed=0).shape == (2, 28, 28, 1)
    config = model.get_config()
    assert config["num_classes"] == 3 and config["alpha"] == 2.0


def test_importance_samples_sum_y_out_like_the_repeated_batch():
    """The importance samples of the y-summed bound are those of the core
    (the repeated batch through `forward_terms`), not BIVA's shared first
    level, which would skip the sum over y."""
    rng = np.random.default_rng(1)
    x = keras.ops.convert_to_tensor((rng.uniform(size=(3, 28, 28, 1)) < 0.3).astype("float32"))
    model = tiny_ssl()
    model.initialize(x)
    shared = model.repeated_forward_terms(x, 2, seed=keras.random.SeedGenerator(7))
    plain = model.forward_terms(keras.ops.repeat(x, 2, axis=0), seed=keras.random.SeedGenerator(7))
    for key in ("log_px", "log_ratio"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(shared[key]), keras.ops.convert_to_numpy(plain[key]),
                                   rtol=1e-5, atol=1e-4)
    assert tuple(shared["log_px"].shape) == (6,)


def test_semi_supervised_contract(tmp_path):
    # the importance-weighted bound sums y out exactly: the contract checks it is at least the ELBO
    from tests.hvae_test_case import run_hvae_contract

    rng = np.random.default_rng(2)
    x = (rng.uniform(size=(6, 28, 28, 1)) < 0.3).astype("float32")
    model = tiny_ssl()
    model.initialize(x)
    results = run_hvae_contract(model, x, tmp_path, checks=("forward_terms", "bounds", "config", "preset", "sampling"))
    np.testing.assert_allclose(results["preset"].predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_unlabelled_only_batches_and_alpha():
    assert default_alpha(50000, 100) == 50.0
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(4, 28, 28, 1)) < 0.3).astype("float32")
    model = tiny_ssl()
    model.initialize(x)
    loss, logs = model.compute_objective(keras.ops.convert_to_tensor(x))
    assert float(logs["classification_loss"]) == 0.0 and np.isfinite(float(loss))


def _select_labels(y, per_class, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)])


# Measured numbers and the command are in docs/biva.md ("Measured on MNIST").
SSL_STEPS = int(os.environ.get("BIVA_SSL_STEPS", 600))


@pytest.mark.slow
@pytest.mark.parametrize("revision", [
    1,
    # The authors' network (revision 2, the shipped preset's) gains less in
    # 600 steps (once measured 21.7 % against the baseline's 22.8 % on
    # x_test[:2000]) but passes on the random subset (2026-12-03); its preset
    # needs 8,000 steps to beat revision 1's (docs/biva.md).
    2,
])
def test_hundred_labels_beat_the_supervised_baseline(mnist_splits, revision):
    """100 labels (10 per class) + 10k unlabelled digits, small width:
    SSL BIVA's test error must be below that of the same classifier
    architecture trained on the 100 labels alone.

    Small latents and no free bits: with free bits (2 nats per level) and
    the paper's latent sizes, z carries the class for free and the decoder
    ignores y, which leaves the unlabelled data almost no grip on q(y|x) in
    a short run (measured: 22% error against the baseline's 24.5% after 600
    steps).
    """
    import tensorflow as tf

    from keras_hvae.layers import initialize_weight_norm

    x_all, y_all = mnist_splits["train"]
    x_test, y_test = mnist_splits["test"]
    rng = np.random.default_rng(0)
    scored = rng.choice(len(x_test), 2000, replace=False)  # a random subset: the first digits are easier
    x_test_bin = (rng.uniform(size=x_test[scored].shape) < x_test[scored]).astype("float32")
    y_test = y_test[scored]
    idx = np.concatenate([rng.choice(np.flatnonzero(y_all == c), 10, replace=False) for c in range(10)])
    x_lab, y_lab = x_all[idx], y_all[idx]
    arch = dict(filters=16, layers_per_block=1, latent_sizes=[4, 2], q_dropout=0.2, p_dropout=0.0, free_bits=0.0,
                architecture_revision=revision)

    keras.utils.set_random_seed(0)
    ssl = SemiSupervisedBIVA.from_architecture(
        "binary_28x28", num_classes=10, alpha=default_alpha(50000, 100), seed=0, **arch
    )
    # baseline: the same classifier architecture, supervised on the 100 labels only
    base = BIVAClassifier(10, ssl.filters, ssl.kernel_sizes, ssl.strides, ssl.layers_per_block, dropout=0.2, seed=0)
    lab_ds = (
        tf.data.Dataset.from_tensor_slices((x_lab, y_lab)).shuffle(100, seed=0).repeat()
        .map(lambda x, y: (tf.cast(tf.random.uniform(tf.shape(x)) < x, tf.float32), y)).batch(32)
    )
    initialize_weight_norm(lambda x: base(x, training=False), (x_lab > 0.5).astype("float32"))
    base.compile(optimizer=keras.optimizers.Adamax(2e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    base.fit(lab_ds, epochs=4, steps_per_epoch=100, verbose=0)
    base_error = float(np.mean(np.argmax(base.predict(x_test_bin, verbose=0), -1) != y_test))

    start = time.time()
    ds = semi_supervised_dataset(x_lab, y_lab, x_all[:10000], batch_size=64, labelled_per_batch=16, binarize=True)
    ssl.compile(optimizer=keras.optimizers.Adamax(2e-3))
    ssl.fit(ds, epochs=SSL_STEPS // 100, steps_per_epoch=100, verbose=0)
    ssl_error = float(np.mean(ssl.classify(x_test_bin) != y_test))
    print(f"\n100 labels: baseline error {base_error:.3f}, SSL BIVA error {ssl_error:.3f} ({time.time() - start:.0f} s)")
    # Two standard errors of the difference of two error rates near 20% on the same 2,000 digits
    # (sqrt((0.18 * 0.82 + 0.21 * 0.79) / 2000) = 1.25 points); measured 2026-12-02: 17.65% against 21.2%.
    assert ssl_error < base_error - 0.025, (ssl_error, base_error)


# ------------------------------------------------ anomaly score (y summed out)
def peaked_ssl(num_classes=10, bias=10.0):
    """A tiny model whose q(y | x) puts most of its mass on class 0, so that
    plugging in y = argmax q(y | x) and summing y out differ by ~log K."""
    model = tiny_ssl(num_classes=num_classes)
    model.build()
    b = np.zeros(num_classes, "float32")
    b[0] = bias
    model.classifier.head.bias.assign(b)
    return model


@pytest.mark.backend_suite
def test_anomaly_score_at_k0_is_the_y_summed_elbo():
    """L^{>0} sums y out exactly as the ELBO does, draw for draw:
    sum_y q(y|x) [L(x, y) + log p(y)] + H(q(y|x)), not L(x, argmax q)."""
    rng = np.random.default_rng(3)
    x = (rng.uniform(size=(6, 28, 28, 1)) < 0.3).astype("float32")
    model = peaked_ssl()
    for s in (0, 1):
        np.testing.assert_allclose(model.anomaly_score(x, 0, seed=s), model.elbo(x, seed=s), rtol=1e-5, atol=1e-4)
    # k >= 1: the same y-sum of the per-class L^{>k}, finite, and the
    # importance-weighted version runs on the exact y-summed weights
    for k in (1, model.num_layers):
        score = model.anomaly_score(x, k, seed=2)
        assert score.shape == (6,) and np.all(np.isfinite(score))
    assert np.all(np.isfinite(model.anomaly_score(x, 1, num_samples=3, seed=2)))


def test_preset_anomaly_score_at_k0_is_the_y_summed_elbo():
    """On the shipped preset (q(y|x) confident): L^{>0} equals the y-summed
    ELBO on the same seeds (the argmax-plugged bound was ~2.5 nats higher)."""
    from keras_hvae.applications import SemiSupervisedBIVA as Preset
    from keras_hvae.datasets.registry import test_inputs

    model = Preset.from_preset("biva_ssl_mnist100")
    digits = np.asarray(test_inputs("binarized_mnist", seed=123))
    x = digits[np.random.default_rng(0).choice(len(digits), 200, replace=False)]
    elbo = np.stack([model.elbo(x, seed=s) for s in range(2)])
    score = np.stack([model.anomaly_score(x, 0, seed=s) for s in range(2)])
    np.testing.assert_allclose(score, elbo, rtol=1e-5, atol=1e-3)
    assert abs(score.mean() - elbo.mean()) < 0.01, (score.mean(), elbo.mean())


def test_anomaly_score_endpoint_sums_y_out(tmp_path):
    """The SavedModel's anomaly_score(x, k) (tensor k) sums y out like the
    Keras method: at k = 0 it is the ELBO (endpoint and Keras), at k = L
    it agrees with `anomaly_score(x, L)`, in mean over draws."""
    from tests.conftest import require_tensorflow

    require_tensorflow()
    import tensorflow as tf

    model = peaked_ssl(num_classes=20)  # argmax-plugged: ~log 20 = 3 nats above the ELBO
    rng = np.random.default_rng(4)
    one = (rng.uniform(size=(1, 28, 28, 1)) < 0.3).astype("float32")
    x = np.repeat(one, 512, axis=0)  # copies of one digit: the spread is Monte-Carlo noise only
    names = model.export(tmp_path / "sm", verbose=False)
    assert "anomaly_score" in names
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))
    xs = tf.constant(x)
    L = model.num_layers

    def close(a, b, sigmas=4.0):
        se = np.sqrt(np.var(a) / a.size + np.var(b) / b.size)
        return abs(float(a.mean() - b.mean())) <= sigmas * se + 0.05

    ep0 = np.concatenate([reloaded.anomaly_score(xs, tf.constant(0)).numpy() for _ in range(2)])
    elbo = np.concatenate([model.elbo(x, seed=s) for s in range(2)])
    ep_elbo = reloaded.elbo(xs).numpy()
    assert close(ep0, elbo), (ep0.mean(), elbo.mean())
    assert close(ep0, ep_elbo), (ep0.mean(), ep_elbo.mean())
    epL = np.concatenate([reloaded.anomaly_score(xs, tf.constant(L)).numpy() for _ in range(2)])
    refL = np.concatenate([model.anomaly_score(x, L, seed=s) for s in range(2)])
    assert close(epL, refL), (epL.mean(), refL.mean())


# ------------------------------------- weighting of Maaløe et al. (2016)
def _fixed_terms(batch, num_classes, num_levels, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "logits": rng.normal(size=(batch, num_classes)).astype("float32"),
        "log_px": -rng.uniform(50, 100, size=(batch, num_classes)).astype("float32"),
        "kl": [rng.uniform(0, 3, size=(batch, num_classes)).astype("float32") for _ in range(num_levels)],
        "log_ratio": rng.normal(size=(batch, num_classes)).astype("float32"),
        "params": np.zeros((batch, num_classes, 28, 28, 1), "float32"),
    }


def _expected_loss(t, y, alpha, free_bits=0.0, kl_weight=1.0):
    """J of Maaløe et al. (2016) in numpy: mean over labelled of F(x, y) +
    mean over unlabelled of U(x) + alpha * mean over labelled of -log q(y|x),
    the per-level KL part with free bits on mean_l KL_i + mean_u KL_i."""
    K = t["logits"].shape[1]
    z = t["logits"] - t["logits"].max(axis=1, keepdims=True)
    log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    q = np.exp(log_q)
    lab, unl = y >= 0, y < 0
    yl = y[lab]

    def group_mean(v, mask):
        return float(v[mask].mean()) if mask.any() else 0.0

    # per-example reconstruction part (log p(y) and the entropy included) and per-level KL
    rec = np.where(lab, t["log_px"][np.arange(len(y)), np.maximum(y, 0)], (q * t["log_px"]).sum(1))
    rec = rec - np.log(K) + np.where(unl, -(q * log_q).sum(1), 0.0)
    kls = [np.where(lab, k[np.arange(len(y)), np.maximum(y, 0)], (q * k).sum(1)) for k in t["kl"]]
    kl_part = sum(max(free_bits, group_mean(k, lab) + group_mean(k, unl)) for k in kls)
    ce = -log_q[lab, yl] if lab.any() else np.zeros(0)
    loss = -(group_mean(rec, lab) + group_mean(rec, unl)) + kl_weight * kl_part
    loss += alpha * (float(ce.mean()) if lab.any() else 0.0)
    elbo = group_mean(rec - sum(kls), lab) + group_mean(rec - sum(kls), unl)
    return loss, elbo


@pytest.mark.backend_suite
@pytest.mark.parametrize("labels", [
    [0, 2, -1, -1, -1, -1, -1, -1],   # mixed: 2 labelled of 8
    [1, 0, 2, 2, 1, 0, 1, 2],          # all labelled
    [-1] * 8,                          # all unlabelled
])
def test_objective_averages_labelled_and_unlabelled_bounds_separately(labels):
    import math

    from keras import ops

    model = tiny_ssl(alpha=7.0)
    model.build()
    y = np.asarray(labels, "int32")
    t = _fixed_terms(len(y), model.num_classes, model.num_layers)
    model.class_terms = lambda x, training=False, seed=None, prior_layers=0: {
        k: [ops.convert_to_tensor(a) for a in v] if k == "kl" else ops.convert_to_tensor(v) for k, v in t.items()
    }
    x = np.zeros((len(y), 28, 28, 1), "float32")
    data = (ops.convert_to_tensor(x), ops.convert_to_tensor(y))
    loss, logs = model.compute_objective(data)
    want, want_elbo = _expected_loss(t, y, alpha=7.0)
    assert math.isfinite(float(loss))
    np.testing.assert_allclose(float(loss), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(logs["elbo"]), want_elbo, rtol=1e-5, atol=1e-5)
    if (y >= 0).any():
        lab = y >= 0
        z = t["logits"][lab]
        ce = -(z[np.arange(lab.sum()), y[lab]] - np.log(np.exp(z).sum(1)))
        np.testing.assert_allclose(float(logs["classification_loss"]), ce.mean(), rtol=1e-5)
    else:
        assert float(logs["classification_loss"]) == 0.0
    # the free-bits and warm-up hooks still act on the (weighted) per-level KL
    model.free_bits, model.beta = 2.5, 0.5
    loss, _ = model.compute_objective(data, training=True)
    want, _ = _expected_loss(t, y, alpha=7.0, free_bits=2.5, kl_weight=0.5)
    np.testing.assert_allclose(float(loss), want, rtol=1e-5, atol=1e-5)


def test_free_bits_apply_per_latent_variable_in_the_mixed_objective():
    """Free bits act on z^BU_i and z^TD_i (and z_L) apart, on the mixed
    bound's group-weighted KL, as in BIVA; the logs stay per level."""
    from keras import ops

    from tests.hvae_test_case import record_objective
    from tests.models.biva.test_biva_free_bits import _np

    rng = np.random.default_rng(3)
    x = (rng.uniform(size=(8, 28, 28, 1)) < 0.3).astype("float32")
    y = np.array([0, 1, -1, -1, 2, -1, -1, -1], "int32")
    model = tiny_ssl(free_bits=2.0)
    model.initialize(x)
    data = (ops.convert_to_tensor(x), ops.convert_to_tensor(y))

    def means(terms, key):
        return [_np(k).mean() for k in terms[key]]

    # lambda above every variable's KL: per variable the loss pays (2L - 1) lambda, per level L lambda
    def above_all(terms):
        return 1.0 + max(means(terms, "free_bits_groups"))

    record_objective(model, data, above_all)  # records the terms
    loss, _, recorded = record_objective(model, data, above_all)
    groups, kl = recorded["free_bits_groups"], recorded["kl"]
    assert len(groups) == 2 * model.num_layers - 1 and len(kl) == model.num_layers
    np.testing.assert_allclose(sum(_np(g) for g in groups), sum(_np(k) for k in kl), rtol=1e-5, atol=1e-4)
    lam = above_all(recorded)
    expected = (-_np(recorded["log_px"]).mean() + sum(max(lam, m) for m in means(recorded, "free_bits_groups"))
                + float(_np(recorded["extra_loss"])))
    per_level = (-_np(recorded["log_px"]).mean() + sum(max(lam, m) for m in means(recorded, "kl"))
                 + float(_np(recorded["extra_loss"])))
    assert loss == pytest.approx(expected, rel=1e-5, abs=1e-4)
    assert abs(expected - per_level) > 1e-3  # the test tells the two apart
