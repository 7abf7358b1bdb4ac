"""tf.data loaders that work offline from local files (and online for users).

See docs/datasets.md for every dataset's splits and where its files go.
"""

from keras_hvae.datasets.cache import data_dir
from keras_hvae.datasets.celeba import celeba
from keras_hvae.datasets.celeba import celeba_files
from keras_hvae.datasets.celeba import load_celeba
from keras_hvae.datasets.cifar10 import cifar10
from keras_hvae.datasets.cifar10 import load_cifar10
from keras_hvae.datasets.fashion_mnist import binarized_fashion_mnist
from keras_hvae.datasets.fashion_mnist import fashion_mnist_files
from keras_hvae.datasets.fashion_mnist import fashion_mnist_uint8
from keras_hvae.datasets.fashion_mnist import load_fashion_mnist
from keras_hvae.datasets.fashion_mnist import load_fashion_mnist_uint8
from keras_hvae.datasets.fortunes import fortune_sentences
from keras_hvae.datasets.fortunes import read_fortunes
from keras_hvae.datasets.mnist import binarized_mnist
from keras_hvae.datasets.mnist import load_mnist
from keras_hvae.datasets.mnist import mnist_path
from keras_hvae.datasets.mnist_uint8 import load_mnist_uint8
from keras_hvae.datasets.mnist_uint8 import mnist_uint8
from keras_hvae.datasets.omniglot import binarized_omniglot
from keras_hvae.datasets.omniglot import load_omniglot
from keras_hvae.datasets.omniglot import omniglot_path
from keras_hvae.datasets.sentences import sentence_corpus
from keras_hvae.datasets.sentences import sentence_dataset
from keras_hvae.datasets.sentences import split_sentences
from keras_hvae.datasets.svhn import load_svhn
from keras_hvae.datasets.svhn import svhn
from keras_hvae.datasets.semi_supervised import semi_supervised_dataset
from keras_hvae.datasets.text import fortune_ids, fortune_text, text_dataset, text_splits

__all__ = [
    "binarized_fashion_mnist", "binarized_mnist", "binarized_omniglot", "celeba", "celeba_files", "cifar10",
    "data_dir", "fashion_mnist_files", "fashion_mnist_uint8", "fortune_ids", "fortune_sentences", "fortune_text",
    "load_celeba", "load_cifar10", "load_fashion_mnist", "load_fashion_mnist_uint8", "load_mnist",
    "load_mnist_uint8", "load_omniglot", "load_svhn", "mnist_path", "mnist_uint8", "omniglot_path",
    "read_fortunes", "semi_supervised_dataset", "sentence_corpus", "sentence_dataset", "split_sentences", "svhn",
    "text_dataset", "text_splits",
]
