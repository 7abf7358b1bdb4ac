"""keras_hvae: a Keras 3 model zoo of deep hierarchical variational autoencoders.

BIVA (with LVAE / LVAE+), Matryoshka Networks and BIVA+LSTM on one shared
hierarchical-VAE core, with TensorFlow Probability likelihoods and priors.
Subpackages load on first use, so `import keras_hvae` (and the
`keras-hvae --help` command) stay fast.

Example:
>>> import keras_hvae
>>> model = keras_hvae.applications.BIVA.from_preset("biva_binarized_mnist")  # shipped in the package
>>> model.sample(2, seed=0).shape
(2, 28, 28, 1)
"""

import importlib

from keras_hvae.version import __version__

_SUBPACKAGES = ("applications", "datasets", "distributions", "evaluation", "layers", "models", "utils")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_hvae.{name}")
    raise AttributeError(f"module 'keras_hvae' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBPACKAGES))
