"""Training a model into a preset: progress bars, checkpoints, resume, scores.

`train_and_save` is what every recipe under `applications/` and
`keras-hvae train` call: Keras' progress bar, an atomic checkpoint at the
end of every epoch that `resume=True` continues from exactly
(`keras_hvae.training.checkpoints`), evaluation on the held-out test split, and a preset directory
whose `metadata.json` records the recipe, data, precision, steps, wall-clock
time and the measured scores.
"""

import json
import math
import time
from pathlib import Path

import keras

from keras_hvae.utils.atomic_files import atomic_directory, write_text_atomic
from keras_hvae.utils.presets import canonical_weights_dtype, round_weights

_DEFAULT = object()


def strict_json(value):
    """`value` with every non-finite float (NaN, +-inf) replaced by None, so
    that `json.dumps(..., allow_nan=False)` accepts it and strict parsers
    read the file (bare `NaN` is not JSON). numpy scalars become Python
    numbers; containers are copied.

    Example:
    >>> strict_json({"elbo": float("nan"), "k": [1.0, float("inf")]})
    {'elbo': None, 'k': [1.0, None]}
    """
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_bounds(model, x_test, iwae_samples=1000, batch_size=None, chunk_size=None, limit=None,
                    iwae_limit=None, seed=0, progress=True):
    """Held-out bounds in nats per example, under the package's evaluation
    protocol (`keras_hvae.evaluation.protocol.score_preset_protocol`).

    Args:
        model: a trained `HierarchicalVAE`.
        x_test: the whole held-out split (numpy, or sentences).
        iwae_samples: k of the importance-weighted bound.
        batch_size: examples per IWAE call (default: one pass of the
            model's `iwae_max_rows`).
        chunk_size: importance samples per pass (default: all k when they fit).
        limit: score the ELBO on `limit` examples drawn uniformly at random
            (seeded) instead of the whole split.
        iwae_limit: the IWAE bound on this many examples drawn uniformly at
            random from the whole split with `seed` (never the first N);
            None: all scored examples.
        seed: the recorded seed of the draws and of the Monte-Carlo samples.
        progress: labelled progress lines on stderr.

    Returns:
        the dict of `score_preset_protocol`: `test_elbo` (+ `_stderr`),
        `test_iwae` (`num_samples`, `value`, `stderr`, `num_examples`,
        `seed`, `elbo_on_the_same_examples`, ...), `test_bits_per_dim`
        (-sum(ELBO) / (sum of `model.num_dims(x)` * ln 2): bits per word
        for text), `num_test_examples`, `protocol`.
    """
    from keras_hvae.evaluation.protocol import score_preset_protocol

    return score_preset_protocol(model, x_test, iwae_samples=iwae_samples, iwae_examples=iwae_limit,
                                 elbo_examples=limit, seed=seed, batch_size=batch_size, chunk_size=chunk_size,
                                 progress=progress)


