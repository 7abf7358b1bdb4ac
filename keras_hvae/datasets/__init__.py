"""tf.data loaders that work offline from local files (and online for users)."""

from keras_hvae.datasets.mnist import binarized_mnist
from keras_hvae.datasets.mnist import load_mnist
from keras_hvae.datasets.mnist import mnist_path
from keras_hvae.datasets.cache import data_dir
