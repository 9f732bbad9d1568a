"""How much room a grid takes: the estimate printed before a build (and after a full
disk), and the free space where it goes."""

from __future__ import annotations

import shutil
from pathlib import Path

import h3
import numpy as np

# Share of all cells that `land` coverage keeps at each resolution (land plus one ring
# around coasts: the ring weighs more in coarse grids), measured with
# `coverage.covered_cells` (res 5: 605,102 of 2,016,842); finer grids as res 5.
# Used only for size estimates before a build.
LAND_FRACTIONS = (0.664, 0.506, 0.408, 0.350, 0.317, 0.300)
# Bytes per cell of the cell index in the lookup files (measured at res 6: about 110 to 120).
INDEX_BYTES_PER_CELL = 130
# Size estimates: bytes of a partition file beyond its rows (footer, metadata, last
# block), and of satcle.duckdb plus the manifest (DuckDB allocates 256 kB blocks).
PARTITION_OVERHEAD = 4096
DATABASE_BYTES = 300_000


def estimated_bytes(resolution: int, coverage: str, dtype: str, dim: int = 256, error_bound: bool = True,
                    pyramid: bool = True) -> int:
    """Approximate size of a grid on disk, bytes: cells x (h3 + lat + lon + embedding [+ scale]
    [+ interp_error]) twice (partitions and lookup files), + the GeoParquet point
    (~14 bytes compressed) + the cell index of the lookup files; plus each partition
    file's footer and last file-system block (~4 kB: most of a small grid) and
    ``satcle.duckdb`` with the manifest (~300 kB). With `pyramid`, the coarser
    levels: cells/6 more rows (1/7 + 1/49 + ...), once, without bound or index."""
    share = LAND_FRACTIONS[min(resolution, len(LAND_FRACTIONS) - 1)] if coverage == "land" else 1.0
    cells = h3.get_num_cells(resolution) * share
    partitions = h3.get_num_cells(max(0, resolution - 5)) * (1.0 if resolution <= 5 else share)
    row = 24 + dim * np.dtype(dtype).itemsize + (4 if dtype == "int8" else 0) + (4 if error_bound else 0)
    per_cell = 2 * row + 14 + INDEX_BYTES_PER_CELL
    if pyramid and resolution > 0:
        per_cell += (row - (4 if error_bound else 0) + 1) / 6
    return int(cells * per_cell + partitions * PARTITION_OVERHEAD + DATABASE_BYTES)


def format_size(nbytes: float) -> str:
    """A byte count for people: '512 B', '3.4 kB', '1.2 MB', '2.27 GB' (decimal units)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:,.{2 if unit == 'GB' else 1}f} {unit}"
    return f"{nbytes:,.0f} B"


def free_disk_bytes(out: str) -> int | None:
    """Free bytes on the file system that would hold local output `out` (None for URLs)."""
    if "://" in out:
        return None
    path = Path(out).expanduser().resolve()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free
