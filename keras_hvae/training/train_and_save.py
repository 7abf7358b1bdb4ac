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
import numpy as np


def _bits_per_dim(model, x, elbos):
    """-sum(elbos) / (dimensions covered * ln 2); see `evaluate_bounds`."""
    dims = np.sum(model.num_dims(x))
    return float(-np.sum(np.asarray(elbos, dtype="float64")) / (float(dims) * math.log(2)))


def evaluate_bounds(model, x_test, iwae_samples=1000, batch_size=100, chunk_size=None, limit=None,
                    iwae_limit=None, progress=True):
    """Test-split bounds in nats per example.

    Args:
        model: a trained `HierarchicalVAE`.
        x_test: numpy test inputs.
        iwae_samples: k of the importance-weighted bound.
        batch_size: examples per pass.
        chunk_size: importance samples per pass (default: min(k, 100)).
        limit: score the first `limit` examples only (ELBO and IWAE).
        iwae_limit: compute the IWAE bound on the first `iwae_limit` of
            those only (k passes per example are costly on a CPU).
        progress: show Keras progress bars.

    Returns:
        dict with `test_elbo`, `test_iwae` (`{"num_samples": k, "value": ...,
        "num_examples": n}`), `test_bits_per_dim`, `num_test_examples`.
        `test_bits_per_dim` is -sum(ELBO) / (sum of the dimensions the
        bounds cover * ln 2): `model.num_dims(x)` per example (image
        models: `num_data_dims`; text models: words + EOS of each sentence,
        so bits per word).
    """
    x_test = np.asarray(x_test if limit is None else x_test[:limit])
    chunk = chunk_size or min(iwae_samples, 100)
    n = len(x_test)
    n_iwae = n if iwae_limit is None else min(n, int(iwae_limit))
    elbos, iwaes = [], []
    bar = keras.utils.Progbar(n, unit_name="example") if progress else None
    for start in range(0, n, max(batch_size, 500)):
        xb = x_test[start:start + max(batch_size, 500)]
        elbos.append(model.elbo(xb))
        if bar is not None:
            bar.add(len(xb))
    bar = keras.utils.Progbar(n_iwae, unit_name="example") if progress else None
    for start in range(0, n_iwae, batch_size):
        xb = x_test[start:min(start + batch_size, n_iwae)]
        iwaes.append(model.iwae_bound(xb, iwae_samples, chunk_size=chunk))
        if bar is not None:
            bar.add(len(xb))
    elbo_all = np.concatenate(elbos)
    elbo = float(np.mean(elbo_all))
    iwae = float(np.mean(np.concatenate(iwaes)))
    return {
        "test_elbo": elbo,
        "test_iwae": {"num_samples": int(iwae_samples), "value": iwae, "num_examples": int(n_iwae),
                      "elbo_on_the_same_examples": float(np.mean(elbo_all[:n_iwae]))},
        "test_bits_per_dim": _bits_per_dim(model, x_test, elbo_all),
        "num_test_examples": int(n),
    }


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
        eval_limit: evaluate on the first `eval_limit` test examples.
        iwae_limit: compute the IWAE score on the first `iwae_limit` only.
        extra_scores: optional `(model) -> dict` of further test scores,
            merged into `metadata["scores"]`.
        metadata: extra preset metadata (dataset, split, recipe, paper).
        verbose: Keras verbosity (1: progress bar).

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
    history_file.write_text(json.dumps(history))
    wall = state.get("train_seconds", state["train_seconds_before"])
    meta = dict(metadata or {})
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    meta.update({"training_steps": steps, "epochs": epochs, "precision": precision,
                 "wall_clock_seconds": round(wall, 1),
                 "wall_clock_note": "training time on the machine that ran the recipe (evaluation excluded)",
                 "final_train_loss": history.get("loss", [None])[-1]})
    if x_test is not None:
        meta["scores"] = evaluate_bounds(model, x_test, iwae_samples=iwae_samples, limit=eval_limit,
                                         iwae_limit=iwae_limit, progress=verbose > 0)
    if extra_scores is not None:
        meta.setdefault("scores", {}).update(extra_scores(model))
    preset_dir = out_dir / "preset"
    if preset_dir.exists():
        shutil.rmtree(preset_dir)
    written = model.save_to_preset(preset_dir, metadata=meta)
    return preset_dir, written
