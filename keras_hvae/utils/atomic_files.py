"""Atomic file and directory writes: write a temporary sibling, then rename.

A reader (or a process resumed after a kill) sees either the old file or
the complete new one, never a torn write: the new content goes to a
temporary file in the same directory (same filesystem, so `os.replace` is
an atomic rename), is flushed to disk (`fsync`), and only then takes the
final name. Temporaries are named `.partial-<token>-<name>` (the final name
stays the suffix, so `.weights.h5` and `.json` checks still hold) and are
removed on failure; `remove_stale_partials` clears those a killed process
left behind.
"""

import contextlib
import os
import secrets
import shutil
from pathlib import Path

PARTIAL_PREFIX = ".partial-"


def partial_sibling(path):
    """A fresh temporary path next to `path`: `.partial-<token>-<name>`.

    Args:
        path: the final path.

    Returns:
        A `Path` in the same directory that does not exist yet.
    """
    path = Path(path)
    return path.with_name(f"{PARTIAL_PREFIX}{os.getpid()}{secrets.token_hex(4)}-{path.name}")


def remove_stale_partials(directory, name):
    """Removes the temporaries of `name` (files or directories) that an
    interrupted writer left in `directory`.

    Args:
        directory: the directory that holds `name`.
        name: the final file or directory name.

    Returns:
        The number of entries removed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    for entry in directory.glob(f"{PARTIAL_PREFIX}*-{name}"):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


def remove_older_than(directory, pattern, seconds):
    """Removes the entries of `directory` matching the glob `pattern` that
    were last modified more than `seconds` ago: the leftovers of a killed
    download (a younger one may be another process's, still in progress).

    Args:
        directory: the directory to clean (a missing one is fine).
        pattern: a glob pattern, e.g. `".name.*.partial"`.
        seconds: the age beyond which an entry is taken as abandoned.

    Returns:
        The number of entries removed.
    """
    import time

    directory = Path(directory)
    if not directory.is_dir():
        return 0
    now, removed = time.time(), 0
    for entry in directory.glob(pattern):
        try:
            if now - entry.stat().st_mtime <= seconds:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        except OSError:
            pass
    return removed


def fsync_path(path):
    """Flushes a file, or a directory's entries (the renames in it), to disk.

    Args:
        path: a file or a directory. Filesystems that cannot sync a
            directory are skipped silently.
    """
    path = Path(path)
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_tree(directory):
    for root, _, files in os.walk(directory):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(root)


@contextlib.contextmanager
def atomic_write(path):
    """Yields a temporary path to write; on success it replaces `path`.

    The temporary is synced to disk before the rename and the directory
    after it. On an exception the temporary is removed and `path` is left
    as it was.

    Args:
        path: the final file path (its directory is created).

    Yields:
        The temporary `Path` (same directory, same suffix) to write to.

    Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "state.json"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("{}")
    >>> target.read_text()
    '{}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_sibling(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def write_text_atomic(path, text):
    """Writes `text` (UTF-8) to `path` atomically (see `atomic_write`).

    Args:
        path: the final file path.
        text: the content.

    Returns:
        The final `Path`.
    """
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def replace_directory(source, target):
    """Moves the complete directory `source` to `target`, replacing it.

    `source` is synced to disk first. An existing `target` is first renamed
    aside and deleted only once `source` has its name, so a kill leaves
    either the old or the new directory under a recognisable name (the old
    one as a `.partial-` sibling, which `remove_stale_partials` clears).

    Args:
        source: a complete directory on the same filesystem as `target`.
        target: the final directory path.

    Returns:
        The final `Path`.
    """
    source, target = Path(source), Path(target)
    _fsync_tree(source)
    old = None
    if target.exists():
        old = partial_sibling(target)
        os.replace(target, old)
    os.replace(source, target)
    fsync_path(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


@contextlib.contextmanager
def atomic_directory(target):
    """Yields a temporary directory to fill; on success it replaces `target`.

    Args:
        target: the final directory (its parent is created).

    Yields:
        The temporary directory's `Path` (a `.partial-` sibling of
        `target`); removed on an exception, `target` left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target.parent, target.name)
    tmp = partial_sibling(target)
    tmp.mkdir()
    try:
        yield tmp
        replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
