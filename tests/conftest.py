"""Shared fixtures: backend info and the local MNIST file."""

import os

# The command line keeps JAX's compiled programs in ~/.cache; the suite
# writes nothing there (tests/test_compilation_cache.py checks the cache).
os.environ.setdefault("KERAS_HVAE_JAX_CACHE", "0")

import keras  # noqa: E402
import numpy as np
import pytest


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}, keras {keras.__version__}"


@pytest.fixture
def backend():
    return keras.backend.backend()


def require_tensorflow():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("needs the TensorFlow backend")


@pytest.fixture(scope="session")
def mnist_splits():
    """The real MNIST digits; CI fetches them (see .ci/run), elsewhere skip."""
    from keras_hvae.datasets import load_mnist

    try:
        return load_mnist()
    except FileNotFoundError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"MNIST not available: {e}")


@pytest.fixture(scope="session")
def binary_digits(mnist_splits):
    """2,000 training and 500 test digits, one seeded binarisation."""
    rng = np.random.default_rng(0)
    xtr = (rng.uniform(size=(2000, 28, 28, 1)) < mnist_splits["train"][0][:2000]).astype("float32")
    xte = (rng.uniform(size=(500, 28, 28, 1)) < mnist_splits["test"][0][:500]).astype("float32")
    return xtr, xte
