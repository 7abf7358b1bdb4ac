"""Tiny synthetic files in each dataset's real on-disk format."""

import gzip
import pickle
import tarfile

import numpy as np
import pytest


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """Points the cache directory at an empty folder."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("KERAS_HVAE_DATA", str(cache))
    return cache


def _grey(rng, n, side=28):
    """Grey levels stored the classic way: k / 256 for a byte k."""
    return (rng.integers(0, 256, size=(n, side * side)) / 256.0).astype("float32")


@pytest.fixture
def fake_mnist(tmp_path):
    """A classic-format mnist.pkl.gz with 40 / 12 / 10 examples."""
    rng = np.random.default_rng(0)
    splits = tuple((_grey(rng, n), rng.integers(0, 10, size=n)) for n in (40, 12, 10))
    file = tmp_path / "mnist.pkl.gz"
    with gzip.open(file, "wb") as f:
        pickle.dump(splits, f)
    return file, splits


@pytest.fixture
def fake_omniglot(tmp_path):
    """A chardata.mat with IWAE's keys: 60 training and 20 test columns.

    Images are drawn as (28, 28) arrays, then stored column-major as the
    original file does.
    """
    scipy_io = pytest.importorskip("scipy.io")
    rng = np.random.default_rng(1)
    train = rng.uniform(size=(60, 28, 28))
    test = rng.uniform(size=(20, 28, 28))
    ytr, yte = rng.integers(0, 50, 60), rng.integers(0, 50, 20)
    file = tmp_path / "chardata.mat"
    scipy_io.savemat(
        file,
        {
            "data": train.reshape(60, 784, order="F").T,
            "testdata": test.reshape(20, 784, order="F").T,
            "target": np.eye(50)[ytr].T,
            "testtarget": np.eye(50)[yte].T,
        },
    )
    return file, (train, ytr), (test, yte)


def cifar_batch(n, offset, rng):
    """A CIFAR pickle dict: planes R=10, G=20, B=30 with pixel (0, 0) of R
    holding the image's global index (mod 256)."""
    data = np.zeros((n, 3, 32, 32), "uint8")
    data[:, 0], data[:, 1], data[:, 2] = 10, 20, 30
    data[:, 0, 0, 0] = (np.arange(n) + offset) % 256
    labels = [int(v) for v in rng.integers(0, 10, n)]
    return {b"batch_label": b"fake", b"labels": labels, b"data": data.reshape(n, 3072), b"filenames": []}


@pytest.fixture
def fake_cifar(tmp_path):
    """`cifar-10-batches-py/` with 5 x 8 training and 6 test images, and the same as a .tar.gz."""
    rng = np.random.default_rng(2)
    root = tmp_path / "cifar"
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    labels = []
    for i in range(1, 6):
        b = cifar_batch(8, 8 * (i - 1), rng)
        labels += b[b"labels"]
        (d / f"data_batch_{i}").write_bytes(pickle.dumps(b))
    t = cifar_batch(6, 200, rng)
    (d / "test_batch").write_bytes(pickle.dumps(t))
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(d, arcname="cifar-10-batches-py")
    return d, archive, np.array(labels), np.array(t[b"labels"])


@pytest.fixture
def fake_svhn(tmp_path):
    """train_32x32.mat (30 images) and test_32x32.mat (12) with X (32, 32, 3, n)."""
    scipy_io = pytest.importorskip("scipy.io")
    d = tmp_path / "svhn"
    d.mkdir()
    out = {}
    for name, n in (("train", 30), ("test", 12)):
        x = np.zeros((32, 32, 3, n), "uint8")
        x[:, :, 0, :] = np.arange(n, dtype="uint8")  # red holds the index
        x[0, 1, 2, :] = 77  # one marker pixel: row 0, column 1, blue
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype("uint8")  # 1..10
        scipy_io.savemat(d / f"{name}_32x32.mat", {"X": x, "y": y})
        out[name] = (x, y)
    return d, out


def celeba_image(value, height=218, width=178, crop=148):
    """A 218x178 image: the central 148x148 square is `value`, the rest 0."""
    img = np.zeros((height, width, 3), "uint8")
    top, left = (height - crop) // 2, (width - crop) // 2
    img[top : top + crop, left : left + crop] = value
    return img


@pytest.fixture
def fake_celeba(tmp_path):
    """`celeba/img_align_celeba/` with 10 PNGs (000001.png .. 000010.png)."""
    import tensorflow as tf

    d = tmp_path / "celeba" / "img_align_celeba"
    d.mkdir(parents=True)
    for i in range(1, 11):
        png = tf.io.encode_png(celeba_image(20 * i)).numpy()
        (d / f"{i:06d}.png").write_bytes(png)
    return d


FORTUNES = """A day for firm decisions!!!!!  Or is it?
%
You will be surprised by a loud noise.  The noise will
continue for some time.
		-- An old fortune
%
 _/\\_  |  _/\\_
 |__|  |  |__|
%
Today is the first day of the rest of your life.
%
"""


@pytest.fixture
def fake_fortunes(tmp_path):
    """A fortunes directory: two text files, `.dat` binary indexes, a `.u8` link, ascii-art."""
    d = tmp_path / "fortunes"
    d.mkdir()
    (d / "cookie").write_text(FORTUNES)
    (d / "cookie.dat").write_bytes(b"\x00\x00\x00\x02\x00\x00\x00\x05\x00\xff")
    (d / "cookie.u8").symlink_to("cookie")
    (d / "wisdom").write_text("Never trust a computer you can't throw out a window.\n\t-- Steve Wozniak\n%\n")
    (d / "wisdom.dat").write_bytes(b"\x00\x01\x02")
    (d / "ascii-art").write_text("Art is here.\n%\n")
    return d
