"""Every command option is checked: a bad value is one line on stderr that
names the option and what was expected, exit status 2, no traceback; good
values are still accepted."""

import argparse
import subprocess
import sys

import numpy as np
import pytest

from keras_hvae.cli import build_parser, main, non_negative_int, positive_float, positive_int

MISSING = "/nonexistent/file"

#: (command line, the option its error must name)
BAD = [
    # sample
    (["sample", "--preset", "p", "--num", "0"], "--num"),
    (["sample", "--preset", "p", "--num", "-3"], "--num"),
    (["sample", "--preset", "p", "--num", "2.5"], "--num"),
    (["sample", "--preset", "p", "--num", "many"], "--num"),
    (["sample", "--preset", "p", "--temperature", "0"], "--temperature"),
    (["sample", "--preset", "p", "--temperature", "-1"], "--temperature"),
    (["sample", "--preset", "p", "--temperature", "nan"], "--temperature"),
    (["sample", "--preset", "p", "--temperature", "inf"], "--temperature"),
    (["sample", "--preset", "p", "--seed", "-1"], "--seed"),
    # inpaint
    (["inpaint", "--preset", "p", "--num", "0"], "--num"),
    (["inpaint", "--preset", "p", "--num", "-2"], "--num"),
    (["inpaint", "--preset", "p", "--data", MISSING], "--data"),
    (["inpaint", "--preset", "p", "--seed", "-4"], "--seed"),
    # anomaly
    (["anomaly", "--preset", "p", "--limit", "0"], "--limit"),
    (["anomaly", "--preset", "p", "--limit", "-9990"], "--limit"),
    (["anomaly", "--preset", "p", "--k", "-1"], "--k"),
    (["anomaly", "--preset", "p", "--k", "1.5"], "--k"),
    (["anomaly", "--preset", "p", "--num-samples", "0"], "--num-samples"),
    (["anomaly", "--preset", "p", "--num-samples", "-1"], "--num-samples"),
    (["anomaly", "--preset", "p", "--data", MISSING], "--data"),
    (["anomaly", "--preset", "p", "--ood-data", MISSING], "--ood-data"),
    (["anomaly", "--preset", "p", "--seed", "-1"], "--seed"),
    # train
    (["train", "--recipe", "r", "--epochs", "0"], "--epochs"),
    (["train", "--recipe", "r", "--epochs", "-1"], "--epochs"),
    (["train", "--recipe", "r", "--eval-limit", "0"], "--eval-limit"),
    (["train", "--recipe", "r", "--iwae-samples", "-5"], "--iwae-samples"),
    (["train", "--recipe", "r", "--precision", "float16"], "--precision"),
    # export
    (["export", "--preset", "p", "--out", "d", "--precision", "half"], "--precision"),
    # evaluate and demo
    (["evaluate", "--preset", "p", "--limit", "0"], "--limit"),
    (["evaluate", "--preset", "p", "--limit", "-9990"], "--limit"),
    (["evaluate", "--preset", "p", "--iwae-limit", "0"], "--iwae-limit"),
    (["evaluate", "--preset", "p", "--iwae-samples", "-1"], "--iwae-samples"),
    (["evaluate", "--preset", "p", "--seed", "-1"], "--seed"),
    (["demo", "--limit", "0"], "--limit"),
    (["demo", "--iwae-samples", "0"], "--iwae-samples"),
    (["demo", "--iwae-limit", "-1"], "--iwae-limit"),
    (["evaluate", "--preset", "p", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "--preset", "p", "--data", "/nonexistent/file"], "--data"),
    (["demo", "--data", "/nonexistent/file"], "--data"),
    (["demo", "--seed", "-3"], "--seed"),
]


def _id(case):
    return " ".join(case[0][:1] + case[0][-2:])


@pytest.mark.parametrize("argv, option", BAD, ids=[_id(c) for c in BAD])
def test_a_bad_value_is_one_line_naming_the_option_and_status_2(argv, option, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"keras-hvae {argv[0]}: error:") and option in err[0], err
    assert "Traceback" not in captured.err and captured.out == ""
    assert any(word in err[0] for word in ("expected", "must", "choose from")), err  # says what was expected


