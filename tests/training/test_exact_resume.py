"""Resume is exact (issue 14, point 3).

A run killed at any point and resumed with `--resume` ends with the same
weights, bit for bit on TensorFlow, as the uninterrupted run: checkpoints
hold the weights, the optimizer, every seed generator, the stream position
and the history; the data stream is the dataset repeated with the consumed
batches skipped; every file is written atomically, the previous checkpoint
is kept, and a torn latest one falls back to it.
"""

import dataclasses
import json
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_hvae.models import LinearGaussianVAE
from keras_hvae.training.checkpoints import (
    LATEST,
    PREVIOUS,
    CheckpointError,
    CheckpointWarning,
)
from keras_hvae.training.recipes import Recipe, run_recipe
from keras_hvae.utils.atomic_files import atomic_directory, atomic_write
from tests.conftest import require_tensorflow
from tests.processes import ROOT, preset_weights, subprocess_env, write_config


def _tiny_recipe(epochs=3):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 2))
    x = (rng.normal(size=(320, 2)) @ w.T + 0.3 * rng.normal(size=(320, 6))).astype("float32")

    def build():
        model = LinearGaussianVAE(6, 2, sigma=0.3)  # unseeded: the recipe's seed seeds it
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        return model

    def train_data():  # reshuffled every epoch: the stream position matters
        return tf.data.Dataset.from_tensor_slices(x[:256]).shuffle(256, seed=1).batch(32)

    return Recipe(name="tiny", build_model=build, train_data=train_data, test_data=lambda: x[256:],
                  epochs=epochs, iwae_samples=2, seed=3, metadata={"dataset": "synthetic"})


_weights = preset_weights


def _assert_same_bits(a, b):
    assert sorted(a) == sorted(b) and a
    differ = [k for k in a if a[k].tobytes() != b[k].tobytes()]
    assert not differ, f"{len(differ)} of {len(a)} weight tensors differ: {differ[:5]}"


def _history(run):
    return json.loads((Path(run) / "history.json").read_text())


