"""The fortunes recipes: registered, and BIVA+LSTM and the RNN-VAE at the
same parameter budget (within 10%)."""

import pytest

from keras_hvae.training.recipes import get_recipe
from keras_hvae.models.text import text_recipes


def test_recipes_are_registered():
    for name in text_recipes.MODELS:
        recipe = get_recipe(name)
        assert recipe.name == name and recipe.steps_per_epoch == 100
        assert recipe.metadata["model"]["class"] == text_recipes.MODELS[name][0]


def test_biva_lstm_and_rnn_vae_have_equal_parameter_budgets():
    counts = text_recipes.parameter_counts(["biva_lstm_fortunes", "rnn_vae_fortunes", "rnn_vae_free_bits_fortunes"])
    assert counts["rnn_vae_fortunes"] == counts["rnn_vae_free_bits_fortunes"]
    assert counts["biva_lstm_fortunes"] == pytest.approx(counts["rnn_vae_fortunes"], rel=0.10)
