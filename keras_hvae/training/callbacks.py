"""Callbacks of the training layer."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stops `fit` after the epoch at which `seconds` would be overrun by
    one more epoch (the budget counts from `on_train_begin`)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = float(seconds)

    def on_train_begin(self, logs=None):
        self.start = time.time()
        self.last = self.start

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        epoch_time, self.last = now - self.last, now
        if now - self.start + epoch_time > self.seconds:
            self.model.stop_training = True


class ScoresAtTrainEnd(keras.callbacks.Callback):
    """At the end of training: `scores(model)` into
    `model.preset_metadata[key]` (and `self.scores`), so that the preset
    written next records them.

    `ScoresAtTrainEnd.protocol(x_test, key)` scores the likelihood bounds
    under the package's evaluation protocol
    (`keras_hvae.evaluation.protocol.score_preset_protocol`: the ELBO on
    the whole split, the IWAE bound on a seeded random subset, standard
    errors, the seed and the numbers of examples recorded)."""

    @classmethod
    def protocol(cls, x_test, key="scores", **protocol_arguments):
        """A callback recording `score_preset_protocol(model, x_test,
        **protocol_arguments)` under `key`."""
        from keras_hvae.evaluation.protocol import score_preset_protocol

        return cls(lambda model: score_preset_protocol(model, x_test, **protocol_arguments), key=key)

    def __init__(self, scores, key):
        super().__init__()
        self.scores_fn = scores
        self.key = key
        self.scores = None

    def on_train_end(self, logs=None):
        self.scores = self.scores_fn(self.model)
        meta = dict(getattr(self.model, "preset_metadata", None) or {})
        meta[self.key] = self.scores
        self.model.preset_metadata = meta
