"""SVHN cropped digits from train_32x32.mat / test_32x32.mat."""

import numpy as np
import pytest

from keras_hvae.datasets import load_svhn
from keras_hvae.datasets import svhn
from keras_hvae.datasets.svhn import BASE_URL

pytest.importorskip("scipy.io")


def test_layout_labels_and_seeded_holdout(fake_svhn):
    d, raw = fake_svhn
    data = load_svhn(d, validation_size=6)
    assert [len(data[s][0]) for s in ("train", "validation", "test")] == [24, 6, 12]
    x, y = data["validation"]
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.uint8
    assert (x[:, 0, 1, 2] == 77).all()  # X[row, col, channel, n] -> x[n, row, col, channel]
    perm = np.random.RandomState(0).permutation(30)
    np.testing.assert_array_equal(x[:, 5, 5, 0], perm[-6:])  # red holds the index
    np.testing.assert_array_equal(data["train"][0][:, 5, 5, 0], perm[:-6])
    np.testing.assert_array_equal(y, (perm[-6:] % 10 + 1) % 10)  # file label 10 -> digit 0
    np.testing.assert_array_equal(data["test"][1], (np.arange(12) % 10 + 1) % 10)
    assert data["test"][1].min() == 0 and data["test"][1].max() == 9
    # One of the files as `path` finds the other beside it.
    same = load_svhn(d / "test_32x32.mat", validation_size=6)
    np.testing.assert_array_equal(same["train"][0], data["train"][0])


def test_pipeline(fake_svhn):
    d, _ = fake_svhn
    batches = list(svhn("test", 5, path=d, validation_size=6))
    assert [tuple(b.shape) for b in batches] == [(5, 32, 32, 3), (5, 32, 32, 3), (2, 32, 32, 3)]
    assert batches[0].dtype.name == "uint8"
    np.testing.assert_array_equal(np.concatenate(batches)[:, 0, 0, 0], np.arange(12))


def test_missing_file_says_where_and_how(empty_cache, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_svhn(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "train_32x32.mat") in msg and str(empty_cache) in msg
    assert BASE_URL + "train_32x32.mat" in msg


def test_corrupt_files_raise_value_error(fake_svhn):
    import scipy.io

    d, _ = fake_svhn
    (d / "test_32x32.mat").write_bytes(b"\x89HDF\r\n garbage")
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        load_svhn(d, validation_size=6)
    scipy.io.savemat(d / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), "uint8"), "y": np.zeros((4, 1))})
    with pytest.raises(ValueError, match="1..10"):
        load_svhn(d, validation_size=6)
    scipy.io.savemat(d / "test_32x32.mat", {"X": np.zeros((3, 32, 32, 4), "uint8"), "y": np.ones((4, 1))})
    with pytest.raises(ValueError, match="32, 32, 3, n"):
        load_svhn(d, validation_size=6)
