"""`keras-hvae train --config FILE`: a JSON config trains into a preset, and
bad configs fail with errors that say what is allowed."""

import json

import pytest

from keras_hvae.training.config_recipes import load_config, recipe_from_config
from keras_hvae.cli import main

TINY = {
    "name": "tiny_biva",
    "model": {"class": "BIVA", "architecture": "binary_28x28",
              "overrides": {"filters": 4, "latent_sizes": [4, 2], "layers_per_block": 1,
                            "q_dropout": 0.0, "p_dropout": 0.0, "seed": 0}},
    "dataset": "binarized_mnist",
    "batch_size": 16,
    "epochs": 1,
    "steps_per_epoch": 3,
    "validation_limit": 32,
    "iwae_samples": 4,
    "eval_limit": 20,
    "iwae_limit": 5,
}


def test_a_config_file_trains_into_a_preset(tmp_path, mnist_splits):
    path = tmp_path / "tiny_biva.json"
    path.write_text(json.dumps(TINY))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 0
    meta = json.loads((tmp_path / "run" / "preset" / "metadata.json").read_text())
    assert meta["name"] == "tiny_biva" and meta["class_name"] == "BIVA" and meta["training_steps"] == 3
    assert meta["scores"]["num_test_examples"] == 20 and meta["scores"]["test_iwae"]["num_samples"] == 4
    assert meta["training_config"]["model"]["overrides"]["filters"] == 4
    from keras_hvae.applications import BIVA

    assert BIVA.from_preset(str(tmp_path / "run" / "preset")).filters[0] == 4


def test_a_config_fine_tunes_a_preset_from_its_weights(tmp_path, mnist_splits):
    import numpy as np

    from keras_hvae.applications import BIVA
    from keras_hvae.training.config_recipes import build_model

    first = dict(TINY, iwae_limit=2, eval_limit=8)
    assert main(["train", "--config", _write(tmp_path, "first", first), "--out", str(tmp_path / "a")]) == 0
    preset = str(tmp_path / "a" / "preset")
    tuned = dict(first, model={"class": "BIVA", "preset": preset}, seed=1)
    start = build_model(load_config(tuned))
    shipped = BIVA.from_preset(preset)
    for got, want in zip(start.weights, shipped.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert int(np.asarray(start.optimizer.iterations)) == 0  # a fresh optimizer
    assert main(["train", "--config", _write(tmp_path, "tuned", tuned), "--out", str(tmp_path / "b")]) == 0
    meta = json.loads((tmp_path / "b" / "preset" / "metadata.json").read_text())
    assert meta["training_config"]["model"] == {"class": "BIVA", "preset": preset}
    assert meta["training_steps"] == 3
    after = BIVA.from_preset(str(tmp_path / "b" / "preset"))
    assert after.filters == shipped.filters
    assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(after.weights, shipped.weights))


def test_a_two_stage_config_trains_a_base_then_fine_tunes_it(tmp_path, mnist_splits):
    import numpy as np

    from keras_hvae.applications import BIVA

    config = dict(TINY, iwae_limit=2, eval_limit=8, fine_tune={"epochs": 2, "seed": 1, "batch_size": 8})
    assert main(["train", "--config", _write(tmp_path, "two", config), "--out", str(tmp_path / "run")]) == 0
    base_meta = json.loads((tmp_path / "run" / "base" / "preset" / "metadata.json").read_text())
    meta = json.loads((tmp_path / "run" / "preset" / "metadata.json").read_text())
    assert base_meta["training_steps"] == 3 and "scores" not in base_meta  # the base stage is not scored
    assert base_meta["name"] == "tiny_biva_base" and meta["name"] == "tiny_biva"
    assert meta["training_steps"] == 6 and meta["epochs"] == 2  # a fresh optimizer: the second stage's steps
    assert meta["base"]["training_steps"] == 3 and meta["base"]["epochs"] == 1
    assert meta["base"]["weights_sha256"] == base_meta["weights_sha256"]
    assert meta["training_config"]["fine_tune"] == {"epochs": 2, "seed": 1, "batch_size": 8}
    assert meta["scores"]["num_test_examples"] == 8
    base = BIVA.from_preset(str(tmp_path / "run" / "base" / "preset"))
    tuned = BIVA.from_preset(str(tmp_path / "run" / "preset"))
    assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(base.weights, tuned.weights))
    # resuming keeps a finished base stage and resumes the second from its checkpoint
    base_file = tmp_path / "run" / "base" / "preset" / "metadata.json"
    stamp = base_file.stat().st_mtime_ns
    import shutil

    shutil.rmtree(tmp_path / "run" / "preset")
    assert main(["train", "--config", _write(tmp_path, "two", config), "--out", str(tmp_path / "run"),
                 "--resume"]) == 0
    assert base_file.stat().st_mtime_ns == stamp
    again = json.loads((tmp_path / "run" / "preset" / "metadata.json").read_text())
    assert again["weights_sha256"] == meta["weights_sha256"] and again["training_steps"] == 6


