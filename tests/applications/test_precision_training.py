"""Training precision: the config key `precision`, `keras-hvae train
--precision`, the precision recorded in metadata.json, and `--resume`
training in the precision of the run it resumes."""

import dataclasses
import json

import keras
import pytest

from keras_hvae.cli import main
from keras_hvae.training.config_recipes import load_config
from keras_hvae.training.recipes import training_precision
from keras_hvae.utils.precision import DEFAULT_TRAINING_PRECISION

from tests.applications.test_config_recipes import TINY


def _meta(run):
    return json.loads((run / "preset" / "metadata.json").read_text())


def test_the_config_key_defaults_to_the_one_constant_and_is_validated():
    assert load_config(TINY)["precision"] == DEFAULT_TRAINING_PRECISION
    assert load_config({**TINY, "precision": "mixed_bfloat16"})["precision"] == "bfloat16"
    with pytest.raises(ValueError, match=r"'precision': Unknown precision 'fp16'; allowed: 'float32', 'bfloat16'"):
        load_config({**TINY, "precision": "fp16"})


@dataclasses.dataclass
class _Recipe:
    precision: str = None


def test_which_precision_a_run_trains_in(tmp_path):
    assert training_precision(_Recipe(), tmp_path) == DEFAULT_TRAINING_PRECISION
    assert training_precision(_Recipe("bfloat16"), tmp_path) == "bfloat16"
    assert training_precision(_Recipe("bfloat16"), tmp_path, precision="float32") == "float32"
    (tmp_path / "run_state.json").write_text(json.dumps({"precision": "bfloat16"}))
    assert training_precision(_Recipe("float32"), tmp_path, resume=True) == "bfloat16"  # the resumed run's
    assert training_precision(_Recipe("float32"), tmp_path, resume=False) == "float32"  # a fresh run: the recipe's
    assert training_precision(_Recipe("bfloat16"), tmp_path, resume=True, precision="float32") == "float32"
    with pytest.raises(ValueError, match="allowed"):
        training_precision(_Recipe(), tmp_path, precision="half")


def test_train_in_bfloat16_records_it_and_resume_keeps_it(tmp_path, mnist_splits):
    config = tmp_path / "tiny_biva.json"
    config.write_text(json.dumps(TINY))  # no precision key: the default, overridden below
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(run), "--precision", "bfloat16"]) == 0
    meta = _meta(run)
    assert meta["precision"] == "bfloat16" and meta["training_config"]["precision"] == "bfloat16"
    assert json.loads((run / "run_state.json").read_text())["precision"] == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # training left the global policy alone

    # --resume without --precision: the run's own precision, not the config's default
    assert main(["train", "--config", str(config), "--out", str(run), "--resume", "--epochs", "2"]) == 0
    meta = _meta(run)
    assert meta["precision"] == "bfloat16" and meta["training_steps"] == 6

    # --precision overrides a resumed run's (the float32 variables load either way)
    assert main(["train", "--config", str(config), "--out", str(run), "--resume", "--epochs", "3",
                 "--precision", "float32"]) == 0
    meta = _meta(run)
    assert meta["precision"] == "float32" and meta["training_steps"] == 9

    # the preset loads in either precision, float32 unless asked
    from keras_hvae.applications import BIVA

    assert BIVA.from_preset(str(run / "preset")).compute_dtype == "float32"
    assert BIVA.from_preset(str(run / "preset"), precision="bfloat16").compute_dtype == "bfloat16"


def test_the_config_key_sets_the_precision(tmp_path, mnist_splits):
    config = tmp_path / "tiny_biva.json"
    config.write_text(json.dumps({**TINY, "precision": "bfloat16", "eval_limit": 8, "iwae_limit": 2}))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    assert _meta(tmp_path / "run")["precision"] == "bfloat16"
