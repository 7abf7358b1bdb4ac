"""JAX: a persistent compilation cache for the command line.

On JAX, the first training step of the paper's BIVA is XLA's compilation of
the whole step (40-70 s on the 2-core reference machine), and the
data-dependent initialisation and every bound compile too. JAX can keep
compiled programs on disk and load them in a later process. `keras-hvae`
turns that on, so that a resumed run, a second run of the same recipe or a
second evaluation of a preset compiles nothing again (the paper BIVA under
load: first step 97 -> 43 s, `initialize` 23 -> 4 s).

The cache lives in `$XDG_CACHE_HOME/keras_hvae/jax_compilation_cache`
(default `~/.cache/...`), holds at most 2 GB (JAX evicts the least recently
used programs) and keeps programs that took at least a second to compile.
A cache the user configured (the `JAX_COMPILATION_CACHE_DIR` environment
variable or `jax.config`) is left as it is; `KERAS_HVAE_JAX_CACHE=0` turns
the command line's cache off. The Python API never changes JAX's
configuration by itself: call `enable_jax_compilation_cache()` to opt in.
"""

import os
from pathlib import Path

__all__ = ["default_cache_directory", "enable_jax_compilation_cache"]

#: Most bytes the command line's cache holds.
MAX_CACHE_BYTES = 2 * 2**30


def default_cache_directory():
    """`$XDG_CACHE_HOME/keras_hvae/jax_compilation_cache` (`~/.cache` by default).

    Example:
    >>> default_cache_directory().name
    'jax_compilation_cache'
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "keras_hvae" / "jax_compilation_cache"


def enable_jax_compilation_cache(directory=None):
    """Keeps JAX's compiled programs in `directory` for later processes.

    Args:
        directory: where (default: `default_cache_directory()`).

    Returns:
        The cache directory JAX uses now (the user's own, where one was
        configured), or None: on another backend, and when
        `KERAS_HVAE_JAX_CACHE=0`.

    Example:

    ```python
    from keras_hvae.utils.compilation_cache import enable_jax_compilation_cache

    print(enable_jax_compilation_cache())  # None unless the backend is JAX
    ```
    """
    import keras  # here: the command line's parser imports this module without a backend

    if keras.backend.backend() != "jax" or os.environ.get("KERAS_HVAE_JAX_CACHE", "1") == "0":
        return None
    import jax

    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    directory = Path(directory) if directory is not None else default_cache_directory()
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_compilation_cache_max_size", MAX_CACHE_BYTES)
    return directory
