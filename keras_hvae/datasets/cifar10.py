"""CIFAR-10 as 8-bit images, from the official python pickle batches.

Files: `cifar-10-batches-py/` (`data_batch_1` .. `data_batch_5`,
`test_batch`) or the archive `cifar-10-python.tar.gz` holding it, read
in place without extracting. Each batch is a pickled dict with `data`
(10,000 x 3,072 uint8: the red, green and blue 32x32 planes, row-major)
and `labels`.

Splits: train is the 50,000 training images less the last 5,000 (the
second half of `data_batch_5`), which are the validation split; test is
`test_batch` (10,000). Papers that report CIFAR-10 test likelihoods train
on all 50,000: pass `validation_size=0`.

Offline: put the directory or the archive in the cache directory or pass
`path=` (the archive, the batches directory, or a directory holding
either). Online: `download=True` fetches the archive from the official
page.
"""

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from keras_hvae.datasets.files import find
from keras_hvae.datasets.pipeline import holdout
from keras_hvae.datasets.pipeline import labelled_pipeline
from keras_hvae.datasets.pipeline import split_pipeline

ARCHIVE = "cifar-10-python.tar.gz"
DIRNAME = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
VALIDATION_SIZE = 5000

_HOW = f"""Get {ARCHIVE} from {URL} (the "CIFAR-10 python version" on
https://www.cs.toronto.edu/~kriz/cifar.html) on a machine that is online, or call with download=True."""


def cifar10_path(path=None, download=False):
    """Finds (or with `download=True` fetches) the batches directory or archive."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir() and (p / TEST_BATCH).exists():
            return p
    return find(path, [ARCHIVE, DIRNAME], "CIFAR-10", _HOW, download_from=URL, download=download)


def _read_batches(source):
    """{name: bytes} for the train and test batches of a directory or archive."""
    names = TRAIN_BATCHES + (TEST_BATCH,)
    if source.is_dir():
        missing = [n for n in names if not (source / n).is_file()]
        if missing:
            raise ValueError(f"{source} lacks the CIFAR-10 batch file(s) {missing}.")
        return {n: (source / n).read_bytes() for n in names}
    try:
        with tarfile.open(source, "r:*") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in names if n not in members]
            if missing:
                raise ValueError(f"{source} lacks the CIFAR-10 batch file(s) {missing}.")
            return {n: tar.extractfile(members[n]).read() for n in names}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{source} is not a readable {ARCHIVE} ({e}); delete it and fetch it again.") from e


def _decode(name, blob, source):
    try:
        d = pickle.load(io.BytesIO(blob), encoding="bytes")
        data = np.asarray(d[b"data"], "uint8")
        labels = np.asarray(d[b"labels"], "int64")
    except Exception as e:
        raise ValueError(f"{source}: batch `{name}` is not a CIFAR-10 pickle ({type(e).__name__}: {e}).") from e
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ValueError(f"{source}: batch `{name}` has data {data.shape} and {len(labels)} labels; want (n, 3072) and n.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_cifar10(path=None, download=False, validation_size=VALIDATION_SIZE):
    """Loads CIFAR-10.

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}`, `x`
        uint8 (n, 32, 32, 3), `y` int64 class 0..9.
    """
    source = cifar10_path(path, download=download)
    blobs = _read_batches(source)
    parts = [_decode(n, blobs[n], source) for n in TRAIN_BATCHES]
    xtr, ytr = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xte, yte = _decode(TEST_BATCH, blobs[TEST_BATCH], source)
    tr, va = holdout(len(xtr), validation_size)
    return {"train": (xtr[tr], ytr[tr]), "validation": (xtr[va], ytr[va]), "test": (xte, yte)}


def cifar10(
    split="train", batch_size=64, seed=0, shuffle=None, path=None, limit=None, with_labels=False, download=False,
    drop_remainder=False, validation_size=VALIDATION_SIZE,
):
    """CIFAR-10 as a `tf.data.Dataset` of uint8 (batch, 32, 32, 3).

    Args: as `keras_hvae.datasets.mnist_uint8`, plus `validation_size`
    (see `load_cifar10`).
    """
    return split_pipeline(
        lambda: load_cifar10(path, download=download, validation_size=validation_size), split, limit,
        labelled_pipeline, batch_size=batch_size, seed=seed, shuffle=shuffle, with_labels=with_labels,
        drop_remainder=drop_remainder,
    )
