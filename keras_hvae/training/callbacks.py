"""Callbacks of the training layer."""

import time

import keras
import numpy as np


class TimeLimit(keras.callbacks.Callback):
    """Stops `fit` after the epoch at which `seconds` would be overrun by
    one more epoch. The budget counts the training time of the whole run:
    `used` seconds spent before (`train_and_save` sets it from the
    `run_state.json` of a resumed run) plus the time since
    `on_train_begin`, so an interrupted run that is resumed stops where one
    uninterrupted run would have. In a multi-process run the chief's clock
    decides for every process.

    Args:
        seconds: the budget, in seconds of training.
        used: seconds of it already spent (by the runs being resumed).

    Example:
    >>> limit = TimeLimit(3600, used=3599.5)
    >>> limit.remaining() <= 0.5
    True
    """

    def __init__(self, seconds, used=0.0):
        super().__init__()
        self.seconds = float(seconds)
        self.used = float(used)
        self.start = None

    def remaining(self):
        """Seconds of the budget left now."""
        spent = self.used + (0.0 if self.start is None else time.time() - self.start)
        return self.seconds - spent

    def on_train_begin(self, logs=None):
        self.start = time.time()
        self.last = self.start

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        epoch_time, self.last = now - self.last, now
        from keras_hvae.training.distributed import chief_decides

        if chief_decides(self.remaining() < epoch_time):
            self.model.stop_training = True


class ClassificationError(keras.callbacks.Callback):
    """Logs the error of `model.classify` on held-out examples after every
    epoch as `logs[name]` (a fraction), so the history and the progress line
    show the classifier's curve; it selects nothing.

    Args:
        x, y: held-out inputs and their integer labels (numpy).
        name: the key in the epoch logs.

    Example:
    >>> class Majority(keras.Model):
    ...     def classify(self, x):
    ...         return np.zeros(len(x), "int64")
    >>> cb = ClassificationError(np.zeros((4, 2)), np.array([0, 0, 1, 2]))
    >>> cb.set_model(Majority())
    >>> logs = {}
    >>> cb.on_epoch_end(0, logs)
    >>> logs["val_error"]
    0.5
    """

    def __init__(self, x, y, name="val_error"):
        super().__init__()
        self.x, self.y = x, np.asarray(y).reshape(-1)
        if len(self.x) != len(self.y) or not len(self.y):
            raise ValueError(f"ClassificationError needs as many labels as inputs, at least one: got "
                             f"{len(self.x)} inputs and {len(self.y)} labels.")
        self.name = str(name)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = float(np.mean(np.asarray(self.model.classify(self.x)).reshape(-1) != self.y))


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


class _SkippedUpdateCounter:
    """Per-batch counts from the `skipped_updates` log, which Keras sums over
    the epoch so far (and resets at every epoch)."""

    def __init__(self):
        self.reset()

    def reset(self):
        """At the start of an epoch."""
        self.total = 0.0
        self.last_batch = -1

    def count(self, batch, logs):
        """`(steps, skipped)` since the previous batch end (steps > 1 with
        `steps_per_execution`), or None when the logs carry no
        `skipped_updates` (a model without the loss-spike guard)."""
        if not logs or "skipped_updates" not in logs:
            return None
        total = float(logs["skipped_updates"])
        steps = max(int(batch) - self.last_batch, 1)
        self.last_batch = int(batch)
        skipped = int(round(min(max(total - self.total, 0.0), steps)))
        self.total = total
        return steps, skipped


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
        self._counter = _SkippedUpdateCounter()

    def on_train_batch_end(self, batch, logs=None):
        counted = self._counter.count(batch, logs)
        if counted is None:
            return
        steps, skipped = counted
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


class RollbackWarning(RuntimeWarning):
    """`RollbackOnStall` restored an earlier snapshot of a stalled run (or
    could not, having no snapshot or no rollbacks left)."""


