"""The layout of a grid's cell index in its lookup files (format 2), and the
bounds every value must keep: the compiled search trusts them.

What the arrays mean and how they are built: `satcle.grid.lookup.cell_index`
(`CellIndex`, `build_cell_index`); their C view: ext/grid_kernels.pxd.
"""

from __future__ import annotations

import math

import numpy as np

# Sentinels of `neighbours` and `cell_vertices` (the kernels' NOT_STORED_ROW, ABSENT_ROW).
NOT_STORED = -1   # a neighbour the grid does not store; the unused sixth vertex of a pentagon
ABSENT = -2       # the sixth neighbour slot of a pentagon (it has five)

INDEX_ARRAYS = ("centres", "neighbours", "cell_vertices", "vertices", "fan_offsets", "fan_vertex_ids",
                "bucket_offsets", "bucket_rows")
INDEX_CONSTANTS = {"n_lat": int, "n_lon": int, "wraps": int, "lat0": float, "lon0": float, "delta": float,
                   "radius_deg": float}
# dtype and trailing shape of each array (what the kernels read).
INDEX_LAYOUT = {"centres": (np.float32, (3,)), "neighbours": (np.int32, (6,)), "cell_vertices": (np.int32, (6,)),
                "vertices": (np.float32, (3,)), "fan_offsets": (np.int32, ()), "fan_vertex_ids": (np.int32, ()),
                "bucket_offsets": (np.int32, ()), "bucket_rows": (np.int32, ())}


# Unit vectors (centres, vertices) may be off by rounding, never by more than this.
_UNIT_SLACK = 1e-3
# With `wraps`, n_lon buckets of `delta` degrees span the circle: at most this far from 360 degrees.
_WRAP_SLACK_DEG = 1e-6


def index_problem(arrays: dict[str, np.ndarray], constants: dict) -> tuple[str, str] | None:
    """What is wrong with a cell index's arrays (`INDEX_ARRAYS`) and constants
    (`INDEX_CONSTANTS`): (the array's name, or "constants", and what), or None.

    Everything the compiled search trusts: every array of its layout
    (`INDEX_LAYOUT`); centres and vertices finite unit vectors; every neighbour,
    vertex and candidate row and every offset inside the array it indexes, offsets
    ascending; the raster's constants finite and in range, a wrapping raster
    spanning exactly the circle (so that no bucket column leaves the raster).
    Vectorised: one or two passes over each array (about as long as reading it)."""
    for name, (dtype, tail) in INDEX_LAYOUT.items():
        array = arrays.get(name)
        if (not isinstance(array, np.ndarray) or array.dtype != np.dtype(dtype) or array.shape[1:] != tail
                or array.ndim != 1 + len(tail) or not array.flags.c_contiguous or array.shape[0] == 0):
            found = (f"{array.dtype} array of shape {array.shape}" if isinstance(array, np.ndarray)
                     else "no array")
            return name, f"{found}, expected a non-empty {np.dtype(dtype)} array of shape (N, *{tail})"
    try:
        n_lat, n_lon, wraps, lat0, lon0, delta, radius_deg = (kind(constants[name])
                                                             for name, kind in INDEX_CONSTANTS.items())
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return "constants", f"missing or unreadable raster constants ({type(exc).__name__}: {exc})"
    if (n_lat < 1 or n_lon < 1 or wraps not in (0, 1) or not (math.isfinite(delta) and delta > 0)
            or not (math.isfinite(lat0) and math.isfinite(lon0)) or not 0 < radius_deg < 180
            or (wraps and abs(n_lon * delta - 360.0) > _WRAP_SLACK_DEG)):
        return "constants", (f"raster constants out of range (n_lat {n_lat}, n_lon {n_lon}, wraps {wraps}, "
                             f"lat0 {lat0}, lon0 {lon0}, delta {delta}, radius_deg {radius_deg})")
    centres, vertices = arrays["centres"], arrays["vertices"]
    for name, units in (("centres", centres), ("vertices", vertices)):
        # min and max are NaN if any value is: the comparisons then fail too.
        if not (-1 - _UNIT_SLACK <= units.min() and units.max() <= 1 + _UNIT_SLACK):
            return name, "a value that is not finite or not a unit vector's coordinate"
    neighbours, cell_vertices = arrays["neighbours"], arrays["cell_vertices"]
    m, v = centres.shape[0], vertices.shape[0]
    if neighbours.shape[0] != m or cell_vertices.shape[0] != m:
        return "neighbours" if neighbours.shape[0] != m else "cell_vertices", f"not one row per cell ({m})"
    # Whole-array passes (a strided pass per column costs several times more): below
    # NOT_STORED only ABSENT, and only in the sixth slot.
    flat = neighbours.reshape(-1)
    below = np.flatnonzero(flat < NOT_STORED)
    if flat.max() >= m or (flat[below] != ABSENT).any() or (below % 6 != 5).any():
        return "neighbours", f"a neighbour row outside [{NOT_STORED}, {m}) (or {ABSENT} in the sixth slot)"
    fan_offsets, fan_vertex_ids = arrays["fan_offsets"], arrays["fan_vertex_ids"]
    fans = fan_offsets.size - 1
    if fan_offsets[0] != 0 or (np.diff(fan_offsets) < 3).any() or fan_offsets[-1] > fan_vertex_ids.size:
        return "fan_offsets", "offsets that do not ascend from 0 by at least 3 within fan_vertex_ids"
    fan_ids = fan_vertex_ids[:fan_offsets[-1]]
    if fan_ids.size and (fan_ids.min() < 0 or fan_ids.max() >= v):
        return "fan_vertex_ids", f"a vertex row outside [0, {v})"
    flat = cell_vertices.reshape(-1)
    negative = np.flatnonzero(flat < 0)
    slot, row = negative % 6, negative // 6
    if flat.max() >= v or (flat[negative[slot == 0]] < -fans).any() or (flat[negative[slot > 0]] < NOT_STORED).any():
        return "cell_vertices", f"a vertex row outside [{NOT_STORED}, {v}) (or a fan outside [0, {fans}))"
    # A negative vertex in slots 1..4 only in fan cells (first entry < 0), whose entries the search does not read.
    middle = row[(slot > 0) & (slot < 5)]
    if middle.size and cell_vertices[middle, 0].max() >= 0:
        return "cell_vertices", "a cell with a negative vertex other than a pentagon's sixth"
    offsets, bucket_rows = arrays["bucket_offsets"], arrays["bucket_rows"]
    if offsets.size != n_lat * n_lon + 1:
        return "bucket_offsets", f"{offsets.size} offsets for n_lat x n_lon = {n_lat} x {n_lon} buckets"
    if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != bucket_rows.size:
        return "bucket_offsets", "offsets that do not ascend from 0 to the number of bucket rows"
    if bucket_rows.min() < 0 or bucket_rows.max() >= m:
        return "bucket_rows", f"a candidate row outside [0, {m})"
    return None
