"""Data-parallel training across processes and machines (JAX).

Keras' distribution API does the work: `initialize` joins the processes
(`jax.distributed.initialize`, with the heartbeat timeout that
`keras.distribution.initialize` does not pass on, then Keras' agreement on
one random seed) and makes `keras.distribution.DataParallel` over the devices of *all*
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

Evaluation split across processes (`keras-hvae evaluate --coordinator
...`): `join` joins the processes without a Keras distribution, and
`score_protocol` has each process score its block of the protocol's
batches (`score_preset_protocol(shard=...)`) and gathers the per-example
bounds (`gather_concatenated`), so that every process returns one
process's scores.
"""

import contextlib
import itertools
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


#: JAX's default heartbeat timeout: seconds after which its coordination
#: service declares a silent process dead and stops the others.
HEARTBEAT_TIMEOUT = 100
#: JAX's default `initialization_timeout`: seconds every process waits for
#: all the others to join.
JOIN_TIMEOUT = 300


def initialize(coordinator, num_processes, process_id, heartbeat_timeout=HEARTBEAT_TIMEOUT):
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
        heartbeat_timeout: seconds after which JAX's coordination service
            declares a silent process dead and stops every other process
            (whole number >= 1; JAX's default 100). A process that dies
            makes the others exit within about this time, never hang.

    Returns:
        The `keras.distribution.DataParallel` now in effect.

    Raises:
        ValueError: bad arguments (`check_arguments`, or a bad
            `heartbeat_timeout`).
        RuntimeError: the Keras backend is not JAX, JAX was initialised
            for another run already, or JAX raised while joining.

    Example (in each of two processes, `process_id` 0 and 1):

        from keras_hvae.training import distributed
        distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)
        run_recipe("biva_binarized_mnist", "runs/biva")   # the chief writes the run
    """
    import keras

    coordinator, num_processes, process_id = check_arguments(coordinator, num_processes, process_id)
    if coordinator is None:
        raise ValueError("initialize needs coordinator, num_processes and process_id.")
    _check_seconds(heartbeat_timeout, "heartbeat_timeout")
    backend = keras.backend.backend()
    if backend != "jax":
        raise RuntimeError(
            f"Multi-process training runs on the JAX backend (Keras' distribution API); this process runs "
            f"{backend!r}. Set KERAS_BACKEND=jax in every process. (TensorFlow's MultiWorkerMirroredStrategy "
            f"does not train Keras 3 models: docs/distributed.md.)"
        )
    _join_jax(coordinator, num_processes, process_id, join_timeout=JOIN_TIMEOUT,
              heartbeat_timeout=heartbeat_timeout, what="call initialize")
    # What `keras.distribution.initialize` does after `jax.distributed.initialize` (which it calls without a
    # heartbeat option): agree on one global random seed across processes where none was set.
    from keras.src.backend.jax.distribution_lib import initialize_rng

    initialize_rng()
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    keras.distribution.set_distribution(distribution)
    return distribution


def _joined():
    """Whether this process joined a multi-process JAX run (`initialize` or `join`)."""
    import keras

    if keras.backend.backend() != "jax":
        return False
    import jax

    return bool(jax.distributed.is_initialized())


def process_index():
    """This process's index in a multi-process run (0 when there is none).

    The same inside `local_scope` (it reads the joined processes, not the
    Keras distribution)."""
    if not _joined():
        return 0
    import jax

    return int(jax.process_index())


def process_count():
    """The number of processes of the run (1 when there is no multi-process run)."""
    if not _joined():
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


# ------------------------------------------------------------ evaluation
def join(coordinator, num_processes, process_id, timeout=JOIN_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT):
    """Joins a multi-process JAX run *without* a Keras distribution: for
    work that every process does alone and then gathers (the evaluation
    of `score_protocol`).

    Call it first, before any JAX computation, in every process (the same
    `coordinator` and `num_processes`, a different `process_id`). It waits
    at most `timeout` seconds for all processes to join, then fails: a
    process whose peers never come stops, it never hangs (JAX 0.10 aborts
    the process, SIGABRT, with "DEADLINE_EXCEEDED ... RegisterTask" on
    stderr, rather than raise; an error it raises becomes the
    RuntimeError below).

    Each process then builds and runs its model alone (plain local
    arrays); only `gather_concatenated` and `from_chief` talk to the other
    processes (through the key-value store of JAX's coordination service,
    never a device collective).

    Args:
        coordinator: `"HOST:PORT"` where process 0 listens.
        num_processes: the number of processes.
        process_id: this process's index, 0 (the chief) to
            `num_processes - 1`.
        timeout: seconds to wait for every process to join (whole number
            >= 1; JAX's `initialization_timeout`).
        heartbeat_timeout: seconds after which a silent process counts as
            dead and the others are stopped (as in `initialize`).

    Raises:
        ValueError: bad arguments (`check_arguments`, or a bad `timeout`
            or `heartbeat_timeout`).
        RuntimeError: the backend is not JAX, JAX was initialised already,
            or JAX raised while joining.

    Example (in each of two processes, `process_id` 0 and 1):

        from keras_hvae.training import distributed
        distributed.join("10.0.0.1:1234", num_processes=2, process_id=0)
        scores = distributed.score_protocol(model, x_test, iwae_samples=1000)
    """
    import keras

    coordinator, num_processes, process_id = check_arguments(coordinator, num_processes, process_id)
    if coordinator is None:
        raise ValueError("join needs coordinator, num_processes and process_id.")
    _check_seconds(timeout, "timeout")
    _check_seconds(heartbeat_timeout, "heartbeat_timeout")
    backend = keras.backend.backend()
    if backend != "jax":
        raise RuntimeError(f"Multi-process evaluation runs on the JAX backend; this process runs {backend!r}. "
                           f"Set KERAS_BACKEND=jax in every process.")
    _join_jax(coordinator, num_processes, process_id, join_timeout=timeout, heartbeat_timeout=heartbeat_timeout,
              what="join")


def _check_seconds(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number of seconds >= 1, got {value!r}.")


def _join_jax(coordinator, num_processes, process_id, *, join_timeout, heartbeat_timeout, what):
    """`jax.distributed.initialize` with both timeouts; JAX's errors become
    a RuntimeError that says what to check."""
    import jax

    if jax.distributed.is_initialized():
        raise RuntimeError(f"jax.distributed is initialised already: {what} once per process.")
    if process_id == 0:
        _check_port_free(coordinator)
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=int(join_timeout),
                                   heartbeat_timeout_seconds=int(heartbeat_timeout))
    except Exception as e:  # JAX's own error types differ across versions; the cause is kept
        raise RuntimeError(
            f"process {process_id} of {num_processes}: could not join the coordinator {coordinator} "
            f"(waited up to {join_timeout} s; start every process with the same --coordinator and "
            f"--num-processes and its own --process-id; process 0 listens on that address): "
            f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        ) from e


def _check_port_free(coordinator):
    """Raises a RuntimeError naming the port when the chief cannot listen on
    the coordinator's port: JAX's coordination service binds every
    interface there (`[::]:PORT`), and a port in use crashed the process
    with a segmentation fault and no message (jaxlib 0.10)."""
    import errno
    import socket

    port = int(coordinator.rsplit(":", 1)[1])
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            probe = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # no IPv6 on this machine
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC's server does
            try:
                probe.bind((address, port))
            except OSError as e:
                if e.errno not in (errno.EADDRINUSE, errno.EACCES):  # e.g. IPv6 turned off
                    continue
                raise RuntimeError(
                    f"process 0 cannot listen on the coordinator's port {port} ({coordinator}): "
                    f"{e.strerror or e}. Another program uses it: give every process another "
                    f"--coordinator port."
                ) from e


#: Seconds a process of a split evaluation waits for the others at a
#: gather (`gather_concatenated`) or for the chief (`from_chief`): the
#: slowest process's share may take hours. A process that dies should
#: stop the others sooner, as in training: JAX's coordination service
#: stops every process once it finds a task dead (its heartbeat timeout,
#: 100 s); this is not tested for the evaluation.
WAIT_SECONDS = 24 * 3600

_exchanges = itertools.count()


def _exchange_key(what):
    """A key of the coordination service's key-value store, the same in
    every process for the n-th exchange (every process exchanges in the
    same order)."""
    return f"keras_hvae/{what}/{next(_exchanges)}"


def _client():
    # The key-value store of JAX's coordination service (what jax's own
    # checkpointing uses to exchange bytes); it has no public name.
    from jax._src import distributed as jax_distributed

    return jax_distributed.global_state.client


def from_chief(value=None, timeout=WAIT_SECONDS):
    """The chief's boolean `value`, in every process; the others wait for it.

    The chief (process 0) passes its value and goes on at once; every
    other process waits up to `timeout` seconds until the chief has
    passed it (whatever value it passes itself is ignored). Every process
    must call it at the same point. Unlike `chief_decides` (a collective
    of the devices: on CPUs, gloo gave up here when a peer came 30 s
    late), the others may wait long: e.g. while the chief loads and
    downloads. In one process it returns `bool(value)`.

    Example:
    >>> from_chief(True)
    True
    """
    if process_count() == 1:
        return bool(value)
    key = _exchange_key("from_chief")
    if is_chief():
        _client().key_value_set_bytes(key, b"1" if value else b"0")
        return bool(value)
    return _client().blocking_key_value_get_bytes(key, int(timeout * 1000)) == b"1"


def gather_concatenated(values, timeout=WAIT_SECONDS):
    """Every process's 1-D `values`, concatenated in process order, in every
    process (without a multi-process run, `values` itself).

    Every process must call it at the same point (it waits up to `timeout`
    seconds for the others). The processes may hold different numbers of
    values (none too). The values travel through the key-value store of
    JAX's coordination service as the raw bytes of float64 (bit for bit),
    not through a device collective: a process that finishes its share
    early waits for the slowest one (a gloo collective on CPUs gave up
    here when a peer came 30 s late).

    Args:
        values: a 1-D sequence of numbers (this process's share).
        timeout: seconds to wait for the other processes.

    Returns:
        float64 numpy array of all the processes' values.

    Example:
    >>> gather_concatenated([1.5, 2.5])
    array([1.5, 2.5])
    """
    import numpy as np

    values = np.ascontiguousarray(np.asarray(values, dtype="<f8").ravel())
    if process_count() == 1:
        return values.astype("float64")
    key = _exchange_key("gather")
    client = _client()
    client.key_value_set_bytes(f"{key}/{process_index()}", values.tobytes())
    parts = [np.frombuffer(client.blocking_key_value_get_bytes(f"{key}/{i}", int(timeout * 1000)), dtype="<f8")
             for i in range(process_count())]
    return np.concatenate(parts).astype("float64")


def evaluation_shard():
    """`score_preset_protocol`'s `shard` for this process: None without a
    multi-process run, else `(process_index(), process_count(),
    gather_concatenated)`."""
    if process_count() == 1:
        return None
    return process_index(), process_count(), gather_concatenated


def score_protocol(model, x_test, **kwargs):
    """`keras_hvae.evaluation.protocol.score_preset_protocol`, split across
    the processes of a multi-process run (`join`), with one process's
    result.

    Every process passes the same model and the whole `x_test`. The
    protocol's batches (`elbo_batch_size` examples per ELBO call,
    `batch_size` per IWAE call, each with its own Monte-Carlo seed) are
    split into `process_count()` contiguous blocks; each process scores
    its block with the single-process code, and the per-example bounds are
    gathered (`gather_concatenated`), so every process returns the scores
    one process computes: the same examples, the same seeds, the same
    batches. Blocks may differ in size (a process may even have none when
    there are fewer batches than processes). Without a multi-process run
    it is `score_preset_protocol`.

    Args:
        model, x_test, **kwargs: as for `score_preset_protocol` (not
            `shard`).

    Returns:
        The dict of `score_preset_protocol`, the same in every process.

    Example:
    >>> from keras_hvae.evaluation.protocol import score_preset_protocol
    >>> here = score_protocol(model, x_test, iwae_samples=10, iwae_examples=4)
    >>> here == score_preset_protocol(model, x_test, iwae_samples=10, iwae_examples=4)
    True
    """
    from keras_hvae.evaluation.protocol import score_preset_protocol

    if "shard" in kwargs:
        raise ValueError("score_protocol chooses the shard itself (evaluation_shard); pass no shard.")
    return score_preset_protocol(model, x_test, shard=evaluation_shard(), **kwargs)
