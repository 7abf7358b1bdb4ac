"""The fortunes recipes: registered as data, and BIVA+LSTM and the RNN-VAE
at the same parameter budget (within 10%)."""

import pytest

from keras_hvae.models.text import text_architectures, text_presets
from keras_hvae.training.recipes import get_recipe


def test_recipes_are_registered_with_their_architectures():
    for name, data in text_presets.RECIPES.items():
        recipe = get_recipe(name)
        assert recipe.name == name and recipe.steps_per_epoch == 100
        assert recipe.metadata["training_config"]["model"]["class"] == data["model"]["class"]
        assert any(data["model"]["arguments"] == dict(args, seed=0)
                   for _, args in text_architectures.ARCHITECTURES.values())


def test_overrides_replace_the_schedule():
    recipe = get_recipe("rnn_vae_fortunes", epochs=2, time_limit_s=60)
    assert recipe.epochs == 2 and recipe.metadata["training_config"]["time_limit_s"] == 60
    with pytest.raises(ValueError, match="time_limit_s"):
        get_recipe("rnn_vae_fortunes", time_limit_s=-1)


def test_biva_lstm_and_rnn_vae_have_equal_parameter_budgets():
    counts = text_architectures.parameter_counts(["biva_lstm_cpu", "rnn_vae_cpu", "rnn_vae_free_bits_cpu"])
    assert counts["rnn_vae_cpu"] == counts["rnn_vae_free_bits_cpu"]
    assert counts["biva_lstm_cpu"] == pytest.approx(counts["rnn_vae_cpu"], rel=0.10)
