"""Atomic file writes: write under a temporary name beside the target, then rename.

A reader never sees a half-written cache, checkpoint, model or picture, and an
interrupted run leaves the previous file intact.
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
    (``*.parquet``). On error it is removed and `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if keep_suffix else "",
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