@pytest.mark.parametrize("fine_tune, message", [
    ({"seed": 1}, "with its 'epochs'"),
    ([1], "'fine_tune' must be an object"),
    ({"epochs": 1, "dataset": "binarized_mnist"}, "cannot change \\['dataset'\\]"),
    ({"epochs": 0}, "'epochs' must be a positive integer"),
])
def test_bad_fine_tune_stages_say_what_is_allowed(fine_tune, message):
    with pytest.raises(ValueError, match=message):
        load_config({**TINY, "fine_tune": fine_tune})


def test_a_learning_rate_schedule_in_the_config_decays_the_rate():
    import numpy as np

    from keras_hvae.models.optimizers import Adamax
    from keras_hvae.training.config_recipes import build_model

    spec = {"class_name": "keras_hvae>Adamax", "config": {"use_ema": True, "learning_rate": {
        "class_name": "CosineDecay", "config": {"initial_learning_rate": 2e-3, "decay_steps": 100, "alpha": 0.05}}}}
    config = load_config({**TINY, "optimizer": spec})
    assert config["optimizer"] == spec  # recorded as written (keras.optimizers.get edits what it is given)
    optimizer = build_model(config).optimizer
    assert isinstance(optimizer, Adamax) and optimizer.use_ema
    rates = []
    for step in (0, 50, 100, 1000):
        optimizer.iterations.assign(step)
        rates.append(float(np.asarray(optimizer.learning_rate)))
    # cosine decay: lr(t) = lr0 * ((1 - alpha) * (1 + cos(pi * min(t, T) / T)) / 2 + alpha)
    want = [2e-3 * ((1 - 0.05) * (1 + np.cos(np.pi * min(t, 100) / 100)) / 2 + 0.05) for t in (0, 50, 100, 1000)]
    np.testing.assert_allclose(rates, want, rtol=1e-5)
    assert load_config({**TINY, "fine_tune": {"epochs": 2, "optimizer": spec}})["fine_tune"]["optimizer"] == spec


def _write(tmp_path, name, config):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimiser": "adam"}, "unknown keys \\['optimiser'\\]"),
        ({"model": {"class": "GAN", "architecture": "x"}}, "'class' among"),
        ({"model": {"class": "BIVA"}}, "exactly one of 'architecture'"),
        ({"model": {"class": "BIVA", "preset": ""}}, "'model.preset' must be a preset name or directory"),
        ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
        ({"epochs": 0}, "'epochs' must be a positive integer"),
        ({"weights_dtype": "int8"}, "'weights_dtype': weights_dtype must be one of \\['float32', 'float16'\\]"),
        ({"optimizer": "adamw2"}, "'optimizer': 'adamw2' is not an optimizer"),
        ({"optimizer": {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": {"class_name": "Nope"}}}},
         "'optimizer': learning_rate .* is not a keras.optimizers.schedules object"),
    ],
)
def test_bad_configs_say_what_is_allowed(change, message):
    with pytest.raises(ValueError, match=message):
        load_config({**TINY, **change})
    config = dict(TINY)
    del config["epochs"]
    with pytest.raises(ValueError, match="missing required keys \\['epochs'\\]"):
        recipe_from_config(config)


def test_the_command_rejects_a_missing_or_broken_file(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "--config" in err and "no such file" in err and "nope.json" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "--config" in err and "which is not JSON" in err and "bad.json" in err
    assert main(["train"]) == 2
    assert "--recipe NAME" in capsys.readouterr().err


def test_the_documented_example_config_is_valid():
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```json\n(.*?)^```", page, re.S | re.M)
    assert blocks, "docs/cli.md has no json example"
    config = load_config(json.loads(blocks[0]))
    assert config["model"]["class"] == "BIVA" and config["epochs"] == 4