def test_a_torn_latest_checkpoint_falls_back_to_the_previous_one_exactly(tmp_path):
    require_tensorflow()
    run_recipe(_tiny_recipe(3), tmp_path / "whole", verbose=0)
    run_recipe(_tiny_recipe(3), tmp_path / "torn", epochs=2, verbose=0)
    checkpoint = tmp_path / "torn" / "checkpoint"
    assert (checkpoint / LATEST).is_file() and (checkpoint / PREVIOUS).is_file()
    assert len(_history(tmp_path / "torn")["loss"]) == 2
    data = (checkpoint / LATEST).read_bytes()
    (checkpoint / LATEST).write_bytes(data[: len(data) // 2])  # what a kill during a plain write leaves

    with pytest.warns(CheckpointWarning, match="previous.weights.h5"):
        _, meta = run_recipe(_tiny_recipe(3), tmp_path / "torn", resume=True, verbose=0)
    # resumed after epoch 1 (the previous checkpoint), replayed epochs 2 and 3
    _assert_same_bits(_weights(tmp_path / "whole"), _weights(tmp_path / "torn"))
    assert _history(tmp_path / "torn") == _history(tmp_path / "whole")
    assert meta["training_steps"] == 24

    for name in (LATEST, PREVIOUS):
        (checkpoint / name).write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="No readable checkpoint.*latest.weights.h5.*previous.weights.h5"):
        run_recipe(_tiny_recipe(3), tmp_path / "torn", resume=True, verbose=0)


def test_an_interrupted_run_resumes_exactly_in_process(tmp_path):
    require_tensorflow()

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and batch == 3 and len(self.model.history.epoch) == 1:  # mid epoch 2
                raise KeyboardInterrupt

    run_recipe(_tiny_recipe(3), tmp_path / "whole", verbose=0)
    interrupted = dataclasses.replace(_tiny_recipe(3), callbacks=lambda: [Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        run_recipe(interrupted, tmp_path / "cut", verbose=0)
    assert len(_history(tmp_path / "cut")["loss"]) == 1  # the history of epoch 1 was written at its end
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)  # the latest checkpoint is complete
        run_recipe(_tiny_recipe(3), tmp_path / "cut", resume=True, verbose=0)
    _assert_same_bits(_weights(tmp_path / "whole"), _weights(tmp_path / "cut"))
    assert _history(tmp_path / "cut") == _history(tmp_path / "whole")


def test_a_resumed_run_counts_the_time_already_spent_against_its_time_limit(tmp_path):
    """`time_limit_s` bounds the training time of the whole run: a run
    resumed with (almost) all of its budget spent stops after one epoch,
    instead of starting the budget again (the TimeLimit used to count only
    from the resumed process's start)."""
    require_tensorflow()
    from keras_hvae.training.callbacks import TimeLimit

    limits = []

    def recipe(seconds):
        def callbacks():
            limits.append(TimeLimit(seconds))
            return [limits[-1]]
        return dataclasses.replace(_tiny_recipe(6), callbacks=callbacks)

    run_recipe(recipe(10_000.0), tmp_path / "run", epochs=1, verbose=0)
    state_file = tmp_path / "run" / "run_state.json"
    state = json.loads(state_file.read_text())
    assert 0 < state["train_seconds"] < 10_000
    # as if 9,999.9 of the 10,000 s had gone into the first epoch
    state_file.write_text(json.dumps(dict(state, train_seconds=9_999.9)))
    _, meta = run_recipe(recipe(10_000.0), tmp_path / "run", resume=True, verbose=0)
    assert limits[-1].used == pytest.approx(9_999.9)
    assert len(_history(tmp_path / "run")["loss"]) == 2  # one more epoch, not the recipe's 6
    assert meta["training_steps"] == 16 and meta["wall_clock_seconds"] >= 9_999.9

    # the same budget with little spent trains on to the recipe's epochs
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps(dict(state, train_seconds=1.0)))
    _, meta = run_recipe(recipe(10_000.0), tmp_path / "run", resume=True, verbose=0)
    assert limits[-1].used == pytest.approx(1.0)
    assert len(_history(tmp_path / "run")["loss"]) == 6 and meta["training_steps"] == 48


def test_time_limit_stops_when_the_next_epoch_would_overrun():
    from keras_hvae.training.callbacks import TimeLimit

    class Model:
        stop_training = False

    limit = TimeLimit(100.0, used=60.0)
    limit.set_model(Model())
    limit.on_train_begin()
    limit.start -= 30.0  # 30 s into this process's training: 90 of 100 s spent
    limit.last = limit.start
    limit.on_epoch_end(0)  # an epoch of 30 s: the next one would end at 120 s
    assert limit.model.stop_training
    assert limit.remaining() == pytest.approx(10.0, abs=0.5)

    limit = TimeLimit(100.0, used=0.0)
    limit.set_model(Model())
    limit.on_train_begin()
    limit.start -= 30.0
    limit.last = limit.start
    limit.on_epoch_end(0)  # 30 s spent, the next epoch ends at 60 s
    assert not limit.model.stop_training


def test_atomic_writes_leave_the_old_file_or_directory_on_failure(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("torn")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]

    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text("old")
    (tmp_path / ".partial-123abc-preset").mkdir()  # left by a writer killed before its rename
    with pytest.raises(RuntimeError), atomic_directory(preset) as tmp:
        (tmp / "config.json").write_text("torn")
        raise RuntimeError("killed")
    assert (preset / "config.json").read_text() == "old"
    with atomic_directory(preset) as tmp:
        (tmp / "config.json").write_text("new")
    assert (preset / "config.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preset", "state.json"]


CONFIG = {
    "name": "tiny_resumed_biva",
    "model": {"class": "BIVA", "architecture": "binary_28x28",
              "overrides": {"filters": 4, "latent_sizes": [4, 2], "layers_per_block": 1,
                            "q_dropout": 0.1, "p_dropout": 0.1}},
    "dataset": "binarized_mnist",  # shuffled and dynamically binarised every epoch
    "batch_size": 16,
    "epochs": 3,
    "steps_per_epoch": 8,
    "validation_limit": 32,
    "iwae_samples": 2,
    "eval_limit": 8,
    "iwae_limit": 2,
    "precision": "float32",
    "seed": 5,
}


# Runs `keras-hvae train`, SIGKILLing itself at a chosen point: "checkpoint"
# (the first checkpoint this process writes is complete on disk under its
# temporary name, not yet renamed) or "preset" (the preset directory is
# written, not yet renamed).
SELF_KILL = r"""
import os, signal, sys
import keras_hvae.utils.atomic_files as atomic_files
from keras_hvae.cli import main

point = sys.argv[1]
fsync_path, fsync_tree = atomic_files.fsync_path, atomic_files._fsync_tree

def kill_during_checkpoint(path):
    fsync_path(path)
    if point == "checkpoint" and path.name.endswith("next-latest.weights.h5"):
        os.kill(os.getpid(), signal.SIGKILL)

def kill_during_preset(path):
    fsync_tree(path)
    if point == "preset":
        os.kill(os.getpid(), signal.SIGKILL)

atomic_files.fsync_path, atomic_files._fsync_tree = kill_during_checkpoint, kill_during_preset
sys.exit(main(sys.argv[2:]))
"""


def _train(config, out, resume=False, kill_after=None, kill_at=None):
    """Runs `keras-hvae train` in a subprocess. With `kill_after` (a file),
    SIGKILLs it as soon as that file appears; with `kill_at` ("checkpoint"
    or "preset", see `SELF_KILL`) it kills itself there. Returns whether it
    was killed; a run that is not meant to be killed must succeed."""
    arguments = ["train", "--config", str(config), "--out", str(out)] + (["--resume"] if resume else [])
    command = [sys.executable] + (["-c", SELF_KILL, kill_at] if kill_at else ["-m", "keras_hvae.cli"])
    process = subprocess.Popen(command + arguments, env=subprocess_env(keras.backend.backend()),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    if kill_after is not None:
        deadline = time.time() + 600
        while process.poll() is None and not kill_after.exists() and time.time() < deadline:
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=900)
    if kill_after is None and kill_at is None:
        assert process.returncode == 0, stderr[-3000:]
    return process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_killed_training_process_resumes_bit_for_bit(tmp_path, mnist_splits):
    require_tensorflow()
    config = write_config(tmp_path / "config.json", CONFIG)
    _train(config, tmp_path / "whole")
    run = tmp_path / "killed"
    # killed from outside mid-run, just after the checkpoint of epoch 1 appeared
    assert _train(config, run, kill_after=run / "checkpoint" / LATEST)
    assert not (run / "preset").exists()
    # resumed, and killed during its first checkpoint write
    assert _train(config, run, resume=True, kill_at="checkpoint")
    assert list((run / "checkpoint").glob(".partial-*-next-" + LATEST))
    # resumed, and killed during the preset write
    assert _train(config, run, resume=True, kill_at="preset")
    assert not (run / "preset").exists() and list(run.glob(".partial-*-preset"))
    _train(config, run, resume=True)

    _assert_same_bits(_weights(tmp_path / "whole"), _weights(run))
    whole, resumed = _history(tmp_path / "whole"), _history(run)
    assert resumed == whole and len(whole["loss"]) == 3
    meta = [json.loads((path / "preset" / "metadata.json").read_text()) for path in (tmp_path / "whole", run)]
    assert meta[0]["training_steps"] == meta[1]["training_steps"] == 24
    assert meta[0]["scores"]["test_elbo"] == meta[1]["scores"]["test_elbo"]
    assert not list(run.glob(".partial-*")) and not list((run / "checkpoint").glob(".partial-*"))
