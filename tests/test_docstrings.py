"""Every `>>>` example in the docstrings of `keras_hvae/` runs (as in
keras-hub's docstring tests).

Each module's examples run with its own globals plus a namespace of tiny
inputs (`_namespace()`): a few binary digits as `x_train` / `x_test`, 8-bit
images, `np`, `keras`, `ops`, and as `model` a tiny untrained BIVA for the
examples that score with one. Examples that need a download or minutes of
compute carry `# doctest: +SKIP` with the reason next to them. TensorFlow
only (not part of the JAX / PyTorch backend suite): some examples show
TensorFlow-backed distributions.
"""

import doctest
import importlib
import pkgutil
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_hvae

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="docstrings run on TensorFlow")


def _all_module_names():
    names = [keras_hvae.__name__]
    for info in pkgutil.walk_packages(keras_hvae.__path__, prefix="keras_hvae."):
        names.append(info.name)
    return sorted(names)


def _module_names():
    """The modules whose source holds a `>>>` example (read as text, so
    collection imports nothing)."""
    root = Path(keras_hvae.__file__).parent
    out = []
    for name in _all_module_names():
        rel = Path(*name.split(".")[1:])
        path = root / rel / "__init__.py" if (root / rel).is_dir() else (root / rel).with_suffix(".py")
        if name == "keras_hvae":
            path = root / "__init__.py"
        if ">>>" in path.read_text(encoding="utf-8"):
            out.append(name)
    return out


_TINY = {}


def _tiny_biva():
    """`model` in the examples that score with a trained BIVA: a tiny one
    (4 filters, 4 levels), built once."""
    if "biva" not in _TINY:
        from keras_hvae.models.biva import BIVA

        model = BIVA.from_architecture(
            "binary_28x28", filters=4, latent_sizes=[4, 4, 2, 2], layers_per_block=1, seed=0
        )
        model.build()
        _TINY["biva"] = model
    return _TINY["biva"]


def _namespace():
    from keras import ops

    rng = np.random.default_rng(0)
    digits = (rng.uniform(size=(16, 28, 28, 1)) < 0.3).astype("float32")
    return {
        "np": np,
        "keras": keras,
        "ops": ops,
        "keras_hvae": keras_hvae,
        "x_train": digits[:8],
        "x_test": digits[8:],
        "x_test_mnist": digits[8:],
        "x_test_noise": (rng.uniform(size=(8, 28, 28, 1)) < 0.5).astype("float32"),
        "images_uint8": rng.integers(0, 256, size=(2, 8, 8, 3)).astype("uint8"),
        "binary_images": digits[:2],
        "model": _tiny_biva(),
    }


FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", _module_names())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name)
    tests = [t for t in tests if t.examples and (getattr(t, "filename", None) or "").endswith(".py")]
    if not tests:
        pytest.skip(f"{name} has no docstring examples")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in tests:
        keras.utils.set_random_seed(0)
        test.globs.update(_namespace())
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples failed:\n" + "".join(report)


def test_every_module_with_examples_is_collected():
    # keeps the collection honest: modules with examples exist and are found
    found = 0
    for name in _all_module_names():
        module = importlib.import_module(name)
        found += sum(len(t.examples) for t in doctest.DocTestFinder().find(module, name))
    assert found > 50, found
