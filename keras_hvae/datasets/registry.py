"""Dataset names used in preset metadata and by `keras-hvae evaluate` / `anomaly`."""

import numpy as np

#: The names `test_inputs` loads (aliases included), for error messages and docs.
DATASET_NAMES = (
    "binarized_mnist", "dynamically_binarized_mnist", "statically_binarized_mnist", "binarized_mnist_labels",
    "mnist_uint8", "binarized_fashion_mnist", "fashion_mnist", "fashion_mnist_uint8", "binarized_omniglot",
    "omniglot", "cifar10", "svhn", "celeba", "celeba64", "fortunes",
)


def _no_holdout(split):
    """The test split does not depend on the validation hold-out: skip it."""
    return {"validation_size": 0} if split == "test" else {}


def _first(x, limit):
    return x[:limit] if limit else x


def _binarized(x, limit, seed):
    """One fixed Bernoulli draw of every pixel from its grey level (`default_rng(seed)`)."""
    x = _first(x, limit)
    return (np.random.default_rng(seed).uniform(size=x.shape) < x).astype("float32")


def test_inputs(dataset, path=None, split="test", limit=None, seed=123, vocabulary=None, tokenization=None):
    """Held-out inputs of a named dataset as a numpy array.

    Args:
        dataset: a dataset name recorded in preset metadata
            ("binarized_mnist", "mnist_uint8", "binarized_fashion_mnist" (alias
            "fashion_mnist"), "fashion_mnist_uint8", "binarized_omniglot",
            "cifar10", "svhn", "celeba64", "fortunes", ...; see
            `DATASET_NAMES`); 8-bit datasets give uint8.
        path: local file or directory of the data (None: the cache; for
            Fashion-MNIST also Debian's directory, for fortunes Debian's).
        split: "test" (default) or "validation".
        limit: keep the first `limit` examples.
        seed: seed of the one fixed binarisation of binary datasets.
        vocabulary: for "fortunes", the model's `Vocabulary` (required):
            the sentences are encoded with it (see
            `keras_hvae.datasets.text.fortune_ids`).
        tokenization: for "fortunes", the corpus settings (a text preset's
            `metadata["tokenization"]`: `max_length`, `seed`, `oov`; the
            vocabulary-building keys are ignored).

    Returns:
        numpy array of model inputs (int32 word ids `(N, T)` for text).

    Raises:
        ValueError: for a dataset name this function does not know (listing
            the known ones).
    """
    if dataset in ("binarized_mnist", "dynamically_binarized_mnist", "statically_binarized_mnist"):
        from keras_hvae.datasets.mnist import load_mnist

        return _binarized(load_mnist(path)[split][0], limit, seed)
    if dataset == "mnist_uint8":
        from keras_hvae.datasets.mnist import load_mnist, to_uint8

        return to_uint8(_first(load_mnist(path)[split][0], limit))
    if dataset in ("binarized_mnist_labels",):
        from keras_hvae.datasets.mnist import load_mnist

        return _first(load_mnist(path)[split][0], limit)
    if dataset in ("binarized_fashion_mnist", "fashion_mnist"):
        from keras_hvae.datasets.fashion_mnist import load_fashion_mnist

        return _binarized(load_fashion_mnist(path, **_no_holdout(split))[split][0], limit, seed)
    if dataset == "fashion_mnist_uint8":
        from keras_hvae.datasets.fashion_mnist import load_fashion_mnist_uint8

        return _first(load_fashion_mnist_uint8(path, **_no_holdout(split))[split][0], limit)
    if dataset in ("binarized_omniglot", "omniglot"):
        from keras_hvae.datasets.omniglot import load_omniglot

        return _binarized(load_omniglot(path, **_no_holdout(split))[split][0], limit, seed)
    if dataset in ("cifar10", "svhn"):
        from keras_hvae.datasets.cifar10 import load_cifar10
        from keras_hvae.datasets.svhn import load_svhn

        x = (load_cifar10 if dataset == "cifar10" else load_svhn)(path, **_no_holdout(split))[split][0]
        return _first(x, limit)
    if dataset in ("celeba", "celeba64"):
        from keras_hvae.datasets.celeba import load_celeba

        return load_celeba(path, splits=split, limit=limit)[split]
    if dataset == "fortunes":
        from keras_hvae.datasets.text import fortune_ids

        if vocabulary is None:
            raise ValueError("the fortunes sentences are encoded with a model's vocabulary: pass vocabulary=.")
        settings = {k: v for k, v in (tokenization or {}).items() if k in ("max_length", "seed", "oov")}
        return _first(fortune_ids(vocabulary, split=split, path=path, **settings), limit)
    raise ValueError(f"keras-hvae does not know how to load dataset {dataset!r} for evaluation; "
                     f"known: {', '.join(DATASET_NAMES)}.")
