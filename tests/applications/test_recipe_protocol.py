"""Recipes follow the evaluation protocol: the data sources give the whole
test split, a recipe's `eval_limit` is a seeded random draw (never the first
N), and the IWAE default is 1,000 examples drawn at random."""

import numpy as np
import pytest

from keras_hvae.evaluation.protocol import random_subset
from keras_hvae.training.config_recipes import load_config
from keras_hvae.training.recipe_data import SOURCES, data_source
from keras_hvae.utils import registry

N = 48


@pytest.fixture
def split(monkeypatch):
    """`test_inputs` gives a fixed split of N examples and records the limit asked for."""
    import keras_hvae.datasets.registry as datasets_registry

    x = np.arange(N, dtype="float32").reshape(N, 1)
    asked = []

    def test_inputs(dataset, path=None, split="test", limit=None, seed=123):
        asked.append(limit)
        return x if limit is None else x[:limit]

    monkeypatch.setattr(datasets_registry, "test_inputs", test_inputs)
    return x, asked


# (the structured-prediction source scores its own random draw: tests/applications/test_structured_prediction_recipe.py)
@pytest.mark.parametrize("name", sorted(n for n in SOURCES if n not in ("fortunes", "binarized_mnist_quadrants")))
def test_image_sources_give_the_whole_split_whatever_the_limit(name, split):
    x, asked = split
    source = data_source(name, eval_limit=10)
    np.testing.assert_array_equal(source.test(), x)
    assert asked == [None]  # never "the first N"
    np.testing.assert_array_equal(source.eval_indices(N), random_subset(N, 10, 0))
    assert list(source.eval_indices(N)) != list(range(10))
    np.testing.assert_array_equal(data_source(name).eval_indices(N), np.arange(N))


def test_the_text_source_gives_the_whole_split(monkeypatch):
    source = data_source("fortunes", eval_limit=3)
    sentences = [f"sentence {i}" for i in range(10)]
    monkeypatch.setattr(type(source), "data", lambda self: {"test": sentences})
    assert source.test() == sentences
    assert "3 sentences drawn uniformly at random" in source.describe()["split"]


def test_the_default_iwae_subset_is_the_protocols_1000():
    config = load_config({"model": {"class": "BIVA", "architecture": "binary_28x28"}, "dataset": "binarized_mnist",
                          "epochs": 1})
    assert config["iwae_limit"] == 1000 and config["eval_limit"] is None and config["iwae_samples"] == 1000


def test_shipped_image_recipes_follow_the_protocol_and_text_recipes_say_why_not():
    recipes = registry.recipes()
    for name, recipe in recipes.items():
        if recipe["dataset"] == "fortunes":
            # smaller on purpose (every importance sample reruns the LSTM decoder), and said so
            assert recipe["eval_limit"] == 200 and recipe["iwae_samples"] == 100, name
            assert "drawn at random" in recipe["metadata"]["notes"] and "LSTM decoder" in recipe["metadata"]["notes"]
        else:
            config = load_config(recipe)
            assert config["iwae_limit"] >= 1000 and config["iwae_samples"] >= 1000, name
            assert config["eval_limit"] is None, name  # the ELBO on the whole split

