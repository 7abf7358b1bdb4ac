"""Recipes train into presets, resume after an interruption, and record scores."""

import json
import subprocess
import sys

import numpy as np
import keras
import pytest

from keras_hvae.training.recipes import Recipe, get_recipe, run_recipe
from keras_hvae.models import LinearGaussianVAE


def _data():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(6, 2))
    return (rng.normal(size=(320, 2)) @ W.T + 0.3 * rng.normal(size=(320, 6))).astype("float32")


def tiny_recipe():
    import tensorflow as tf

    x = _data()

    def build():
        m = LinearGaussianVAE(6, 2, sigma=0.3, seed=0)
        m.compile(optimizer=keras.optimizers.Adamax(1e-2))
        return m

    return Recipe(
        name="tiny_linear_gaussian",
        build_model=build,
        train_data=lambda: tf.data.Dataset.from_tensor_slices(x[:256]).batch(64),
        test_data=lambda: x[256:],
        epochs=2,
        iwae_samples=20,
        metadata={"dataset": "synthetic", "description": "test recipe"},
    )


def test_recipe_trains_into_a_preset_with_scores(tmp_path):
    preset_dir, meta = run_recipe(tiny_recipe(), tmp_path / "run", verbose=0)
    on_disk = json.loads((preset_dir / "metadata.json").read_text())
    assert on_disk["training_steps"] == 8 and on_disk["epochs"] == 2
    scores = on_disk["scores"]
    assert scores["test_iwae"]["num_samples"] == 20 and scores["num_test_examples"] == 64
    # IWAE(k=20) is a tighter bound than the ELBO on average
    assert scores["test_iwae"]["value"] > scores["test_elbo"]
    assert on_disk["wall_clock_seconds"] > 0 and on_disk["recipe"].endswith("tiny_linear_gaussian")
    loaded = LinearGaussianVAE.from_preset(str(preset_dir))
    assert loaded.count_params() == on_disk["parameters"]


def test_extra_scores_are_merged_into_the_preset_scores(tmp_path):
    import dataclasses

    seen = []

    def extra(model):
        seen.append(model)
        return {"test_error": 0.25}

    recipe = dataclasses.replace(tiny_recipe(), epochs=1, extra_scores=extra)
    preset_dir, _ = run_recipe(recipe, tmp_path / "run", verbose=0)
    scores = json.loads((preset_dir / "metadata.json").read_text())["scores"]
    assert scores["test_error"] == 0.25 and "test_elbo" in scores
    assert len(seen) == 1 and isinstance(seen[0], LinearGaussianVAE)


def test_the_semi_supervised_recipe_uses_100_balanced_labels():
    from keras_hvae.models.biva.biva_presets import RECIPES
    from keras_hvae.training.recipe_data import data_source

    recipe = get_recipe("biva_ssl_mnist100")
    # one stage of 38,000 steps, the cosine decay spanning all of them, within the two-hour budget
    assert recipe.base is None and recipe.steps_per_epoch * recipe.epochs == 38000
    config = RECIPES["biva_ssl_mnist100"]
    assert config["optimizer"]["config"]["learning_rate"]["config"]["decay_steps"] == 38000
    assert config["time_limit_s"] <= 2 * 3600
    source = data_source("binarized_mnist_100_labels")
    y = np.repeat(np.arange(10), 50)
    idx = source.labelled_indices(y)
    assert len(idx) == 100 and len(set(idx)) == 100
    np.testing.assert_array_equal(np.bincount(y[idx]), np.full(10, 10))
    np.testing.assert_array_equal(idx, data_source("binarized_mnist_100_labels").labelled_indices(y))  # seeded


def test_the_semi_supervised_recipe_logs_its_classifier_error_on_random_validation_digits():
    from keras_hvae.datasets import load_mnist
    from keras_hvae.evaluation.protocol import random_subset
    from keras_hvae.training.callbacks import ClassificationError
    from keras_hvae.training.recipe_data import data_source

    [callback] = data_source("binarized_mnist_100_labels", validation_limit=300).callbacks()
    idx = random_subset(10000, 300, 0)
    assert not np.array_equal(np.sort(idx), np.arange(300))  # drawn from the whole split, not its first digits
    np.testing.assert_array_equal(callback.y, load_mnist()["validation"][1][idx])
    assert callback.x.shape == (300, 28, 28, 1) and set(np.unique(callback.x)) == {0.0, 1.0}

    class Threshold(keras.Model):  # a fixed "classifier": class 1 when more than 100 pixels are on
        def classify(self, x):
            return (x.reshape(len(x), -1).sum(-1) > 100).astype("int64")

    callback.set_model(Threshold())
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    expected = np.mean((callback.x.reshape(300, -1).sum(-1) > 100).astype("int64") != callback.y)
    assert logs["val_error"] == pytest.approx(expected) and 0.5 < expected < 1.0 and logs["loss"] == 1.0
    assert data_source("binarized_mnist_100_labels", validation_limit=0).callbacks() == []
    with pytest.raises(ValueError, match="as many labels as inputs"):
        ClassificationError(np.zeros((3, 2)), np.zeros(2))


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    run_recipe(tiny_recipe(), tmp_path / "run", epochs=2, verbose=0)
    with pytest.raises(FileExistsError, match="--resume"):
        run_recipe(tiny_recipe(), tmp_path / "run", epochs=3, verbose=0)
    _, meta = run_recipe(tiny_recipe(), tmp_path / "run", epochs=3, resume=True, verbose=0)
    # two epochs were restored from the checkpoint, one more was trained
    assert meta["training_steps"] == 12
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["loss"]) == 3


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(ValueError, match="biva_binarized_mnist"):
        get_recipe("no_such_recipe")


def test_cli_help_is_fast_and_does_not_import_keras():
    code = "import sys, keras_hvae.cli as c; c.build_parser(); assert 'keras' not in sys.modules, 'keras imported'"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "keras_hvae.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "presets" in out.stdout and "export" in out.stdout
