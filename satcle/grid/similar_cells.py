"""The cells of a grid most similar (cosine) to a query: the top-k of `satcle-grid similar`
(`most_similar_cells`) and of the map server (`most_similar` on any stored level).

It reads the stored rows where they lie (mapped lookup files, or a pyramid level in
memory: `Grid.level`) a block of `BLOCK_ROWS` at a time, dequantised by the lookup's
compiled gather (`Grid.stored_rows`): no copy of the grid. Ties rank by H3 id, as the SQL macro ``satcle_similar`` ranks
(`format.duckdb_view.similar_macro_sql`, the same question for DuckDB's users).
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from ..core.coordinates import as_latlon
from ..core.embedding_space import cosine_similarity
from ..core.errors import InvalidArgumentError
from ..geo import EARTH_RADIUS_KM, unit_vectors
from .lookup.grid import Grid, Source, open_grid

# Rows dequantised at once: 8 MB of float32 at D = 128, 32 MB at D = 512.
BLOCK_ROWS = 1 << 14
# exclude_km at or above half the Earth's circumference excludes every cell.
MAX_EXCLUDE_KM = math.pi * EARTH_RADIUS_KM


@dataclass(frozen=True)
class SimilarCells:
    """Cells ranked by cosine similarity to a query, most similar first (ties by H3 id).

    h3: (k,) uint64; lat, lon: (k,) float64 cell centres, degrees; similarity: (k,)
    float32 in [-1, 1]; distance_km: (k,) float64 great-circle distance from the
    query point to each centre (NaN when no point was given).
    """

    h3: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    similarity: np.ndarray
    distance_km: np.ndarray

    def __len__(self) -> int:
        return self.h3.shape[0]


def row_similarity(grid: Grid, query: np.ndarray, rows: slice | np.ndarray = slice(None)) -> np.ndarray:
    """Cosine similarity of stored rows of `grid` to `query` (D,): (n,) float32 for
    `rows` (a slice, or (n,) row numbers); rows of norm 0 give 0."""
    return cosine_similarity(grid.stored_rows(rows), np.asarray(query, dtype=np.float32))


def level_similarity(grid: Grid, query: np.ndarray) -> np.ndarray:
    """(M,) float32 cosine similarity of every stored row of `grid` (one resolution:
    the grid's own, or a level of its pyramid) to `query` (D,), a block of
    `BLOCK_ROWS` rows at a time."""
    check_query(grid, query)
    out = np.empty(grid.num_cells, dtype=np.float32)
    for start in range(0, out.size, BLOCK_ROWS):
        block = slice(start, min(start + BLOCK_ROWS, out.size))
        out[block] = row_similarity(grid, query, block)
    return out


def most_similar(grid: Grid, query: np.ndarray, k: int, *, point: tuple[float, float] | None = None,
                 exclude_km: float = 0.0) -> SimilarCells:
    """The `k` cells of `grid` most similar (cosine) to `query` (D,), most similar
    first (fewer when fewer qualify). point: (lat, lon) degrees of the query, for
    `distance_km` and `exclude_km`: with exclude_km > 0 only cells whose centres lie
    farther than that from the point (great circle, `EARTH_RADIUS_KM`) rank: the far
    look-alikes rather than the point's own neighbours.
    Raises InvalidArgumentError for k < 1, a bad exclude_km, exclude_km without a
    point, or a query of another length than the rows."""
    check_k(k)
    check_exclude_km(exclude_km)
    if exclude_km > 0 and point is None:
        raise InvalidArgumentError("exclude_km needs the query's point")
    similarity = level_similarity(grid, query)
    table = grid.table
    centre = None if point is None else unit_vectors(*as_latlon([point[0]], [point[1]]))[0]
    if exclude_km > 0:
        nearest_allowed = math.cos(min(exclude_km / EARTH_RADIUS_KM, math.pi))
        for start in range(0, similarity.size, BLOCK_ROWS):
            block = slice(start, min(start + BLOCK_ROWS, similarity.size))
            near = unit_vectors(table.lat[block], table.lon[block]) @ centre >= nearest_allowed
            similarity[block][near] = -np.inf
    top = top_k(similarity, k)
    lat, lon = np.asarray(table.lat[top], dtype=np.float64), np.asarray(table.lon[top], dtype=np.float64)
    if centre is None:
        distance = np.full(top.size, np.nan)
    else:
        cosine = np.clip(unit_vectors(lat, lon) @ centre, -1.0, 1.0)
        distance = np.arccos(cosine) * EARTH_RADIUS_KM
    return SimilarCells(h3=np.asarray(table.h3[top], dtype=np.uint64), lat=lat, lon=lon,
                        similarity=similarity[top], distance_km=distance)


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices (<= k,) int64 of the largest finite `values` (N,), largest first, ties
    by index."""
    finite = int(np.isfinite(values).sum())
    k = min(int(k), finite)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    ranked = np.where(np.isfinite(values), -values.astype(np.float64), np.inf)
    candidates = np.argpartition(ranked, k - 1)[:k] if k < values.size else np.arange(values.size)
    # Ties at the k-th value: argpartition picks any of them; take the lowest indices.
    cutoff = ranked[candidates].max()
    candidates = np.union1d(candidates[ranked[candidates] < cutoff], np.flatnonzero(ranked == cutoff))
    return candidates[np.lexsort((candidates, ranked[candidates]))][:k].astype(np.int64)


def most_similar_cells(grid_dir: str | os.PathLike, lat: float, lon: float, k: int, *,
                       exclude_km: float = 0.0) -> tuple[SimilarCells, Source]:
    """What ``satcle-grid similar`` prints: the `k` cells of the grid at `grid_dir`
    (its own resolution) most similar to the stored row of the cell containing
    (lat, lon) degrees (`most_similar`, with `exclude_km`), and where that query
    row came from: `Source.GRID`, or `Source.MISS_LIVE` for a point outside the
    grid's coverage, whose embedding the live encoder computes (as `Grid.lookup`
    does). Raises CoordinateError for a bad point and InvalidArgumentError for a bad
    k or exclude_km, before the grid is opened."""
    as_latlon([lat], [lon])
    check_k(k)
    check_exclude_km(exclude_km)
    grid = open_grid(grid_dir)
    query, source = grid.lookup([lat], [lon], method="cell", return_source=True)
    cells = most_similar(grid, query[0], k, point=(lat, lon), exclude_km=exclude_km)
    return cells, Source(int(source[0]))


def check_query(grid: Grid, query: np.ndarray) -> None:
    """Raise InvalidArgumentError unless `query` is a finite vector of the rows' length."""
    query = np.asarray(query)
    dim = grid.dim
    if query.shape != (dim,) or not np.all(np.isfinite(query)):
        raise InvalidArgumentError(f"the query must be {dim} finite numbers (the grid's embedding size), "
                                   f"got shape {query.shape}")


def check_k(k) -> None:
    """Raise InvalidArgumentError unless k is an integer >= 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise InvalidArgumentError(f"k must be an integer >= 1, got {k!r}")


def check_exclude_km(exclude_km) -> None:
    """Raise InvalidArgumentError unless exclude_km is a finite number >= 0 (kilometres)."""
    if (isinstance(exclude_km, bool) or not isinstance(exclude_km, numbers.Real) or not math.isfinite(exclude_km)
            or exclude_km < 0):
        raise InvalidArgumentError(f"exclude_km must be a finite number of kilometres >= 0, got {exclude_km!r}")
