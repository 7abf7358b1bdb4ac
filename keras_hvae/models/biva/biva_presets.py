"""Recipes of the shipped BIVA presets (run: `keras-hvae train --recipe NAME`).

CPU scale: the paper's binary-image BIVA (App. C) does ~17 GFLOPs per image
per step and would train at ~10 images/s on the 2-core reference machine, so
the shipped model keeps the paper's structure (L = 6 levels, dense latents
48, 40, 32, 24, 16, 8, free bits lambda = 2, Adamax, batch 48, Bernoulli
likelihood, EMA weights for evaluation) at 16 kernels, M = 1 gated residual
layer per level and no dropout, for a fixed number of epochs.
"""

import keras

from keras_hvae.training import recipe_data as mnist_data
from keras_hvae.training.recipes import Recipe, register_recipe
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


# --- semi-supervised BIVA on MNIST with 100 labels (Appendix B, Table 3) ---------------------------

#: The semi-supervised preset's width: the configuration whose 100-label gain
#: over the labels-only classifier is measured in
#: tests/models/biva/test_semi_supervised.py (small latents, no free bits: with
#: free bits the latents carry the class and the decoder ignores y).
BIVA_SSL_OVERRIDES = dict(filters=16, layers_per_block=1, latent_sizes=[4, 2], q_dropout=0.2, p_dropout=0.0,
                          free_bits=0.0, seed=0)
SSL_LABELS_PER_CLASS = 10
SSL_LABEL_SEED = 0


def ssl_labelled_indices(y_train, per_class=SSL_LABELS_PER_CLASS, seed=SSL_LABEL_SEED):
    """Indices of the labelled training digits: `per_class` of each class, seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y_train == c), per_class, replace=False) for c in range(10)])


def build_biva_ssl_mnist100():
    from keras_hvae.models.biva.semi_supervised import SemiSupervisedBIVA, default_alpha

    model = SemiSupervisedBIVA.from_architecture(
        "binary_28x28", num_classes=10, alpha=default_alpha(50000, 10 * SSL_LABELS_PER_CLASS), **BIVA_SSL_OVERRIDES
    )
    model.compile(optimizer=keras.optimizers.Adamax(2e-3))
    return model


def ssl_train_dataset():
    """Mixed batches of 16 labelled (of the 100, oversampled) + 48 unlabelled digits."""
    from keras_hvae.datasets import load_mnist
    from keras_hvae.models.biva.semi_supervised import semi_supervised_dataset

    x, y = load_mnist()["train"]
    idx = ssl_labelled_indices(y)
    return semi_supervised_dataset(x[idx], y[idx], x, batch_size=64, labelled_per_batch=16, binarize=True)


def ssl_test_scores(model, baseline_steps=400):
    """Test error of q(y|x) on the 10k test digits, and of the same classifier
    architecture trained on the 100 labels alone (the supervised baseline)."""
    import numpy as np
    import tensorflow as tf

    from keras_hvae.datasets import load_mnist
    from keras_hvae.layers import initialize_weight_norm
    from keras_hvae.models.biva.semi_supervised import BIVAClassifier

    splits = load_mnist()
    x_test, y_test = mnist_data.test_digits(), splits["test"][1]
    error = float(np.mean(model.classify(x_test) != y_test))
    x, y = splits["train"]
    idx = ssl_labelled_indices(y)
    keras.utils.set_random_seed(0)
    base = BIVAClassifier(10, model.filters, model.kernel_sizes, model.strides, model.layers_per_block,
                          dropout=0.2, seed=0)
    labelled = (
        tf.data.Dataset.from_tensor_slices((x[idx], y[idx])).shuffle(100, seed=0).repeat()
        .map(lambda a, b: (tf.cast(tf.random.uniform(tf.shape(a)) < a, tf.float32), b)).batch(32)
    )
    initialize_weight_norm(lambda a: base(a, training=False), (x[idx] > 0.5).astype("float32"))
    base.compile(optimizer=keras.optimizers.Adamax(2e-3),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    base.fit(labelled, epochs=1, steps_per_epoch=baseline_steps, verbose=0)
    base_error = float(np.mean(np.argmax(base.predict(x_test, verbose=0), -1) != y_test))
    return {"test_error": error, "labels_only_baseline_test_error": base_error,
            "num_labels": 10 * SSL_LABELS_PER_CLASS}


register_recipe(
    Recipe(
        name="biva_ssl_mnist100",
        build_model=build_biva_ssl_mnist100,
        train_data=ssl_train_dataset,
        test_data=mnist_data.test_digits,
        epochs=30,
        steps_per_epoch=100,
        iwae_samples=1000,
        iwae_limit=100,
        extra_scores=ssl_test_scores,
        metadata=dict(
            mnist_data.MNIST_METADATA,
            dataset="binarized_mnist",
            split="train: 100 labelled digits (10 per class, numpy seed 0) oversampled into every batch + the "
                  "50,000 training digits unlabelled, dynamically binarised; model selection: none (fixed "
                  "schedule); scores: the 10,000 test digits binarised once with seed 123",
            description="Semi-supervised BIVA (App. B, M2-style q(y|x), p(x|z,y), p(z|y)) at CPU width, "
                        "100 labels",
            architecture="binary_28x28",
            overrides=BIVA_SSL_OVERRIDES,
            optimizer="Adamax(2e-3), batch 64 (16 labelled + 48 unlabelled), alpha = 0.1 N / N_l = 50",
            paper="Maaløe et al. 2019, BIVA; Table 3: 100-label MNIST test error 0.83% (+-0.02)",
            notes="test_elbo / test_iwae are bounds on log p(x) with y summed out under q(y|x); test_error "
                  "is argmax q(y|x) on the 10,000 test digits.",
        ),
    )
)
