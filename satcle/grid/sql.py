"""SQL access to a grid: `connect(DIR)`, a DuckDB connection with satcle's view and functions.

* views ``satcle(h3, lat, lon, embedding FLOAT[D], res)``, the grid's own cells, and
  ``satcle_pyramid``, every stored resolution (`format.duckdb_view`);
* ``h3_latlng_to_cell(lat, lon, res) -> UBIGINT`` (degrees);
* ``satcle_embedding(lat, lon) -> FLOAT[D]``: `Grid.lookup` of the grid as a
  vectorised Arrow function. DuckDB hands it whole vectors of rows (2,048 at a
  time), so the SQL path runs the same compiled lookup as Python, without a
  call per row;
* table macro ``satcle_similar(cell, k)`` and ``satcle_similar(lat, lon, k)``
  -> ``(h3, lat, lon, similarity)``, most similar (cosine) first
  (`format.duckdb_view.similar_macro_sql`, the same text as in ``satcle.duckdb``).

`shell_sql` gives the DuckDB command line (``satcle-grid sql``) the view and the
cell form of the macro, over the files of the checked manifest, so that nobody
has to open a ``satcle.duckdb`` whose origin they do not know.

``satcle-grid similar`` asks the macro's question in Python, on the mapped rows
(`similar_cells.most_similar_cells`). DuckDB is imported when a connection is made,
not with this module: `import satcle` does not pay for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.errors import InvalidArgumentError
from ..geo.h3_cells import latlng_to_cells
from .format.duckdb_view import absolute_view_sql, create_view, similar_macro_sql
from .format.store import embeddings_to_arrow, read_manifest
from .format.verify import check_grid_files
from .lookup.grid import Grid, Source, check_lookup_options, open_grid

if TYPE_CHECKING:
    import duckdb

FUNCTION_NAME = "satcle_embedding"
# The `Grid.lookup` options ``satcle_embedding`` takes (return_source and out are the function's own business).
SQL_OPTIONS = ("method", "tolerance", "exact", "on_miss", "num_threads")


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
    InvalidArgumentError (a ValueError) here, not at the first query, on an
    option `Grid.lookup` rejects or one that is not in `SQL_OPTIONS`.
    """
    import duckdb
    from duckdb.sqltypes import DOUBLE, INTEGER, UBIGINT

    check_sql_options(lookup_options)   # before paying for the grid; the rest once it is loaded
    grid = open_grid(grid_dir)
    con = duckdb.connect()
    create_view(con, grid.path, grid.manifest)
    register_embedding_function(con, grid, **lookup_options)
    con.create_function("h3_latlng_to_cell", h3_latlng_to_cell, [DOUBLE, DOUBLE, INTEGER], UBIGINT,
                        type="arrow", null_handling="special", side_effects=False)
    create_similar_macro(con, grid.resolution)
    return con


def shell_sql(grid_dir: str | os.PathLike, *, arrow_lambda: bool = False) -> str:
    """The statements that give a DuckDB session (the command line, another
    DuckDB version) the grid's ``satcle`` view and ``satcle_similar(cell, k)`` macro.

    The grid's files are checked first as `open_grid` checks them (checksums,
    partitions of this grid; raises GridFormatError), and the view reads the files
    the manifest lists, by absolute path: nothing is taken from the grid's
    ``satcle.duckdb``, which could hold any SQL if the directory came from
    elsewhere. arrow_lambda: for DuckDB before 1.3 (`view_sql`). The Python
    functions of `connect` (``satcle_embedding``, ``h3_latlng_to_cell``) do not
    exist outside Python.
    """
    path = Path(grid_dir)
    manifest = read_manifest(path)
    check_grid_files(path, manifest)
    return f"{absolute_view_sql(path, manifest, arrow_lambda=arrow_lambda)};\n{similar_macro_sql()};\n"


def create_similar_macro(con: duckdb.DuckDBPyConnection, resolution: int) -> None:
    """``satcle_similar(cell, k)`` and, where DuckDB has macro overloads (not 1.1.3,
    2.0.1 has), ``satcle_similar(lat, lon, k)`` ranked among the cells of `resolution`."""
    import duckdb

    try:
        con.execute(similar_macro_sql(point_resolution=resolution))
    except duckdb.ParserException:   # DuckDB before overloads: the cell form, as in satcle.duckdb
        con.execute(similar_macro_sql())


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


def embedding_function(grid: Grid, **options):
    """An Arrow scalar function (lat, lon) -> FLOAT[D] over `grid.lookup(**options)`.

    Takes two Arrow arrays of degrees (N,) and returns a FIXED_SIZE_LIST<float32>[D]
    array (N,). A NULL latitude or longitude gives a NULL row, and so does a
    point outside coverage with ``on_miss="nan"`` (SQL's missing value is NULL,
    not a vector of NaN). The options are checked here, once, not per vector.
    """
    check_sql_options(options)
    grid.lookup(np.empty(0), np.empty(0), **options)  # bad options fail now, not inside a query
    null_outside = options.get("on_miss") == "nan"

    def satcle_embedding(lats: pa.Array, lons: pa.Array) -> pa.Array:
        null = pc.or_kleene(pc.is_null(lats), pc.is_null(lons)).to_numpy(zero_copy_only=False)
        lat = pc.fill_null(lats, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        lon = pc.fill_null(lons, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        embeddings, source = grid.lookup(lat, lon, return_source=True, **options)
        if null_outside:
            null = null | (source == Source.MISS_NAN)
        values = embeddings_to_arrow(embeddings)
        if not null.any():
            return values
        return pa.FixedSizeListArray.from_arrays(values.values, grid.dim, mask=pa.array(null))

    return satcle_embedding


def check_sql_options(options: dict) -> None:
    """Raise InvalidArgumentError for an option name not in `SQL_OPTIONS` or a
    value `check_lookup_options` rejects (the checks that need no grid)."""
    unknown = sorted(set(options) - set(SQL_OPTIONS))
    if unknown:
        raise InvalidArgumentError(f"unknown lookup option(s) {unknown} for the SQL function; "
                                   f"it takes {list(SQL_OPTIONS)}")
    check_lookup_options(**{k: v for k, v in options.items() if k != "exact"})


def register_embedding_function(connection: duckdb.DuckDBPyConnection, grid: Grid,
                                name: str = FUNCTION_NAME, **options) -> None:
    """Register ``name(lat DOUBLE, lon DOUBLE) -> FLOAT[D]`` on a DuckDB connection.

    options go to `Grid.lookup` (method, tolerance, on_miss, exact, num_threads);
    the default is the interpolated lookup with live fallback outside coverage.
    Raises InvalidArgumentError (or GridFormatError) on options the lookup rejects.
    """
    import duckdb

    connection.create_function(
        name, embedding_function(grid, **options), ["DOUBLE", "DOUBLE"],
        duckdb.array_type(duckdb.sqltype("FLOAT"), grid.dim), type="arrow",
        null_handling="special", side_effects=False)
