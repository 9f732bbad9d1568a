"""Exact stored rows of a grid, found by H3 id: the nearest-cell lookup SQL needs.

Reads the sorted ``h3`` column of every partition once (8 bytes per cell) and
the embeddings of a partition only when a query touches it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .h3_cells import latlng_to_cells
from .store_format import Manifest, dequantize, embeddings_from_arrow, read_manifest


class StoredCells:
    """Rows of one grid addressed by H3 cell id.

    Parameters
    ----------
    grid_dir : path of a complete grid (with ``manifest.json``).
    cached_partitions : how many partitions' embeddings to keep in memory.
    """

    def __init__(self, grid_dir: str | os.PathLike, *, cached_partitions: int = 32):
        self.root = Path(grid_dir).expanduser().resolve()
        self.manifest: Manifest = read_manifest(self.root)
        self._cached_partitions = cached_partitions
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def cells(self) -> np.ndarray:
        """Every stored cell id, sorted (M,) uint64; read on first use."""
        return self._sorted_index()[0]

    def _sorted_index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cells (M,) uint64 sorted, partition (M,) int32, row in partition (M,) int64)."""
        if self._index is not None:
            return self._index
        parts = self.manifest.partitions
        ids = [pq.read_table(self.root / p.file, columns=["h3"]).column("h3").to_numpy() for p in parts]
        ids_all = np.concatenate(ids) if ids else np.empty(0, dtype=np.uint64)
        rows = np.array([p.rows for p in parts], dtype=np.int64)
        owner = np.repeat(np.arange(len(parts), dtype=np.int32), rows)
        row = np.arange(ids_all.size, dtype=np.int64) - np.repeat(np.cumsum(rows) - rows, rows)
        order = np.argsort(ids_all, kind="stable")
        self._index = (ids_all[order], owner[order], row[order])
        return self._index

    def embeddings(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored embeddings of H3 cells.

        cells: (N,) uint64. Returns values (N, D) float32 (dequantised; zeros
        where absent) and found (N,) bool (False for cells the grid lacks).
        """
        cells = np.asarray(cells, dtype=np.uint64)
        values = np.zeros((cells.size, self.manifest.dim), dtype=np.float32)
        stored_cells, stored_partition, stored_row = self._sorted_index()
        if stored_cells.size == 0 or cells.size == 0:
            return values, np.zeros(cells.size, dtype=bool)
        pos = np.minimum(np.searchsorted(stored_cells, cells), stored_cells.size - 1)
        found = stored_cells[pos] == cells
        partitions = stored_partition[pos]
        for part in np.unique(partitions[found]):
            chosen = found & (partitions == part)
            stored, scale = self._partition_embeddings(int(part))
            rows = stored_row[pos[chosen]]
            values[chosen] = dequantize(stored[rows], None if scale is None else scale[rows])
        return values, found

    def embeddings_at(self, lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored embedding of the cell containing each point (no interpolation).

        lats, lons: (N,) degrees (CoordinateError on bad input). Returns values
        (N, D) float32 and found (N,) bool (False outside the grid's coverage).
        """
        return self.embeddings(latlng_to_cells(lats, lons, self.manifest.resolution))

    def _partition_embeddings(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        columns = ["embedding", "scale"] if self.manifest.dtype == "int8" else ["embedding"]
        table = pq.read_table(self.root / self.manifest.partitions[index].file, columns=columns)
        scale = table.column("scale").to_numpy() if self.manifest.dtype == "int8" else None
        entry = (embeddings_from_arrow(table.column("embedding")), scale)
        self._cache[index] = entry
        if len(self._cache) > self._cached_partitions:
            self._cache.popitem(last=False)
        return entry
