"""Tiny BIVA builders shared by the BIVA tests (small widths, fast on CPU)."""

import numpy as np
import pytest

from keras_hvae.models.biva import BIVA


def tiny_binary(variant="biva", seed=1, **overrides):
    """binary_28x28 at L=3, 8 filters, one gated layer per block."""
    cfg = dict(
        filters=8,
        latent_sizes=[6, 4, 2],
        layers_per_block=1,
        q_dropout=0.0,
        p_dropout=0.0,
        seed=seed,
    )
    cfg.update(overrides)
    return BIVA.from_architecture("binary_28x28", variant=variant, **cfg)


def tiny_natural(variant="biva", seed=1, **overrides):
    """natural_32x32 on 16x16x3 images: L=3, conv latents, DLM likelihood."""
    cfg = dict(
        data_shape=(16, 16, 3),
        filters=8,
        latent_sizes=[4, 3, 2],
        strides=[2, 1, 2],
        layers_per_block=1,
        seed=seed,
    )
    cfg.update(overrides)
    return BIVA.from_architecture("natural_32x32", variant=variant, **cfg)


@pytest.fixture(scope="module")
def random_binary():
    rng = np.random.default_rng(0)
    return (rng.uniform(size=(8, 28, 28, 1)) < 0.3).astype("float32")


@pytest.fixture(scope="module")
def tiny_model(random_binary):
    model = tiny_binary()
    model.initialize(random_binary)
    return model
