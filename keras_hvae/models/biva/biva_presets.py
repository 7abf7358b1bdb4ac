"""The shipped BIVA presets and the recipes that train them (data only).

`PRESETS` (BIVA) and `SEMI_SUPERVISED_PRESETS` map each shipped preset to its directory under
`keras_hvae/presets/`; `RECIPES` holds the training recipe of each, in the
format of a `keras-hvae train --config` file (the training layer runs it:
`keras-hvae train --recipe NAME`).

CPU scale: the paper's binary-image BIVA (App. C) does ~17 GFLOPs per image
per step and would train at ~10 images/s on the 2-core reference machine, so
the shipped model keeps the paper's structure (L = 6 levels, dense latents
48, 40, 32, 24, 16, 8, free bits lambda = 2, Adamax, batch 48, Bernoulli
likelihood, EMA weights for evaluation) at 32 kernels, M = 1 gated residual
layer per level and no dropout, for a fixed number of epochs.

The semi-supervised preset (Appendix B, Table 3) is deliberately small:
latents of 4 and 2 units and no free bits (with free bits the latents carry
the class and the decoder ignores y; tests/models/biva/test_semi_supervised.py
measures its 100-label gain over the labels-only classifier).
"""

PRESETS = {"biva_binarized_mnist": "biva_binarized_mnist", "biva_fashion_mnist": "biva_fashion_mnist",
           "biva_fashion_mnist_8bit": "biva_fashion_mnist_8bit"}
SEMI_SUPERVISED_PRESETS = {"biva_ssl_mnist100": "biva_ssl_mnist100"}

_ADAMAX_EMA = {"class_name": "keras_hvae>Adamax", "config": {"learning_rate": 2e-3, "use_ema": True, "ema_momentum": 0.999}}
#: The training and scoring every BIVA image recipe shares: batch 48 in bfloat16 (this CPU's fastest
#: precision), Adamax with EMA weights, a half-size weights file (the 30 MiB cap on tracked files; scored
#: as shipped) and the protocol's IWAE bound, k = 1000 on 1,000 test examples drawn at random (seed 0).
_CPU_TRAINING = {"batch_size": 48, "precision": "bfloat16", "optimizer": _ADAMAX_EMA, "weights_dtype": "float16",
                 "iwae_samples": 1000, "iwae_limit": 1000}

