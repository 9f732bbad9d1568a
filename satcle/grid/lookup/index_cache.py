"""Built `CellIndex`es kept on disk, for grids of the format before lookup files
(grids written now carry their index, mapped by `open_grid`): such a grid is
indexed once per machine rather than at every `open_grid` (building one costs a
few microseconds per cell; loading it, the time to read it).

An entry is one file: the index's fields as consecutive ``.npy`` records (no zip,
no per-block CRC), read straight into 64-byte aligned memory, plus a ``.xxh3``
file beside it holding the entry's checksum. The compiled kernels trust the
index's offsets, and anyone who can write the cache can also write a matching
checksum, so a read entry is also bounds-checked (`validate_index`); a damaged,
truncated or inconsistent entry is rebuilt rather than used."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ...core.atomic import atomic_path, write_text_atomic
from ...core.checksum import file_checksum
from ..format.lookup_files import read_npy_header
from ..format.reader import GridTable
from ..format.store import Manifest
from .cell_index import INDEX_CONSTANTS, CellIndex, build_cell_index, empty_aligned, validate_index

# Part of the cache key: a changed index layout must not read old entries.
INDEX_FORMAT = 5
_SCALARS = INDEX_CONSTANTS


def cached_cell_index(table: GridTable, manifest: Manifest, cache_dir: Path) -> CellIndex:
    """The `CellIndex` of a grid, from `cache_dir` when it was built before.

    The cache key is the sha256 of the index format and the manifest, which lists every partition's
    sha256: a rebuilt or changed grid gets a new entry. An unreadable entry is
    rebuilt; a cache that cannot be written only costs the rebuild next time.
    """
    key = hashlib.sha256(f"{INDEX_FORMAT}\n{manifest.to_json()}".encode()).hexdigest()
    path = Path(cache_dir) / f"{key}.index"
    index = _read(path, cells=table.h3.shape[0])
    if index is None:
        index = build_cell_index(table.h3, table.lat, table.lon)
        _write(path, index)
    return index


def _read(path: Path, cells: int) -> CellIndex | None:
    if not path.is_file():
        return None
    try:
        if _checksum_path(path).read_text().strip() != file_checksum(path):
            return None
    except OSError:
        return None
    fields = {}
    try:
        with open(path, "rb") as handle:
            for field in dataclasses.fields(CellIndex):
                fields[field.name] = _read_array(handle)
    except (OSError, ValueError, EOFError):
        return None
    for name, kind in _SCALARS.items():
        fields[name] = kind(fields[name])
    try:
        index = CellIndex(**fields)
        validate_index(index)
    except (TypeError, ValueError):   # GridFormatError is a ValueError
        return None
    return index if index.num_cells == cells else None


def _read_array(handle) -> np.ndarray:
    """The next ``.npy`` record of `handle`, read into a fresh 64-byte aligned array."""
    shape, dtype = read_npy_header(handle)
    array = empty_aligned(shape, dtype)
    view = memoryview(array.reshape(-1).view(np.uint8))
    if handle.readinto(view) != array.nbytes:
        raise EOFError("truncated index entry")
    return array


def _write(path: Path, index: CellIndex) -> None:
    # The cache only saves time: a read-only or full disk must not fail the open.
    try:
        for stale in path.parent.glob("*.npz"):   # entries of formats <= 3, never read again
            stale.unlink(missing_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # readers see no entry or a whole one
            for field in dataclasses.fields(CellIndex):
                np.lib.format.write_array(handle, np.asarray(getattr(index, field.name)),
                                          allow_pickle=False)
        write_text_atomic(_checksum_path(path), file_checksum(path) + "\n")
    except OSError:
        pass


def _checksum_path(path: Path) -> Path:
    """Where the checksum of the cache entry at `path` is kept."""
    return path.with_name(path.name + ".xxh3")
