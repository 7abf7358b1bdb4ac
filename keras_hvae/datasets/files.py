"""Finding a dataset's files on disk, the missing-file message, the online download.

Every loader looks in the same places, in order: the `path` it was given
(a file, or a directory holding the file), then the cache directory
(`keras_hvae.datasets.data_dir()`). Only with `download=True` does it go
online, through `keras.utils.get_file` and the dataset's official URL,
saving into the cache directory: atomically (a temporary file, checked,
then renamed), so a failed or damaged download leaves nothing behind, and
with a `DatasetError` naming the URL and the cause when it fails.
"""

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from keras_hvae.datasets.cache import data_dir
from keras_hvae.utils.atomic_files import remove_older_than


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


class DatasetError(FileNotFoundError):
    """A dataset's download failed or arrived damaged.

    A `FileNotFoundError` (the data is not available), as a failed
    download always was here; its message names the URL and the cause.
    """


#: How long another process's temporary download may sit in the cache
#: before a later download takes it for the leftover of a killed process.
_STALE_PARTIAL_SECONDS = 24 * 3600
_PARTIAL_SUFFIX = ".partial"


def check_download(file, origin):
    """Raises `DatasetError` when `file` (fetched from `origin`) is not the
    kind of file its name says: empty, an HTML page, a gzip or tar stream
    that is not one or is truncated, a zip (or .npz) that fails its CRCs,
    a .mat without MATLAB's header. Other files are only checked for
    HTML and emptiness."""
    file = Path(file)
    name = file.name
    with open(file, "rb") as f:
        head = f.read(512)
    if not head:
        raise DatasetError(f"The download of {origin} is empty (0 bytes).")
    if head.lstrip().startswith(b"<"):
        raise DatasetError(f"{origin} served an HTML page, not {name} "
                           f"(it starts with {head[:40].decode('utf-8', 'replace')!r}).")
    try:
        if name.endswith((".tar.gz", ".tgz", ".gz")) and head[:2] != b"\x1f\x8b":
            raise DatasetError(f"The download of {origin} is not a gzip file (it starts with {head[:8]!r}).")
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(file, "r:*") as tar:
                for member in tar:  # reads through to the end of the stream
                    pass
        elif name.endswith(".gz"):
            with gzip.open(file, "rb") as f:
                while f.read(1 << 20):
                    pass
        elif name.endswith((".zip", ".npz")):
            with zipfile.ZipFile(file) as zf:
                bad = zf.testzip()
            if bad is not None:
                raise DatasetError(f"The download of {origin} is corrupt: the CRC of {bad} does not match.")
        elif name.endswith(".mat") and not head.startswith(b"MATLAB"):
            raise DatasetError(f"The download of {origin} is not a MATLAB .mat file (it starts with {head[:8]!r}).")
    except DatasetError:
        raise
    except EOFError as e:
        raise DatasetError(f"The download of {origin} is truncated ({e}).") from None
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, OSError) as e:
        what = "truncated" if "unexpected end" in str(e) or "truncated" in str(e).lower() else "damaged"
        raise DatasetError(f"The download of {origin} is {what} ({type(e).__name__}: {e}).") from None


def _hash_matches(file, file_hash):
    algorithm = "sha256" if len(file_hash) == 64 else "md5"
    digest = hashlib.new(algorithm)
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return algorithm, digest.hexdigest()


def fetch(filename, origin, file_hash=None):
    """Fetches `origin` into the cache directory with `keras.utils.get_file`.

    Only called for `download=True`; needs a machine that reaches `origin`.
    The file is downloaded into a temporary directory inside the cache
    directory, checked (`check_download`; `file_hash`, a sha256 or md5 hex
    digest, when given) and only then renamed to `filename`: a failed or
    damaged download leaves nothing in the cache, and the next call
    downloads afresh.

    Raises:
        DatasetError: naming `origin` and the cause (HTTP status,
            unreachable host, HTML page, truncated, hash mismatch), and
            where to put the file by hand.
    """
    import keras

    from keras_hvae.utils.presets import url_failure_reason

    cache = data_dir()
    by_hand = f"On a machine without internet, fetch the file elsewhere and put it at {cache / filename}."
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{filename}.", suffix=_PARTIAL_SUFFIX, dir=cache))
    except OSError as e:
        raise DatasetError(f"Cannot download {origin}: the cache directory {cache} is not writable ({e}); "
                           "set $KERAS_HVAE_DATA to a writable directory.") from None
    try:
        remove_older_than(cache, f".{filename}.*{_PARTIAL_SUFFIX}", _STALE_PARTIAL_SECONDS)
        try:
            got = Path(keras.utils.get_file(filename, origin=origin, cache_dir=str(tmp), cache_subdir="."))
        except Exception as e:  # noqa: BLE001 (get_file raises a bare Exception for URL errors)
            raise DatasetError(f"Downloading {origin} failed: {url_failure_reason(e)}. {by_hand}") from None
        if not got.is_file():
            raise DatasetError(f"Downloading {origin} failed: the file did not arrive in {tmp}. {by_hand}")
        try:
            check_download(got, origin)
        except DatasetError as e:
            raise DatasetError(f"{e} {by_hand}") from None
        if file_hash:
            algorithm, actual = _hash_matches(got, file_hash)
            if actual != file_hash:
                raise DatasetError(f"The download of {origin} failed its integrity check: {algorithm} mismatch, "
                                   f"expected {file_hash}, got {actual}. {by_hand}")
        target = cache / filename
        os.replace(got, target)
    except OSError as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"Downloading {origin} into {cache} failed ({type(e).__name__}: {e}).") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
        FileNotFoundError: naming the places looked at and the way to get it
            (a `DatasetError`, naming the URL and the cause, when the
            download failed).
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
