"""The custom train step on every backend: learning, skipping bad updates, EMA."""

import numpy as np
import keras
import pytest

from keras_hvae.models import LinearGaussianVAE

pytestmark = pytest.mark.backend_suite


def synthetic(n=512, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(6, 2)) * 1.5
    z = rng.normal(size=(n, 2))
    return (z @ W.T + 0.3 * rng.normal(size=(n, 6))).astype("float32")


def test_fit_lowers_the_loss_and_reports_every_metric():
    x = synthetic()
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=1, free_bits=0.1, kl_warmup_steps=20)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = np.mean(model.elbo(x, seed=0))
    history = model.fit(x, batch_size=64, epochs=8, verbose=0)
    after = np.mean(model.elbo(x, seed=0))
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 1.0, losses
    assert after > before + 1.0, (before, after)
    for key in ("elbo", "reconstruction", "kl", "kl_z", "bits_per_dim", "skipped_updates"):
        assert key in history.history, key
    assert history.history["skipped_updates"][-1] == 0
    logs = model.evaluate(x, batch_size=128, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["elbo"], -(logs["reconstruction"] + logs["kl"]), rtol=1e-4)
    np.testing.assert_allclose(logs["bits_per_dim"], -logs["elbo"] / (6 * np.log(2)), rtol=1e-4)


class PoisonedLoss(LinearGaussianVAE):
    """Returns a NaN loss on batches whose first entry is marked."""

    def compute_objective(self, data, training=False):
        from keras import ops

        loss, logs = super().compute_objective(data, training)
        poisoned = ops.convert_to_tensor(data)[0, 0] > 1e3
        return ops.where(poisoned, ops.convert_to_tensor(float("nan")), loss), logs


def test_non_finite_update_is_skipped_and_counted():
    x = synthetic(128)
    bad = x.copy()
    bad[64, 0] = 1e4  # first example of the second batch
    model = PoisonedLoss(6, 2, sigma=0.3, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.build()
    start = [np.array(v) for v in model.get_weights()]
    reference = PoisonedLoss(6, 2, sigma=0.3, seed=3)
    reference.compile(optimizer=keras.optimizers.Adam(1e-2))
    reference.build()
    reference.set_weights(start)

    hist = model.fit(bad, batch_size=64, epochs=1, shuffle=False, verbose=0)
    reference.fit(x[:64], batch_size=64, epochs=1, shuffle=False, verbose=0)
    assert hist.history["skipped_updates"][-1] == 1
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert int(model.optimizer.iterations.numpy() if hasattr(model.optimizer.iterations, "numpy") else keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1


def test_gradient_clipping_bounds_the_first_update():
    x = synthetic(64)
    kwargs = dict(sigma=0.05, seed=4)  # small sigma: huge gradients
    clipped = LinearGaussianVAE(6, 2, clip_norm=1.0, **kwargs)
    free = LinearGaussianVAE(6, 2, **kwargs)
    for m in (clipped, free):
        m.compile(optimizer=keras.optimizers.SGD(1e-3))
        m.build()
    free.set_weights(clipped.get_weights())
    start = [np.array(w) for w in clipped.get_weights()]
    clipped.fit(x, batch_size=64, epochs=1, verbose=0, shuffle=False)
    free.fit(x, batch_size=64, epochs=1, verbose=0, shuffle=False)
    step_clipped = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(clipped.get_weights(), start)))
    step_free = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(free.get_weights(), start)))
    np.testing.assert_allclose(step_clipped, 1e-3 * 1.0, rtol=1e-3)
    assert step_free > 10 * step_clipped


def _train_with_ema(momentum, use_ema=True):
    x = synthetic(256)
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=5, deterministic_posterior=True)
    model.build()
    model.set_weights([np.full(w.shape, 0.05, "float32") for w in model.get_weights()])
    opt = keras.optimizers.Adamax(2e-2, use_ema=use_ema, ema_momentum=momentum)
    model.compile(optimizer=opt)
    model.fit(x, batch_size=64, epochs=3, verbose=0, shuffle=False)
    return [np.array(w) for w in model.get_weights()]


def test_train_step_feeds_the_optimizer_ema():
    # Keras' fit ends by writing the EMA into the weights
    # (finalize_variable_values). Momentum 0 makes the EMA the raw weights.
    plain = _train_with_ema(0.0, use_ema=False)
    ema0 = _train_with_ema(0.0)
    ema9 = _train_with_ema(0.9)
    for a, b in zip(plain, ema0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(plain, ema9))


def test_seeded_sampling_is_reproducible():
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=6)
    a = model.sample(5, seed=11)
    b = model.sample(5, seed=11)
    c = model.sample(5, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (5, 6)
    cold = model.sample(2000, temperature=0.0, seed=1, mean=True)
    np.testing.assert_allclose(cold, np.broadcast_to(cold[0], cold.shape), atol=1e-5)


def test_fit_on_a_tf_data_pipeline_raises_no_shuffle_warning():
    import warnings

    import tensorflow as tf

    x = synthetic()
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(64), epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)], [str(w.message) for w in caught]


def test_the_train_step_is_traced_once_with_the_optimizer_built_before(monkeypatch):
    """The optimizer's slots exist before the step is traced: on TensorFlow
    without a distribution strategy Keras would otherwise create them inside
    the first trace and trace the step a second time (the paper BIVA's first
    step took ~40 s instead of ~18 s)."""
    from keras_hvae.models import train_steps

    backend = keras.backend.backend()
    prefix = {"jax": "jax", "torch": "torch"}.get(backend, "tf")
    original = getattr(train_steps, f"{prefix}_train_step")
    calls = []

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(train_steps, f"{prefix}_train_step", counting)
    x = synthetic(64)
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=1)
    model.build()
    model.compile(optimizer=keras.optimizers.Adamax(1e-2))
    assert not model.optimizer.built
    model.make_train_function()
    assert model.optimizer.built
    for _ in range(3):
        model.train_on_batch(x[:32])
    # a compiled step runs its Python once (TF, JAX); torch runs it eagerly
    assert len(calls) == (3 if backend == "torch" else 1), len(calls)
