"""Reading a grid's Parquet files into arrays: partitions (for the builder) and
pyramid levels (for the lookup) -> one table in memory.

The format itself (schema, manifest, quantisation) is defined in
`store`; this module only loads what that module describes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ...core.checksum import bytes_checksum
from ...core.errors import GridFormatError
from .store import Manifest, PyramidLevel, embeddings_from_arrow, pyramid_schema, rebuild_command
from .verify import PER_CELL_RULES, expected_schema, per_cell_column_problem

# An H3 id's resolution is its 4 bits from bit 52.
_RESOLUTION_SHIFT = 52


@dataclass(frozen=True)
class GridTable:
    """Every stored cell of a grid, sorted by H3 index.

    h3: (M,) uint64; lat, lon: (M,) float64 cell centres in degrees;
    values: (M, D) in the stored dtype (float16, int8 or float32);
    scale: (M,) float32 for int8, else None; interp_error: (M,) float32 or None.
    """

    h3: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    values: np.ndarray
    scale: np.ndarray | None
    interp_error: np.ndarray | None

    def __post_init__(self) -> None:
        m = self.h3.shape[0]
        for name in ("lat", "lon", "scale", "interp_error"):
            column = getattr(self, name)
            if column is not None and column.shape != (m,):
                raise GridFormatError(f"{name} must have shape ({m},), got {column.shape}")
        if self.values.ndim != 2 or self.values.shape[0] != m:
            raise GridFormatError(f"values must have shape ({m}, D), got {self.values.shape}")
        if m > 1 and not bool(np.all(self.h3[1:] > self.h3[:-1])):
            raise GridFormatError("h3 must be strictly increasing (sorted, no duplicates)")


def table_from_partitions(paths: list[str], manifest: Manifest, *, filesystem=None, where: str = "") -> GridTable:
    """The `GridTable` of partition files `paths` of the grid `manifest`
    describes, in one multithreaded Arrow dataset scan (on `filesystem`: a
    pyarrow or fsspec file system, default local). Their footers are not
    checked here, nor its per-cell values (`per_cell_problem`). The
    Arrow memory the scan freed is returned to the system. GridFormatError names `where`."""
    expected = expected_schema(manifest)
    try:
        # Fragments come back in the order given, whatever the threads do.
        table = ds.dataset(paths, format="parquet", filesystem=filesystem).to_table(columns=expected.names)
    except (OSError, pa.ArrowException) as exc:
        raise GridFormatError(f"{where}: a partition is unreadable: {exc}") from None
    h3 = table.column("h3").to_numpy().astype(np.uint64, copy=False)
    order = None if h3.size < 2 or bool(np.all(h3[1:] > h3[:-1])) else np.argsort(h3, kind="stable")

    def column(name: str, dtype: np.dtype) -> np.ndarray:
        values = table.column(name).to_numpy().astype(dtype, copy=False)
        return np.ascontiguousarray(values if order is None else values[order])

    try:
        values = embeddings_from_arrow(table.column("embedding"))
    except pa.ArrowException as exc:   # e.g. null rows written by another tool
        raise GridFormatError(f"{where}: unreadable embedding column: {exc}") from None
    if order is not None:
        values = values[order]
    try:
        grid_table = GridTable(
            h3=column("h3", np.uint64),
            lat=column("lat", np.float64),
            lon=column("lon", np.float64),
            values=values,
            scale=column("scale", np.float32) if manifest.dtype == "int8" else None,
            interp_error=column("interp_error", np.float32) if manifest.has_interp_error else None,
        )
    except ValueError as exc:
        raise GridFormatError(f"{where}: {exc}") from None
    del table
    # The scan's buffers are freed now that the arrays are copied; Arrow's allocator
    # keeps freed pages unless asked (2.4 GB of a res-6 open).
    pa.default_memory_pool().release_unused()
    return grid_table


def per_cell_problem(table: GridTable) -> str | None:
    """What is wrong with a table's per-cell columns (`PER_CELL_RULES`: finite
    centres in range, finite scales > 0 and bounds >= 0), or None. Embedding
    values are covered by the files' checksums on open, and decoded and checked
    by ``satcle-grid verify``."""
    for name in PER_CELL_RULES:
        values = getattr(table, name)
        if values is not None:
            problem = per_cell_column_problem(name, values, table.h3)
            if problem is not None:
                return problem
    return None


def read_pyramid_level(grid_dir: str | os.PathLike, level: PyramidLevel, manifest: Manifest) -> GridTable:
    """The `GridTable` of one pyramid level of the grid at `grid_dir` (no
    ``interp_error``: levels store none), decoded from the very bytes whose checksum
    is checked against the manifest's (so a file replaced after `open_grid` is refused,
    whenever the level is first read). Raises GridFormatError naming the grid, the file
    and the fix when the file is missing, unreadable, of another checksum, not of the
    grid's schema and row count, holds cells of another resolution, or bad per-cell values."""
    path = Path(grid_dir) / level.file
    fix = rebuild_command(grid_dir, manifest.to_json())
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GridFormatError(f"{grid_dir}: pyramid level {level.file} is unreadable ({exc.strerror or exc}); "
                              f"{fix}") from None
    recorded = manifest.checksums.get(level.file)
    found = bytes_checksum(data)
    if found != recorded:
        raise GridFormatError(f"{grid_dir}: pyramid level {level.file} is corrupt: checksum {found} does not match "
                              f"the manifest's {recorded} (replaced or damaged since the grid was written); {fix}")
    expected = pyramid_schema(manifest.dim, manifest.dtype)
    try:
        table = pq.read_table(pa.BufferReader(data), columns=expected.names)
    except (OSError, pa.ArrowException) as exc:
        raise GridFormatError(f"{grid_dir}: pyramid level {level.file} is unreadable: {exc}; {fix}") from None
    if not table.schema.remove_metadata().equals(expected.remove_metadata()) or table.num_rows != level.rows:
        raise GridFormatError(f"{grid_dir}: pyramid level {level.file} is not of this grid's schema and "
                              f"{level.rows} rows; {fix}")
    try:
        grid_table = GridTable(
            h3=table.column("h3").to_numpy().astype(np.uint64, copy=False),
            lat=table.column("lat").to_numpy(),
            lon=table.column("lon").to_numpy(),
            values=embeddings_from_arrow(table.column("embedding")),
            scale=table.column("scale").to_numpy() if manifest.dtype == "int8" else None,
            interp_error=None,
        )
    except (ValueError, pa.ArrowException) as exc:
        raise GridFormatError(f"{grid_dir}: pyramid level {level.file}: {exc}; {fix}") from None
    problem = per_cell_problem(grid_table)
    if problem is None and grid_table.h3.size and not bool(
            np.all((grid_table.h3 >> np.uint64(_RESOLUTION_SHIFT)) & np.uint64(15) == level.resolution)):
        problem = f"cells of another resolution than {level.resolution}"
    if problem is not None:
        raise GridFormatError(f"{grid_dir}: pyramid level {level.file}: {problem}; {fix}")
    return grid_table
