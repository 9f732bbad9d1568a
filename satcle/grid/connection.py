"""`connect(DIR)`: a DuckDB connection to a grid, with satcle's SQL functions.

* view ``satcle(h3, lat, lon, embedding FLOAT[D])`` (see `duckdb_view`);
* ``h3_latlng_to_cell(lat, lon, res) -> UBIGINT`` (degrees);
* ``satcle_embedding(lat, lon) -> FLOAT[D]``: `Grid.lookup` of the grid, the
  same function as in Python (`satcle.grid_lookup.sql`).
"""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.sqltypes import DOUBLE, INTEGER, UBIGINT

from ..grid_lookup import open_grid, register_embedding_function
from .duckdb_view import create_view
from ..geo.h3_cells import latlng_to_cells


def connect(grid_dir: str | os.PathLike, **lookup_options) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection over the grid at `grid_dir`.

    lookup_options go to `Grid.lookup` behind ``satcle_embedding``: by default
    it interpolates and computes points outside the grid's coverage with the
    live encoder; ``method="cell"`` gives exactly the stored row of the
    containing cell, ``on_miss="nan"`` gives NULL outside coverage,
    ``tolerance=`` routes cells with a larger error bound to the encoder.

    The grid is loaded and indexed once (`open_grid`); the view is created
    afresh with the grid's current paths, so a grid that was moved still works
    here (its ``satcle.duckdb`` holds the paths of build time). Raises
    GridNotFoundError or GridFormatError if `grid_dir` is not a complete grid,
    ValueError on options `Grid.lookup` rejects.
    """
    grid = open_grid(grid_dir)
    con = duckdb.connect()
    create_view(con, grid.path, grid.manifest)
    register_embedding_function(con, grid, **lookup_options)
    con.create_function("h3_latlng_to_cell", h3_latlng_to_cell, [DOUBLE, DOUBLE, INTEGER], UBIGINT,
                        type="arrow", null_handling="special", side_effects=False)
    return con


def h3_latlng_to_cell(lat: pa.Array, lon: pa.Array, res: pa.Array) -> pa.Array:
    """Arrow function: H3 cells (N,) uint64 of points (N,) degrees at resolutions (N,); NULL in, NULL out."""
    valid = np.asarray(pc.and_(pc.and_(pc.is_valid(lat), pc.is_valid(lon)), pc.is_valid(res)))
    lats = np.asarray(pc.fill_null(lat, 0.0), dtype=np.float64)
    lons = np.asarray(pc.fill_null(lon, 0.0), dtype=np.float64)
    resolutions = np.asarray(pc.fill_null(res, 0), dtype=np.int64)
    out = np.zeros(len(lat), dtype=np.uint64)
    for r in np.unique(resolutions[valid]):
        chosen = valid & (resolutions == r)
        out[chosen] = latlng_to_cells(lats[chosen], lons[chosen], int(r))
    return pa.array(out, mask=~valid)
