"""8-bit MNIST: the grey levels of the classic `mnist.pkl.gz` as uint8.

The file stores grey level k as the float k/256, so k = round(256 x)
(0..255) recovers the original bytes exactly. Splits: the classic
50,000 train / 10,000 validation / 10,000 test. The file is found as for
`binarized_mnist` (see `keras_hvae.datasets.mnist_path`).
"""

from keras_hvae.datasets.mnist import load_mnist
from keras_hvae.datasets.mnist import to_uint8
from keras_hvae.datasets.pipeline import labelled_pipeline
from keras_hvae.datasets.pipeline import split_pipeline


def load_mnist_uint8(path=None, download=False):
    """MNIST as uint8 grey levels.

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}`, `x`
        uint8 of shape (n, 28, 28, 1), `y` int64 labels.
    """
    return {k: (to_uint8(x), y) for k, (x, y) in load_mnist(path, download=download).items()}


def mnist_uint8(
    split="train", batch_size=64, seed=0, shuffle=None, path=None, limit=None, with_labels=False, download=False,
    drop_remainder=False,
):
    """8-bit MNIST as a `tf.data.Dataset` of uint8 (batch, 28, 28, 1).

    Args:
        split: "train", "validation" or "test".
        batch_size: examples per batch.
        seed: seed of the shuffling.
        shuffle: shuffle the examples (default: only for "train").
        path: where `mnist.pkl.gz` is (a file or a directory).
        limit: keep only the first `limit` examples.
        with_labels: yield `(x, y)` instead of `x`.
        download: fetch the file when it is missing.
        drop_remainder: drop the last incomplete batch.
    """
    return split_pipeline(
        lambda: load_mnist_uint8(path, download=download), split, limit, labelled_pipeline, batch_size=batch_size,
        seed=seed, shuffle=shuffle, with_labels=with_labels, drop_remainder=drop_remainder,
    )
