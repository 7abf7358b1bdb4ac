"""Finding a dataset's files on disk, the missing-file message, the online download.

Every loader looks in the same places, in order: the `path` it was given
(a file, or a directory holding the file), then the cache directory
(`keras_hvae.datasets.data_dir()`). Only with `download=True` does it go
online, through `keras.utils.get_file` and the dataset's official URL,
saving into the cache directory.
"""

from pathlib import Path

from keras_hvae.datasets.cache import data_dir


def candidates(path, names):
    """The paths a loader looks at for any of `names`, in order.

    `path` may be a file (taken as is), a directory (each of `names`
    inside it), or None; the cache directory always comes last.
    """
    names = [names] if isinstance(names, str) else list(names)
    out = []
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            out += [p / n for n in names]
        elif p.exists() or p.suffix:
            out.append(p)
        else:  # a directory that does not exist yet
            out += [p / n for n in names]
    out += [data_dir() / n for n in names]
    return out


def missing_error(dataset, looked_at, how):
    """A `FileNotFoundError` naming where we looked and how to get the data."""
    where = "\n".join(f"    {p}" for p in looked_at)
    return FileNotFoundError(
        f"{dataset} was not found. Looked at:\n{where}\n"
        f"Put the file(s) in {data_dir()} (the cache directory; set $KERAS_HVAE_DATA "
        f"to move it) or pass `path=`.\n{how}"
    )


def fetch(filename, origin, file_hash=None):
    """Fetches `origin` into the cache directory with `keras.utils.get_file`.

    Only called for `download=True`; needs a machine that reaches `origin`.
    """
    import keras

    cache = data_dir()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        got = keras.utils.get_file(
            filename, origin=origin, file_hash=file_hash, cache_dir=str(cache), cache_subdir="."
        )
    except Exception as e:
        raise FileNotFoundError(
            f"Downloading {origin} failed ({e}). On a machine without internet, fetch the "
            f"file elsewhere and put it at {cache / filename}."
        ) from e
    return Path(got)


def find(path, names, dataset, how, download_from=None, download=False):
    """The first existing file among `candidates(path, names)`.

    Args:
        path: a file, a directory, or None.
        names: the file names to look for (the first is the one downloaded).
        dataset: the dataset's name for messages.
        how: instructions for getting the data, shown when it is missing.
        download_from: the official URL (None when there is none).
        download: fetch `names[0]` from `download_from` when nothing is found.

    Raises:
        FileNotFoundError: naming the places looked at and the way to get it.
    """
    names = [names] if isinstance(names, str) else list(names)
    looked = candidates(path, names)
    for c in looked:
        if c.exists():
            return c
    if download and download_from is not None:
        return fetch(names[0], download_from)
    raise missing_error(dataset, looked, how)


def loadmat(file, dataset):
    """`scipy.io.loadmat` with clear errors (scipy missing, unreadable file)."""
    try:
        import scipy.io
    except ImportError as e:
        raise ImportError(
            f"Reading {dataset}'s MATLAB file {file} needs scipy: `pip install scipy`."
        ) from e
    try:
        return scipy.io.loadmat(str(file))
    except NotImplementedError as e:  # MATLAB v7.3 (HDF5) files
        raise ValueError(f"{file} is a MATLAB v7.3 file; {dataset} expects the v5 .mat format ({e}).") from e
    except Exception as e:
        raise ValueError(
            f"{file} is not a readable MATLAB file for {dataset} ({type(e).__name__}: {e}); "
            "delete it and fetch it again."
        ) from e
