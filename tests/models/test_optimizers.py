"""keras_hvae's Adamax equals keras.optimizers.Adamax step for step."""

import numpy as np
import keras
import pytest

from keras_hvae.models import Adamax, LinearGaussianVAE

pytestmark = pytest.mark.backend_suite


def _trained(optimizer, steps=25):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    keras.utils.set_random_seed(0)  # the same initial weights for both optimizers
    model = LinearGaussianVAE(6, 2, sigma=0.3, seed=1)
    model.build()
    model.compile(optimizer=optimizer)
    for i in range(steps):
        model.train_on_batch(x[(i % 4) * 16:][:16])
    return model


@pytest.mark.parametrize("options", [{}, {"use_ema": True, "ema_momentum": 0.9},
                                     {"learning_rate": keras.optimizers.schedules.ExponentialDecay(5e-2, 5, 0.5)}])
def test_fused_adamax_matches_keras_adamax(options):
    kwargs = {"learning_rate": 5e-2, "beta_2": 0.99, **options}
    ours = _trained(Adamax(**kwargs))
    theirs = _trained(keras.optimizers.Adamax(**kwargs))
    assert int(ours.optimizer.iterations.numpy() if hasattr(ours.optimizer.iterations, "numpy")
               else keras.ops.convert_to_numpy(ours.optimizer.iterations)) == 25
    moved = 0.0
    for a, b, v0 in zip(ours.trainable_variables, theirs.trainable_variables, _trained(Adamax(**kwargs), 0).trainable_variables):
        a, b, v0 = (keras.ops.convert_to_numpy(t) for t in (a, b, v0))
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
        moved = max(moved, float(np.abs(a - v0).max()))
    assert moved > 1e-2  # the updates were applied
    for a, b in zip(ours.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=2e-5, atol=2e-6)


def test_fused_adamax_round_trips_its_config():
    optimizer = Adamax(learning_rate=1e-3, beta_1=0.8)
    restored = keras.optimizers.get(keras.optimizers.serialize(optimizer))
    assert type(restored) is Adamax
    assert restored.get_config() == optimizer.get_config()