@pytest.mark.parametrize("argv, option", [BAD[0], BAD[11], BAD[23]], ids=["sample", "inpaint", "train"])
def test_the_installed_command_exits_2_without_a_traceback(argv, option):
    out = subprocess.run([sys.executable, "-m", "keras_hvae.cli", *argv], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "Traceback" not in out.stderr, out.stderr


def test_good_values_are_accepted(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["sample", "--preset", "p", "--num", "1", "--temperature", "0.5", "--seed", "0"])
    assert (args.num, args.temperature, args.seed) == (1, 0.5, 0)
    args = parser.parse_args(["anomaly", "--preset", "p", "--k", "0", "3", "--num-samples", "1", "--limit", "1e3",
                              "--data", str(tmp_path), "--ood-data", str(tmp_path), "--seed", "7"])
    assert (args.k, args.num_samples, args.limit, args.seed, args.data) == ([0, 3], 1, 1000, 7, str(tmp_path))
    args = parser.parse_args(["train", "--recipe", "r", "--epochs", "1", "--eval-limit", "5", "--iwae-samples", "2"])
    assert (args.epochs, args.eval_limit, args.iwae_samples) == (1, 5, 2)
    args = parser.parse_args(["inpaint", "--preset", "p", "--num", "3", "--data", str(tmp_path)])
    assert args.num == 3 and args.data == str(tmp_path)
    defaults = parser.parse_args(["anomaly", "--preset", "p"])
    assert (defaults.k, defaults.limit, defaults.num_samples, defaults.seed, defaults.data) == (None, 500, 1, 0, None)


@pytest.mark.parametrize("helper, good, bad", [
    (positive_int, {"1": 1, "64": 64, "1e3": 1000, "2.0": 2}, ["0", "-1", "2.5", "x", "nan", "inf", ""]),
    (non_negative_int, {"0": 0, "5": 5}, ["-1", "0.5", "x"]),
    (positive_float, {"1": 1.0, "0.25": 0.25, "1e-3": 1e-3}, ["0", "-0.5", "nan", "inf", "-inf", "x"]),
])
def test_the_shared_validators(helper, good, bad):
    for text, value in good.items():
        assert helper(text) == value and type(helper(text)) is type(value)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            helper(text)


def test_run_recipe_refuses_non_positive_overrides(tmp_path):
    from keras_hvae.training.recipes import run_recipe
    from tests.applications.test_training_recipes import tiny_recipe

    for option in ("epochs", "eval_limit", "iwae_samples"):
        for value in (0, -1, 2.5):
            with pytest.raises(ValueError, match=f"{option} must be a positive whole number"):
                run_recipe(tiny_recipe(), tmp_path / "run", verbose=0, **{option: value})
    assert not (tmp_path / "run").exists()  # nothing was trained or written


# ------------------------------------------------- checks that need the preset
@pytest.fixture(scope="module")
def tiny_biva(tmp_path_factory):
    from keras_hvae.models.biva import BIVA

    model = BIVA.from_architecture("binary_28x28", filters=4, latent_sizes=[4, 2], layers_per_block=1,
                                   q_dropout=0.0, p_dropout=0.0, seed=0)
    model.build()
    model.initialize((np.random.default_rng(1).uniform(size=(32, 28, 28, 1)) < 0.3).astype("float32"))
    directory = tmp_path_factory.mktemp("cli_arguments") / "tiny_biva"
    model.save_to_preset(directory, metadata={"dataset": "binarized_mnist"})
    return directory


@pytest.mark.parametrize("extra, message", [
    (["--k", "2"], "--k must be a whole number with 0 <= k < 2"),
    (["--k", "0", "7"], "--k must be a whole number with 0 <= k < 2"),
    (["--out", "h.png"], "--out draws in- against out-of-distribution histograms: it needs --ood-data"),
])
def test_anomaly_checks_against_the_preset(tiny_biva, tmp_path, extra, message, capsys):
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((4, 28, 28, 1), "float32"))
    assert main(["anomaly", "--preset", str(tiny_biva), "--data", str(data), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-hvae anomaly: error:") and message in err[0], err
