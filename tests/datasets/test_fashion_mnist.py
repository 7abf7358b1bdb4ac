"""Fashion-MNIST from its four idx files: tiny fake files in the real format
(a user directory, the cache, a download from a local server), clear errors
for a missing or damaged file, the names the registry loads, and the real
files of Debian's `dataset-fashion-mnist` package when they are installed."""

import gzip
import hashlib

import numpy as np
import pytest

from keras_hvae.datasets import fashion_mnist as fm
from keras_hvae.datasets.files import DatasetError
from keras_hvae.datasets.registry import (
    test_inputs as inputs_of,  # not collected as a test
)
from tests.datasets.test_download_atomicity import server  # noqa: F401 (the local HTTP server fixture)
from tests.http_server import Answer

N_TRAIN, N_TEST = 30, 8


def idx_bytes(array):
    """`array` (uint8) in the idx format: 0, 0, type 0x08, ndim, big-endian dims, data."""
    array = np.asarray(array, "uint8")
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return header + array.tobytes()


def write_fake(directory, prefix=""):
    """The four gzipped idx files (30 training and 8 test images); pixel (0, 0) holds the image's index."""
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        x = rng.integers(0, 256, size=(n, 28, 28)).astype("uint8")
        x[:, 0, 0] = np.arange(n)
        y = rng.integers(0, 10, size=n).astype("uint8")
        for kind, array in (("images-idx3", x), ("labels-idx1", y)):
            name = f"{split}-{kind}-ubyte.gz"
            (directory / f"{prefix}{name}").write_bytes(gzip.compress(idx_bytes(array)))
        out[split] = (x, y)
    return out


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    """Debian's directory out of sight, so that only the test's files count."""
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian")


@pytest.fixture
def fake_dir(tmp_path):
    d = tmp_path / "fashion"
    d.mkdir()
    return d, write_fake(d)


def test_loads_a_directory_with_splits_labels_and_grey_levels(fake_dir, no_debian, empty_cache):
    d, written = fake_dir
    train, test = written["train"], written["t10k"]
    u8 = fm.load_fashion_mnist_uint8(d, validation_size=10)
    assert {k: v[0].shape for k, v in u8.items()} == {"train": (20, 28, 28, 1), "validation": (10, 28, 28, 1),
                                                      "test": (8, 28, 28, 1)}
    np.testing.assert_array_equal(u8["train"][0][..., 0], train[0][:20])  # the last 10 are the validation split
    np.testing.assert_array_equal(u8["validation"][0][..., 0], train[0][20:])
    np.testing.assert_array_equal(u8["test"][0][..., 0], test[0])
    np.testing.assert_array_equal(u8["test"][1], test[1].astype("int64"))
    grey = fm.load_fashion_mnist(d, validation_size=0)
    assert grey["train"][0].shape == (30, 28, 28, 1) and grey["validation"][0].shape == (0, 28, 28, 1)
    np.testing.assert_array_equal(grey["test"][0] * 256.0, test[0][..., None].astype("float32"))  # k / 256
    # the registry: binarised (one fixed draw, like binarized_mnist) and 8-bit, by name
    b = inputs_of("fashion_mnist", path=d)
    assert b.shape == (8, 28, 28, 1) and set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b, inputs_of("binarized_fashion_mnist", path=d))
    x = grey["test"][0]
    np.testing.assert_array_equal(b, (np.random.default_rng(123).uniform(size=x.shape) < x).astype("float32"))
    np.testing.assert_array_equal(inputs_of("fashion_mnist_uint8", path=d, limit=3)[..., 0], test[0][:3])
    # tf.data pipelines
    ds = fm.binarized_fashion_mnist("test", batch_size=4, path=d, binarization="static", seed=1)
    assert next(iter(ds)).shape == (4, 28, 28, 1)
    xb, yb = next(iter(fm.fashion_mnist_uint8("validation", batch_size=5, path=d, validation_size=10,
                                              with_labels=True)))
    assert xb.dtype.name == "uint8" and xb.shape == (5, 28, 28, 1) and yb.shape == (5,)


