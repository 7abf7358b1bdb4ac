"""SVHN cropped digits (format 2) as 8-bit images.

Files: `train_32x32.mat` (73,257 images), `test_32x32.mat` (26,032) and,
optionally, `extra_32x32.mat` (531,131), from
http://ufldl.stanford.edu/housenumbers/. Each holds `X`, uint8 of shape
(32, 32, 3, n), and `y`, (n, 1) labels 1..10 where 10 stands for the
digit 0; the loader returns labels 0..9.

Splits: validation is 5,000 training images chosen by a seeded
permutation (`numpy.random.RandomState(0)`; the file's order follows
house-number sequences, so a plain tail would be a biased hold-out); train
is the other 68,257 (plus all of `extra` with `include_extra=True`);
test is `test_32x32.mat`.

Offline: put the files in the cache directory or pass `path=` (their
directory, or one of the files). Online: `download=True` fetches them.
"""

from pathlib import Path

import numpy as np

from keras_hvae.datasets.files import find
from keras_hvae.datasets.files import loadmat
from keras_hvae.datasets.pipeline import holdout
from keras_hvae.datasets.pipeline import labelled_pipeline
from keras_hvae.datasets.pipeline import split_pipeline

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}
VALIDATION_SIZE = 5000
SPLIT_SEED = 0


def _how(name):
    return f"Get {name} from {BASE_URL}{name} on a machine that is online, or call with download=True."


def svhn_path(part="train", path=None, download=False):
    """Finds (or with `download=True` fetches) the file of `part` ("train", "test", "extra")."""
    name = FILES[part]
    if path is not None and Path(path).expanduser().is_file() and Path(path).name != name:
        path = Path(path).expanduser().parent  # one of the files given: look beside it
    return find(path, name, f"SVHN ({name})", _how(name), download_from=BASE_URL + name, download=download)


def _read(file):
    mat = loadmat(file, "SVHN")
    if "X" not in mat or "y" not in mat:
        raise ValueError(f"{file} has no `X` / `y` arrays; it is not an SVHN *_32x32.mat file.")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise ValueError(f"{file}: X has shape {x.shape} and y {len(y)} labels; want (32, 32, 3, n) and n.")
    if x.dtype != np.uint8:
        raise ValueError(f"{file}: X should be uint8; got {x.dtype}.")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise ValueError(f"{file}: labels should be 1..10; got [{y.min()}, {y.max()}].")
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2)), (y % 10).astype("int64")


def load_svhn(path=None, download=False, validation_size=VALIDATION_SIZE, split_seed=SPLIT_SEED, include_extra=False):
    """Loads SVHN.

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}`, `x`
        uint8 (n, 32, 32, 3), `y` int64 digit 0..9.
    """
    xtr, ytr = _read(svhn_path("train", path, download))
    xte, yte = _read(svhn_path("test", path, download))
    tr, va = holdout(len(xtr), validation_size, split_seed)
    train = (xtr[tr], ytr[tr])
    if include_extra:
        xex, yex = _read(svhn_path("extra", path, download))
        train = (np.concatenate([train[0], xex]), np.concatenate([train[1], yex]))
    return {"train": train, "validation": (xtr[va], ytr[va]), "test": (xte, yte)}


def svhn(
    split="train", batch_size=64, seed=0, shuffle=None, path=None, limit=None, with_labels=False, download=False,
    drop_remainder=False, validation_size=VALIDATION_SIZE, include_extra=False,
):
    """SVHN as a `tf.data.Dataset` of uint8 (batch, 32, 32, 3).

    Args: as `keras_hvae.datasets.mnist_uint8`, plus `validation_size` and
    `include_extra` (see `load_svhn`).
    """
    return split_pipeline(
        lambda: load_svhn(path, download=download, validation_size=validation_size, include_extra=include_extra),
        split, limit, labelled_pipeline, batch_size=batch_size, seed=seed, shuffle=shuffle, with_labels=with_labels,
        drop_remainder=drop_remainder,
    )
