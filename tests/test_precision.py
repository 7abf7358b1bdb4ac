"""Precision by name: `precision_scope`, `from_preset(..., precision=)` and
the `--precision` option of the commands that load or train a model."""

import argparse
import json

import keras
import numpy as np
import pytest

from keras_hvae.cli import build_parser, main
from keras_hvae.utils.precision import (DEFAULT_EVALUATION_PRECISION, DEFAULT_TRAINING_PRECISION, PRECISIONS,
                                        canonical_precision, policy_name, precision_of, precision_scope)


def _global_policy():
    return keras.config.dtype_policy().name


# ----------------------------------------------------------------- the scope
def test_names_map_to_keras_policies_and_aliases_are_accepted():
    assert PRECISIONS == ("float32", "bfloat16")
    assert policy_name("float32") == "float32" and policy_name("bfloat16") == "mixed_bfloat16"
    assert canonical_precision("mixed_bfloat16") == "bfloat16"
    assert precision_of(keras.layers.Dense(2, dtype="mixed_bfloat16")) == "bfloat16"
    assert precision_of(keras.layers.Dense(2, dtype="float32")) == "float32"
    assert DEFAULT_TRAINING_PRECISION in PRECISIONS and DEFAULT_EVALUATION_PRECISION in PRECISIONS


@pytest.mark.parametrize("bad", ["float16", "bf16", "mixed_float16", "", None, 32])
def test_unknown_precision_names_the_allowed_values(bad):
    with pytest.raises(ValueError, match=r"Unknown precision .*'float32', 'bfloat16', 'mixed_bfloat16'"):
        canonical_precision(bad)


def test_an_unknown_precision_fails_before_the_policy_changes():
    before = _global_policy()
    with pytest.raises(ValueError, match="allowed"):
        with precision_scope("float16"):
            pass
    assert _global_policy() == before


@pytest.mark.parametrize("name, policy", [("bfloat16", "mixed_bfloat16"), ("mixed_bfloat16", "mixed_bfloat16"),
                                          ("float32", "float32")])
def test_the_scope_sets_and_restores_the_global_policy(name, policy):
    assert _global_policy() == "float32"
    with precision_scope(name) as active:
        assert _global_policy() == policy
        assert active == canonical_precision(name)
        assert keras.layers.Dense(2).compute_dtype == ("bfloat16" if policy == "mixed_bfloat16" else "float32")
    assert _global_policy() == "float32"


def test_the_scope_restores_the_previous_policy_after_an_exception():
    keras.config.set_dtype_policy("mixed_float16")  # not float32: the *previous* policy comes back
    try:
        with pytest.raises(RuntimeError, match="boom"):
            with precision_scope("bfloat16"):
                assert _global_policy() == "mixed_bfloat16"
                raise RuntimeError("boom")
        assert _global_policy() == "mixed_float16"
        with precision_scope(None) as active:  # None leaves the policy alone
            assert _global_policy() == "mixed_float16" and active == "mixed_float16"
    finally:
        keras.config.set_dtype_policy("float32")
    assert _global_policy() == "float32"


# ----------------------------------------------------------------- presets
def _tiny_biva():
    from keras_hvae.models.biva import BIVA

    return BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1,
                                  q_dropout=0.0, p_dropout=0.0, seed=0)


def _digits(n=16):
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(n, 28, 28, 1)) < 0.3).astype("float32")


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    model = _tiny_biva()
    model.build()
    model.initialize(_digits(32))  # data-dependent init: activations of a trained model's scale
    directory = tmp_path_factory.mktemp("precision") / "tiny_biva"
    model.save_to_preset(directory, metadata={"dataset": "binarized_mnist"})
    return directory


def _sublayers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


def test_from_preset_in_bfloat16_computes_in_bfloat16_with_float32_variables(tiny_preset):
    from keras_hvae.applications import BIVA

    x = _digits()
    model32 = BIVA.from_preset(str(tiny_preset))
    model16 = BIVA.from_preset(str(tiny_preset), precision="bfloat16")
    assert _global_policy() == "float32"  # loading left the global policy alone
    assert model16.dtype_policy.name == "mixed_bfloat16" and precision_of(model16) == "bfloat16"
    layers = _sublayers(model16)
    assert layers and all(layer.compute_dtype == "bfloat16" for layer in layers), \
        sorted({(type(layer).__name__, layer.compute_dtype) for layer in layers})
    assert all(layer.compute_dtype == "float32" for layer in _sublayers(model32))
    assert {v.dtype for v in model16.weights} == {"float32"}
    # the same weights in both
    for a, b in zip(model32.get_weights(), model16.get_weights()):
        np.testing.assert_array_equal(a, b)
    # same seed, same data: the bounds agree to bfloat16's rounding, and are not bit-identical
    e32 = np.asarray(model32.elbo(x, seed=0))
    e16 = np.asarray(model16.elbo(x, seed=0))
    assert e16.dtype == np.float32 and np.all(np.isfinite(e16))
    np.testing.assert_allclose(e16, e32, rtol=5e-3)
    assert abs(e16.mean() - e32.mean()) < 2e-3 * abs(e32.mean())
    assert not np.array_equal(e16, e32), "bfloat16 gave float32's bits: the policy did not apply"