RECIPES = {
    "biva_binarized_mnist": {
        "model": {
            "class": "BIVA",
            "architecture": "binary_28x28",
            "overrides": {"filters": 32, "layers_per_block": 1, "q_dropout": 0.0, "p_dropout": 0.0, "seed": 0},
        },
        "dataset": "binarized_mnist",
        "epochs": 18,
        **_CPU_TRAINING,
        "metadata": {
            "description": "BIVA L=6 (the authors' binary-image network) at CPU width on dynamically binarised MNIST",
            "architecture": "binary_28x28",
            "architecture_revision": 2,
            "optimizer": "Adamax(2e-3), EMA 0.999, batch 48, free bits 2",
            "paper": "Maaløe et al. 2019, BIVA; Table 2 / App. E: dynamically binarised MNIST L_1e3 = 78.41 nats",
        },
    },
    "biva_fashion_mnist": {
        # the main recipe's network and training on dynamically binarised Fashion-MNIST, for
        # out-of-distribution detection (Fashion-MNIST in, MNIST out; docs/biva.md)
        "model": {
            "class": "BIVA",
            "architecture": "binary_28x28",
            "overrides": {"filters": 32, "layers_per_block": 1, "q_dropout": 0.0, "p_dropout": 0.0, "seed": 0},
        },
        "dataset": "binarized_fashion_mnist",
        # two stages: 16 epochs (69 min), then 11 more from those weights with a fresh optimizer and a new
        # data order (seed 1); the likelihood ratio separates the sets better after the second (docs/biva.md)
        "epochs": 16,
        "fine_tune": {"epochs": 11, "seed": 1},
        **_CPU_TRAINING,
        "metadata": {
            "description": "BIVA L=6 (the authors' binary-image network) at CPU width on dynamically binarised "
                           "Fashion-MNIST, for out-of-distribution detection against MNIST",
            "architecture": "binary_28x28",
            "architecture_revision": 2,
            "optimizer": "Adamax(2e-3), EMA 0.999, batch 48, free bits 2",
            "paper": "Havtorn et al. 2021, Hierarchical VAEs Know What They Don't Know: FashionMNIST (in) vs "
                     "MNIST (out), AUROC 0.984 with LLR^{>2}",
        },
    },
    "biva_fashion_mnist_8bit": {
        # the natural-image code path of App. C (convolutional latents with kernels as large as their
        # feature maps, the discretised logistic mixture likelihood) scaled down to 28x28 grey levels
        "model": {
            "class": "BIVA",
            "architecture": "natural_32x32",
            "overrides": {"data_shape": [28, 28, 1], "num_layers": 6, "strides": [2, 1, 1, 2, 1, 1], "filters": 32,
                          "layers_per_block": 1, "latent_sizes": [8, 8, 6, 6, 4, 4],
                          "likelihood": {"name": "discretized_logistic_mixture", "num_mixtures": 5},
                          "q_dropout": 0.0, "p_dropout": 0.0, "seed": 0},
        },
        "dataset": "fashion_mnist_uint8",
        "epochs": 8,
        **_CPU_TRAINING,
        "metadata": {
            "description": "BIVA with convolutional latents and a 5-component discretised logistic mixture (the "
                           "paper's natural-image network, App. C, at 6 levels and 32 kernels) on 8-bit "
                           "Fashion-MNIST",
            "architecture": "natural_32x32",
            "architecture_revision": 2,
            "optimizer": "Adamax(2e-3), EMA 0.999, batch 48, free bits 2",
            "paper": "Maaløe et al. 2019, BIVA; Table 1: CIFAR-10 3.08 bits/dim (natural images, 32x32x3; "
                     "for scale only, a different dataset)",
        },
    },
    "biva_ssl_mnist100": {
        "model": {
            "class": "SemiSupervisedBIVA",
            "architecture": "binary_28x28",
            # dropout 0.5 in the inference blocks and the classifier, as App. C (the generative blocks keep none)
            "overrides": {"filters": 16, "layers_per_block": 1, "latent_sizes": [4, 2], "q_dropout": 0.5,
                          "p_dropout": 0.0, "free_bits": 0.0, "seed": 0, "num_classes": 10,
                          # alpha = 0.1 N / N_l (default_alpha(50000, 100))
                          "alpha": 50.0},
        },
        "dataset": "binarized_mnist_100_labels",
        "batch_size": 64,
        # one stage of 38,000 steps (about 100 min on 2 CPU cores), the learning rate annealed from 2e-3
        # to 1e-4 by a cosine over all of them, scored on the EMA weights (docs/biva.md)
        "epochs": 380,
        "steps_per_epoch": 100,
        "validation_limit": 1000,
        "time_limit_s": 7100,
        "optimizer": {**_ADAMAX_EMA, "config": {**_ADAMAX_EMA["config"], "learning_rate": {
            "class_name": "CosineDecay", "config": {"initial_learning_rate": 2e-3, "decay_steps": 38000, "alpha": 0.05}}}},
        "iwae_samples": 1000,
        "iwae_limit": 1000,  # the protocol: 1,000 test digits drawn at random (seed 0)
        "metadata": {
            "description": "Semi-supervised BIVA (App. B, M2-style q(y|x), p(x|z,y), p(z|y)) at CPU width, "
                           "100 labels",
            "architecture": "binary_28x28",
            "architecture_revision": 2,
            "optimizer": "Adamax with EMA weights (0.999), batch 64 (16 labelled + 48 unlabelled), alpha = 0.1 N / "
                         "N_l = 50; 38,000 steps from 2e-3 to 1e-4 (cosine)",
            "paper": "Maaløe et al. 2019, BIVA; Table 3: 100-label MNIST test error 0.83% (+-0.02)",
            "notes": "test_elbo / test_iwae are bounds on log p(x) with y summed out under q(y|x); test_error "
                     "is argmax q(y|x) on the 10,000 test digits.",
        },
    },
}