def train_and_save(
    model,
    train_data,
    out_dir,
    *,
    epochs,
    validation_data=None,
    steps_per_epoch=None,
    resume=False,
    callbacks=(),
    x_test=None,
    iwae_samples=1000,
    eval_limit=None,
    iwae_limit=None,
    extra_scores=None,
    metadata=None,
    verbose=1,
    eval_seed=0,
    stop_on_skipped_updates=_DEFAULT,
    rollback_on_stall=True,
    weights_dtype=None,
):
    """Fits `model` (resumable), evaluates on the test split, writes a preset.

    Args:
        model: a compiled `HierarchicalVAE`.
        train_data: a zero-argument function that builds the training
            `tf.data.Dataset` (what recipes pass: a resumed run is then
            exact), a dataset, or anything `fit` takes.
        out_dir: the run directory: `checkpoint/` holds the resumable
            checkpoints, `history.json` the per-epoch logs, `preset/` the
            finished preset.
        epochs: total epochs (a resumed run continues up to it).
        validation_data: optional validation set for `fit`.
        steps_per_epoch: optional cap on steps per epoch (needed for an
            infinite dataset).
        resume: continue from `out_dir/checkpoint` if present; without it an
            existing checkpoint is an error (nothing is overwritten silently).
        callbacks: extra Keras callbacks.
        x_test: numpy test inputs for the scores (None: no scores).
        iwae_samples: k for the IWAE score.
        eval_limit: the ELBO on `eval_limit` test examples drawn at random
            (None: the whole split; see `evaluate_bounds`).
        iwae_limit: the IWAE score on `iwae_limit` examples drawn uniformly
            at random from the whole split (seeded with `eval_seed`).
        extra_scores: optional `(model) -> dict` of further test scores,
            merged into `metadata["scores"]`.
        metadata: extra preset metadata (dataset, split, recipe, paper).
        verbose: Keras verbosity (1: progress bar; also labelled progress
            lines of the final evaluation on stderr).
        eval_seed: the seed of the evaluation protocol (recorded in the
            scores with the numbers of examples and the standard errors).
        stop_on_skipped_updates: a `StopOnSkippedUpdates` callback (default:
            one with its defaults: warn and stop when more than half of the
            last 50 updates were skipped), or None to train on regardless.
            `metadata.json` records `skipped_updates` (the run's total) and
            `stopped_on_skipped_updates`.
        rollback_on_stall: True (the default: a `RollbackOnStall` with its
            defaults, unless `callbacks` holds one already), False or None
            (none), a dict of `RollbackOnStall` arguments, or a
            `RollbackOnStall` (`rollback_on_stall_callback`). When
            more than a quarter of the last 20 updates were skipped (a
            learning-rate spike wrecked the weights), it restores the last
            healthy in-memory snapshot of the weights, optimizer and
            loss-spike guard (up to 3 times), before `stop_on_skipped_updates`
            gives up on the run. `metadata.json` records `rollbacks`, and the
            history a per-epoch `rollbacks`. Memory: one or two host copies
            of the weights and optimizer variables.
        weights_dtype: the dtype of the preset's weights file (None or
            `"float32"`; `"float16"` halves it). With float16 the trained
            weights are rounded to float16 before the scores are measured,
            so the scores are those of the weights shipped.

    Resuming is exact (docs/reliability.md): every epoch ends with an
    atomic checkpoint (`keras_hvae.training.checkpoints`: weights,
    optimizer, seed generators, the stream position and the history), and
    the training stream is the dataset repeated with the consumed batches
    skipped, so a run killed at any point and resumed ends with the same
    weights, bit for bit on TensorFlow, as the uninterrupted run. This
    needs `train_data` as a function (a fresh dataset that nothing else
    iterates) and the same seed (`run_recipe` seeds Keras).

    `history.json` (rewritten atomically after every epoch, earlier epochs
    kept on resume) and `metadata.json` are strict JSON: a non-finite
    number (say a NaN score) is written as null. The preset directory is
    written to a temporary sibling and renamed into place.

    Several processes (`keras_hvae.training.distributed.initialize`): every
    process trains and evaluates (the same computation on the global
    batch); only the chief (process 0) writes checkpoints, `history.json`,
    `run_state.json` and the preset, and a resumed run checks that every
    process restored the same checkpoint (the run directory must be shared,
    or a copy of the chief's).

    Returns:
        `(preset_dir, metadata)`. `metadata["precision"]` is the precision
        the model computed in (`"float32"` or `"bfloat16"`, from its dtype
        policy); `out_dir/run_state.json` records it too, so that a resumed
        run trains in it again (see `keras_hvae.training.recipes.run_recipe`).
    """
    from keras_hvae.training.checkpoints import (
        ResumableCheckpoint,
        has_checkpoint,
        restore_checkpoint,
    )

    from keras_hvae.training import distributed

    out_dir = Path(out_dir)
    backup = out_dir / "checkpoint"
    if has_checkpoint(backup) and not resume:
        raise FileExistsError(
            f"{backup} holds a checkpoint of an earlier run: pass resume=True (--resume) to continue it, "
            f"or remove the directory to start over."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    # Several processes (keras_hvae.training.distributed): all read the chief's
    # checkpoint, and must agree on where they resume.
    state = restore_checkpoint(model, backup, clean=distributed.is_chief()) if resume else None
    distributed.check_same_everywhere(state.batches_consumed if state is not None else 0,
                                      f"the batches consumed by the checkpoint in {backup}")
    stream, steps_per_epoch = _training_stream(model, train_data, state, steps_per_epoch)
    run_state = _RunState(out_dir, model, resume)
    checkpoint = ResumableCheckpoint(backup, state, on_saved=run_state.epoch_done)
    stop_on_skipped_updates = _stall_callback(stop_on_skipped_updates)
    rollback_on_stall, callbacks = rollback_on_stall_callback(rollback_on_stall, callbacks)
    _count_time_already_spent(callbacks, run_state.before)
    # the rollback before the stall stop: it acts first, the stop is the last resort
    extra = [c for c in (rollback_on_stall, stop_on_skipped_updates) if c is not None]
    with distributed.process_local_inputs(stream, validation_data) as (stream, validation_data):
        model.fit(
            stream,
            epochs=epochs,
            initial_epoch=checkpoint.state.epochs_done,
            validation_data=validation_data,
            steps_per_epoch=steps_per_epoch,
            # the checkpoint last: it saves what the other callbacks changed
            callbacks=list(callbacks) + extra + [checkpoint],
            verbose=verbose,
            shuffle=False,  # datasets shuffle themselves (seeded, every epoch)
        )
    history = checkpoint.state.history
    run_state.write_history(history)
    meta = dict(metadata or {})
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    meta.update({"training_steps": steps, "epochs": epochs, "precision": run_state.precision,
                 "wall_clock_seconds": round(run_state.train_seconds, 1),
                 "wall_clock_note": "training time on the machine that ran the recipe (evaluation excluded)",
                 "final_train_loss": history.get("loss", [None])[-1],
                 "skipped_updates": int(sum(v for v in history.get("skipped_updates", []) if v is not None)),
                 "stopped_on_skipped_updates": bool(getattr(stop_on_skipped_updates, "triggered", False)),
                 "rollbacks": int(sum(v for v in history.get("rollbacks", []) if v is not None))})
    weights_dtype = canonical_weights_dtype(weights_dtype)
    round_weights(model, weights_dtype)  # score what the preset ships
    if x_test is not None:
        meta["scores"] = evaluate_bounds(model, x_test, iwae_samples=iwae_samples, limit=eval_limit,
                                         iwae_limit=iwae_limit, seed=eval_seed, progress=verbose > 0)
    if extra_scores is not None:
        meta.setdefault("scores", {}).update(extra_scores(model))
    if not distributed.is_chief():  # every process computed the same metadata; the chief writes the preset
        return out_dir / "preset", strict_json(meta)
    return _write_preset(model, out_dir / "preset", meta, weights_dtype)


def _count_time_already_spent(callbacks, seconds):
    """A resumed run's time limit counts the training time of the runs it
    resumes (`TimeLimit.used`), so that resuming does not restart the budget."""
    from keras_hvae.training.callbacks import TimeLimit

    for callback in callbacks:
        if isinstance(callback, TimeLimit):
            callback.used = float(seconds)


def _stall_callback(stop_on_skipped_updates):
    """The `StopOnSkippedUpdates` of a run (the default one, or None)."""
    if stop_on_skipped_updates is _DEFAULT:
        from keras_hvae.training.callbacks import StopOnSkippedUpdates

        return StopOnSkippedUpdates()
    return stop_on_skipped_updates


def rollback_on_stall_callback(rollback_on_stall, callbacks=()):
    """`(rollback, callbacks)`: the `RollbackOnStall` a run adds, and the
    other callbacks.

    Args:
        rollback_on_stall: True (the default one, or the last
            `RollbackOnStall` among `callbacks`), False or None (none), a
            dict of `RollbackOnStall` arguments (a config's
            `"rollback_on_stall"` object), or a `RollbackOnStall`.
        callbacks: the run's other callbacks; a `RollbackOnStall` among them
            is moved out (next to the stall stop) when it is the one used.

    Raises:
        ValueError, TypeError: for anything else, or bad arguments.
    """
    from keras_hvae.training.callbacks import RollbackOnStall

    callbacks = list(callbacks)
    given = [c for c in callbacks if isinstance(c, RollbackOnStall)]
    if rollback_on_stall is True:
        if given:
            return given[-1], [c for c in callbacks if c is not given[-1]]
        return RollbackOnStall(), callbacks
    if rollback_on_stall is False or rollback_on_stall is None:
        return None, callbacks
    if isinstance(rollback_on_stall, dict):
        return RollbackOnStall(**rollback_on_stall), callbacks
    if isinstance(rollback_on_stall, RollbackOnStall):
        return rollback_on_stall, callbacks
    raise ValueError(f"rollback_on_stall must be true, false, an object of RollbackOnStall arguments or a "
                     f"RollbackOnStall callback; got {rollback_on_stall!r}.")


def _training_stream(model, train_data, state, steps_per_epoch):
    """`(stream, steps_per_epoch)` for `fit`: `resumable_stream` of a fresh
    dataset at the restored position. When `train_data` is a function, the
    weight-norm initialisation of a fresh run reads another fresh dataset,
    so that the stream is iterated by `fit` alone (as in a resumed run)."""
    from keras_hvae.training.checkpoints import resumable_stream

    consumed = state.batches_consumed if state is not None else 0
    if callable(train_data):
        if consumed == 0 and hasattr(model, "initialize_from"):
            model.initialize_from(train_data())
        train_data = train_data()
    return resumable_stream(train_data, consumed, steps_per_epoch)


class _RunState:
    """`run_state.json` (precision, training wall-clock time) and
    `history.json`, both rewritten atomically after every epoch."""

    def __init__(self, out_dir, model, resume):
        from keras_hvae.utils.precision import precision_of

        self.state_file = out_dir / "run_state.json"
        self.history_file = out_dir / "history.json"
        state = json.loads(self.state_file.read_text()) if (resume and self.state_file.exists()) else {}
        self.before = float(state.get("train_seconds", 0.0))
        self.started = time.time()
        self.precision = precision_of(model)
        # Recorded before the first epoch, so that an interrupted run resumes in it.
        self._write_state()

    @property
    def train_seconds(self):
        """Training wall-clock seconds of this run and the runs it resumes."""
        return self.before + time.time() - self.started

    def _write_state(self):
        from keras_hvae.training.distributed import is_chief

        if not is_chief():  # one writer: the chief (keras_hvae.training.distributed)
            return
        state = {"precision": self.precision, "train_seconds": self.train_seconds}
        write_text_atomic(self.state_file, json.dumps(state))

    def write_history(self, history):
        """Writes `history.json` (strict JSON) atomically (the chief only,
        in a multi-process run)."""
        from keras_hvae.training.distributed import is_chief

        if not is_chief():
            return
        write_text_atomic(self.history_file, json.dumps(strict_json(history), allow_nan=False))

    def epoch_done(self, training_state):
        """After each checkpoint: the history and the wall-clock time."""
        self.write_history(training_state.history)
        self._write_state()


def _write_preset(model, preset_dir, meta, weights_dtype=None):
    """Writes the preset into a temporary sibling and renames it into place
    (a kill leaves the old preset or none, never a torn one)."""
    # Strict JSON: save_to_preset merges `model.preset_metadata` (e.g. the
    # scores of `ScoresAtTrainEnd`) under `meta`, so clean both.
    if getattr(model, "preset_metadata", None):
        model.preset_metadata = strict_json(dict(model.preset_metadata))
    from keras_hvae.training.distributed import local_scope

    with local_scope(), atomic_directory(preset_dir) as tmp:
        written = model.save_to_preset(tmp, metadata=strict_json(meta), weights_dtype=weights_dtype)
    return preset_dir, written
