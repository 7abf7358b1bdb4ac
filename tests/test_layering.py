"""The package's layers only point down, and no module lists the families.

utils <- distributions, layers, datasets <- models (the core and the
families) <- evaluation <- training <- applications <- cli. Every import
statement of every module under keras_hvae/ (top level or inside a
function) is read from its source and checked against that order.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_hvae"

RANK = {
    "version": 0,
    "utils": 0,
    "distributions": 1,
    "layers": 1,
    "datasets": 1,
    "models": 2,
    "evaluation": 3,
    "training": 4,
    "applications": 5,
    "cli": 6,
    "__init__": 6,
}
FAMILIES = sorted(p.name for p in (PACKAGE / "models").iterdir() if (p / "__init__.py").is_file())


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "presets" not in p.relative_to(PACKAGE).parts[:1])


def _layer(path):
    first = path.relative_to(PACKAGE).parts[0]
    return first[:-3] if first.endswith(".py") else first


def _imported(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:  # `from keras_hvae import training`
                if node.module == "keras_hvae":
                    yield node.lineno, f"keras_hvae.{alias.name}"


def upward_imports(path):
    """`[(line, module)]` of the imports of `path` that point up a layer."""
    source = _layer(path)
    found = []
    for line, name in _imported(ast.parse(path.read_text(encoding="utf-8"))):
        parts = name.split(".")
        if parts[0] != "keras_hvae" or len(parts) < 2:
            continue
        if RANK[parts[1]] > RANK[source]:
            found.append((line, name))
    return found


def test_every_module_has_a_layer():
    unknown = {_layer(p) for p in _modules()} - set(RANK)
    assert not unknown, f"modules outside the known layers: {unknown}"


def test_no_module_imports_a_higher_layer():
    bad = [f"{p.relative_to(PACKAGE.parent)}:{line} imports {name}" for p in _modules()
           for line, name in upward_imports(p)]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_check_catches_an_upward_import(tmp_path):
    # the checker itself: a model module importing the training layer fails
    fake = PACKAGE / "models" / "_layering_probe.py"
    try:
        fake.write_text("def f():\n    from keras_hvae.training.recipes import get_recipe\n")
        assert upward_imports(fake) == [(2, "keras_hvae.training.recipes")]
    finally:
        fake.unlink()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_lists_the_families_by_hand(path):
    """A module outside a family never names two families' packages: families
    are found by `keras_hvae.utils.registry.load_families`."""
    text = path.read_text(encoding="utf-8")
    named = set(re.findall(r"keras_hvae\.models\.(\w+)", text)) & set(FAMILIES)
    own = path.relative_to(PACKAGE).parts
    if own[:1] == ("models",) and len(own) > 2:
        named.discard(own[1])
    assert len(named) <= 1, f"{path.name} names the families {sorted(named)}"
