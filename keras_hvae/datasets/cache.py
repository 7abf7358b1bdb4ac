"""Where datasets live on disk."""

import os
from pathlib import Path


def data_dir():
    """The cache directory for datasets.

    `$KERAS_HVAE_DATA` if set, else `~/.keras/keras_hvae/datasets`.

    Example:
    >>> isinstance(data_dir(), Path)
    True
    """
    env = os.environ.get("KERAS_HVAE_DATA")
    root = Path(env) if env else Path.home() / ".keras" / "keras_hvae" / "datasets"
    return root
