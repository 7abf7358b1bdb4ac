"""Every option of every command has help text that states its default."""

import argparse
import subprocess
import sys

import pytest

from keras_hvae.cli import build_parser


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_says_what_it_does_and_its_default(name):
    command = _commands()[name]
    text = command.format_help()
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"`keras-hvae {name} {action.option_strings}` has no help text"
        if action.required or action.nargs == 0:  # required options and flags have no default
            continue
        shown = command._get_formatter()._get_help_string(action) % {"default": action.default}
        assert "default" in shown and shown.split("(default")[0].strip() in " ".join(text.split()), (name, shown)


def test_help_runs_for_every_command_without_importing_keras():
    for name, command in _commands().items():
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_hvae.cli", name, "--help"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith(f"usage: keras-hvae {name}"), (name, out.stderr[-500:])
        for action in command._actions:
            assert all(opt in out.stdout for opt in action.option_strings), (name, action.option_strings)
        assert "| keras\n" not in out.stderr and "keras.src" not in out.stderr, f"{name} --help imported keras"


def test_a_command_that_loads_a_model_prints_no_backend_log_block(tmp_path):
    import os

    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-m", "keras_hvae.cli", "sample", "--preset", "matnet_binarized_mnist",
                          "--num", "4", "--seed", "0", "--out", str(tmp_path / "s.png")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "s.png").stat().st_size > 500
    for noise in ("oneDNN", "absl::InitializeLog", "cuda drivers"):
        assert noise not in out.stderr, out.stderr[-2000:]
