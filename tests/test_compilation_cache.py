"""`keras-hvae` keeps JAX's compiled programs on disk (issue 11: JAX's
first step is XLA's compilation; a later process loads it instead)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from keras_hvae import cli

_PROBE = r"""
import json, os, sys
import jax, jax.numpy as jnp
from keras_hvae.utils.compilation_cache import enable_jax_compilation_cache
used = enable_jax_compilation_cache()
if used is not None:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # cache even this tiny program
    jax.jit(lambda a: jnp.sin(a) * 3.0 + a)(jnp.arange(5.0)).block_until_ready()
print(json.dumps({"used": None if used is None else str(used),
                  "max_size": jax.config.jax_compilation_cache_max_size}))
"""


def _probe(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("JAX_COMPILATION_CACHE_DIR", "KERAS_HVAE_JAX_CACHE")}
    environment.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XDG_CACHE_HOME=str(tmp_path / "xdg"),
                       TF_CPP_MIN_LOG_LEVEL="3", **env)
    done = subprocess.run([sys.executable, "-c", _PROBE], env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _entries(directory):
    return [p for p in Path(directory).rglob("*") if p.is_file()] if Path(directory).exists() else []


def test_the_default_cache_receives_the_compiled_programs(tmp_path):
    out = _probe(tmp_path)
    expected = tmp_path / "xdg" / "keras_hvae" / "jax_compilation_cache"
    assert Path(out["used"]) == expected
    assert _entries(expected), "no compiled program was written"
    assert out["max_size"] == 2 * 2**30


def test_a_cache_the_user_configured_is_kept_and_the_switch_turns_it_off(tmp_path):
    own = tmp_path / "own"
    out = _probe(tmp_path, JAX_COMPILATION_CACHE_DIR=str(own))
    assert Path(out["used"]) == own and _entries(own)
    assert out["max_size"] == -1  # the user's cache keeps JAX's own settings
    assert not (tmp_path / "xdg" / "keras_hvae").exists()
    off = _probe(tmp_path / "off", KERAS_HVAE_JAX_CACHE="0")
    assert off["used"] is None and not (tmp_path / "off" / "xdg" / "keras_hvae").exists()


def test_the_command_line_enables_it_for_the_commands_that_compute(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "enable_jax_compilation_cache", lambda: calls.append(1))
    assert cli.main(["version"]) == 0  # a light command imports no backend
    assert calls == []
    assert cli.main(["sample", "--preset", "no_such_preset"]) == 2
    assert calls == [1]
    assert "no_such_preset" in capsys.readouterr().err
