"""MatNet end to end: training on real digits, likelihoods, Eq. 13; saving
and export through the HVAE contract (tests/hvae_test_case.py)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_hvae.models.matnet import MatNet, dequantize
from tests.conftest import require_tensorflow
from tests.hvae_test_case import run_hvae_contract
from tests.models.matnet.conftest import random_binary, tiny_conv_meta, tiny_matnet


@pytest.mark.backend_suite
def test_training_on_real_mnist_lowers_the_loss_then_evaluate_and_sample(binary_digits):
    x_train, x_test = binary_digits
    x_train, x_test = x_train[:512], x_test[:64]
    model = tiny_matnet(weight_norm=True, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = float(np.mean(model.elbo(x_test, seed=0)))
    history = model.fit(x_train, batch_size=64, epochs=3, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 10.0, losses
    assert history.history["skipped_updates"][-1] == 0
    after = float(np.mean(model.elbo(x_test, seed=0)))
    assert after > before + 10.0, (before, after)
    logs = model.evaluate(x_test, batch_size=32, verbose=0, return_dict=True)
    assert np.isfinite(logs["elbo"]) and logs["elbo"] < 0
    for name in model.latent_layer_names:
        assert f"kl_{name}" in logs
    samples = model.sample(4, seed=0)
    assert samples.shape == (4, 28, 28, 1)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    means = model.sample(2, seed=0, mean=True)
    assert means.min() >= 0 and means.max() <= 1


def test_seeded_calls_are_reproducible(tiny_binary):
    model = tiny_matnet(sizes=(7,))
    a, b = model.elbo(tiny_binary, seed=5), model.elbo(tiny_binary, seed=5)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(a, model.elbo(tiny_binary, seed=6))
    np.testing.assert_array_equal(model.sample(3, seed=2), model.sample(3, seed=2))
    kl = model.kl_per_layer(tiny_binary, seed=1)
    np.testing.assert_allclose(kl, model.kl_per_layer(tiny_binary, seed=1), rtol=1e-6)
    assert kl.shape == (16, 2)


def test_encode_iwae_and_reconstruct(tiny_binary):
    model = tiny_matnet()
    codes = model.encode(tiny_binary[:3])
    assert [c.shape for c in codes] == [(3, 14, 14, 2), (3, 7, 7, 2), (3, 4)]  # bottom layer first
    bound = model.iwae_bound(tiny_binary[:3], num_samples=4, chunk_size=2, seed=0)
    assert bound.shape == (3,) and np.all(np.isfinite(bound))
    assert model.reconstruct(tiny_binary[:2]).shape == (2, 28, 28, 1)


def test_fully_connected_matnet_trains(tiny_binary):
    model = MatNet.from_architecture("mnist_fc", fc_units=24, fc_modules=3, fc_z_dim=4, z0_dim=4, weight_norm=False, seed=0)
    assert model.latent_layer_names == ("z3_fc", "z2_fc", "z1_fc", "z0_fc")
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(tiny_binary, batch_size=8, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.kl_per_layer(tiny_binary[:2]).shape == (2, 4)
    assert model.sample(2, seed=0).shape == (2, 28, 28, 1)


def test_gaussian_and_integrated_logistic_likelihoods():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 8, 8, 3)).astype("uint8")
    meta = tiny_conv_meta(sizes=(4, 8))
    gauss = MatNet(data_shape=(8, 8, 3), likelihood="gaussian", fc_units=16, z0_dim=4, conv_meta_modules=meta, weight_norm=False)
    x = dequantize(images, seed=0)
    assert x.min() >= 0 and x.max() < 1
    assert np.all(np.isfinite(gauss.elbo(x)))
    logistic = MatNet(data_shape=(8, 8, 3), likelihood="discretized_logistic", fc_units=16, z0_dim=4, conv_meta_modules=meta, weight_norm=False)
    assert np.all(np.isfinite(logistic.elbo(images)))
    s = logistic.sample(2, seed=0)
    assert s.shape == (2, 8, 8, 3) and s.min() >= -1 - 1e-6 and s.max() <= 1 + 1e-6
    assert np.all(np.isfinite(MatNet(data_shape=(8, 8, 3), likelihood="bernoulli", fc_units=8, z0_dim=2,
                                     conv_meta_modules=meta, weight_norm=False).elbo(random_binary((2, 8, 8, 3)))))


def test_inference_regularizer_gradient_reaches_only_the_inference_networks(tiny_binary):
    require_tensorflow()
    import tensorflow as tf

    model = tiny_matnet(sizes=(7,), inference_regularizer_weight=1.0, prior="mixture", num_components=3)
    model.build()
    with tf.GradientTape() as tape:
        reg = model.inference_regularizer_loss(8, seed=0)
    gen_vars, inf_vars = model.generator_variables, model.inference_variables
    grads = tape.gradient(reg, gen_vars + inf_vars)
    gen_grads, inf_grads = grads[: len(gen_vars)], grads[len(gen_vars) :]
    assert len(gen_vars) > 0 and len(inf_vars) > 0
    for v, g in zip(gen_vars, gen_grads):
        assert g is None or not np.any(ops.convert_to_numpy(g)), v.path
    nonzero = [g is not None and np.any(ops.convert_to_numpy(g)) for g in inf_grads]
    assert all(nonzero), [v.path for v, n in zip(inf_vars, nonzero) if not n]
    # the ordinary objective still trains the generator
    with tf.GradientTape() as tape:
        loss, _ = model.compute_objective(tiny_binary[:8], training=False)
    assert any(g is not None and np.any(ops.convert_to_numpy(g)) for g in tape.gradient(loss, gen_vars))


def test_training_with_the_inference_regularizer_logs_the_sample_elbo(tiny_binary):
    model = tiny_matnet(sizes=(7,), inference_regularizer_weight=0.5)
    model.compile(optimizer="adam")
    history = model.fit(tiny_binary, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["sample_elbo"][-1])
    assert history.history["skipped_updates"][-1] == 0


def test_config_round_trip():
    model = MatNet.from_architecture(
        "omniglot_conv_gmm", channels=8, modules=2, fc_units=32, num_components=7,
        inference_regularizer_weight=0.3, free_bits=0.5, seed=3,
    )
    config = model.get_config()
    clone = MatNet.from_config(config)
    assert clone.get_config() == config
    assert clone.latent_layer_names == model.latent_layer_names
    ar = MatNet.from_architecture("cifar10_ar", channels=8, fc_units=16)
    assert MatNet.from_config(ar.get_config()).get_config() == ar.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(restored) is MatNet and restored.num_components == 7


@pytest.mark.backend_suite
def test_hvae_contract(tmp_path, tiny_binary):
    model = tiny_matnet(sizes=(7,), weight_norm=True, prior="mixture", num_components=3, seed=2)
    model.compile(optimizer="adam")
    model.fit(tiny_binary, batch_size=8, epochs=1, verbose=0)
    results = run_hvae_contract(model, tiny_binary[:8], tmp_path, endpoints=["elbo", "sample", "encode"])
    for loaded in (results["keras_file"], results["preset"]):
        np.testing.assert_allclose(loaded.cluster(tiny_binary[:4]), model.cluster(tiny_binary[:4]), atol=1e-5)