def test_from_preset_without_weights_is_built_in_the_precision(tiny_preset):
    from keras_hvae.applications import BIVA

    model = BIVA.from_preset(str(tiny_preset), load_weights=False, precision="bfloat16")
    assert model.built and all(layer.compute_dtype == "bfloat16" for layer in _sublayers(model))


def test_from_preset_rejects_an_unknown_precision(tiny_preset):
    from keras_hvae.applications import BIVA

    with pytest.raises(ValueError, match="allowed: 'float32', 'bfloat16'"):
        BIVA.from_preset(str(tiny_preset), precision="float16")
    assert _global_policy() == "float32"


def test_the_documented_way_to_build_from_an_architecture():
    with precision_scope("bfloat16"):
        model = _tiny_biva()
        model.build()
    assert all(layer.compute_dtype == "bfloat16" for layer in _sublayers(model))
    assert {v.dtype for v in model.weights} == {"float32"}


# ----------------------------------------------------------------- the command line
def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices


# a shipped name: the command checks --preset before it loads (the load is stubbed below)
_P = "biva_binarized_mnist"
_REQUIRED = {"sample": ["--preset", _P], "evaluate": ["--preset", _P], "anomaly": ["--preset", _P],
             "inpaint": ["--preset", _P], "export": ["--preset", _P, "--out", "d"], "demo": [], "train": []}


@pytest.mark.parametrize("command", sorted(_REQUIRED))
def test_commands_parse_precision(command, capsys):
    parser, commands = _commands()
    args = parser.parse_args([command, *_REQUIRED[command]])
    assert args.precision == (None if command == "train" else DEFAULT_EVALUATION_PRECISION)
    assert parser.parse_args([command, *_REQUIRED[command], "--precision", "bfloat16"]).precision == "bfloat16"
    assert parser.parse_args([command, *_REQUIRED[command], "--precision", "mixed_bfloat16"]).precision == "bfloat16"
    with pytest.raises(SystemExit):
        parser.parse_args([command, *_REQUIRED[command], "--precision", "float16"])
    assert "choose from 'float32', 'bfloat16'" in capsys.readouterr().err
    text = " ".join(commands[command].format_help().split())
    assert "--precision {float32,bfloat16}" in text
    if command == "train":
        assert f"else {DEFAULT_TRAINING_PRECISION})" in text and "resumed run's" in text
    else:
        assert f"(default: {DEFAULT_EVALUATION_PRECISION})" in text


def test_only_commands_that_load_or_train_a_model_take_precision():
    _, commands = _commands()
    taking = {name for name, c in commands.items() if any("--precision" in a.option_strings for a in c._actions)}
    assert taking == set(_REQUIRED)


@pytest.mark.parametrize("command", sorted(set(_REQUIRED) - {"train"}))
def test_each_command_loads_the_preset_in_the_precision(command, monkeypatch, tmp_path):
    import keras_hvae.utils.presets as presets

    seen = []

    def load_preset(preset, load_weights=True, expected_class=None, precision=None):
        seen.append(precision)
        raise presets.PresetError("stop here")

    monkeypatch.setattr(presets, "load_preset", load_preset)
    argv = {"demo": ["demo", "--preset", _P, "--data", str(tmp_path), "--out", str(tmp_path / "demo")]}.get(
        command, [command, *_REQUIRED[command]])
    assert main(argv) == 2
    assert main(argv + ["--precision", "bfloat16"]) == 2
    assert seen == [DEFAULT_EVALUATION_PRECISION, "bfloat16"]


def test_sample_and_evaluate_run_in_bfloat16(tiny_preset, tmp_path, capsys, mnist_splits):
    out = tmp_path / "s.png"
    assert main(["sample", "--preset", str(tiny_preset), "--num", "4", "--seed", "0", "--out", str(out),
                 "--precision", "bfloat16"]) == 0
    assert out.stat().st_size > 100
    capsys.readouterr()
    assert main(["evaluate", "--preset", str(tiny_preset), "--limit", "8", "--iwae-samples", "2", "--json",
                 "--quiet", "--precision", "bfloat16"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["precision"] == "bfloat16" and np.isfinite(scores["test_elbo"])
    assert scores["num_test_examples"] == 8
    assert _global_policy() == "float32"


def test_export_in_bfloat16_writes_a_savedmodel_whose_bounds_are_float32(tiny_preset, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export needs TensorFlow")
    import tensorflow as tf

    for precision in ("bfloat16", "float32"):
        assert main(["export", "--preset", str(tiny_preset), "--out", str(tmp_path / precision), "--precision",
                     precision]) == 0
        loaded = tf.saved_model.load(str(tmp_path / precision))
        elbo = loaded.elbo(tf.constant(_digits(4)))
        assert elbo.dtype == tf.float32 and elbo.shape == (4,) and np.all(np.isfinite(elbo.numpy()))
        # the graph (with the functions it calls) computes in bfloat16 exactly when asked to
        graph = loaded.elbo.get_concrete_function(tf.TensorSpec((None, 28, 28, 1), tf.float32)).graph
        assert ("DT_BFLOAT16" in str(graph.as_graph_def())) == (precision == "bfloat16")
