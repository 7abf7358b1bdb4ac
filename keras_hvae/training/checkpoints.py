"""Checkpoints that resume a run exactly, written atomically.

A checkpoint is written at the end of every epoch (`ResumableCheckpoint`)
to `checkpoint/latest.weights.h5`; the one it replaces is kept as
`checkpoint/previous.weights.h5`. It is a Keras weights file (model weights
and optimizer variables, `model.load_weights` reads it) plus a
`keras_hvae_resume` group with what a weights file lacks:

* the state of every `keras.random.SeedGenerator` of the model and its
  layers (latent samples, dropout: `model.variables` that are not weights);
* the training position: epochs done and batches consumed from the
  training stream;
* the history of the epochs done (the `fit` logs, per epoch).

The data stream is a deterministic function of the dataset and the number
of batches consumed (`resumable_stream`: the freshly built dataset,
repeated, with the consumed batches skipped), so that shuffling and
dynamic binarisation resume where they were.

Every file is written to a temporary sibling, synced and renamed
(`keras_hvae.utils.atomic_files`), so a kill at any moment leaves the last
complete checkpoint; should the latest still be unreadable,
`restore_checkpoint` falls back to the previous one with a warning, and
raises one `CheckpointError` when neither can be read.
"""

import dataclasses
import json
import os
import warnings
from pathlib import Path

import keras
import numpy as np

from keras_hvae.models.loss_spike import NAME as GUARD
from keras_hvae.training.distributed import is_chief, local_scope
from keras_hvae.utils.atomic_files import (
    atomic_write,
    fsync_path,
    remove_stale_partials,
)

LATEST = "latest.weights.h5"
PREVIOUS = "previous.weights.h5"
#: A complete checkpoint not yet renamed to `LATEST` (a kill between the write and the renames).
NEXT = "next-" + LATEST
STATE_GROUP = "keras_hvae_resume"
FORMAT = 1


class CheckpointError(ValueError):
    """No checkpoint of the run can be read (or it belongs to another model)."""


class CheckpointWarning(UserWarning):
    """The latest checkpoint was unreadable: the run resumes from the previous one."""


@dataclasses.dataclass
class TrainingState:
    """Where a run stands at the end of an epoch.

    Attributes:
        epochs_done: epochs completed (the next epoch's index).
        batches_consumed: batches drawn from the training stream so far.
        history: `{log name: [one value per epoch]}` of the epochs done.
    """

    epochs_done: int = 0
    batches_consumed: int = 0
    history: dict = dataclasses.field(default_factory=dict)

    def to_json(self):
        """The state as strict JSON (non-finite numbers as null)."""
        from keras_hvae.training.train_and_save import strict_json

        return json.dumps(strict_json({"format": FORMAT, **dataclasses.asdict(self)}), allow_nan=False)

    @classmethod
    def from_json(cls, text):
        """The state of `to_json`'s text."""
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown checkpoint format {data.get('format')!r} (expected {FORMAT})")
        return cls(int(data["epochs_done"]), int(data["batches_consumed"]), dict(data["history"]))


def random_state_variables(model):
    """The model's variables that a weights file leaves out: the states of
    the seed generators of the model and of every layer.

    Args:
        model: a built Keras model.

    Returns:
        A list of variables, in `model.variables` order.
    """
    saved = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in saved]


def _build_for_restore(model):
    model.build()
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        build = getattr(model, "_build_optimizer", None)
        build() if build is not None else optimizer.build(model.trainable_variables)


def _write(model, path, state):
    import h5py

    with atomic_write(path) as tmp:
        model.save_weights(str(tmp))
        with h5py.File(tmp, "a") as f:
            group = f.create_group(STATE_GROUP)
            variables = random_state_variables(model)
            for i, v in enumerate(variables):
                group.create_dataset(str(i), data=keras.ops.convert_to_numpy(v.value))
            group.attrs["paths"] = json.dumps([v.path for v in variables])
            group.attrs["state"] = state.to_json()  # written last: its presence marks a complete file


