"""`fit` checks every batch it trains on (issue 14, point 6).

Every train step runs a cheap in-graph check of its raw batch
(`keras_hvae.distributions.support_checks.batch_violations`: a few
element-wise comparisons and reductions, nothing beside the networks'
cost): NaN/Inf, values below or above the likelihood's support, values off
it (grey levels for a Bernoulli model, values off the 8-bit grid). A bad
batch is never trained on: its update is skipped and it feeds no metric
(like a non-finite update). It is counted in `skipped_updates` and in
`bad_batches`, whose tracker also keeps what was wrong and the range of
values seen.

What happens next is the model's `bad_batches` mode, set with
`model.compile(..., bad_batches=...)`:

* ``"raise"`` (default): training stops with a `BadBatchError` that says
  what was wrong (values x255, negative, non-binary, ...);
* ``"skip"``: training goes on; the skipped batches are counted in the
  ``bad_batches`` log (a sum per epoch) and a `BadBatchWarning` at the end
  of `fit` gives their number.
"""

import warnings

import keras
from keras import ops

MODES = ("raise", "skip")

#: The kinds of violation, in the order of the flags in a report.
KINDS = ("nonfinite", "below", "above", "off_support")

#: Length of the report vector: the flags, then the lowest and highest finite values.
REPORT_SIZE = len(KINDS) + 2


class BadBatchError(ValueError):
    """`fit` met a batch outside the likelihood's support (mode "raise")."""


class BadBatchWarning(UserWarning):
    """`fit` skipped batches outside the likelihood's support (mode "skip")."""


def check_mode(mode):
    """Validates a `bad_batches` mode.

    Args:
        mode: "raise" or "skip".

    Returns:
        The mode.

    Raises:
        ValueError: for anything else.
    """
    if mode not in MODES:
        raise ValueError(f"bad_batches must be one of {list(MODES)}; got {mode!r}.")
    return mode


def batch_report(model, data):
    """In-graph check of the raw batch `model.unpack_inputs(data)`.

    Args:
        model: a `HierarchicalVAE`.
        data: what the dataset yields.

    Returns:
        `(ok, report)`: a boolean scalar (the batch is valid) and a float32
        vector of `REPORT_SIZE`: one 0/1 flag per kind of `KINDS`, then the
        lowest and highest finite values.
    """
    from keras_hvae.distributions.support_checks import batch_violations

    x = model.unpack_inputs(data)
    likelihood = getattr(model, "likelihood", None)
    flags, low, high = likelihood.batch_violations(x) if likelihood is not None else batch_violations(x)
    report = ops.concatenate([flags, ops.stack([low, high])])
    return ops.logical_not(ops.any(flags > 0.5)), report


