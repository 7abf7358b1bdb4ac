"""The loss-spike guard: an update whose loss jumps far above the recent
losses is skipped and counted, like a non-finite one (issue 14, point 2).

A finite but absurd loss (an overflow that stays finite, a batch the model
has never seen the like of, weights wrecked by a learning-rate spike) gives
an absurd gradient; clipping bounds its norm, not its direction. The guard
compares the step's loss per data dimension (per token for text, so that
batches of long and short sentences are alike; `compute_objective`'s
`loss_per_dim`) with those of the last `window` *applied*
steps: once `window` of them are recorded (the warm-up), a loss above

    median + threshold * max(MAD, 0.01 * |median|, 1e-6)

(MAD: the median absolute deviation of the window) marks a spike, and the
update is skipped (weights and optimizer untouched), feeds no loss metric
and is counted in `skipped_updates`. The relative floor keeps a very smooth
loss (MAD near 0) from tripping on ordinary noise: with the default
threshold 10, a loss must also be 10 % above the median.

A real change of level (a lower free-bits budget, a KL weight that rises)
must not stall training forever: after `patience` spikes in a row the
guard accepts the loss, applies the update and starts a new warm-up from
it. A run whose updates are mostly skipped is reported by
`keras_hvae.training.callbacks.StopOnSkippedUpdates`.

The state (the window, how much of it is filled, the current streak of
spikes) lives in non-trainable variables of a small `LossSpikeGuard` layer
owned by the model: `model.variables` (so the JAX step carries it and a
resumable checkpoint restores it) but not `model.weights` (so presets and
weights files are the same with or without the guard). The check and the
update of the state are a few `keras.ops` on `window` numbers, in the graph
on TensorFlow and JAX, eagerly on PyTorch.
"""

import keras
from keras import ops

#: `compile(loss_spike_guard=True)` and the recipes' default.
DEFAULTS = {"window": 50, "threshold": 10.0, "patience": 20}

#: The guard layer's name (fixed: checkpoints find its variables by it).
NAME = "loss_spike_guard"


def guard_options(value):
    """Validates a `loss_spike_guard` option.

    Args:
        value: None or False (no guard), True (`DEFAULTS`), or a dict
            overriding some of `DEFAULTS` (`window`: int >= 3, `threshold`:
            number > 0, `patience`: int >= 1).

    Returns:
        None, or the complete options dict.

    Raises:
        ValueError: for anything else.
    """
    if value is None or value is False:
        return None
    if value is True:
        return dict(DEFAULTS)
    if not isinstance(value, dict) or set(value) - set(DEFAULTS):
        raise ValueError(
            f"loss_spike_guard must be None, a bool or a dict with keys among {sorted(DEFAULTS)}; got {value!r}."
        )
    options = {**DEFAULTS, **value}
    checks = {
        "window": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 3,
        "threshold": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf"),
        "patience": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    }
    wanted = {"window": "an int >= 3", "threshold": "a finite number > 0", "patience": "an int >= 1"}
    for key, ok in checks.items():
        if not ok(options[key]):
            raise ValueError(f"loss_spike_guard['{key}'] must be {wanted[key]}; got {options[key]!r}.")
    options["threshold"] = float(options["threshold"])
    return options


class LossSpikeGuard(keras.layers.Layer):
    """The guard's state and its in-graph check (see the module docstring).

    Args:
        window: number of recent applied losses kept (and the warm-up).
        threshold: how many MADs above the median make a spike.
        patience: spikes in a row after which the loss is accepted.
        **kwargs: passed to `keras.layers.Layer`.
    """

    def __init__(self, window=50, threshold=10.0, patience=20, **kwargs):
        kwargs.setdefault("name", NAME)
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.window = int(window)
        self.threshold = float(threshold)
        self.patience = int(patience)
        make = dict(trainable=False, dtype="float32", aggregation="only_first_replica")
        self.recent_losses = self.add_weight(shape=(self.window,), initializer="zeros", name="recent_losses", **make)
        self.filled = self.add_weight(shape=(), initializer="zeros", name="filled", **make)
        self.streak = self.add_weight(shape=(), initializer="zeros", name="streak", **make)
        self.built = True

    # The state is training state, not a weight: presets and weights files
    # leave it out (checkpoints keep it through `model.variables`).
    @property
    def weights(self):
        return []

    def save_own_variables(self, store):
        pass

    def load_own_variables(self, store):
        pass

    def is_spike(self, loss):
        """True when the (finite) scalar `loss` is a spike that the guard
        rejects now (after the warm-up, below the patience).

        Args:
            loss: the step's scalar loss.

        Returns:
            A boolean scalar tensor.
        """
        loss = ops.cast(loss, "float32")
        recent = ops.convert_to_tensor(self.recent_losses)
        median = ops.median(recent)
        mad = ops.median(ops.abs(recent - median))
        scale = ops.maximum(ops.maximum(mad, 0.01 * ops.abs(median)), 1e-6)
        above = ops.greater(loss, median + self.threshold * scale)
        warm = ops.greater_equal(ops.convert_to_tensor(self.filled), float(self.window))
        patient = ops.less(ops.convert_to_tensor(self.streak), float(self.patience - 1))
        return ops.logical_and(ops.logical_and(warm, patient), ops.logical_and(above, ops.isfinite(loss)))

    def record(self, loss, applied, spike):
        """Updates the state after a step.

        Args:
            loss: the step's scalar loss.
            applied: whether the update was applied (boolean scalar).
            spike: whether the guard rejected it (boolean scalar).
        """
        loss = ops.cast(loss, "float32")
        recent = ops.convert_to_tensor(self.recent_losses)
        filled = ops.convert_to_tensor(self.filled)
        streak = ops.convert_to_tensor(self.streak)
        # the loss accepted after `patience` spikes starts a new warm-up
        restart = ops.logical_and(applied, ops.greater_equal(streak, float(self.patience - 1)))
        safe_loss = ops.where(ops.isfinite(loss), loss, 0.0)
        shifted = ops.concatenate([recent[1:], ops.reshape(safe_loss, (1,))], axis=0)
        self.recent_losses.assign(ops.where(applied, shifted, recent))
        new_filled = ops.where(restart, 1.0, ops.minimum(filled + 1.0, float(self.window)))
        self.filled.assign(ops.where(applied, new_filled, filled))
        self.streak.assign(ops.where(applied, 0.0, ops.where(spike, streak + 1.0, streak)))

    def get_config(self):
        config = super().get_config()
        config.update({"window": self.window, "threshold": self.threshold, "patience": self.patience})
        return config
