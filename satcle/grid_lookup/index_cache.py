"""Built `CellIndex`es kept on disk, so that a grid is indexed once per machine
rather than at every `open_grid` (building one costs a few microseconds per cell;
loading it, mostly the time to read it)."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..grid.reader import GridTable
from ..grid.store_format import Manifest
from .cell_index import CellIndex, build_cell_index, cache_aligned

# Part of the cache key: a changed index layout must not read old entries.
INDEX_FORMAT = 3
_SCALARS = {"n_lat": int, "n_lon": int, "delta": float, "radius_deg": float}


def cached_cell_index(table: GridTable, manifest: Manifest, cache_dir: Path) -> CellIndex:
    """The `CellIndex` of a grid, from `cache_dir` when it was built before.

    The cache key is the sha256 of the index format and the manifest, which lists every partition's
    sha256: a rebuilt or changed grid gets a new entry. An unreadable entry is
    rebuilt; a cache that cannot be written only costs the rebuild next time.
    """
    key = hashlib.sha256(f"{INDEX_FORMAT}\n{manifest.to_json()}".encode()).hexdigest()
    path = Path(cache_dir) / f"{key}.npz"
    index = _read(path, cells=table.h3.shape[0])
    if index is None:
        index = build_cell_index(table.h3, table.lat, table.lon)
        _write(path, index)
    return index


def _read(path: Path, cells: int) -> CellIndex | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {f.name: data[f.name] for f in dataclasses.fields(CellIndex)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    for name, kind in _SCALARS.items():
        fields[name] = kind(fields[name])
    fields["records"] = cache_aligned(fields["records"])
    index = CellIndex(**fields)
    return index if index.num_cells == cells else None


def _write(path: Path, index: CellIndex) -> None:
    # The cache only saves time: a read-only or full disk must not fail the open.
    try:
        with atomic_path(path) as tmp:  # readers see no entry or a whole one
            np.savez(tmp, **dataclasses.asdict(index))
    except OSError:
        pass