@keras.saving.register_keras_serializable(package="keras_hvae")
class BadBatchTracker(keras.metrics.Metric):
    """Counts bad batches (its result) and keeps what was wrong with them.

    `update_state(report)` takes a `batch_report` vector. Variables: the
    count, the maximum of each flag, and the lowest / highest finite value
    among the bad batches.
    """

    def __init__(self, name="bad_batches", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")
        self.kinds = self.add_variable(shape=(len(KINDS),), initializer="zeros", name="kinds")
        self.low = self.add_variable(shape=(), initializer=keras.initializers.Constant(float("inf")), name="low")
        self.high = self.add_variable(shape=(), initializer=keras.initializers.Constant(-float("inf")),
                                      name="high")

    def update_state(self, report):
        report = ops.cast(ops.convert_to_tensor(report), "float32")
        flags = report[: len(KINDS)]
        bad = ops.max(flags) > 0.5
        low, high = self.low.value, self.high.value
        self.count.assign(self.count.value + ops.cast(bad, "float32"))
        self.kinds.assign(ops.maximum(self.kinds.value, flags))
        self.low.assign(ops.where(bad, ops.minimum(low, report[-2]), low))
        self.high.assign(ops.where(bad, ops.maximum(high, report[-1]), high))

    def result(self):
        return ops.convert_to_tensor(self.count.value)

    def reset_state(self):
        self.count.assign(0.0)
        self.kinds.assign(ops.zeros((len(KINDS),)))
        self.low.assign(float("inf"))
        self.high.assign(-float("inf"))


_WORDS = {
    "nonfinite": "NaN or Inf values",
    "below": "values below the support",
    "above": "values above the support",
    "off_support": "values off the support",
}


def describe_violation(kinds, low, high, likelihood=None):
    """One phrase for the kinds of violation, the value range and a hint.

    Args:
        kinds: names from `KINDS`.
        low, high: the lowest and highest finite values seen.
        likelihood: the model's likelihood head, or None.

    Returns:
        A string, e.g. ``"values above the support (finite values in
        [0.0, 255.0]: unscaled 0..255 data?)"``.
    """
    name = getattr(likelihood, "name", None)
    found = ", ".join(_WORDS[k] for k in kinds) or "no violation"
    unit = name in ("bernoulli", "gaussian")  # data in [0, 1]
    hints = []
    if "above" in kinds and high > 1.5:
        hints.append("unscaled 0..255 data? divide by 255" if unit else
                     "unscaled 0..255 floats? map them with x / 127.5 - 1, or pass uint8")
    if "below" in kinds and unit:
        hints.append("negative values: standardised (zero-mean) data?")
    if "off_support" in kinds and name == "bernoulli":
        hints.append("non-binary values (grey levels?): binarise the images, e.g. x > 0.5 or a Bernoulli draw")
    elif "off_support" in kinds:
        hints.append("values between the levels the likelihood models (dequantised or rescaled data?)")
    span = f"finite values in [{low:.6g}, {high:.6g}]" if low <= high else "no finite values"
    return f"{found} ({span}{': ' + '; '.join(hints) if hints else ''})"


class BadBatchGuard(keras.callbacks.Callback):
    """Added by `HierarchicalVAE.fit`: reacts to the `bad_batches` log.

    Args:
        mode: "raise" (stop at the first bad batch with a `BadBatchError`)
            or "skip" (warn once at the end of `fit` with the number skipped).
    """

    def __init__(self, mode):
        super().__init__()
        self.mode = check_mode(mode)
        self.skipped = 0
        self.problems = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._count = epoch, 0.0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "bad_batches" not in logs:
            return
        count = float(ops.convert_to_numpy(logs["bad_batches"]))
        if count <= self._count:
            return
        self.skipped += round(count - self._count)
        self._count = count
        problem = tracker_description(self.model)
        if self.mode == "raise":
            raise BadBatchError(
                f"Batch {int(batch) + 1} of epoch {self._epoch + 1} is not valid data for "
                f"{describe_model(self.model)}: {problem}. It was not trained on. "
                "Fix the data, or compile(..., bad_batches='skip') to skip and count such batches."
            )
        if problem not in self.problems:
            self.problems.append(problem)

    def on_train_end(self, logs=None):
        if self.mode == "skip" and self.skipped:
            shown = "; ".join(self.problems[:3]) + ("; ..." if len(self.problems) > 3 else "")
            warnings.warn(
                f"{self.skipped} training batches were skipped as invalid data for {describe_model(self.model)}: "
                f"{shown} (counted in the bad_batches log).",
                BadBatchWarning,
                stacklevel=2,
            )


def describe_model(model):
    """``"BIVA (BernoulliLikelihood: {0, 1})"``: the model and the data range it expects."""
    likelihood = getattr(model, "likelihood", None)
    if likelihood is None:
        return f"{type(model).__name__} (finite values)"
    return f"{type(model).__name__} ({type(likelihood).__name__}: {likelihood.data_range})"


def tracker_description(model):
    """`BadBatchTracker.describe` of the model's tracker, synced from JAX's
    training state first (Keras keeps it apart during an epoch)."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
    tracker = next(m for m in model.metrics if isinstance(m, BadBatchTracker))
    kinds = [k for k, flag in zip(KINDS, ops.convert_to_numpy(tracker.kinds)) if flag > 0.5]
    low, high = (float(ops.convert_to_numpy(v)) for v in (tracker.low, tracker.high))
    return describe_violation(kinds, low, high, getattr(model, "likelihood", None))
