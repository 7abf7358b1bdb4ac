"""A model reloaded from `.keras` keeps its `preset_metadata` (issue 15)."""

import keras
import numpy as np
import pytest

from keras_hvae.models.biva import BIVA

pytestmark = pytest.mark.backend_suite


def _tiny():
    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[3, 2], layers_per_block=1, seed=0)
    model.initialize((np.random.default_rng(0).uniform(size=(4, 28, 28, 1)) < 0.3).astype("float32"))
    return model


def test_keras_archive_keeps_preset_metadata(tmp_path):
    model = _tiny()
    model.preset_metadata = {"dataset": "binarized_mnist", "scores": {"test_elbo": -90.5, "test_iwae": None}}
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.preset_metadata == model.preset_metadata
    x = (np.random.default_rng(1).uniform(size=(2, 28, 28, 1)) < 0.3).astype("float32")
    np.testing.assert_allclose(reloaded.elbo(x, seed=0), model.elbo(x, seed=0), rtol=1e-5)


def test_a_shipped_preset_reloads_with_its_metadata(tmp_path):
    from keras_hvae.applications import MatNet

    model = MatNet.from_preset("matnet_binarized_mnist")
    path = tmp_path / "p.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.preset_metadata == model.preset_metadata
    assert reloaded.preset_metadata["scores"]["test_elbo"] == model.preset_metadata["scores"]["test_elbo"]


def test_a_model_without_metadata_reloads_without(tmp_path):
    model = _tiny()
    model.save(tmp_path / "n.keras")
    assert not getattr(keras.saving.load_model(tmp_path / "n.keras"), "preset_metadata", None)
