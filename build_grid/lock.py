"""One builder per grid directory: an exclusive lock held for the whole build.

The lock is ``fcntl.flock`` on ``.satcle-build.lock`` in the grid directory; the
file names the holder (process id, host, start time) so that a second build can
say who holds it. The kernel releases the lock when its process dies, so a
killed build never leaves a stale lock. Local directories only: object stores
(``s3://``) have no locks, and a build there must not be started twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from satcle.core.errors import BuildLockedError

LOCK_FILE = ".satcle-build.lock"


@contextmanager
def build_lock(grid_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the build lock of `grid_dir` (created if missing) inside the block.

    Raises BuildLockedError at once, naming the holder's pid and host, when
    another build holds it.
    """
    root = Path(grid_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise BuildLockedError(
                f"{root} is being built by another process ({holder}); wait for it to finish, "
                "or choose another --out") from None
        # The holder unlinks the file before releasing it: a lock taken on an unlinked
        # file protects nothing, so take the one now at that path instead.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}).encode())
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)   # releases the lock


def _read_holder(fd: int) -> str:
    """'pid P on host H since T' from the lock file open at `fd`, or what is known."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {holder['pid']} on host {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid and host not yet written"
