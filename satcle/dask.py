"""Embeddings for a Dask DataFrame, on as many machines as its cluster has:
``satcle.dask.add_embeddings(ddf, grid=DIR)`` (a pandas DataFrame works too).

Each partition is embedded on the worker that holds it by `Grid.lookup`; a
worker process opens the grid once, at its first partition, and keeps it for
every later one (`satcle.grid.lookup.grid_at`, the process's grid cache). The grid
directory must therefore exist at the same path on every worker (a shared
file system, or a copy per machine): only the path travels with the tasks.

The embedding is one column of pandas' Arrow type ``fixed_size_list<float>[D]``,
the type of the grid's Parquet files and of ``satcle embed``'s output: DuckDB
reads it as ``FLOAT[D]`` (``array_cosine_similarity`` works on it), Parquet
stores it as one list column, and ``np.stack(df["embedding"].to_numpy())``
gives the (N, D) float32 matrix. D separate float columns would cost pandas and
Dask a Series (and metadata) each and give DuckDB no vector.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .core._optional import require
from .core.coordinates import coordinate_columns
from .core.errors import InvalidArgumentError
from .core.paths import default_grid_dir
from .frames.source import embeddings_column
from .grid.format.store import read_manifest
from .grid.lookup import grid_at
from .grid.sql import check_sql_options

EMBEDDING_COLUMN = "embedding"


def add_embeddings(ddf, lat: str | None = None, lon: str | None = None, grid: str | os.PathLike | None = None, *,
                   column: str = EMBEDDING_COLUMN, **lookup_options):
    """`ddf` (a dask.dataframe.DataFrame, or a pandas DataFrame) with a column `column`
    of the embeddings of its points: ``fixed_size_list<float>[D]`` (pandas
    ``ArrowDtype``), row for row what ``Grid.lookup(ddf[lat], ddf[lon], **lookup_options)`` gives.

    lat, lon: columns of degrees; default: found among the usual names
    (`satcle.core.coordinates.coordinate_columns`). grid: the grid directory (default
    `default_grid_dir()`), at the same path on every worker. lookup_options:
    `Grid.lookup`'s method, tolerance, exact, on_miss, num_threads (default:
    interpolated, points outside coverage computed live; ``on_miss="nan"`` gives
    NaN rows). A Dask frame is lazy, like every Dask operation; a pandas frame is
    embedded now (`satcle.add_embeddings` with this grid). The grid's manifest
    is read here, so a missing grid (GridNotFoundError), a missing column or a
    bad option (InvalidArgumentError) fail now; a bad coordinate (NaN, |lat| >
    90) raises CoordinateError when its partition is computed.
    """
    check_sql_options(lookup_options)   # the lookup options a function of rows may take
    path = str(Path(grid if grid is not None else default_grid_dir()).expanduser().resolve())
    manifest = read_manifest(path)
    lat, lon = coordinate_columns(ddf.columns, lat=lat, lon=lon, where="the DataFrame")
    if column in ddf.columns:
        raise InvalidArgumentError(f"the DataFrame already has a column {column!r}; choose another column=")
    if not hasattr(ddf, "map_partitions"):   # pandas: one partition, here
        return embed_partition(ddf, lat, lon, path, column, lookup_options)
    require("dask.dataframe", "dask[dataframe]", "dask")
    import pandas as pd
    import pyarrow as pa

    dtype = pd.ArrowDtype(pa.list_(pa.float32(), manifest.dim))
    meta = ddf._meta.assign(**{column: pd.Series([], dtype=dtype, index=ddf._meta.index[:0])})
    return ddf.map_partitions(embed_partition, lat, lon, path, column, lookup_options, meta=meta)


def embed_partition(frame, lat: str, lon: str, grid_path: str, column: str, lookup_options: dict):
    """One pandas partition with its embeddings added (what each Dask task runs). The
    grid is opened once per process and kept (`satcle.grid.lookup.grid_at`)."""
    import pandas as pd

    grid = grid_at(grid_path)
    embeddings = grid.lookup(np.asarray(frame[lat], dtype=np.float64), np.asarray(frame[lon], dtype=np.float64),
                             **lookup_options)
    values = pd.arrays.ArrowExtensionArray(embeddings_column(embeddings))
    return frame.assign(**{column: pd.Series(values, index=frame.index)})
