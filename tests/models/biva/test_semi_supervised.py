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
def test_hundred_labels_beat_the_supervised_baseline(mnist_splits):
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
    x_test_bin = (rng.uniform(size=x_test[:2000].shape) < x_test[:2000]).astype("float32")
    y_test = y_test[:2000]
    idx = np.concatenate([rng.choice(np.flatnonzero(y_all == c), 10, replace=False) for c in range(10)])
    x_lab, y_lab = x_all[idx], y_all[idx]
    arch = dict(filters=16, layers_per_block=1, latent_sizes=[4, 2], q_dropout=0.2, p_dropout=0.0, free_bits=0.0)

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
    assert ssl_error < base_error - 0.04, (ssl_error, base_error)
