"""The shipped MatNet presets and the recipes that train them (data only).

`PRESETS` (MatNet) and `CONDITIONAL_PRESETS` (ConditionalMatNet) map each shipped preset to its directory under
`keras_hvae/presets/`; `RECIPES` holds the training recipe of each, in the
format of a `keras-hvae train --config` file (`keras-hvae train --recipe NAME`).

CPU scale: the paper's convolutional MNIST MatNet (one fully-connected
module plus meta modules at 7x7 and 14x14) at 32 channels and 3 TD modules
per meta module, Bernoulli likelihood, Adamax, batch 48, a fixed number of
epochs.
"""

PRESETS = {"matnet_binarized_mnist": "matnet_binarized_mnist"}
CONDITIONAL_PRESETS = {"matnet_mnist_inpainting": "matnet_mnist_inpainting"}

RECIPES = {
    "matnet_binarized_mnist": {
        "model": {"class": "MatNet", "architecture": "mnist_conv", "overrides": {"channels": 32, "modules": 3, "seed": 0}},
        "dataset": "binarized_mnist",
        "batch_size": 48,
        "epochs": 6,
        "optimizer": {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": 2e-3, "use_ema": True, "ema_momentum": 0.999}},
        "iwae_samples": 1000,
        "iwae_limit": 1000,  # the protocol: 1,000 test digits drawn at random (seed 0)
        "metadata": {
            "description": "Convolutional MatNet (paper's MNIST structure) at CPU width on dynamically binarised MNIST",
            "architecture": "mnist_conv",
            "optimizer": "Adamax(2e-3), EMA 0.999, batch 48",
            "paper": "Bachman 2016, MatNet; Table 3: MNIST convolutional <= 78.5 nats (fixed binarisation, IWAE 2500)",
        },
    },
    "matnet_mnist_inpainting": {
        # the structured-prediction task of Fig. 2 (Sohn et al. 2015): one conditional MatNet for 1, 2 and 3
        # visible quadrants (the model draws one of the three default masks per training digit)
        "model": {"class": "ConditionalMatNet", "architecture": "mnist_quadrants",
                  "overrides": {"channels": 32, "modules": 3, "seed": 0}},
        "dataset": "binarized_mnist_quadrants",
        "batch_size": 48,
        "epochs": 8,
        "optimizer": {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": 2e-3, "use_ema": True, "ema_momentum": 0.999}},
        "metadata": {
            "description": "Conditional MatNet p(x^u | x^k) (paper's MNIST structure) at CPU width for the "
                           "structured-prediction task: 1, 2 or 3 quadrants of a dynamically binarised digit visible",
            "architecture": "mnist_quadrants",
            "optimizer": "Adamax(2e-3), EMA 0.999, batch 48",
            "paper": "Bachman 2016, MatNet; Fig. 2: NLL of the missing quadrants 57.45 / 36.82 / 17.96 nats "
                     "with 1 / 2 / 3 visible",
        },
    },
}
