"""The public model classes users type: `keras_hvae.applications.BIVA`, ...

Thin aliases of the classes every family registers with
`keras_hvae.utils.registry.register_models` (BIVA, LVAE, SemiSupervisedBIVA,
MatNet, ConditionalMatNet, BIVALSTM, ...); each has `from_preset`, `presets`
and `save_to_preset`. Families load on first use, so `import keras_hvae`
stays light.

Example:
>>> from keras_hvae.applications import MatNet
>>> "matnet_binarized_mnist" in MatNet.presets
True
"""

from keras_hvae.utils import registry as _registry
from keras_hvae.utils.presets import PresetError
from keras_hvae.utils.presets import shipped_presets as _shipped_presets


def __getattr__(name):
    classes = _registry.models()
    if name in classes:
        return classes[name]
    raise AttributeError(
        f"module 'keras_hvae.applications' has no attribute {name!r}; the model classes are "
        f"{', '.join(sorted(classes))}."
    )


def __dir__():
    return sorted(["PresetError", "list_presets"] + list(_registry.models()))


def list_presets():
    """`{name: metadata}` of every registered preset."""
    return _shipped_presets()
