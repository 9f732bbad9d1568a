"""`connect(DIR)`: a DuckDB connection to a grid, with satcle's SQL functions.

* view ``satcle(h3, lat, lon, embedding FLOAT[D])`` (see `duckdb_view`);
* ``h3_latlng_to_cell(lat, lon, res) -> UBIGINT`` (degrees);
* ``satcle_embedding(lat, lon) -> FLOAT[D]``: the stored embedding of the cell
  containing the point, NULL outside the grid's coverage.
"""

from __future__ import annotations

import os
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.sqltypes import DOUBLE, FLOAT, INTEGER, UBIGINT

from .duckdb_view import create_view
from .h3_cells import latlng_to_cells
from .store_format import embeddings_to_arrow
from .stored_cells import StoredCells

# (lats (N,) degrees, lons (N,) degrees) -> (values (N, D) float32, found (N,) bool)
EmbeddingFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def connect(grid_dir: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection over the grid at `grid_dir`.

    The view is created afresh with the grid's current paths, so a grid that was
    moved still works here (its ``satcle.duckdb`` holds the paths of build time).
    Raises GridFormatError if `grid_dir` is not a complete grid.
    """
    stored = StoredCells(grid_dir)
    con = duckdb.connect()
    create_view(con, stored.root, stored.manifest)
    register_functions(con, stored.embeddings_at, stored.manifest.dim)
    return con


def register_functions(con: duckdb.DuckDBPyConnection, embedding_at: EmbeddingFunction, dim: int) -> None:
    """Register ``h3_latlng_to_cell`` and ``satcle_embedding`` (vectorised Arrow UDFs) on `con`.

    embedding_at: maps (lats, lons) in degrees to (values (N, D) float32, found (N,) bool).
    """

    def h3_latlng_to_cell(lat: pa.Array, lon: pa.Array, res: pa.Array) -> pa.Array:
        lat, lon, res = (_as_array(a) for a in (lat, lon, res))
        valid = np.asarray(pc.and_(pc.and_(pc.is_valid(lat), pc.is_valid(lon)), pc.is_valid(res)))
        lats, lons = _fill(lat), _fill(lon)
        resolutions = np.asarray(res.fill_null(0), dtype=np.int64)
        out = np.zeros(len(lat), dtype=np.uint64)
        for r in np.unique(resolutions[valid]):
            chosen = valid & (resolutions == r)
            out[chosen] = latlng_to_cells(lats[chosen], lons[chosen], int(r))
        return pa.array(out, mask=~valid)

    def satcle_embedding(lat: pa.Array, lon: pa.Array) -> pa.Array:
        lat, lon = _as_array(lat), _as_array(lon)
        valid = np.asarray(pc.and_(pc.is_valid(lat), pc.is_valid(lon)))
        values = np.zeros((len(lat), dim), dtype=np.float32)
        found = np.zeros(len(lat), dtype=bool)
        values[valid], found[valid] = embedding_at(_fill(lat)[valid], _fill(lon)[valid])
        array = embeddings_to_arrow(values)
        return pa.FixedSizeListArray.from_arrays(array.values, dim, mask=pa.array(~found))

    con.create_function("h3_latlng_to_cell", h3_latlng_to_cell, [DOUBLE, DOUBLE, INTEGER], UBIGINT,
                        type="arrow", null_handling="special", side_effects=False)
    con.create_function("satcle_embedding", satcle_embedding, [DOUBLE, DOUBLE], duckdb.array_type(FLOAT, dim),
                        type="arrow", null_handling="special", side_effects=False)


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _fill(column: pa.Array) -> np.ndarray:
    return np.asarray(column.fill_null(0.0), dtype=np.float64)
