"""CIFAR-10 from the python pickle batches (directory or .tar.gz)."""

import pickle

import numpy as np
import pytest

from keras_hvae.datasets import cifar10
from keras_hvae.datasets import load_cifar10
from keras_hvae.datasets.cifar10 import URL


def test_directory_layout_channels_and_splits(fake_cifar):
    d, _, ytrain, ytest = fake_cifar
    data = load_cifar10(d, validation_size=8)
    x, y = data["train"]
    assert x.shape == (32, 32, 32, 3) and x.dtype == np.uint8
    assert [len(data[s][0]) for s in ("train", "validation", "test")] == [32, 8, 6]
    # Planes become channels: R, G, B = 10, 20, 30 (apart from the index pixel).
    assert (x[:, 1:, :, 0] == 10).all() and (x[..., 1] == 20).all() and (x[..., 2] == 30).all()
    # The validation split is the last 8 training images (the end of data_batch_5).
    np.testing.assert_array_equal(x[:, 0, 0, 0], np.arange(32))
    np.testing.assert_array_equal(data["validation"][0][:, 0, 0, 0], np.arange(32, 40))
    np.testing.assert_array_equal(np.concatenate([y, data["validation"][1]]), ytrain)
    np.testing.assert_array_equal(data["test"][1], ytest)
    assert data["test"][0].shape == (6, 32, 32, 3)


def test_archive_parent_directory_and_cache_agree(fake_cifar, monkeypatch):
    d, archive, _, _ = fake_cifar
    a = load_cifar10(d, validation_size=0)
    b = load_cifar10(archive, validation_size=0)
    c = load_cifar10(d.parent, validation_size=0)  # a folder holding cifar-10-batches-py/
    monkeypatch.setenv("KERAS_HVAE_DATA", str(archive.parent))  # the archive in the cache
    e = load_cifar10(validation_size=0)
    for other in (b, c, e):
        for s in a:
            np.testing.assert_array_equal(a[s][0], other[s][0])
            np.testing.assert_array_equal(a[s][1], other[s][1])


def test_pipeline_uint8_batches_and_seeded_shuffle(fake_cifar):
    d = fake_cifar[0]
    ds = cifar10("train", 10, path=d, validation_size=8, seed=1, with_labels=True)
    shapes = [tuple(b[0].shape) for b in ds]
    assert shapes == [(10, 32, 32, 3)] * 3 + [(2, 32, 32, 3)]
    xb = next(iter(ds))[0]
    assert xb.dtype.name == "uint8"
    order = lambda ds: np.concatenate([b[:, 0, 0, 0] for b in ds])  # noqa: E731
    first = order(cifar10("train", 10, path=d, validation_size=8, seed=1))
    assert sorted(first) == list(range(32)) and list(first) != list(range(32))
    np.testing.assert_array_equal(first, order(cifar10("train", 10, path=d, validation_size=8, seed=1)))
    np.testing.assert_array_equal(order(cifar10("test", 4, path=d, validation_size=0)), np.arange(200, 206))  # test: unshuffled


def test_missing_data_says_where_and_how(empty_cache, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_cifar10(tmp_path / "nothing-here")
    msg = str(e.value)
    assert str(empty_cache / "cifar-10-python.tar.gz") in msg and str(tmp_path / "nothing-here") in msg
    assert URL in msg


def test_corrupt_files_raise_value_error(fake_cifar, tmp_path):
    d, archive, _, _ = fake_cifar
    bad = tmp_path / "bad" / "cifar-10-python.tar.gz"
    bad.parent.mkdir()
    bad.write_bytes(archive.read_bytes()[:200])  # truncated download
    with pytest.raises(ValueError, match="not a readable"):
        load_cifar10(bad)
    (d / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar10(d)
    (d / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((4, 100), "uint8"), b"labels": [0] * 4}))
    with pytest.raises(ValueError, match="3072"):
        load_cifar10(d)
    (d / "data_batch_3").unlink()
    with pytest.raises(ValueError, match="data_batch_3"):
        load_cifar10(d)
