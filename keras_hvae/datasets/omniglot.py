"""Omniglot 28x28, the version of the IWAE paper (Burda et al., 2016).

The file is `chardata.mat` from the IWAE repository (keys `data`:
784 x 24,345 training images and `testdata`: 784 x 8,070 test images,
grey values in [0, 1]; `target` / `testtarget`: one-hot alphabet labels).
Each column is one image stored column-major, so an image is
`column.reshape((28, 28), order="F")` -- the same pixels as the IWAE
code's `reshape((-1, 28, 28)).reshape((-1, 784), order="fortran")`.

Splits (IWAE's): the 24,345 training images are permuted with
`numpy.random.RandomState(123)`; the last 1,345 of that order are the
validation split, the rest (23,000) train; the 8,070 test images are the
test split. Pass `validation_size=0` to train on all 24,345.

Offline: put `chardata.mat` in the cache directory or pass `path=`.
Online: `download=True` fetches it from the IWAE GitHub repository.
"""

import numpy as np

from keras_hvae.datasets.files import find
from keras_hvae.datasets.files import loadmat
from keras_hvae.datasets.pipeline import binarized_pipeline
from keras_hvae.datasets.pipeline import holdout
from keras_hvae.datasets.pipeline import split_pipeline

FILENAME = "chardata.mat"
URL = "https://raw.githubusercontent.com/yburda/iwae/master/datasets/OMNIGLOT/chardata.mat"
VALIDATION_SIZE = 1345
SPLIT_SEED = 123

_HOW = f"""Get it from the IWAE repository: {URL}
(e.g. `curl -LO {URL}` on a machine that is online), or call with download=True."""


def omniglot_path(path=None, download=False):
    """Finds (or with `download=True` fetches) `chardata.mat`."""
    return find(path, FILENAME, "Omniglot (chardata.mat)", _HOW, download_from=URL, download=download)


def _images(mat, key, file):
    if key not in mat:
        raise ValueError(f"{file} has no `{key}` array; it is not the IWAE chardata.mat.")
    data = np.asarray(mat[key])
    if data.ndim != 2 or data.shape[0] != 784:
        raise ValueError(f"{file}: `{key}` should be 784 x n; got shape {data.shape}.")
    x = data.T.reshape((-1, 28, 28), order="F").astype("float32")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{file}: `{key}` values should lie in [0, 1]; got [{x.min()}, {x.max()}].")
    return x[..., None]


def _labels(mat, key, n):
    if key not in mat:
        return np.full((n,), -1, "int64")
    return np.argmax(np.asarray(mat[key]), axis=0).astype("int64")


def load_omniglot(path=None, download=False, validation_size=VALIDATION_SIZE, split_seed=SPLIT_SEED):
    """Loads Omniglot as grey values in [0, 1].

    Args:
        path: `chardata.mat`, or a directory holding it; default: the cache.
        download: fetch the file when it is missing.
        validation_size: training images held out for validation.
        split_seed: seed of the permutation choosing them (None: the last ones).

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}`, `x`
        float32 (n, 28, 28, 1), `y` int64 alphabet index (0..49; -1 when the
        file carries no labels).
    """
    file = omniglot_path(path, download=download)
    mat = loadmat(file, "Omniglot")
    xtr, xte = _images(mat, "data", file), _images(mat, "testdata", file)
    ytr, yte = _labels(mat, "target", len(xtr)), _labels(mat, "testtarget", len(xte))
    tr, va = holdout(len(xtr), validation_size, split_seed)
    return {"train": (xtr[tr], ytr[tr]), "validation": (xtr[va], ytr[va]), "test": (xte, yte)}


def binarized_omniglot(
    split="train", batch_size=64, binarization="dynamic", seed=0, shuffle=None, path=None, limit=None,
    with_labels=False, download=False, drop_remainder=False, validation_size=VALIDATION_SIZE,
):
    """Binarised Omniglot as a `tf.data.Dataset` of float32 (batch, 28, 28, 1).

    Args: as `keras_hvae.datasets.binarized_mnist`, plus `validation_size`
    (see `load_omniglot`). "dynamic" binarisation draws every pixel afresh
    each epoch (IWAE's setting for all splits); "static" draws once.
    """
    return split_pipeline(
        lambda: load_omniglot(path, download=download, validation_size=validation_size), split, limit,
        binarized_pipeline, batch_size=batch_size, binarization=binarization, seed=seed, shuffle=shuffle,
        with_labels=with_labels, drop_remainder=drop_remainder,
    )
