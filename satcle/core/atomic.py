"""Atomic file writes: write under a temporary name beside the target, then rename.

A reader never sees a half-written cache, checkpoint, model or picture, and an
interrupted run leaves the previous file intact. The file gets the permissions a
plain ``open(path, "w")`` would give it: an existing file's mode, else 0666 less
the process's umask (`file_mode`).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike, *, keep_suffix: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`.

    With keep_suffix the temporary file keeps the target's suffix (some writers,
    e.g. numpy or matplotlib, choose the format from it); without it, a temporary
    file left by a killed process never matches a glob for the final files
    (``*.parquet``). On error (Ctrl-C included) it is removed and `path` is left
    untouched. The renamed file has `file_mode(path)`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if keep_suffix else "",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, file_mode(path))   # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_mode(path: str | os.PathLike) -> int:
    """The permission bits a write to `path` should leave: those of the file already
    there, else 0666 less the process's umask (what ``open(path, "w")`` creates)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it
    (Linux's /proc/self/status), else set and restored at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to `path` so that readers see the old file or the whole new one.

    The data is fsync'ed before the rename, so a crash right after cannot leave
    an empty file under the final name. Returns the path.
    """
    with atomic_path(path, keep_suffix=False) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
