"""A new family is added through the public registration API alone.

A toy family lives in a temporary package outside keras_hvae, declared by
an installed distribution's `keras_hvae.families` entry point (exactly what
a third-party package would ship). The command, in fresh processes, finds
its preset and recipe by name, loads the preset and exports it, and
`keras_hvae.applications` serves its class.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

TOY_FAMILY = textwrap.dedent(
    '''
    """A toy family: a linear-Gaussian VAE under another name."""
    from pathlib import Path

    import keras

    from keras_hvae.models import LinearGaussianVAE
    from keras_hvae.utils.registry import register_models, register_presets, register_recipes


    @keras.saving.register_keras_serializable(package="toy_family")
    class ToyVAE(LinearGaussianVAE):
        """The family's model class."""


    register_models(ToyVAE)
    register_presets({"toy_preset": Path(__file__).parent / "presets" / "toy_preset"}, ToyVAE)
    register_recipes({
        "toy_recipe": {
            "model": {"class": "ToyVAE", "arguments": {"data_dim": 4, "latent_dim": 2}},
            "dataset": "binarized_mnist",
            "epochs": 1,
            "metadata": {"description": "the toy family's recipe"},
        }
    })
    '''
)


def _run(args, env, code=None):
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "keras_hvae.cli", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.fixture()
def toy_env(tmp_path):
    package = tmp_path / "toy_family"
    package.mkdir()
    (package / "__init__.py").write_text(TOY_FAMILY)
    dist = tmp_path / "toy_family-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-family\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[keras_hvae.families]\ntoy = toy_family\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    return tmp_path, env


def test_a_toy_family_is_found_loaded_and_exported_by_name(toy_env):
    root, env = toy_env
    # The family's own model writes its preset where the family registered it.
    _run([], env, code=(
        "import numpy as np, toy_family\n"
        "m = toy_family.ToyVAE(4, 2, seed=0)\n"
        f"m.save_to_preset({str(root / 'toy_family' / 'presets' / 'toy_preset')!r}, "
        "metadata={'dataset': 'synthetic', 'scores': {}})\n"
    ))
    listed = json.loads(_run(["presets", "--json"], env))
    assert listed["toy_preset"]["class_name"] == "ToyVAE"
    assert "biva_binarized_mnist" in listed  # the built-in families are still there
    assert "toy_recipe: the toy family's recipe" in _run(["recipes"], env)
    # the public name and `from_preset` by name, in a process that never imports toy_family itself
    out = _run([], env, code=(
        "import numpy as np\n"
        "from keras_hvae.applications import ToyVAE, BIVA\n"
        "m = ToyVAE.from_preset('toy_preset')\n"
        "print(type(m).__module__, sorted(ToyVAE.presets), m.elbo(np.zeros((3, 4), 'float32'), seed=0).shape)\n"
        "assert 'toy_preset' not in BIVA.presets\n"
    ))
    assert out.split() == ["toy_family", "['toy_preset']", "(3,)"]
    _run(["export", "--preset", "toy_preset", "--out", str(root / "saved")], env)
    assert (root / "saved" / "saved_model.pb").is_file()


def test_a_family_that_fails_to_import_is_reported_not_hidden(toy_env):
    root, env = toy_env
    (root / "toy_family" / "__init__.py").write_text("raise ImportError('the toy family is broken')\n")
    out = subprocess.run([sys.executable, "-m", "keras_hvae.cli", "recipes"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0 and "biva_binarized_mnist" in out.stdout
    assert "the toy family is broken" in out.stderr and "toy_family" in out.stderr
