"""keras_hvae: a Keras 3 model zoo of deep hierarchical variational autoencoders.

BIVA (with LVAE / LVAE+), Matryoshka Networks and BIVA+LSTM on one shared
hierarchical-VAE core, with TensorFlow Probability likelihoods and priors.

Example:
>>> import keras_hvae
>>> model = keras_hvae.applications.BIVA.from_preset("biva_binarized_mnist")  # doctest: +SKIP
"""

from keras_hvae.version import __version__
from keras_hvae import distributions
from keras_hvae import layers
from keras_hvae import models
from keras_hvae import datasets
