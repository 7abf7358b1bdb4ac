"""Dataset names in preset metadata resolve to held-out inputs (`keras-hvae evaluate`)."""

import numpy as np
import pytest

from keras_hvae.datasets.registry import test_inputs as inputs_of  # not collected as a test


def test_new_datasets_resolve_by_name(fake_cifar, fake_celeba):
    x = inputs_of("cifar10", path=fake_cifar[0], limit=4)
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.uint8
    faces = inputs_of("celeba64", path=fake_celeba, limit=1)
    assert faces.shape == (1, 64, 64, 3) and faces.dtype == np.uint8


def test_binarized_omniglot_by_name_is_a_fixed_draw(fake_omniglot):
    pytest.importorskip("scipy.io")
    a = inputs_of("binarized_omniglot", path=fake_omniglot[0], limit=5)
    assert a.shape == (5, 28, 28, 1) and set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, inputs_of("binarized_omniglot", path=fake_omniglot[0], limit=5))
