"""Bad inputs get clear errors; `.keras` round trips keep the bound."""

import numpy as np
import keras
import pytest

from keras_hvae.models import LinearGaussianVAE
from tests.conftest import require_tensorflow


@pytest.mark.backend_suite
@pytest.mark.parametrize(
    "x,match",
    [
        (np.zeros((4, 6, 1), "float32"), "rank 2"),
        (np.zeros((4, 7), "float32"), r"shape \(6,\)"),
        (np.array([["a"] * 6]), "numeric"),
        (np.full((2, 6), np.nan, "float32"), "NaN/Inf"),
        (np.full((2, 6), np.inf, "float32"), "NaN/Inf"),
    ],
)
def test_bad_inputs_raise_clear_errors(x, match):
    model = LinearGaussianVAE(6, 2)
    with pytest.raises(ValueError, match=match):
        model.elbo(x)


@pytest.mark.backend_suite
def test_config_round_trip():
    model = LinearGaussianVAE(6, 3, sigma=0.2, free_bits=1.5, kl_warmup_steps=10, beta=0.5, clip_norm=3.0, seed=4)
    clone = LinearGaussianVAE.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.free_bits == 1.5 and clone.clip_norm == 3.0 and clone.latent_dim == 3


@pytest.mark.backend_suite
def test_keras_file_round_trip_keeps_the_elbo(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    model = LinearGaussianVAE(6, 2, sigma=0.5, seed=2)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=32, epochs=2, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is LinearGaussianVAE
    np.testing.assert_allclose(loaded.elbo(x, seed=7), model.elbo(x, seed=7), rtol=1e-5, atol=1e-5)
