"""Helpers of the tests that run `keras-hvae` (or a script) in real
subprocesses: their environment, starting and waiting with a deadline,
free ports, configs and the weights of the preset a run wrote.

Used by tests/training/test_distributed_processes.py,
tests/training/test_exact_resume.py,
tests/applications/test_seed_reproducibility.py and
benchmarks/distributed_scaling.py.
"""

import json
import os
import random
import socket
import subprocess
import time
from pathlib import Path

#: The repository root: every subprocess runs there.
ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(backend, cpu_only=False, extra=None):
    """The environment of a subprocess on Keras backend `backend`, with
    TensorFlow's C++ logs quiet. `cpu_only`: no GPU and one CPU device per
    process (JAX), as the multi-process tests need. `extra`: more variables."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    if cpu_only:
        env.update(CUDA_VISIBLE_DEVICES="", XLA_FLAGS="--xla_force_host_platform_device_count=1",
                   JAX_PLATFORMS="cpu")
    env.update(extra or {})
    return env


def jax_compilation_cache(directory):
    """The environment variables that give JAX processes one persistent
    compilation cache in `directory`, every compiled program included (a
    later process, e.g. one that resumes a run, skips the compilations)."""
    return {"JAX_COMPILATION_CACHE_DIR": str(directory), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


_given_ports = set()


def _ephemeral_ports_start():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port():
    """A TCP port free now on every interface, from below the kernel's
    ephemeral range, never handed out before in this session.

    A port the kernel gave to `bind(0)` is an ephemeral one: between this
    call and the coordinator's listening there, an outgoing connection of
    another process (gloo, gRPC) may take it, and then JAX's coordinator
    crashes (a CI run lost a test that way). Ports below the ephemeral
    range are never handed out to outgoing connections."""
    rng = random.Random()
    high = max(_ephemeral_ports_start(), 20001)
    for _ in range(1000):
        port = rng.randrange(20000, high)
        if port in _given_ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port
    raise RuntimeError("no free TCP port below the ephemeral range")


def write_config(path, config):
    """Writes the training config `config` (a dict) as JSON to `path`; returns `path`."""
    path = Path(path)
    path.write_text(json.dumps(config))
    return path


def preset_weights(run):
    """`{dataset name: array}` of the preset weights of the run directory `run`."""
    import h5py

    out = {}
    with h5py.File(Path(run) / "preset" / "model.weights.h5", "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def start(command, backend, log, cpu_only=True, env=None):
    """Starts `command` in the repository root, stdout and stderr into the
    open file `log`; `env`: more environment variables."""
    return subprocess.Popen(command, env=subprocess_env(backend, cpu_only, env), cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def finish(processes, logs, timeout):
    """Waits for every process (killing the rest at the deadline); returns
    `(return codes, outputs)`."""
    deadline = time.time() + timeout
    for p in processes:
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [p.returncode for p in processes], [Path(log.name).read_text(errors="replace") for log in logs]


def run_together(commands, backend, tmp_path, timeout, cpu_only=True, env=None):
    """Runs `commands` at the same time (logs in `tmp_path/log_I.txt`);
    returns `(return codes, outputs)` after at most `timeout` seconds."""
    logs = [open(Path(tmp_path) / f"log_{i}.txt", "w") for i in range(len(commands))]
    try:
        processes = [start(c, backend, log, cpu_only, env) for c, log in zip(commands, logs)]
        return finish(processes, logs, timeout)
    finally:
        for log in logs:
            log.close()