class RollbackOnStall(keras.callbacks.Callback):
    """Restores the last healthy state of a run whose updates stall, so that
    a learning-rate spike (or any burst that wrecks the weights) costs a few
    steps instead of the run.

    A wrecked model is skipped, not repaired: the train step skips every
    update whose loss or gradients are not finite, and the loss-spike guard
    (`keras_hvae.models.loss_spike`) every update whose loss jumps far above
    the recent ones, so the weights stay finite but stop moving (the very
    update that wrecks them usually has an ordinary loss: nothing can refuse
    it). This callback keeps an in-memory snapshot of a healthy state and,
    when more than `fraction` of the last `window` updates were skipped,
    restores it:

    - the model's weights (`model.get_weights()` / `set_weights()`: trainable
      and non-trainable, e.g. normalisation statistics);
    - the optimizer's variables (moments, loss scale; not its step counter,
      so learning-rate and KL schedules keep their place, nor the learning
      rate itself, which other callbacks may own);
    - the loss-spike guard's state (its window of recent losses), when the
      model has a guard.

    Snapshots: every `every` steps and at the end of every epoch, the state
    becomes a *candidate* when the last `confirm` steps were all applied (no
    skip); a candidate becomes *the* snapshot after `confirm` more steps
    without a skip, and a skip discards it. The delay matters: the update
    that wrecks a model is applied like any other, and only the skips that
    follow it reveal it. Memory: the snapshot and at most one candidate, each
    a host (numpy) copy of the weights and the optimizer variables, that is
    one to two copies of the weights plus the optimizer's slots (Adam and
    Adamax keep two per weight, so about 3x the weights per copy). With
    `max_rollbacks=0` it takes no snapshot and does nothing.

    A rollback warns (`RollbackWarning`: what was restored, from which
    step, at which step, and the learning-rate change) and, with
    `learning_rate_factor`, multiplies the optimizer's learning rate (a
    variable; a schedule is left as it is, and the warning says so). The
    rollbacks of each epoch are logged as `rollbacks` (in the history; a
    sum over the epoch, like `skipped_updates`); `self.rollbacks` counts
    them over the run. After `max_rollbacks` it only warns, once, and
    leaves the stall to `StopOnSkippedUpdates`, which must come after it in
    the callback list: its defaults (more than 25 % of the last 20) fire
    before the stall stop's (more than half of the last 50) can.

    A run in which nothing is skipped is bit for bit the run without this
    callback: it only reads the state.

    `train_and_save` (every recipe and `keras-hvae train`) adds one with
    the defaults unless given `rollback_on_stall=None` or a config's
    `"rollback_on_stall": false`; `model.fit` never adds one by itself.

    Args:
        fraction: the fraction of skipped updates, in (0, 1), in the last
            `window` updates (counted from the last rollback) above which
            the run counts as stalled.
        window: the number of most recent updates considered, >= 1.
        every: steps between two candidate snapshots, >= 1.
        confirm: skip-free steps before a candidate is taken and again
            before it becomes the snapshot, >= 1.
        learning_rate_factor: None (keep the learning rate) or a number in
            (0, 1] the learning rate is multiplied by at each rollback.
        max_rollbacks: the most rollbacks in one `fit`, >= 0 (0: off).

    Attributes:
        rollbacks: rollbacks in this run.
        snapshot: the current snapshot (a dict: `weights`, `optimizer`,
            `guard`, `epoch`, `batch`, `step`) or None.
        snapshots_taken: how many snapshots were confirmed in this run.
    """

    def __init__(self, fraction=0.25, window=20, every=100, confirm=20, learning_rate_factor=None,
                 max_rollbacks=3):
        super().__init__()
        import numbers

        def whole(value, low):
            return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= low

        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}.")
        for name, value, low in (("window", window, 1), ("every", every, 1), ("confirm", confirm, 1),
                                 ("max_rollbacks", max_rollbacks, 0)):
            if not whole(value, low):
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
        if learning_rate_factor is not None and (
                isinstance(learning_rate_factor, bool) or not isinstance(learning_rate_factor, numbers.Real)
                or not 0 < learning_rate_factor <= 1):
            raise ValueError(f"learning_rate_factor must be None or a number in (0, 1], got {learning_rate_factor!r}.")
        self.fraction = float(fraction)
        self.window = int(window)
        self.every = int(every)
        self.confirm = int(confirm)
        self.learning_rate_factor = None if learning_rate_factor is None else float(learning_rate_factor)
        self.max_rollbacks = int(max_rollbacks)
        self.rollbacks = 0
        self.snapshot = None
        self.snapshots_taken = 0

    # ------------------------------------------------------------ the state
    def _optimizer_variables(self, model):
        """The optimizer variables a rollback restores (all but the step
        counters and the learning rate)."""
        optimizer = model.optimizer
        keep_out = {"iteration", "iterations", "learning_rate", "step_counter"}
        return [v for v in optimizer.variables if v.name not in keep_out]

    @staticmethod
    def _guard_variables(model):
        guard = getattr(model, "loss_spike_guard", None)
        if guard is None:
            return []
        return [guard.recent_losses, guard.filled, guard.streak]

    def _take(self, epoch, batch):
        model = self.model  # on JAX this syncs the training state into the variables

        def copy(variable):
            return np.array(keras.ops.convert_to_numpy(variable), copy=True)

        return {
            "weights": [np.array(w, copy=True) for w in model.get_weights()],
            "optimizer": [copy(v) for v in self._optimizer_variables(model)],
            "guard": [copy(v) for v in self._guard_variables(model)],
            "epoch": epoch, "batch": batch, "step": self.seen,
        }

    def _restore(self, snapshot):
        model = self.model
        model.set_weights(snapshot["weights"])
        for variable, value in zip(self._optimizer_variables(model), snapshot["optimizer"]):
            variable.assign(value)
        for variable, value in zip(self._guard_variables(model), snapshot["guard"]):
            variable.assign(value)

    # ------------------------------------------------------------ callbacks
    def on_train_begin(self, logs=None):
        import collections

        self._recent = collections.deque(maxlen=self.window)
        self.rollbacks = 0
        self.snapshot = None
        self.snapshots_taken = 0
        self.seen = 0
        self._candidate = None
        self._clean = 0  # applied steps since the last skip (or rollback)
        self._since = 0  # steps since the last candidate (or rollback)
        self._gave_up = False
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._counter = _SkippedUpdateCounter()
        self._epoch_rollbacks = 0

    def on_train_batch_end(self, batch, logs=None):
        counted = self._counter.count(batch, logs)
        if counted is None:
            return
        steps, skipped = counted
        self.seen += steps
        if self.max_rollbacks == 0:
            return
        self._recent.extend([1] * skipped + [0] * (steps - skipped))
        self._since += steps
        if skipped:
            self._clean = 0
            self._candidate = None  # the steps after it were not all healthy
        else:
            self._clean += steps
        if sum(self._recent) > self.fraction * self.window:
            self._stalled(batch)
            return
        self._advance(batch, self._since >= self.every)

    def on_epoch_end(self, epoch, logs=None):
        counter = getattr(self, "_counter", None)
        if self.max_rollbacks > 0 and counter is not None and counter.last_batch >= 0:
            self._advance(counter.last_batch, True)
        if logs is not None:
            logs["rollbacks"] = float(self._epoch_rollbacks)

    def _advance(self, batch, due):
        """Confirms a candidate that has lasted `confirm` clean steps, and
        takes a new one when `due` and the last `confirm` steps were clean."""
        if self._candidate is not None and self.seen - self._candidate["step"] >= self.confirm:
            self.snapshot, self._candidate = self._candidate, None
            self.snapshots_taken += 1
        if due and self._candidate is None and self._clean >= self.confirm:
            self._candidate = self._take(self._epoch, batch)
            self._since = 0

    def _stalled(self, batch):
        import warnings

        recent, considered = sum(self._recent), len(self._recent)
        where = f"epoch {self._epoch + 1}, batch {batch + 1} (step {self.seen} of this fit)"
        if self.snapshot is None or self.rollbacks >= self.max_rollbacks:
            if not self._gave_up:
                self._gave_up = True
                why = ("no healthy snapshot was taken yet" if self.snapshot is None
                       else f"the {self.max_rollbacks} rollbacks allowed are spent")
                warnings.warn(f"{recent} of the last {considered} updates were skipped at {where}, but "
                              f"nothing is restored: {why}.", RollbackWarning, stacklevel=2)
            return
        snapshot = self.snapshot
        self._restore(snapshot)
        self.rollbacks += 1
        self._epoch_rollbacks += 1
        self._recent.clear()
        self._candidate, self._clean, self._since = None, 0, 0
        lr_note = self._scale_learning_rate()
        warnings.warn(
            f"{recent} of the last {considered} updates were skipped "
            f"(the run stalled) at {where}: restored the weights, the optimizer state and the loss-spike guard's "
            f"state saved at epoch {snapshot['epoch'] + 1}, batch {snapshot['batch'] + 1} (step {snapshot['step']}); "
            f"{lr_note} (rollback {self.rollbacks} of at most {self.max_rollbacks}).",
            RollbackWarning,
            stacklevel=2,
        )

    def _scale_learning_rate(self):
        if self.learning_rate_factor is None:
            return "the learning rate is unchanged"
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        if not hasattr(rate, "assign"):
            return "the learning rate is a schedule: not scaled"
        old = float(keras.ops.convert_to_numpy(rate))
        rate.assign(old * self.learning_rate_factor)
        return f"the learning rate scaled by {self.learning_rate_factor:g} ({old:g} -> {old * self.learning_rate_factor:g})"
