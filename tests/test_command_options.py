"""The command-option audit (issue 14, point 7): every option of every
`keras-hvae` command, given a bad value (a count <= 0, a temperature <= 0,
NaN or inf, a malformed number, a missing path, an unknown preset, recipe or
dataset name, a file that is not what was expected), prints one line naming
the option and what was expected, and exits with status 2: no traceback, no
output written, no model loaded (each case takes milliseconds).

`test_every_option_has_a_bad_value_case` walks the argparse parser: an option
added to a command without a case in `CASES` fails it."""

import argparse
from pathlib import Path

import pytest

from keras_hvae.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
MISSING = "/nonexistent/file"
NOT_JSON = str(ROOT / "README.md")  # a file that exists but is not a JSON config
A_FILE = str(ROOT / "pyproject.toml")  # an existing file where a directory is expected
A_DIRECTORY = str(ROOT / "tests")  # an existing directory where a file is expected
NOT_A_CONFIG = str(ROOT / "keras_hvae" / "presets" / "biva_binarized_mnist" / "metadata.json")  # JSON, wrong keys

#: What each command needs besides the option under test (given after it).
CONTEXT = {
    "presets": [],
    "sample": ["--preset", "p"],
    "evaluate": ["--preset", "p"],
    "train": ["--recipe", "r"],
    "export": ["--preset", "p", "--out", "exported"],
    "anomaly": ["--preset", "p"],
    "inpaint": ["--preset", "p"],
    "demo": [],
    "recipes": [],
    "version": [],
}

COUNT = ("expected a positive whole number (>= 1)", ["0", "-1", "2.5", "many", "nan", "inf", ""])
INDEX = ("expected a whole number >= 0", ["-1", "1.5", "x"])
PRECISION = ("invalid choice", ["float16", "half"])


def _cases():
    """(command, option, bad value, expected substring, context)."""
    table = []

    def add(command, option, values, expected, context=None):
        for value in values:
            table.append((command, option, value, expected, CONTEXT[command] if context is None else context))

    for command in ("sample", "evaluate", "train", "export", "anomaly", "inpaint", "demo"):
        add(command, "--precision", *PRECISION[1:], PRECISION[0])
    # ---- sample
    add("sample", "--num", COUNT[1], COUNT[0])
    add("sample", "--temperature", ["0", "-1", "nan", "inf", "-inf", "warm"], "expected a finite number > 0")
    add("sample", "--seed", INDEX[1], INDEX[0])
    add("sample", "--out", [A_FILE + "/samples.png"], "is a file, not a directory")
    add("sample", "--out", [A_DIRECTORY], "is a directory")
    add("sample", "--images-dir", [A_FILE, ""], "expected a directory")
    add("sample", "--images-dir", [A_FILE + "/images"], "is a file, not a directory")
    add("sample", "--preset", ["no-such-preset"], "expected a shipped preset name", context=[])
    add("sample", "--preset", [A_DIRECTORY], "expected a preset directory", context=[])
    # ---- evaluate
    for option in ("--iwae-samples", "--iwae-limit", "--limit", "--batch-size"):
        add("evaluate", option, COUNT[1], COUNT[0])
    add("evaluate", "--seed", INDEX[1], INDEX[0])
    add("evaluate", "--data", [MISSING, ""], "expected an existing file or directory")
    add("evaluate", "--dataset", ["no_such_dataset"], "expected a dataset name")
    add("evaluate", "--split", ["train", "bogus"], "invalid choice")
    add("evaluate", "--preset", ["no-such-preset"], "expected a shipped preset name", context=[])
    # distributed evaluation (another change adds these options)
    add("evaluate", "--num-processes", COUNT[1], COUNT[0])
    add("evaluate", "--process-id", INDEX[1], INDEX[0])
    add("evaluate", "--join-timeout", COUNT[1], COUNT[0])
    add("evaluate", "--heartbeat-timeout", COUNT[1], COUNT[0])
    add("evaluate", "--coordinator", ["nohostport", "host:port", "host:0"], "--coordinator",
        context=["--preset", "p", "--num-processes", "2", "--process-id", "0"])
    # ---- train
    for option in ("--epochs", "--eval-limit", "--iwae-samples", "--num-processes", "--heartbeat-timeout"):
        add("train", option, COUNT[1], COUNT[0])
    add("train", "--process-id", INDEX[1], INDEX[0])
    add("train", "--coordinator", ["nohostport", "host:port", "host:0"], "--coordinator",
        context=["--recipe", "r", "--num-processes", "2", "--process-id", "0"])
    add("train", "--recipe", ["no_such_recipe"], "expected a recipe name", context=[])
    add("train", "--config", [MISSING], "expected an existing JSON file", context=[])
    add("train", "--config", [NOT_JSON], "expected a JSON training config", context=[])
    add("train", "--config", [A_DIRECTORY], "expected an existing JSON file", context=[])
    add("train", "--config", [NOT_A_CONFIG], "unknown keys", context=[])
    add("train", "--out", [A_FILE], "expected a directory")
    add("train", "--out", [A_FILE + "/run"], "is a file, not a directory")
    # ---- export
    add("export", "--out", [A_FILE], "expected a directory", context=["--preset", "p"])
    add("export", "--preset", ["no-such-preset"], "expected a shipped preset name", context=["--out", "exported"])
    # ---- anomaly
    add("anomaly", "--k", INDEX[1], INDEX[0])
    add("anomaly", "--num-samples", COUNT[1], COUNT[0])
    add("anomaly", "--limit", COUNT[1], COUNT[0])
    add("anomaly", "--seed", INDEX[1], INDEX[0])
    add("anomaly", "--score", ["all", "LLR"], "invalid choice")
    add("anomaly", "--data", [MISSING], "expected an existing file or directory")
    add("anomaly", "--ood-data", [MISSING], "expected an existing file or directory")
    add("anomaly", "--dataset", ["no_such_dataset"], "expected a dataset name")
    add("anomaly", "--ood-dataset", ["no_such_dataset"], "expected a dataset name")
    add("anomaly", "--csv", [A_FILE + "/scores.csv"], "is a file, not a directory")
    add("anomaly", "--csv", [A_DIRECTORY], "is a directory")
    add("anomaly", "--out", [A_FILE + "/h.png"], "is a file, not a directory")
    add("anomaly", "--preset", ["no-such-preset"], "expected a shipped preset name", context=[])
    # ---- inpaint
    add("inpaint", "--num", COUNT[1], COUNT[0])
    add("inpaint", "--seed", INDEX[1], INDEX[0])
    add("inpaint", "--data", [MISSING], "expected an existing file or directory")
    add("inpaint", "--dataset", ["no_such_dataset"], "expected a dataset name")
    add("inpaint", "--out", [A_FILE + "/i.png"], "is a file, not a directory")
    add("inpaint", "--out", [A_DIRECTORY], "is a directory")
    add("inpaint", "--preset", ["no-such-preset"], "expected a shipped preset name", context=[])
    # ---- demo
    for option in ("--limit", "--iwae-samples", "--iwae-limit"):
        add("demo", option, COUNT[1], COUNT[0])
    add("demo", "--seed", INDEX[1], INDEX[0])
    add("demo", "--data", [MISSING], "expected an existing file or directory")
    add("demo", "--out", [A_FILE], "expected a directory")
    add("demo", "--preset", ["no-such-preset"], "expected a shipped preset name")
    # ---- presets
    add("presets", "name", ["no-such-preset"], "no shipped preset 'no-such-preset'")
    return table


