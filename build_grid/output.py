"""Where a build writes: a local directory or an fsspec URL (s3://..., file://...).

Every file appears whole or not at all: written under a temporary name, then
renamed (an object store's single PUT is atomic by itself).
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

import fsspec
import numpy as np

from satcle.core.atomic import atomic_path, write_atomic
from satcle.core.checksum import StreamChecksum, file_checksum
from satcle.core.errors import DiskFullError, GridBuildError

# The errors of a write that found no room: a full device, or a full quota.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class GridOutput:
    """Files of one grid under `root` (a path or an fsspec URL), addressed by relative path."""

    def __init__(self, root: str | os.PathLike):
        self.root = str(root)
        self.is_local = "://" not in self.root
        if self.is_local:
            self.fs, self._base = fsspec.filesystem("file"), str(Path(self.root).expanduser().resolve())
        else:
            self.fs, self._base = fsspec.core.url_to_fs(self.root)
            self._base = self._base.rstrip("/")

    def refuse_non_directory(self) -> None:
        """Raise GridBuildError if a local root, or its nearest existing ancestor, is not a directory
        (``--out`` naming a regular file): before any worker starts, not in each one."""
        if not self.is_local:
            return
        path = Path(self._base)
        while not path.exists() and path != path.parent:
            path = path.parent
        if not path.is_dir():
            what = "exists and is not a directory" if str(path) == self._base else f"lies under {path}, not a directory"
            raise GridBuildError(f"cannot build into {self.root}: it {what}; choose a directory for --out")

    def path(self, relative: str) -> str:
        """Absolute path (or bucket path) of a file of the grid."""
        return f"{self._base}/{relative}"

    def exists(self, relative: str) -> bool:
        return self.fs.exists(self.path(relative))

    def read_bytes(self, relative: str) -> bytes:
        return self.fs.cat_file(self.path(relative))

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a whole file atomically. Raises DiskFullError (naming the device
        and the file) when there is no space left for it."""
        if self.is_local:
            try:
                write_atomic(Path(self.path(relative)), data)
            except OSError as exc:
                if exc.errno in _NO_SPACE:
                    raise DiskFullError(no_space_message(self.path(relative))) from None
                raise
            return
        final = self.path(relative)
        directory, name = final.rsplit("/", 1)
        tmp = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
        self.fs.makedirs(directory, exist_ok=True)  # object stores have no directories: a no-op there
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, final)

    def write_array(self, relative: str, array: np.ndarray) -> tuple[int, str]:
        """Write `array` as a ``.npy`` file atomically, checksumming it on the way
        (no second read); returns (bytes written, ``"xxh3_128:<hex>"``). Raises
        DiskFullError (naming the device and the file) when there is no space left."""
        if self.is_local:
            try:
                with atomic_path(Path(self.path(relative))) as tmp, open(tmp, "wb") as handle:
                    checksummed = _ChecksummingWriter(handle)
                    np.lib.format.write_array(checksummed, np.ascontiguousarray(array), allow_pickle=False)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                if exc.errno in _NO_SPACE:
                    raise DiskFullError(no_space_message(self.path(relative))) from None
                raise
            return checksummed.size, checksummed.checksum.text()
        final = self.path(relative)
        directory, name = final.rsplit("/", 1)
        tmp = f"{directory}/.{name}.{uuid.uuid4().hex}.tmp"
        self.fs.makedirs(directory, exist_ok=True)
        with self.fs.open(tmp, "wb") as handle:
            checksummed = _ChecksummingWriter(handle)
            np.lib.format.write_array(checksummed, np.ascontiguousarray(array), allow_pickle=False)
        self.fs.mv(tmp, final)
        return checksummed.size, checksummed.checksum.text()

    def keep_or_make_room(self, relative: str, size: int, checksum: str) -> bool:
        """Before a derived file (lookup file, pyramid level) is written again: True if the
        file there already holds exactly these bytes (`size`, ``"xxh3_128:<hex>"``
        `checksum`: nothing to write; readers mapping it are undisturbed); else the stale
        file is removed and False returned, so that writing its successor needs no more
        room than a fresh build (a resume after a full disk must fit where a build fits)."""
        path = self.path(relative)
        try:
            if not self.exists(relative):
                return False
            if self.fs.size(path) == size and self._checksum(relative) == checksum:
                return True
            self.fs.rm(path)
        except (OSError, ValueError):
            pass   # unreadable: the write replaces it
        return False

    def _checksum(self, relative: str) -> str:
        if self.is_local:
            return file_checksum(self.path(relative))
        checksum = StreamChecksum()
        with self.fs.open(self.path(relative), "rb") as handle:
            while block := handle.read(1 << 22):
                checksum.update(block)
        return checksum.text()

    def remove_tree(self, relative: str) -> None:
        """Delete a directory of the grid and everything under it, if it exists."""
        if self.exists(relative):
            self.fs.rm(self.path(relative), recursive=True)


def npy_size_and_checksum(array: np.ndarray) -> tuple[int, str]:
    """(bytes, ``"xxh3_128:<hex>"``) of `array` as `GridOutput.write_array` writes it, computed without writing."""
    checksummed = _ChecksummingWriter(None)
    np.lib.format.write_array(checksummed, np.ascontiguousarray(array), allow_pickle=False)
    return checksummed.size, checksummed.checksum.text()


class _ChecksummingWriter:
    """A write-only file that passes bytes on to `handle` and checksums them
    (numpy then writes the array in chunks through `write`)."""

    def __init__(self, handle):
        self.handle = handle
        self.checksum = StreamChecksum()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.checksum.update(view)
        self.size += view.nbytes
        return self.handle.write(view) if self.handle is not None else view.nbytes


def no_space_message(path: str | os.PathLike) -> str:
    """'no space left on DEVICE writing PATH' for a local `path`: the device is the
    file system's source and mount point (from /proc/self/mounts where there is one)."""
    path = Path(path)
    mount = path.parent
    while not mount.exists():
        mount = mount.parent
    mount = mount.resolve()
    while not os.path.ismount(mount):
        mount = mount.parent
    device = str(mount)
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[1] == str(mount):
                device = f"{fields[0]} ({fields[2]} mounted at {mount})"
    except OSError:
        pass
    return f"no space left on {device} writing {path}"
