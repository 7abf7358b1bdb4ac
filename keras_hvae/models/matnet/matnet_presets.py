"""Recipes of the shipped MatNet presets (run: `keras-hvae train --recipe NAME`).

CPU scale: the paper's convolutional MNIST MatNet (one fully-connected
module plus meta modules at 7x7 and 14x14) at 32 channels and 3 TD modules
per meta module, Bernoulli likelihood, Adamax, batch 48, a fixed number of
epochs.
"""

import keras

from keras_hvae.training import recipe_data as mnist_data
from keras_hvae.training.recipes import Recipe, register_recipe
from keras_hvae.models.matnet.matnet_model import MatNet

MATNET_MNIST_OVERRIDES = dict(channels=32, modules=3, seed=0)


def build_matnet_binarized_mnist():
    model = MatNet.from_architecture("mnist_conv", **MATNET_MNIST_OVERRIDES)
    model.compile(optimizer=keras.optimizers.Adamax(2e-3, use_ema=True, ema_momentum=0.999))
    return model


register_recipe(
    Recipe(
        name="matnet_binarized_mnist",
        build_model=build_matnet_binarized_mnist,
        train_data=lambda: mnist_data.train_dataset(48),
        validation_data=mnist_data.validation_dataset,
        test_data=mnist_data.test_digits,
        epochs=6,
        iwae_samples=1000,
        iwae_limit=100,
        metadata=dict(
            mnist_data.MNIST_METADATA,
            description="Convolutional MatNet (paper's MNIST structure) at CPU width on dynamically binarised MNIST",
            architecture="mnist_conv",
            overrides=MATNET_MNIST_OVERRIDES,
            optimizer="Adamax(2e-3), EMA 0.999, batch 48",
            paper="Bachman 2016, MatNet; Table 3: MNIST convolutional <= 78.5 nats (fixed binarisation, IWAE 2500)",
        ),
    )
)
