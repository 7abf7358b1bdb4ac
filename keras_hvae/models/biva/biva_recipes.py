"""Recipes of the shipped BIVA presets (run: `keras-hvae train --recipe NAME`).

CPU scale: the paper's binary-image BIVA (App. C) does ~17 GFLOPs per image
per step and would train at ~10 images/s on the 2-core reference machine, so
the shipped model keeps the paper's structure (L = 6 levels, dense latents
48, 40, 32, 24, 16, 8, free bits lambda = 2, Adamax, batch 48, Bernoulli
likelihood, EMA weights for evaluation) at 16 kernels, M = 1 gated residual
layer per level and no dropout, for a fixed number of epochs.
"""

import keras

from keras_hvae.applications import mnist_data
from keras_hvae.applications.recipes import Recipe, register_recipe
from keras_hvae.models.biva.biva_model import BIVA

BIVA_MNIST_OVERRIDES = dict(filters=16, layers_per_block=1, q_dropout=0.0, p_dropout=0.0, seed=0)


def build_biva_binarized_mnist():
    model = BIVA.from_architecture("binary_28x28", **BIVA_MNIST_OVERRIDES)
    model.compile(optimizer=keras.optimizers.Adamax(2e-3, use_ema=True, ema_momentum=0.999))
    return model


register_recipe(
    Recipe(
        name="biva_binarized_mnist",
        build_model=build_biva_binarized_mnist,
        train_data=lambda: mnist_data.train_dataset(48),
        validation_data=mnist_data.validation_dataset,
        test_data=mnist_data.test_digits,
        epochs=8,
        iwae_samples=1000,
        iwae_limit=100,
        metadata=dict(
            mnist_data.MNIST_METADATA,
            description="BIVA L=6 (paper's binary-image structure) at CPU width on dynamically binarised MNIST",
            architecture="binary_28x28",
            overrides=BIVA_MNIST_OVERRIDES,
            optimizer="Adamax(2e-3), EMA 0.999, batch 48, free bits 2",
            paper="Maaløe et al. 2019, BIVA; Table 2 / App. E: dynamically binarised MNIST L_1e3 = 78.41 nats",
        ),
    )
)
