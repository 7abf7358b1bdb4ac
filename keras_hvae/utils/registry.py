"""The family registry: model classes, presets and recipes, by name.

Every model family registers itself from its package's ``__init__.py``,
the way keras-hub's ``models/<name>/__init__.py`` registers its presets::

    from keras_hvae.utils.registry import register_models, register_presets, register_recipes

    register_models(MyModel)
    register_presets(my_model_presets.PRESETS, MyModel)
    register_recipes(my_model_presets.RECIPES)

Nothing lists the families by hand. `load_families()` imports every
subpackage of `keras_hvae.models` (each is a family) and every module
named by an installed package's ``keras_hvae.families`` entry point, so a
family that lives in another distribution is found the same way::

    [project.entry-points."keras_hvae.families"]
    my_family = "my_package.my_family"

Presets and recipes are data here: a preset is a directory (with
``config.json``, ``metadata.json`` and ``model.weights.h5``); a recipe is
the dict that ``keras-hvae train --config`` reads (see
`keras_hvae.training.config_recipes`), interpreted by the training layer.
"""

import importlib
import importlib.metadata
import pkgutil
import warnings
from pathlib import Path

ENTRY_POINT_GROUP = "keras_hvae.families"
#: The package whose subpackages are the built-in families.
BUILTIN_FAMILIES_PACKAGE = "keras_hvae.models"
#: Where the built-in presets' directories live.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "presets"

_MODELS = {}
_PRESETS = {}
_RECIPES = {}
_loaded = False


def register_models(*classes):
    """Makes model classes public: `keras_hvae.applications.<Name>`.

    Args:
        *classes: model classes (subclasses of `HierarchicalVAE`).

    Returns:
        The first class (so it can be used as a decorator).
    """
    for cls in classes:
        _MODELS[cls.__name__] = cls
    return classes[0] if classes else None


def register_presets(presets, cls):
    """Registers presets that `cls.from_preset(name)` loads.

    Args:
        presets: `{name: directory}` or `{name: {"path": directory, ...}}`; a
            relative directory is taken under the package's `presets/`.
        cls: the class the presets hold (its subclasses may be listed too).
    """
    for name, spec in presets.items():
        path = spec["path"] if isinstance(spec, dict) else spec
        path = Path(path)
        if not path.is_absolute():
            path = SHIPPED_DIR / path
        _PRESETS[str(name)] = {"path": path, "class": cls}


def register_recipes(recipes):
    """Registers training recipes: `{name: recipe dict}` (data only).

    A recipe dict has the keys of a `keras-hvae train --config` file; the
    training layer validates and runs it (`keras_hvae.training.recipes`).
    """
    for name, recipe in recipes.items():
        if not isinstance(recipe, dict):
            raise TypeError(f"recipe {name!r} must be a dict (data), got {type(recipe).__name__}.")
        _RECIPES[str(name)] = dict(recipe, name=str(name))


def _import(module, origin):
    try:
        importlib.import_module(module)
    except ImportError as e:
        warnings.warn(f"keras_hvae: the model family {module!r} ({origin}) could not be imported: {e}",
                      stacklevel=3)


def load_families():
    """Imports every family once (built-in subpackages, then entry points)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module(BUILTIN_FAMILIES_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.ispkg:
            _import(f"{BUILTIN_FAMILIES_PACKAGE}.{info.name}", "built in")
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        _import(entry.value.split(":")[0], f"entry point {entry.name!r}")


def models():
    """`{public name: class}` of every registered model class."""
    load_families()
    return dict(_MODELS)


def presets():
    """`{name: {"path": Path, "class": cls}}` of every registered preset
    whose directory exists."""
    load_families()
    return {name: dict(spec) for name, spec in sorted(_PRESETS.items()) if spec["path"].is_dir()}


def recipes():
    """`{name: recipe dict}` of every registered recipe."""
    load_families()
    return {name: dict(r) for name, r in sorted(_RECIPES.items())}
