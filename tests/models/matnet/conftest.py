"""Tiny MatNets for the tests (small widths, one or two scales)."""

import numpy as np
import pytest

from keras_hvae.models.matnet import ConditionalMatNet, MatNet


def tiny_conv_meta(sizes=(7, 14), modules=1, channels=8, z_channels=2):
    return [{"size": s, "modules": modules, "channels": channels, "z_channels": z_channels} for s in sizes]


def tiny_matnet(data_shape=(28, 28, 1), sizes=(7, 14), weight_norm=False, seed=0, **kwargs):
    kwargs.setdefault("fc_units", 16)
    kwargs.setdefault("z0_dim", 4)
    kwargs.setdefault("conv_meta_modules", tiny_conv_meta(sizes))
    return MatNet(data_shape=data_shape, weight_norm=weight_norm, seed=seed, **kwargs)


def tiny_conditional(data_shape=(28, 28, 1), sizes=(7, 14), weight_norm=False, seed=0, **kwargs):
    kwargs.setdefault("fc_units", 16)
    kwargs.setdefault("z0_dim", 4)
    kwargs.setdefault("conv_meta_modules", tiny_conv_meta(sizes))
    return ConditionalMatNet(data_shape=data_shape, weight_norm=weight_norm, seed=seed, **kwargs)


def random_binary(shape, p=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=shape) < p).astype("float32")


@pytest.fixture
def tiny_binary():
    return random_binary((16, 28, 28, 1))