def test_files_are_found_in_the_cache_under_their_prefixed_names(tmp_path, empty_cache, no_debian):
    _, test = write_fake(empty_cache, prefix="fashion-mnist-").values()
    np.testing.assert_array_equal(fm.load_fashion_mnist_uint8(validation_size=0)["test"][0][..., 0], test[0])


def test_a_missing_file_names_where_it_looked_and_the_debian_package(fake_dir, no_debian, empty_cache):
    d, _ = fake_dir
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as e:
        fm.load_fashion_mnist(d)
    message = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz was not found" in message and str(d) in message
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(DatasetError, match="directory holding the four idx files"):
        fm.fashion_mnist_files(d / "train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match="known: .*fashion_mnist"):
        inputs_of("fashion_mnsit", path=d)


@pytest.mark.parametrize("damage", ["truncated", "not gzip", "bad magic", "short data", "labels mismatch"])
def test_a_damaged_file_is_a_clear_error(fake_dir, no_debian, empty_cache, damage):
    d, _ = fake_dir
    images, labels = d / "t10k-images-idx3-ubyte.gz", d / "t10k-labels-idx1-ubyte.gz"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:200])
    elif damage == "not gzip":
        images.write_bytes(b"<html>not found</html>")
    elif damage == "bad magic":
        images.write_bytes(gzip.compress(b"\x01\x02\x08\x03" + bytes(100)))
    elif damage == "short data":
        images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-5]))
    else:
        labels.write_bytes(gzip.compress(idx_bytes(np.zeros(N_TEST - 1))))
    with pytest.raises(fm.CorruptDatasetFile) as e:
        fm.load_fashion_mnist(d)
    assert isinstance(e.value, DatasetError) and isinstance(e.value, ValueError)
    assert str(images if damage != "labels mismatch" else labels) in str(e.value)


def test_download_tries_each_source_atomically_and_checks_the_md5(server, tmp_path, empty_cache, no_debian,  # noqa: F811
                                                                  monkeypatch):
    base, routes = server
    source = tmp_path / "source"
    source.mkdir()
    _, test = write_fake(source).values()
    files = {n: (source / n).read_bytes() for n in fm.FILES}
    for name, body in files.items():
        routes[f"/good/{name}"] = Answer(200, body)  # the first source answers 404 for everything
    monkeypatch.setattr(fm, "URLS", (f"{base}/missing/", f"{base}/good/"))
    monkeypatch.setattr(fm, "FILES", {n: "0" * 32 for n in files})  # wrong MD5s: every download is refused
    with pytest.raises(DatasetError) as e:
        fm.load_fashion_mnist(download=True)
    assert "failed from every source" in str(e.value) and "md5 mismatch" in str(e.value)
    assert sorted(p.name for p in empty_cache.iterdir()) == []  # nothing half-written is left behind
    monkeypatch.setattr(fm, "FILES", {n: hashlib.md5(b).hexdigest() for n, b in files.items()})
    splits = fm.load_fashion_mnist_uint8(download=True, validation_size=0)
    np.testing.assert_array_equal(splits["test"][0][..., 0], test[0])
    assert sorted(p.name for p in empty_cache.iterdir()) == sorted(f"fashion-mnist-{n}" for n in files)


@pytest.mark.skipif(not all((fm.DEBIAN_DIR / n).is_file() for n in fm.FILES),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_files_of_the_debian_package(empty_cache):
    splits = fm.load_fashion_mnist_uint8()
    assert {k: v[0].shape for k, v in splits.items()} == {
        "train": (50000, 28, 28, 1), "validation": (10000, 28, 28, 1), "test": (10000, 28, 28, 1)}
    assert list(splits["test"][1][:5]) == [9, 2, 1, 1, 6]  # ankle boot, pullover, trouser, trouser, shirt
    assert list(splits["train"][1][:3]) == [9, 0, 0]
    for _, y in splits.values():
        assert np.array_equal(np.bincount(y, minlength=10) > 0, np.ones(10, bool))
    assert len(fm.CLASSES) == 10 and fm.CLASSES[9] == "Ankle boot"
