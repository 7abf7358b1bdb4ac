"""8-bit MNIST: exact grey levels, splits, seeded shuffling; binarised MNIST's randomness."""

import numpy as np
import pytest

from keras_hvae.datasets import binarized_mnist
from keras_hvae.datasets import load_mnist_uint8
from keras_hvae.datasets import mnist_uint8


def epochs(ds, n=2):
    """`n` passes over `ds`, each concatenated into one array."""
    return [np.concatenate([np.asarray(b) for b in ds]) for _ in range(n)]


def test_real_mnist_uint8_recovers_the_bytes(mnist_splits):
    x = mnist_splits["train"][0]
    k = np.round(x * 256)
    assert np.array_equal(k / 256, x)  # the file stores k / 256 exactly
    assert k.min() == 0 and k.max() == 255
    assert {s: len(v[0]) for s, v in mnist_splits.items()} == {"train": 50000, "validation": 10000, "test": 10000}


def test_real_mnist_uint8_pipeline(mnist_splits):
    ds = mnist_uint8("test", batch_size=100, limit=250, with_labels=True)
    batches = list(ds)
    assert [b[0].shape for b in batches] == [(100, 28, 28, 1)] * 2 + [(50, 28, 28, 1)]
    x = np.concatenate([b[0].numpy() for b in batches])
    assert x.dtype == np.uint8
    np.testing.assert_array_equal(x.astype("float32") / 256, mnist_splits["test"][0][:250])  # test: file order
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), mnist_splits["test"][1][:250])


def test_uint8_values_and_splits(fake_mnist):
    file, splits = fake_mnist
    data = load_mnist_uint8(file)
    for name, (x, y) in zip(("train", "validation", "test"), splits):
        got_x, got_y = data[name]
        assert got_x.dtype == np.uint8 and got_x.shape == (len(x), 28, 28, 1)
        np.testing.assert_array_equal(got_x.reshape(len(x), -1), np.round(x * 256).astype("uint8"))
        np.testing.assert_array_equal(got_y, y)


def test_shuffling_is_seeded_train_only(fake_mnist):
    file, splits = fake_mnist
    a1, a2 = epochs(mnist_uint8("train", 16, seed=3, path=file))
    b1, _ = epochs(mnist_uint8("train", 16, seed=3, path=file))
    c1, _ = epochs(mnist_uint8("train", 16, seed=4, path=file))
    assert a1.shape == (40, 28, 28, 1)
    np.testing.assert_array_equal(a1, b1)  # same seed, same order
    assert not np.array_equal(a1, a2)  # a new order every epoch
    assert not np.array_equal(a1, c1)
    key = lambda x: sorted(map(bytes, x))  # noqa: E731
    assert key(a1) == key(a2) == key(load_mnist_uint8(file)["train"][0])  # a permutation
    v1, v2 = epochs(mnist_uint8("validation", 5, path=file))
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(v1, load_mnist_uint8(file)["validation"][0])


def test_batching_drop_remainder_and_bad_split(fake_mnist):
    file, _ = fake_mnist
    assert [b.shape[0] for b in mnist_uint8("train", 16, path=file, drop_remainder=True)] == [16, 16]
    with pytest.raises(ValueError, match="split"):
        mnist_uint8("valid", path=file)


def test_dynamic_binarization_is_fresh_each_epoch_and_seeded(fake_mnist):
    file, _ = fake_mnist
    ds = binarized_mnist("validation", 12, binarization="dynamic", seed=5, path=file)
    e1, e2 = epochs(ds)
    assert e1.dtype == np.float32 and e1.shape == (12, 28, 28, 1)
    assert set(np.unique(e1)) <= {0.0, 1.0}
    assert not np.array_equal(e1, e2)
    r1, r2 = epochs(binarized_mnist("validation", 12, binarization="dynamic", seed=5, path=file))
    np.testing.assert_array_equal(e1, r1)  # rebuilt with the same seed: same draws
    np.testing.assert_array_equal(e2, r2)
    other, _ = epochs(binarized_mnist("validation", 12, binarization="dynamic", seed=6, path=file))
    assert not np.array_equal(e1, other)


def test_static_binarization_is_fixed_for_a_seed(fake_mnist):
    file, splits = fake_mnist
    e1, e2 = epochs(binarized_mnist("test", 4, binarization="static", seed=1, path=file))
    np.testing.assert_array_equal(e1, e2)
    again, _ = epochs(binarized_mnist("test", 4, binarization="static", seed=1, path=file))
    np.testing.assert_array_equal(e1, again)
    other, _ = epochs(binarized_mnist("test", 4, binarization="static", seed=2, path=file))
    assert not np.array_equal(e1, other)
    # Bernoulli(x): the mean over pixels follows the grey mean.
    assert abs(e1.mean() - splits[2][0].mean()) < 0.02
    with pytest.raises(ValueError, match="binarization"):
        binarized_mnist("test", binarization="otsu", path=file)
