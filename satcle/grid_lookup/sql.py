"""The lookup as a vectorised DuckDB function (``satcle_embedding(lat, lon)``).

DuckDB hands an Arrow function whole vectors of rows (2,048 at a time), so the
SQL path runs the same compiled lookup as Python, without a call per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..grid.store_format import embeddings_to_arrow
from .grid import Grid, Source

if TYPE_CHECKING:
    import duckdb

FUNCTION_NAME = "satcle_embedding"


def embedding_function(grid: Grid, **options):
    """An Arrow scalar function (lat, lon) -> FLOAT[D] over `grid.lookup(**options)`.

    Takes two Arrow arrays of degrees (N,) and returns a FIXED_SIZE_LIST<float32>[D]
    array (N,). A NULL latitude or longitude gives a NULL row, and so does a
    point outside coverage with ``on_miss="nan"`` (SQL's missing value is NULL,
    not a vector of NaN). The options are checked here, once, not per vector.
    """
    if "return_source" in options or "out" in options:
        raise TypeError("return_source and out are not options of the SQL function")
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


def register_embedding_function(connection: duckdb.DuckDBPyConnection, grid: Grid,
                                name: str = FUNCTION_NAME, **options) -> None:
    """Register ``name(lat DOUBLE, lon DOUBLE) -> FLOAT[D]`` on a DuckDB connection.

    options go to `Grid.lookup` (method, tolerance, on_miss, exact, num_threads);
    the default is the interpolated lookup with live fallback outside coverage.
    Raises ValueError (or GridFormatError) on options the lookup rejects.
    """
    import duckdb  # here, not at module level: `import satcle` should not pay for it

    connection.create_function(
        name, embedding_function(grid, **options), ["DOUBLE", "DOUBLE"],
        duckdb.array_type(duckdb.sqltype("FLOAT"), grid.dim), type="arrow",
        null_handling="special", side_effects=False)
