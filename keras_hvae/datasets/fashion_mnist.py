"""Fashion-MNIST (Xiao et al., 2017) from its four idx files.

The files are Zalando Research's `train-images-idx3-ubyte.gz`,
`train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
`t10k-labels-idx1-ubyte.gz` (60,000 training and 10,000 test images,
28x28 uint8 grey levels, labels 0..9). Each file is looked for, in order:

1. in `path` (a directory holding the files, under their own names or
   prefixed `fashion-mnist-`),
2. in the cache directory (`keras_hvae.datasets.data_dir()`): in its
   `fashion-mnist/` folder, or as `fashion-mnist-<name>` (where
   `download=True` puts them),
3. in `/usr/share/datasets/fashion-mnist/` (Debian's
   `apt-get install dataset-fashion-mnist`).

Online, `download=True` fetches the missing files from Zalando Research's
repository (GitHub, then the S3 mirror its README links), atomically and
checked against the official MD5s (`keras_hvae.datasets.files.fetch`).

Splits: the last 10,000 training images are the validation split (as
MNIST's classic 50k/10k/10k; `validation_size=0` trains on all 60,000);
the 10,000 `t10k` images are the test split. Float images hold grey level
k as k/256, as `mnist.pkl.gz` does, so `binarized_fashion_mnist` binarises
exactly as `binarized_mnist` does and `to_uint8` recovers the bytes.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from keras_hvae.datasets.cache import data_dir
from keras_hvae.datasets.files import DatasetError, fetch
from keras_hvae.datasets.pipeline import (
    binarized_pipeline,
    holdout,
    labelled_pipeline,
    split_pipeline,
)

#: Debian's `dataset-fashion-mnist` package installs the files here.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: The cache folder and the prefix of downloaded files in the cache directory.
CACHE_NAME = "fashion-mnist"
#: Zalando Research's downloads: the repository, then the S3 mirror of its README.
URLS = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
#: file name -> the official MD5 (Zalando Research's README; Debian re-compresses, so its files differ).
FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
VALIDATION_SIZE = 10000
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_HOW = f"""Install Debian's package (`apt-get install dataset-fashion-mnist`, files in {DEBIAN_DIR}),
or put the four files (from {URLS[0]}) in {{cache}}/{CACHE_NAME}/ or pass path= to their directory,
or call with download=True on a machine that is online."""


class CorruptDatasetFile(DatasetError, ValueError):
    """A dataset file on disk is damaged or not what its name says.

    A `DatasetError` (so a `FileNotFoundError`: the data is not available)
    and a `ValueError` (what other loaders raise for a damaged local file).
    """


def _candidates(path, name):
    out = []
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            raise DatasetError(f"Fashion-MNIST: path= must be the directory holding the four idx files, "
                               f"got the file {p}.")
        out += [p / name, p / f"{CACHE_NAME}-{name}"]
    cache = data_dir()
    return out + [cache / CACHE_NAME / name, cache / f"{CACHE_NAME}-{name}", DEBIAN_DIR / name]


def _download(name):
    """`name` fetched into the cache as `fashion-mnist-<name>`, from the first URL that works."""
    errors = []
    for base in URLS:
        try:
            return fetch(f"{CACHE_NAME}-{name}", base + name, file_hash=FILES[name])
        except DatasetError as e:
            errors.append(str(e))
    raise DatasetError(f"Downloading Fashion-MNIST's {name} failed from every source: " + " | ".join(errors))


def fashion_mnist_files(path=None, download=False):
    """Finds (or with `download=True` fetches) the four idx files.

    Args:
        path: a directory holding the files (their own names, or prefixed
            `fashion-mnist-`); default: the cache, then Debian's directory.
        download: fetch the missing files from Zalando Research's
            repository into the cache directory.

    Returns:
        dict from each file name of `FILES` to its `Path`.

    Raises:
        DatasetError: a file is missing (naming the places looked at and
            how to get it), `path` is a file, or the download failed
            (naming the URLs and the causes; nothing is left behind).
    """
    found, missing = {}, {}
    for name in FILES:
        looked = _candidates(path, name)
        hit = next((c for c in looked if c.is_file()), None)
        if hit is not None:
            found[name] = hit
        else:
            missing[name] = looked
    for name, looked in missing.items():
        if download:
            found[name] = _download(name)
            continue
        where = "\n".join(f"    {p}" for p in looked)
        raise DatasetError(f"Fashion-MNIST's {name} was not found. Looked at:\n{where}\n"
                           + _HOW.format(cache=data_dir()))
    return found


def read_idx(file):
    """An idx file (gzipped or not) of unsigned bytes as a numpy array.

    The idx format: two zero bytes, the type code (0x08 = uint8), the
    number of dimensions, each dimension as a big-endian int32, then the
    data.

    Args:
        file: path of the file (`.gz` is decompressed).

    Returns:
        uint8 numpy array of the file's shape.

    Raises:
        CorruptDatasetFile: the file is truncated, not gzip, not idx, or of
            another type than uint8 (naming the file to delete).
    """
    file = Path(file)
    fix = "delete it and fetch it again"
    try:
        if file.suffix == ".gz":
            with gzip.open(file, "rb") as f:
                data = f.read()
        else:
            data = file.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptDatasetFile(f"{file} is not a readable gzip file ({type(e).__name__}: {e}); {fix}.") from None
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise CorruptDatasetFile(f"{file} is not an idx file (it starts with {data[:8]!r}); {fix}.")
    if data[2] != 0x08:
        raise CorruptDatasetFile(f"{file} holds idx type 0x{data[2]:02x}, not unsigned bytes (0x08); {fix}.")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(data) < header:
        raise CorruptDatasetFile(f"{file}: a truncated idx header ({len(data)} bytes for {ndim} dimensions); {fix}.")
    shape = tuple(int(v) for v in np.frombuffer(data, ">i4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise CorruptDatasetFile(f"{file}: the header says {shape} ({expected} bytes of data) but the file holds "
                                 f"{len(data) - header}; it is truncated or damaged, {fix}.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _split(files, prefix):
    images_file, labels_file = files[f"{prefix}-images-idx3-ubyte.gz"], files[f"{prefix}-labels-idx1-ubyte.gz"]
    x, y = read_idx(images_file), read_idx(labels_file)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise CorruptDatasetFile(f"{images_file}: expected images of shape (n, 28, 28), got {x.shape}.")
    if y.ndim != 1 or len(y) != len(x):
        raise CorruptDatasetFile(f"{labels_file}: {y.shape} labels for the {len(x)} images of {images_file}.")
    if y.size and y.max() > 9:
        raise CorruptDatasetFile(f"{labels_file}: labels must be 0..9, found {int(y.max())}.")
    return x[..., None], y.astype("int64")


def load_fashion_mnist_uint8(path=None, download=False, validation_size=VALIDATION_SIZE):
    """Fashion-MNIST as uint8 grey levels.

    Args:
        path: the directory of the idx files (see `fashion_mnist_files`).
        download: fetch the missing files.
        validation_size: the last training images held out for validation
            (0: train on all 60,000).

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}`, `x`
        uint8 of shape (n, 28, 28, 1), `y` int64 class (0..9, see `CLASSES`).
        50k / 10k / 10k examples by default.

    Raises:
        DatasetError: a missing file or a failed download;
            `CorruptDatasetFile` (also a `ValueError`) for a damaged one.

    Example:
    >>> splits = load_fashion_mnist_uint8()  # doctest: +SKIP
    >>> splits["test"][0].shape  # doctest: +SKIP
    (10000, 28, 28, 1)
    """
    files = fashion_mnist_files(path, download=download)
    xtr, ytr = _split(files, "train")
    test = _split(files, "t10k")
    tr, va = holdout(len(xtr), validation_size)
    return {"train": (xtr[tr], ytr[tr]), "validation": (xtr[va], ytr[va]), "test": test}


def load_fashion_mnist(path=None, download=False, validation_size=VALIDATION_SIZE):
    """Fashion-MNIST as grey levels in [0, 1) with labels.

    Args: as `load_fashion_mnist_uint8`.

    Returns:
        dict `{"train": (x, y), "validation": (x, y), "test": (x, y)}` with
        `x` float32 of shape (n, 28, 28, 1) holding k/256 for the grey level
        k (as `load_mnist`), `y` int64 labels.
    """
    splits = load_fashion_mnist_uint8(path, download=download, validation_size=validation_size)
    return {k: (x.astype("float32") / 256.0, y) for k, (x, y) in splits.items()}


def binarized_fashion_mnist(
    split="train", batch_size=64, binarization="dynamic", seed=0, shuffle=None, path=None, limit=None,
    with_labels=False, download=False, drop_remainder=False, validation_size=VALIDATION_SIZE,
):
    """Binarised Fashion-MNIST as a `tf.data.Dataset` of float32 (batch, 28, 28, 1).

    Args: as `keras_hvae.datasets.binarized_mnist` (a Bernoulli draw of
    every pixel from its grey level k/256: "dynamic" afresh each epoch,
    "static" once), plus `validation_size` (see `load_fashion_mnist_uint8`).

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    validation_size = 0 if split == "test" else validation_size  # the test split does not depend on it
    return split_pipeline(
        lambda: load_fashion_mnist(path, download=download, validation_size=validation_size), split, limit,
        binarized_pipeline, batch_size=batch_size, binarization=binarization, seed=seed, shuffle=shuffle,
        with_labels=with_labels, drop_remainder=drop_remainder,
    )


def fashion_mnist_uint8(
    split="train", batch_size=64, seed=0, shuffle=None, path=None, limit=None, with_labels=False, download=False,
    drop_remainder=False, validation_size=VALIDATION_SIZE,
):
    """8-bit Fashion-MNIST as a `tf.data.Dataset` of uint8 (batch, 28, 28, 1).

    Args: as `keras_hvae.datasets.mnist_uint8`, plus `validation_size`.

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    validation_size = 0 if split == "test" else validation_size  # the test split does not depend on it
    return split_pipeline(
        lambda: load_fashion_mnist_uint8(path, download=download, validation_size=validation_size), split, limit,
        labelled_pipeline, batch_size=batch_size, seed=seed, shuffle=shuffle, with_labels=with_labels,
        drop_remainder=drop_remainder,
    )