def save_checkpoint(model, directory, state):
    """Writes `latest.weights.h5` atomically; the one it replaces becomes
    `previous.weights.h5`.

    Args:
        model: the model being trained (built, compiled).
        directory: the checkpoint directory.
        state: the `TrainingState` to record.

    Returns:
        The path of the latest checkpoint.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    latest = directory / LATEST
    _write(model, directory / NEXT, state)
    if latest.exists():
        os.replace(latest, directory / PREVIOUS)
    os.replace(directory / NEXT, latest)
    fsync_path(directory)
    return latest


def _read_state(path):
    import h5py

    with h5py.File(path, "r") as f:
        if STATE_GROUP not in f or "state" not in f[STATE_GROUP].attrs:
            raise ValueError("it holds no resume state (not a complete keras_hvae checkpoint)")
        group = f[STATE_GROUP]
        paths = json.loads(group.attrs["paths"])
        values = [np.asarray(group[str(i)]) for i in range(len(paths))]
        return TrainingState.from_json(group.attrs["state"]), paths, values


def load_checkpoint(model, path):
    """Restores weights, optimizer variables and seed-generator states.

    Args:
        model: the same model (architecture, optimizer) that wrote it.
        path: a checkpoint file.

    Returns:
        The `TrainingState` it recorded.

    Raises:
        Exception: whatever reading the file raises (truncated, corrupt,
            another model's).
    """
    state, paths, values = _read_state(path)
    _build_for_restore(model)
    variables = random_state_variables(model)
    if not any(p.startswith(f"{GUARD}/") for p in paths):
        # a checkpoint written before the loss-spike guard: the guard starts afresh
        variables = [v for v in variables if not v.path.startswith(f"{GUARD}/")]
    # (paths carry process-dependent numbers, e.g. seed_generator_5: compare the structure)
    if [tuple(v.shape) for v in variables] != [value.shape for value in values]:
        raise ValueError(f"its {len(paths)} seed-generator states do not match this model's {len(variables)}")
    model.load_weights(str(path))
    for variable, value in zip(variables, values):
        variable.assign(value)
    return state


def has_checkpoint(directory):
    """Whether `directory` holds a checkpoint (latest, previous or one not yet renamed)."""
    return any((Path(directory) / name).exists() for name in (NEXT, LATEST, PREVIOUS))


def restore_checkpoint(model, directory, clean=True):
    """Restores the latest readable checkpoint of `directory` into `model`.

    Falls back to `previous.weights.h5` (with a `CheckpointWarning`) when
    the latest is missing or unreadable (a torn write, a truncated file).
    A complete checkpoint that a kill left before its final rename is taken
    first (it is the newest).

    Args:
        model: the model to restore into.
        directory: the run's checkpoint directory.
        clean: remove the temporaries an interrupted writer left (False
            in a process that does not write the checkpoints: only the
            chief of a multi-process run cleans up).

    Returns:
        The `TrainingState` restored, or a fresh one when the directory
        holds no checkpoint at all.

    Raises:
        CheckpointError: checkpoints exist but none can be read.
    """
    directory = Path(directory)
    if clean:
        remove_stale_partials(directory, NEXT)
    if not has_checkpoint(directory):
        return TrainingState()
    failures = []
    # a complete `NEXT` is newer than `LATEST`: a kill came before its rename
    for name in (NEXT, LATEST, PREVIOUS):
        path = directory / name
        if not path.exists():
            if name == LATEST:
                failures.append(f"{name}: missing")
            continue
        try:
            state = load_checkpoint(model, path)
        except Exception as e:  # noqa: BLE001 (a torn file fails in h5py, Keras or numpy, in many ways)
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if failures:
            warnings.warn(f"Resuming from {path} (epoch {state.epochs_done}): {'; '.join(failures)}.",
                          CheckpointWarning, stacklevel=2)
        return state
    raise CheckpointError(
        f"No readable checkpoint in {directory} ({'; '.join(failures)}): remove the directory to start over."
    )


class ResumableCheckpoint(keras.callbacks.Callback):
    """Writes an exact-resume checkpoint at the end of every epoch.

    Put it after every callback that changes the model at the end of an
    epoch, so that the checkpoint holds their changes. In a multi-process
    run only the chief (process 0) writes (every process holds the same
    weights).

    Args:
        directory: the checkpoint directory.
        state: the `TrainingState` of the run resumed (a fresh one by
            default); its history is extended epoch by epoch.
        on_saved: optional `(state) -> None` called after each checkpoint
            (e.g. to write `history.json`).
    """

    def __init__(self, directory, state=None, on_saved=None):
        super().__init__()
        self.directory = Path(directory)
        self.state = state if state is not None else TrainingState()
        self.on_saved = on_saved
        self._batches = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = int(batch) + 1  # with steps_per_execution: the last step's index

    def on_epoch_end(self, epoch, logs=None):
        history = self.state.history
        for key, value in (logs or {}).items():
            history.setdefault(key, []).append(float(keras.ops.convert_to_numpy(value)))
        self.state.epochs_done = int(epoch) + 1
        self.state.batches_consumed += self._batches
        if is_chief():  # one writer in a multi-process run (keras_hvae.training.distributed)
            with local_scope():
                save_checkpoint(self.model, self.directory, self.state)
        if self.on_saved is not None:
            self.on_saved(self.state)


def resumable_stream(train_data, batches_consumed, steps_per_epoch=None):
    """The training stream of a run that has consumed `batches_consumed`
    batches: the dataset repeated, with those batches skipped.

    The stream is a deterministic function of a freshly built dataset (its
    seeded shuffling and binarisation) and the position, so a resumed run
    draws exactly the batches the uninterrupted run would have drawn.
    Anything but a `tf.data.Dataset` (arrays, generators) is returned as
    it is (arrays are fed unshuffled, so every epoch is the same).

    Args:
        train_data: a `tf.data.Dataset`, freshly built and iterated by
            nothing else, or another input of `fit`.
        batches_consumed: batches already drawn.
        steps_per_epoch: steps per epoch; None: one pass over a finite
            dataset.

    Returns:
        `(stream, steps_per_epoch)` for `fit`.

    Raises:
        ValueError: an infinite or unknown-length dataset without
            `steps_per_epoch`.
    """
    try:
        import tensorflow as tf
    except ImportError:
        return train_data, steps_per_epoch
    if not isinstance(train_data, tf.data.Dataset):
        return train_data, steps_per_epoch
    if steps_per_epoch is None:
        cardinality = int(train_data.cardinality())
        if cardinality < 0:
            raise ValueError("The training dataset is infinite or of unknown length: give steps_per_epoch "
                             "(a resumable run needs to know where each epoch ends).")
        steps_per_epoch = cardinality
    stream = train_data.repeat()
    if batches_consumed:
        stream = stream.skip(int(batches_consumed))
    return stream, int(steps_per_epoch)
