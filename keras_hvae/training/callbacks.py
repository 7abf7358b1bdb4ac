"""Callbacks of the training layer."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stops `fit` after the epoch at which `seconds` would be overrun by
    one more epoch (the budget counts from `on_train_begin`). In a
    multi-process run the chief's clock decides for every process."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = float(seconds)

    def on_train_begin(self, logs=None):
        self.start = time.time()
        self.last = self.start

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        epoch_time, self.last = now - self.last, now
        from keras_hvae.training.distributed import chief_decides

        if chief_decides(now - self.start + epoch_time > self.seconds):
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


class SkippedUpdatesWarning(RuntimeWarning):
    """Most of the recent updates of a run were skipped (non-finite loss or
    gradients): the run is stalled, its weights no longer move."""


class StopOnSkippedUpdates(keras.callbacks.Callback):
    """Warns, and by default stops training, when more than `fraction` of
    the last `window` updates were skipped.

    A train step skips an update whose loss or gradient norm is not finite
    and counts it in the `skipped_updates` log (a sum over the epoch). An
    occasional skip is harmless; a run that skips most of its updates is
    stalled (a wrecked initialisation, a learning-rate spike, bad data) and
    would otherwise end normally with unchanged weights. This callback reads
    the per-batch `skipped_updates` log, keeps the last `window` updates and,
    once it has seen `window` updates (or at the end of training, when at
    least `min(window, 10)` were seen), issues a `SkippedUpdatesWarning` when
    more than `fraction` of them were skipped; with `stop=True` it also sets
    `model.stop_training`.

    `train_and_save` (every recipe and `keras-hvae train`) adds one with the
    defaults unless its `stop_on_skipped_updates` is None.

    Args:
        fraction: the threshold fraction of skipped updates, in [0, 1).
        window: the number of most recent updates considered, >= 1.
        stop: whether to stop training (else only warn).

    Attributes:
        triggered: whether the threshold was crossed in this run.
        skipped, seen: updates skipped / seen in this run.
    """

    def __init__(self, fraction=0.5, window=50, stop=True):
        super().__init__()
        import numbers

        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction < 1:
            raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}.")
        if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
            raise ValueError(f"window must be a positive whole number, got {window!r}.")
        self.fraction = float(fraction)
        self.window = int(window)
        self.stop = bool(stop)

    def on_train_begin(self, logs=None):
        import collections

        self._recent = collections.deque(maxlen=self.window)
        self.triggered = False
        self.skipped = 0
        self.seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        # `skipped_updates` is a sum that Keras resets at every epoch.
        self._epoch_total = 0.0
        self._last_batch = -1

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "skipped_updates" not in logs:
            return
        total = float(logs["skipped_updates"])
        steps = max(int(batch) - self._last_batch, 1)  # > 1 with steps_per_execution
        self._last_batch = int(batch)
        skipped = int(round(min(max(total - self._epoch_total, 0.0), steps)))
        self._epoch_total = total
        self._recent.extend([1] * skipped + [0] * (steps - skipped))
        self.skipped += skipped
        self.seen += steps
        if len(self._recent) >= self.window:
            self._check()

    def on_train_end(self, logs=None):
        if len(self._recent) >= min(self.window, 10) and not self.triggered:
            self._check(at_end=True)

    def _check(self, at_end=False):
        recent = sum(self._recent)
        if self.triggered or recent <= self.fraction * len(self._recent):
            return
        import warnings

        self.triggered = True
        if at_end:
            action = "at the end of training"
        else:
            action = "stopping training" if self.stop else "training continues"
        warnings.warn(
            f"{recent} of the last {len(self._recent)} updates were skipped (non-finite loss or gradients; "
            f"{self.skipped} of {self.seen} in this run): the run is stalled ({action}). Look for a wrecked "
            f"initialisation, a too-high learning rate or bad input data.",
            SkippedUpdatesWarning,
            stacklevel=2,
        )
        if self.stop:
            self.model.stop_training = True
