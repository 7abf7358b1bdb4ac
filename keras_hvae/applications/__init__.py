"""Model classes users build and load: presets and paper architectures.

`keras_hvae.applications.BIVA`, `.LVAE`, `.MatNet`, `.BIVALSTM` are the
model classes, each with `from_preset`, `presets` and `save_to_preset`.
Classes are imported lazily so that `import keras_hvae` stays light.
"""

from keras_hvae.utils.presets import PresetError, PresetMixin, shipped_presets

_LAZY = {
    "BIVA": ("keras_hvae.models.biva", "BIVA"),
    "LVAE": ("keras_hvae.models.biva", "LVAE"),
    "SemiSupervisedBIVA": ("keras_hvae.models.biva", "SemiSupervisedBIVA"),
    "MatNet": ("keras_hvae.models.matnet", "MatNet"),
    "ConditionalMatNet": ("keras_hvae.models.matnet", "ConditionalMatNet"),
    "BIVALSTM": ("keras_hvae.models.text", "BIVALSTM"),
    "LinearGaussianVAE": ("keras_hvae.models.linear_gaussian", "LinearGaussianVAE"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise AttributeError(f"keras_hvae.applications.{name} is not available: {e}") from e
    raise AttributeError(f"module 'keras_hvae.applications' has no attribute {name!r}")


def list_presets():
    """`{name: metadata}` of every shipped preset."""
    return shipped_presets()
