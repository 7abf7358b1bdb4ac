"""Omniglot (IWAE's chardata.mat): layout, IWAE's split, binarisation, errors."""

import numpy as np
import pytest

from keras_hvae.datasets import binarized_omniglot
from keras_hvae.datasets import load_omniglot
from keras_hvae.datasets.omniglot import URL

pytest.importorskip("scipy.io")


def test_layout_matches_the_iwae_code(fake_omniglot):
    file, (train, ytr), (test, yte) = fake_omniglot
    data = load_omniglot(file, validation_size=0)
    x, y = data["train"]
    assert x.shape == (60, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], train, atol=1e-6)  # column-major images, upright
    np.testing.assert_array_equal(y, ytr)
    np.testing.assert_allclose(data["test"][0][..., 0], test, atol=1e-6)
    np.testing.assert_array_equal(data["test"][1], yte)
    # The IWAE repository's own reading of the file gives the same pixels.
    import scipy.io

    raw = scipy.io.loadmat(file)["data"].T.astype("float32")
    iwae = raw.reshape((-1, 28, 28)).reshape((-1, 28 * 28), order="F")
    np.testing.assert_allclose(x.reshape(60, 784), iwae)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_validation_is_iwaes_seeded_holdout(fake_omniglot):
    file, (train, ytr), _ = fake_omniglot
    data = load_omniglot(file, validation_size=7)
    assert [len(data[s][0]) for s in ("train", "validation", "test")] == [53, 7, 20]
    perm = np.random.RandomState(123).permutation(60)
    np.testing.assert_allclose(data["validation"][0][..., 0], train[perm[-7:]], atol=1e-6)
    np.testing.assert_allclose(data["train"][0][..., 0], train[perm[:-7]], atol=1e-6)
    with pytest.raises(ValueError, match="validation_size"):
        load_omniglot(file)  # the default 1,345 does not fit in 60 images


def test_binarized_omniglot_dynamic_and_static(fake_omniglot):
    file, _, (test, _) = fake_omniglot
    ds = binarized_omniglot("test", 8, path=file, validation_size=5, with_labels=True)
    xb, yb = next(iter(ds))
    assert xb.shape == (8, 28, 28, 1) and xb.dtype.name == "float32" and yb.dtype.name == "int64"
    e = [np.concatenate([b.numpy() for b in binarized_omniglot("test", 8, path=file, validation_size=5)]) for _ in range(2)]
    assert set(np.unique(e[0])) <= {0.0, 1.0}
    np.testing.assert_array_equal(e[0], e[1])  # rebuilt with the same seed
    ds = binarized_omniglot("test", 8, path=file, validation_size=5)
    assert not np.array_equal(np.concatenate(list(ds)), np.concatenate(list(ds)))  # fresh draws each epoch
    s = binarized_omniglot("test", 20, binarization="static", seed=3, path=file, validation_size=5)
    np.testing.assert_array_equal(next(iter(s)), next(iter(s)))
    assert abs(next(iter(s)).numpy().mean() - test.mean()) < 0.03


def test_missing_file_says_where_and_how(empty_cache, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_omniglot(tmp_path / "nowhere")
    msg = str(e.value)
    assert str(tmp_path / "nowhere" / "chardata.mat") in msg
    assert str(empty_cache / "chardata.mat") in msg
    assert URL in msg and "download=True" in msg


def test_corrupt_files_raise_value_error(tmp_path):
    import scipy.io

    bad = tmp_path / "chardata.mat"
    bad.write_bytes(b"<html>404: Not Found</html>")
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        load_omniglot(bad)
    scipy.io.savemat(bad, {"images": np.zeros((784, 3))})
    with pytest.raises(ValueError, match="no `data`"):
        load_omniglot(bad)
    scipy.io.savemat(bad, {"data": np.zeros((28, 3)), "testdata": np.zeros((784, 3))})
    with pytest.raises(ValueError, match="784"):
        load_omniglot(bad)
    scipy.io.savemat(bad, {"data": np.full((784, 3), 255.0), "testdata": np.zeros((784, 3))})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        load_omniglot(bad, validation_size=1)