CASES = _cases()

#: Options that take no value (flags, --help, --version): nothing to get wrong.
def _takes_a_value(action):
    return not (action.nargs == 0 or isinstance(action, (argparse._HelpAction, argparse._VersionAction,
                                                         argparse._SubParsersAction)))


def _argv(command, option, value, context):
    given = [value] if not option.startswith("-") else [f"{option}={value}"]  # "=": values like "-inf"
    return [command, *given, *context]


@pytest.mark.parametrize("command, option, value, expected, context", CASES,
                         ids=[f"{c[0]} {c[1]} {c[2]!r}" for c in CASES])
def test_a_bad_value_is_one_line_and_status_2(command, option, value, expected, context, capsys, tmp_path,
                                              monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written: the working directory stays empty
    # the value must be rejected before anything is loaded, trained or downloaded
    import keras_hvae.datasets.registry as datasets_registry
    import keras_hvae.training.recipes as recipes
    import keras_hvae.utils.presets as presets

    def must_not_run(*args, **kwargs):
        raise AssertionError("a bad option value reached a loader")

    for module, name in ((presets, "load_preset"), (recipes, "run_recipe"), (datasets_registry, "test_inputs")):
        monkeypatch.setattr(module, name, must_not_run)
    status = main(_argv(command, option, value, context))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, (status, captured.err)
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"keras-hvae {command}: error:"), lines[0]
    assert expected in lines[0], lines[0]
    if option.startswith("-"):
        assert option in lines[0], lines[0]  # names the option
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []  # no output, not even a partial one


def test_every_option_has_a_bad_value_case():
    covered = {(c[0], c[1]) for c in CASES}
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = []
    for name, sub in commands.items():
        for action in sub._actions:
            if not _takes_a_value(action):
                continue
            option = max(action.option_strings, key=len) if action.option_strings else action.dest
            if (name, option) not in covered:
                missing.append(f"{name} {option}")
    assert not missing, f"options without a bad-value case in tests/test_command_options.py: {missing}"


@pytest.mark.parametrize("argv, option", [
    (["evaluate", "--dataset", "bogus", "--preset", "p"], "--dataset"),  # parse time
    (["train", "--recipe", "no_such_recipe"], "--recipe"),  # right after parsing (the registry)
])
def test_the_installed_command_prints_only_the_line(argv, option):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "keras_hvae.cli", *argv], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and out.stdout == "", out
    assert len(lines) == 1 and option in lines[0] and "expected" in lines[0], out.stderr
