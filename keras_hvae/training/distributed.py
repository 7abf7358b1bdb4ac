"""Data-parallel training across processes and machines (JAX).

Keras' distribution API does the work: `initialize` joins the processes
(`keras.distribution.initialize`, which wraps `jax.distributed.initialize`)
and makes `keras.distribution.DataParallel` over the devices of *all*
processes the distribution of everything built afterwards. Then every
process runs the same program (SPMD):

* the variables are replicated on every device of every process;
* `fit` on a batched `tf.data.Dataset` of the **global** batch: Keras
  rebatches it and keeps this process's share of every batch
  (`Distribution.distribute_dataset`), and the train step sees the global
  batch as one sharded array, so the free-bits gates, the KL warm-up,
  the gradient clipping and the skip decision are computed on the global
  batch: the update equals one process's with the same global batch;
* the data-dependent initialisation reads the same first examples of the
  (unsharded) dataset on every process and gives the same weights;
* only the chief (process 0) writes files: checkpoints, `history.json`,
  `run_state.json` and the preset (`is_chief`), in a `local_scope`
  (outside the distribution, where no step needs the other processes); decisions taken from a
  clock (`keras_hvae.training.callbacks.TimeLimit`) are the chief's
  (`chief_decides`), so that no process stops alone and leaves the others
  waiting in a collective.

`keras-hvae train ... --coordinator HOST:PORT --num-processes N
--process-id I` calls `initialize` before it builds anything
(docs/distributed.md). TensorFlow's `MultiWorkerMirroredStrategy` does not
train Keras 3.15 models (docs/distributed.md says what fails); on
TensorFlow, `tf.distribute.MirroredStrategy` over the devices of one
machine works.
"""

import contextlib
import re


def check_arguments(coordinator, num_processes, process_id):
    """Checks the arguments of a multi-process run.

    Args:
        coordinator: `"HOST:PORT"` of process 0 (the coordinator), or None.
        num_processes: the number of processes, >= 1, or None.
        process_id: this process's index in `[0, num_processes)`, or None.

    Returns:
        `(coordinator, num_processes, process_id)`, or `(None, None, None)`
        for a single-process run (all three None).

    Raises:
        ValueError: naming what is wrong (a missing or malformed address,
            an index out of range, ...).

    Example:
    >>> check_arguments("127.0.0.1:1234", 2, 1)
    ('127.0.0.1:1234', 2, 1)
    """
    given = [name for name, value in (("coordinator", coordinator), ("num_processes", num_processes),
                                      ("process_id", process_id)) if value is not None]
    if not given:
        return None, None, None
    if len(given) < 3:
        missing = sorted({"coordinator", "num_processes", "process_id"} - set(given))
        raise ValueError(f"A multi-process run needs coordinator (HOST:PORT of process 0), num_processes and "
                         f"process_id together; {', '.join(given)} given without {', '.join(missing)}.")
    if not isinstance(coordinator, str) or not re.fullmatch(r"\[?[A-Za-z0-9_.:-]+\]?:[0-9]{1,5}", coordinator):
        raise ValueError(f"coordinator must be HOST:PORT (e.g. 10.0.0.1:1234), got {coordinator!r}.")
    port = int(coordinator.rsplit(":", 1)[1])
    if not 0 < port < 65536:
        raise ValueError(f"coordinator port must be in 1..65535, got {port}.")
    for name, value in (("num_processes", num_processes), ("process_id", process_id)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}.")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in 0..{num_processes - 1} (num_processes={num_processes}), "
                         f"got {process_id}.")
    return coordinator, int(num_processes), int(process_id)


