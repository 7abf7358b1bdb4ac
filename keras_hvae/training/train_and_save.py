"""Training a model into a preset: progress bars, checkpoints, resume, scores.

`train_and_save` is what every recipe under `applications/` and
`keras-hvae train` call: Keras' progress bar, a `BackupAndRestore`
checkpoint that `resume=True` continues from (nothing is lost when a run is
interrupted), evaluation on the held-out test split, and a preset directory
whose `metadata.json` records the recipe, data, precision, steps, wall-clock
time and the measured scores.
"""

import json
import math
import shutil
import time
from pathlib import Path

import keras

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
):
    """Fits `model` (resumable), evaluates on the test split, writes a preset.

    Args:
        model: a compiled `HierarchicalVAE`.
        train_data: a `tf.data.Dataset` (or anything `fit` takes).
        out_dir: the run directory: `checkpoint/` holds the resumable
            backup, `preset/` the finished preset.
        epochs: total epochs (a resumed run continues up to it).
        validation_data: optional validation set for `fit`.
        steps_per_epoch: optional cap on steps per epoch.
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

    `history.json` and `metadata.json` are strict JSON: a non-finite number
    (say a NaN score) is written as null.

    Returns:
        `(preset_dir, metadata)`. `metadata["precision"]` is the precision
        the model computed in (`"float32"` or `"bfloat16"`, from its dtype
        policy); `out_dir/run_state.json` records it too, so that a resumed
        run trains in it again (see `keras_hvae.training.recipes.run_recipe`).
    """
    from keras_hvae.utils.precision import precision_of

    out_dir = Path(out_dir)
    backup = out_dir / "checkpoint"
    if backup.exists() and not resume:
        raise FileExistsError(
            f"{backup} holds a checkpoint of an earlier run: pass resume=True (--resume) to continue it, "
            f"or remove the directory to start over."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    history_file = out_dir / "history.json"
    history = json.loads(history_file.read_text()) if (resume and history_file.exists()) else {}
    state_file = out_dir / "run_state.json"
    state = json.loads(state_file.read_text()) if (resume and state_file.exists()) else {}
    started = time.time()

    class _WallClock(keras.callbacks.Callback):
        """Persists the training wall-clock time after every epoch (resumable)."""

        def on_epoch_end(self, epoch, logs=None):
            state["train_seconds"] = state.get("train_seconds_before", 0.0) + time.time() - started
            state_file.write_text(json.dumps(state))

    state["train_seconds_before"] = state.get("train_seconds", 0.0)
    precision = precision_of(model)
    # Recorded before the first epoch, so that an interrupted run resumes in it.
    state["precision"] = precision
    state_file.write_text(json.dumps(state))
    all_callbacks = [keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False)]
    all_callbacks += [_WallClock()] + list(callbacks)
    if stop_on_skipped_updates is _DEFAULT:
        from keras_hvae.training.callbacks import StopOnSkippedUpdates

        stop_on_skipped_updates = StopOnSkippedUpdates()
    if stop_on_skipped_updates is not None:
        all_callbacks.append(stop_on_skipped_updates)
    fit = model.fit(
        train_data,
        epochs=epochs,
        validation_data=validation_data,
        steps_per_epoch=steps_per_epoch,
        callbacks=all_callbacks,
        verbose=verbose,
        shuffle=False,  # datasets shuffle themselves (seeded, every epoch)
    )
    for key, values in fit.history.items():
        history.setdefault(key, []).extend(float(v) for v in values)
    history_file.write_text(json.dumps(strict_json(history), allow_nan=False))
    wall = state.get("train_seconds", state["train_seconds_before"])
    meta = dict(metadata or {})
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    meta.update({"training_steps": steps, "epochs": epochs, "precision": precision,
                 "wall_clock_seconds": round(wall, 1),
                 "wall_clock_note": "training time on the machine that ran the recipe (evaluation excluded)",
                 "final_train_loss": history.get("loss", [None])[-1],
                 "skipped_updates": int(sum(history.get("skipped_updates", []))),
                 "stopped_on_skipped_updates": bool(getattr(stop_on_skipped_updates, "triggered", False))})
    if x_test is not None:
        meta["scores"] = evaluate_bounds(model, x_test, iwae_samples=iwae_samples, limit=eval_limit,
                                         iwae_limit=iwae_limit, seed=eval_seed, progress=verbose > 0)
    if extra_scores is not None:
        meta.setdefault("scores", {}).update(extra_scores(model))
    preset_dir = out_dir / "preset"
    if preset_dir.exists():
        shutil.rmtree(preset_dir)
    # Strict JSON: save_to_preset merges `model.preset_metadata` (e.g. the
    # scores of `ScoresAtTrainEnd`) under `meta`, so clean both.
    if getattr(model, "preset_metadata", None):
        model.preset_metadata = strict_json(dict(model.preset_metadata))
    written = model.save_to_preset(preset_dir, metadata=strict_json(meta))
    return preset_dir, written
