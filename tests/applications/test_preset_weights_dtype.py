"""Half-size presets: a float16 weights file loads into float32 variables
holding the rounded values, the recipe scores what it ships, and
`rescore_preset` measures the same scores again from the files alone."""

import json

import h5py
import keras
import numpy as np
import pytest

from keras_hvae.utils.presets import (
    PresetError,
    canonical_weights_dtype,
    convert_weights_file,
    load_preset,
    round_weights,
    save_preset,
)


def _arrays(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _tiny_biva():
    from keras_hvae.applications import BIVA

    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1, seed=0)
    model.build()
    return model


def test_converting_a_weights_file_rounds_its_float_arrays_and_keeps_the_rest(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(300), keras.layers.BatchNormalization()])
    model.layers[0].kernel.assign(np.linspace(-3.0, 3.0, 900).reshape(3, 300).astype("float32") + 1e-4)
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    before = _arrays(path)
    size = path.stat().st_size
    convert_weights_file(path, "float16")
    after = _arrays(path)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        assert after[name].dtype == (np.float16 if value.dtype == np.float32 else value.dtype), name
        np.testing.assert_array_equal(after[name], value.astype(after[name].dtype))
    assert path.stat().st_size < 0.75 * size  # the deleted float32 arrays are repacked away
    twin = keras.Sequential([keras.Input((3,)), keras.layers.Dense(300), keras.layers.BatchNormalization()])
    twin.load_weights(path)
    assert all(w.dtype == "float32" for w in twin.weights)
    kernel = keras.ops.convert_to_numpy(twin.layers[0].kernel)
    original = keras.ops.convert_to_numpy(model.layers[0].kernel)
    np.testing.assert_array_equal(kernel, original.astype("float16").astype("float32"))
    assert np.abs(kernel - original).max() > 0  # it did round


def test_values_beyond_float16_are_refused_and_the_file_is_left_as_it_was(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.layers[0].kernel.assign(np.full((2, 2), 1e6, "float32"))
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    content = path.read_bytes()
    with pytest.raises(ValueError, match="beyond float16's range"):
        convert_weights_file(path, "float16")
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["m.weights.h5"]  # no temporary left


def test_unknown_weights_dtypes_name_the_allowed_ones():
    assert canonical_weights_dtype(None) == "float32"
    with pytest.raises(ValueError, match=r"one of \['float32', 'float16'\]; got 'bfloat16'"):
        canonical_weights_dtype("bfloat16")


def test_a_float16_preset_computes_what_the_rounded_model_computes(tmp_path):
    model = _tiny_biva()
    x = (np.random.default_rng(0).uniform(size=(6, 28, 28, 1)) < 0.3).astype("float32")
    full = save_preset(model, tmp_path / "f32")
    half = save_preset(model, tmp_path / "f16", weights_dtype="float16")
    assert full["weights_dtype"] == "float32" and half["weights_dtype"] == "float16"
    float_bytes = sum(v.nbytes for v in _arrays(tmp_path / "f32" / "model.weights.h5").values() if v.dtype == np.float32)
    saved = (tmp_path / "f32" / "model.weights.h5").stat().st_size - (tmp_path / "f16" / "model.weights.h5").stat().st_size
    assert saved >= 0.45 * float_bytes  # half of every float array (small files are mostly HDF5 headers)
    loaded = load_preset(str(tmp_path / "f16"))
    assert loaded.preset_metadata["weights_dtype"] == "float16"
    round_weights(model, "float16")
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    np.testing.assert_allclose(np.asarray(loaded.elbo(x, seed=3)), np.asarray(model.elbo(x, seed=3)), rtol=1e-6)


def test_rescoring_needs_the_data_the_preset_records(tmp_path):
    from keras_hvae.training.rescore import rescore_preset

    save_preset(_tiny_biva(), tmp_path / "p", metadata={"name": "not_a_recipe"})
    with pytest.raises(PresetError, match="records no training_config with a dataset and no recipe"):
        rescore_preset(str(tmp_path / "p"))


def test_a_float16_recipe_scores_what_it_ships_and_rescoring_measures_it_again(tmp_path, mnist_splits):
    from keras_hvae.cli import main
    from keras_hvae.training.rescore import rescore_preset
    from tests.applications.test_config_recipes import TINY

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(dict(TINY, weights_dtype="float16")))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    preset = tmp_path / "run" / "preset"
    meta = json.loads((preset / "metadata.json").read_text())
    assert meta["weights_dtype"] == "float16" and meta["training_config"]["weights_dtype"] == "float16"
    assert {v.dtype for v in _arrays(preset / "model.weights.h5").values() if v.dtype.kind == "f"} == {np.dtype("float16")}
    assert meta["scores"]["precision"] == meta["precision"]
    # the preset's files alone give the scores the recipe recorded (same draws, same seeds)
    again = rescore_preset(str(preset), verbose=0)
    assert again["num_test_examples"] == 20 and again["test_iwae"]["num_examples"] == 5
    np.testing.assert_allclose(again["test_elbo"], meta["scores"]["test_elbo"], rtol=1e-5)
    np.testing.assert_allclose(again["test_iwae"]["value"], meta["scores"]["test_iwae"]["value"], rtol=1e-5)
    rescore_preset(str(preset), iwae_samples=2, write=True, reason="k = 2 for the test", verbose=0)
    written = json.loads((preset / "metadata.json").read_text())
    assert written["scores"]["test_iwae"]["num_samples"] == 2 and written["weights_sha256"] == meta["weights_sha256"]
    correction = written["corrections"][-1]
    assert correction["why"] == "k = 2 for the test" and correction["old"]["test_elbo"] == meta["scores"]["test_elbo"]
    assert correction["new"]["test_iwae"] == written["scores"]["test_iwae"]["value"]
    from keras_hvae.applications import BIVA

    BIVA.from_preset(str(preset))  # still verifies: the weights were not touched
