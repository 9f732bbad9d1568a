"""The H3 pyramid: a grid's coarser resolutions, each parent the mean of its stored children.

`parent_level` is the computation (arrays in, arrays out, no I/O): from the
stored rows of one resolution to those of the next coarser one. `write_pyramid`
applies it from the finest resolution upward (a res-r parent is the mean of its
stored res-(r+1) children, not of the finest cells) and writes each level as one
Parquet file ``pyramid/r<r>.parquet`` (`satcle.grid.format.store.pyramid_schema`),
checksummed as it is written.
"""

from __future__ import annotations

import h3.api.basic_int
import numpy as np
import pyarrow as pa

from satcle.core.checksum import bytes_checksum
from satcle.geo.h3_cells import cell_centers
from satcle.grid.format.reader import GridTable
from satcle.grid.format.store import (
    Manifest,
    PyramidLevel,
    dequantize,
    embeddings_to_arrow,
    pyramid_file,
    pyramid_schema,
    quantize,
)

from .output import GridOutput
from .partition import partition_to_parquet

# Rows dequantised at once (float32: 256 MB at D = 256): bounds the memory of a level.
CHUNK_ROWS = 1 << 18
_RESOLUTION_SHIFT = 52
_DIGIT_BITS = 3
_MAX_RESOLUTION = 15


def parent_cells(cells: np.ndarray, resolution: int) -> np.ndarray:
    """H3 parents at `resolution` of cells (N,) uint64 of one finer resolution: the
    id's resolution field set to `resolution` and the digits below it set to 7
    (unused), which is `h3.cell_to_parent`, vectorised."""
    cells = np.asarray(cells, dtype=np.uint64)
    unused_digits = np.uint64((1 << (_DIGIT_BITS * (_MAX_RESOLUTION - resolution))) - 1)
    field = np.uint64(0xF << _RESOLUTION_SHIFT)
    return (cells & ~field) | np.uint64(resolution << _RESOLUTION_SHIFT) | unused_digits


def parent_level(cells: np.ndarray, values: np.ndarray, scale: np.ndarray | None, dtype: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The next coarser level of stored rows.

    cells: (M,) uint64 of one resolution r > 0, strictly increasing; values: (M, D)
    in `dtype` (float16, int8 or float32); scale: (M,) float32 for int8, else None.
    Returns (parents (P,) uint64 at r - 1, increasing; values (P, D) in `dtype`;
    scale (P,) float32 or None; children (P,) uint8: how many of `cells` each
    parent averages). Each parent's row is the float32 mean of its children's
    dequantised rows, quantised like any stored row (`quantize`).
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return cells, values[:0], None if scale is None else scale[:0], np.zeros(0, dtype=np.uint8)
    resolution = int((int(cells[0]) >> _RESOLUTION_SHIFT) & 0xF)
    parents = parent_cells(cells, resolution - 1)
    # Sorted children have sorted parents (a parent's digits are the higher bits), so each
    # parent's children are one run of rows.
    starts = np.flatnonzero(np.concatenate([[True], parents[1:] != parents[:-1]]))
    counts = np.diff(np.append(starts, cells.size))
    means = np.empty((starts.size, values.shape[1]), dtype=np.float32)
    first = 0
    while first < starts.size:
        # Whole runs of children per chunk: a parent is never split between chunks.
        last = int(np.searchsorted(starts, starts[first] + CHUNK_ROWS, side="left"))
        last = max(last, first + 1)
        begin, end = int(starts[first]), int(starts[last]) if last < starts.size else cells.size
        rows = dequantize(values[begin:end], None if scale is None else scale[begin:end])
        sums = np.add.reduceat(rows, starts[first:last] - begin, axis=0)
        means[first:last] = sums / counts[first:last, None].astype(np.float32)
        first = last
    parent_values, parent_scale = quantize(means, dtype)
    return parents[starts], parent_values, parent_scale, counts.astype(np.uint8)


def write_pyramid(output: GridOutput, manifest: Manifest, table: GridTable
                  ) -> tuple[tuple[PyramidLevel, ...], dict[str, str]]:
    """Compute and write every coarser level of the grid `manifest` describes, from its
    rows `table` (its partitions read back, `table_from_partitions`), finest first;
    returns the manifest's `pyramid` and the files' checksums ({relative path:
    ``"xxh3_128:<hex>"``})."""
    cells, values, scale = table.h3, table.values, table.scale
    levels, checksums = [], {}
    for resolution in range(manifest.resolution - 1, -1, -1):
        cells, values, scale, children = parent_level(cells, values, scale, manifest.dtype)
        relative = pyramid_file(resolution)
        metadata = {"satcle_pyramid_resolution": str(resolution), "satcle_model_sha256": manifest.model_sha256,
                    "satcle_dtype": manifest.dtype, "satcle_dim": str(manifest.dim)}
        lats, lons = cell_centers(cells)
        columns = [pa.array(cells, pa.uint64()), pa.array(lats), pa.array(lons), embeddings_to_arrow(values)]
        if scale is not None:
            columns.append(pa.array(scale, pa.float32()))
        columns.append(pa.array(children, pa.uint8()))
        level = pa.Table.from_arrays(columns, schema=pyramid_schema(manifest.dim, manifest.dtype,
                                                                    metadata=metadata))
        data = partition_to_parquet(level)
        checksums[relative] = bytes_checksum(data)
        if not output.keep_or_make_room(relative, len(data), checksums[relative]):   # a resume: no more room
            output.write_bytes(relative, data)
        pentagons = np.isin(cells, np.asarray(h3.api.basic_int.get_pentagons(resolution), dtype=np.uint64))
        partial = int(np.count_nonzero(children < np.where(pentagons, 6, 7)))
        levels.append(PyramidLevel(resolution=resolution, file=relative, rows=int(cells.size),
                                   bytes=len(data), partial_parents=partial))
    return tuple(levels), checksums

