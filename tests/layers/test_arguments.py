"""`keras_hvae.utils.arguments`: kernel sizes / strides as an int or a pair."""

import numpy as np
import pytest

from keras_hvae.utils.arguments import as_pair, int_or_pair


def test_int_or_pair():
    assert int_or_pair(3) == 3 and type(int_or_pair(np.int64(3))) is int
    assert int_or_pair([1, 5]) == (1, 5) and int_or_pair((2, 2)) == (2, 2)
    for bad in ((1, 2, 3), "ab", None, (1,)):
        with pytest.raises(ValueError, match="kernel_size"):
            int_or_pair(bad, "kernel_size")


def test_as_pair():
    assert as_pair(3) == (3, 3) and as_pair(np.int32(2)) == (2, 2)
    assert as_pair([1, 4]) == (1, 4)
    assert as_pair(5, height=1) == (1, 5) and as_pair((2, 3), height=1) == (2, 3)
    with pytest.raises(ValueError, match="strides"):
        as_pair((1, 2, 3), "strides")


def test_layers_accept_ints_pairs_and_lists():
    from keras_hvae.layers import GatedResidualBlock, WeightNormConv2D

    conv = WeightNormConv2D(4, [1, 3], strides=np.int64(1))
    assert conv.kernel_size == (1, 3) and conv.strides == (1, 1)
    block = GatedResidualBlock(4, kernel_size=[1, 3], stride=(1, 2))
    assert block.kernel_size == (1, 3) and block.stride == (1, 2)
