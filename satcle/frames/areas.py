"""Embeddings of areas: each polygon's embedding is the mean of the grid cells it covers.

The polygon is filled with H3 cells (every cell whose centre lies inside, as
``h3.polygon_to_cells`` fills, vectorised by h3ronpy) at the grid's resolution,
or at a coarser level of the grid's pyramid when that would take more than
`MAX_CELLS` cells; the embedding is the mean of those cells' stored rows
(``lookup(centres, method="cell", res=level)``; a cell outside the grid's
coverage is computed live at its centre). A polygon too small to hold a cell
centre takes the embedding at its representative point (a point inside it),
reported as 0 cells. This is Earth Engine's ``reduceRegions`` with a mean
reducer, over the grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: Most cells filled per polygon: larger polygons are filled at a coarser pyramid level.
MAX_CELLS = 20_000
#: Cells looked up at once (bounds memory: ~ this x D x 4 bytes).
BATCH_CELLS = 200_000
# km^2 per square degree at the equator, for estimating a polygon's cell count.
_KM2_PER_DEGREE2 = 111.32 ** 2


@dataclass(frozen=True)
class AreaEmbeddings:
    """embeddings: (N, D) float32, one row per polygon; cells: (N,) int64 cells
    averaged (0: taken at the representative point); resolution: (N,) int8 H3
    resolution of those cells (-1 for a representative point)."""

    embeddings: np.ndarray
    cells: np.ndarray
    resolution: np.ndarray


def embed_areas(geometry, lookup_cells: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
                embed_points: Callable[[np.ndarray, np.ndarray], np.ndarray], dim: int,
                resolutions: tuple[int, ...], *, max_cells: int = MAX_CELLS) -> AreaEmbeddings:
    """Area embeddings of a GeoSeries of polygons (and points) in EPSG:4326 degrees.

    lookup_cells(lats, lons, res): (n, D) float32 stored rows of the cells whose
    centres are (lats, lons) at resolution `res`. embed_points(lats, lons): (n, D)
    float32 embeddings of points. resolutions: the resolutions lookup_cells
    serves, ascending; the finest is used unless a polygon would take more than
    `max_cells` cells there. Points, and polygons that contain no cell centre,
    are embedded at their (representative) point. Missing or empty geometries
    give NaN rows and 0 cells.
    """
    import pyarrow as pa
    from h3ronpy import vector as h3_vector

    from ..geo.h3_cells import cell_centers

    n = len(geometry)
    out = np.full((n, dim), np.nan, dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    levels = np.full(n, -1, dtype=np.int8)
    missing = (geometry.isna() | geometry.is_empty).to_numpy()
    kinds = geometry.geom_type.to_numpy()
    is_area = ~missing & np.isin(kinds, ("Polygon", "MultiPolygon"))
    chosen = _levels(geometry, is_area, resolutions, max_cells)
    fills: dict[int, np.ndarray] = {}
    for level in np.unique(chosen[is_area]):
        rows = np.flatnonzero(is_area & (chosen == level))
        wkb = geometry.iloc[rows].to_wkb()
        cells = pa.array(h3_vector.wkb_to_cells(pa.array(list(wkb), pa.binary()), int(level)))
        for row, cell_list in zip(rows, cells.to_pylist()):
            if cell_list:
                fills[int(row)] = np.asarray(cell_list, dtype=np.uint64)
                levels[row] = level
    # The fills, a batch of whole polygons at a time: one lookup per batch and level.
    batch: list[int] = []
    size = 0
    filled = sorted(fills)
    for k, row in enumerate(filled):
        batch.append(row)
        size += fills[row].size
        if size >= BATCH_CELLS or k == len(filled) - 1:
            for level in np.unique(levels[batch]):
                group = [r for r in batch if levels[r] == level]
                cells = np.concatenate([fills[r] for r in group])
                lats, lons = cell_centers(cells)
                rows_of_cells = lookup_cells(lats, lons, int(level)).astype(np.float64)
                starts = np.cumsum([0] + [fills[r].size for r in group[:-1]])
                sums = np.add.reduceat(rows_of_cells, starts, axis=0)
                sizes = np.array([fills[r].size for r in group])
                out[group] = (sums / sizes[:, None]).astype(np.float32)
                counts[group] = sizes
            batch, size = [], 0
    # Points, and polygons smaller than a cell: the embedding at a point inside.
    at_point = ~missing & (counts == 0)
    if at_point.any():
        points = geometry[at_point].representative_point()
        out[at_point] = embed_points(points.y.to_numpy(dtype=np.float64), points.x.to_numpy(dtype=np.float64))
    return AreaEmbeddings(out, counts, levels)


def _levels(geometry, is_area: np.ndarray, resolutions: tuple[int, ...], max_cells: int) -> np.ndarray:
    """(N,) the H3 resolution each polygon is filled at: the finest of `resolutions` at which
    its estimated cell count (area / mean cell area) is at most `max_cells`, else the coarsest."""
    import h3
    import shapely

    chosen = np.full(len(geometry), resolutions[0], dtype=np.int64)
    if not is_area.any():
        return chosen
    parts = geometry[is_area]
    # Planar degree^2 scaled by cos(latitude) at a point inside: within a few % of the true area, enough to choose.
    inside_lat = np.radians(parts.representative_point().y.to_numpy(dtype=np.float64))
    estimate = np.zeros(len(geometry))
    estimate[is_area] = shapely.area(parts.to_numpy()) * _KM2_PER_DEGREE2 * np.cos(inside_lat)
    for res in resolutions:   # ascending: the finest that fits wins
        chosen[estimate / h3.average_hexagon_area(res, unit="km^2") <= max_cells] = res
    return chosen