def initialize(coordinator, num_processes, process_id):
    """Joins a multi-process JAX run and makes `DataParallel` over all
    processes' devices the Keras distribution.

    Call it first, before any JAX computation (and so before a model is
    built), with the same `coordinator` and `num_processes` in every
    process and a different `process_id` in each. It blocks until all
    `num_processes` processes have joined (JAX's `initialization_timeout`,
    300 s, then fails).

    Args:
        coordinator: `"HOST:PORT"` where process 0 listens (reachable from
            every process).
        num_processes: the number of processes.
        process_id: this process's index, 0 (the chief) to
            `num_processes - 1`.

    Returns:
        The `keras.distribution.DataParallel` now in effect.

    Raises:
        ValueError: bad arguments (`check_arguments`).
        RuntimeError: the Keras backend is not JAX, or JAX was initialised
            for another run already.

    Example (in each of two processes, `process_id` 0 and 1):

        from keras_hvae.training import distributed
        distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)
        run_recipe("biva_binarized_mnist", "runs/biva")   # the chief writes the run
    """
    import keras

    coordinator, num_processes, process_id = check_arguments(coordinator, num_processes, process_id)
    if coordinator is None:
        raise ValueError("initialize needs coordinator, num_processes and process_id.")
    backend = keras.backend.backend()
    if backend != "jax":
        raise RuntimeError(
            f"Multi-process training runs on the JAX backend (Keras' distribution API); this process runs "
            f"{backend!r}. Set KERAS_BACKEND=jax in every process. (TensorFlow's MultiWorkerMirroredStrategy "
            f"does not train Keras 3 models: docs/distributed.md.)"
        )
    import jax

    if jax.distributed.is_initialized():
        raise RuntimeError("jax.distributed is initialised already: call initialize once per process.")
    # `keras.distribution.initialize` wraps `jax.distributed.initialize`
    # (and agrees on one random seed across processes).
    keras.distribution.initialize(job_addresses=coordinator, num_processes=num_processes, process_id=process_id)
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    keras.distribution.set_distribution(distribution)
    return distribution


def process_index():
    """This process's index in a multi-process run (0 when there is none)."""
    import keras

    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return 0
    import jax

    return int(jax.process_index())


def process_count():
    """The number of processes of the run (1 when there is no multi-process run)."""
    import keras

    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return 1
    import jax

    return int(jax.process_count())


def is_chief():
    """Whether this process writes the run's files (process 0, or the only one).

    Example:
    >>> is_chief()
    True
    """
    return process_index() == 0


@contextlib.contextmanager
def process_local_inputs(train_data, validation_data=None):
    """The inputs of this process for one `fit` of a multi-process run.

    Yields `(train, validation)`: `train` is this process's share of every
    global batch of the `tf.data.Dataset` `train_data` (Keras'
    `Distribution.distribute_dataset`: every process builds the same
    pipeline and keeps its slice of each batch; the global batch size must
    be divisible by the number of processes), and `validation_data` is
    left whole: every process feeds every validation batch, so a global
    validation batch holds one copy per process and its means are those of
    one process (any batch size works, a last partial batch too). While
    the context is open, `fit` does not shard again
    (`auto_shard_dataset` is False). Without a multi-process run, yields
    the inputs unchanged.

    Args:
        train_data: the training stream (batched `tf.data.Dataset`).
        validation_data: the validation input of `fit`, or None.

    Example:
    >>> with process_local_inputs([1, 2]) as (train, validation):
    ...     print(train, validation)
    [1, 2] None
    """
    import keras

    distribution = keras.distribution.distribution() if process_count() > 1 else None
    if distribution is None or not distribution.auto_shard_dataset:
        yield train_data, validation_data
        return
    train = distribution.distribute_dataset(train_data)
    distribution.auto_shard_dataset = False
    try:
        yield train, validation_data
    finally:
        distribution.auto_shard_dataset = True


@contextlib.contextmanager
def local_scope():
    """A scope in which this process works alone: no Keras distribution.

    In a multi-process run every variable created or assigned under the
    distribution is a collective (JAX checks that every process passes the
    same value), so a process that writes files alone (the chief saving a
    checkpoint or a preset: Keras creates a throwaway optimizer variable
    while saving) does it in this scope. Reading the replicated weights
    needs no other process. Without a distribution it does nothing.

    Example:
    >>> with local_scope():
    ...     pass
    """
    import keras

    current = keras.distribution.distribution()
    if current is None:
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)


def chief_decides(flag):
    """The chief's value of the boolean `flag`, in every process.

    Every process must call it at the same point (it is a collective);
    without a multi-process run it returns `flag`.

    Example:
    >>> chief_decides(True)
    True
    """
    if process_count() == 1:
        return bool(flag)
    import numpy as np
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.asarray(bool(flag))))


def check_same_everywhere(value, what):
    """Raises unless every process holds the same whole number `value`.

    A collective (every process calls it at the same point); a no-op in a
    single process.

    Args:
        value: a whole number (e.g. the epochs a resumed checkpoint holds).
        what: what it is, for the message.

    Raises:
        RuntimeError: in every process, listing every process's value.
    """
    if process_count() == 1:
        return
    import numpy as np
    from jax.experimental import multihost_utils

    values = [int(v) for v in np.ravel(multihost_utils.process_allgather(np.asarray(int(value), dtype="int64")))]
    if len(set(values)) > 1:
        raise RuntimeError(
            f"The processes disagree on {what}: {values} (process 0 first). Every process must read the same "
            f"run directory (a shared file system, or a copy of the chief's)."
        )
