"""Dataset names used in preset metadata and by `keras-hvae evaluate`."""

import numpy as np


def _no_holdout(split):
    """The test split does not depend on the validation hold-out: skip it."""
    return {"validation_size": 0} if split == "test" else {}


def test_inputs(dataset, path=None, split="test", limit=None, seed=123):
    """Held-out inputs of a named dataset as a numpy array.

    Args:
        dataset: a dataset name recorded in preset metadata
            ("binarized_mnist", "mnist_uint8", "binarized_omniglot",
            "cifar10", "svhn", "celeba64", ...); 8-bit datasets give uint8.
        path: local file or directory of the data (None: the cache).
        split: "test" (default) or "validation".
        limit: keep the first `limit` examples.
        seed: seed of the one fixed binarisation of binary datasets.

    Returns:
        numpy array of model inputs.

    Raises:
        ValueError: for a dataset name this function does not know.
    """
    from keras_hvae.datasets.mnist import load_mnist, to_uint8

    if dataset in ("binarized_mnist", "dynamically_binarized_mnist", "statically_binarized_mnist"):
        x = load_mnist(path)[split][0]
        x = x[:limit] if limit else x
        rng = np.random.default_rng(seed)
        return (rng.uniform(size=x.shape) < x).astype("float32")
    if dataset == "mnist_uint8":
        x = load_mnist(path)[split][0]
        return to_uint8(x[:limit] if limit else x)
    if dataset in ("binarized_mnist_labels",):
        x, y = load_mnist(path)[split]
        return x[:limit] if limit else x
    if dataset in ("binarized_omniglot", "omniglot"):
        from keras_hvae.datasets.omniglot import load_omniglot

        x = load_omniglot(path, **_no_holdout(split))[split][0]
        x = x[:limit] if limit else x
        return (np.random.default_rng(seed).uniform(size=x.shape) < x).astype("float32")
    if dataset in ("cifar10", "svhn"):
        from keras_hvae.datasets.cifar10 import load_cifar10
        from keras_hvae.datasets.svhn import load_svhn

        x = (load_cifar10 if dataset == "cifar10" else load_svhn)(path, **_no_holdout(split))[split][0]
        return x[:limit] if limit else x
    if dataset in ("celeba", "celeba64"):
        from keras_hvae.datasets.celeba import load_celeba

        return load_celeba(path, splits=split, limit=limit)[split]
    raise ValueError(f"keras-hvae does not know how to load dataset {dataset!r} for evaluation.")
