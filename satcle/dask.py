"""Embeddings for a Dask DataFrame, on as many machines as its cluster has:
``satcle.dask.add_embeddings(ddf, lat="lat", lon="lon", grid=DIR)``.

Each partition is embedded on the worker that holds it by `Grid.lookup`; a
worker process opens the grid once, at its first partition, and keeps it for
every later one (`worker_grid`, keyed by the grid's resolved path). The grid
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
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from .core._optional import require
from .core.errors import InvalidArgumentError
from .core.paths import default_grid_dir
from .grid.format.store import embeddings_to_arrow, read_manifest
from .grid.lookup import Grid, open_grid
from .grid.sql import check_sql_options

EMBEDDING_COLUMN = "embedding"

_grids: dict[str, Grid] = {}
_grids_lock = threading.Lock()


def add_embeddings(ddf, lat: str = "lat", lon: str = "lon", grid: str | os.PathLike | None = None, *,
                   column: str = EMBEDDING_COLUMN, **lookup_options):
    """`ddf` (a dask.dataframe.DataFrame) with a column `column` of the embeddings of
    its points: ``fixed_size_list<float>[D]`` (pandas ``ArrowDtype``), row for row
    what ``Grid.lookup(ddf[lat], ddf[lon], **lookup_options)`` gives.

    lat, lon: columns of degrees. grid: the grid directory (default
    `default_grid_dir()`), at the same path on every worker. lookup_options:
    `Grid.lookup`'s method, tolerance, exact, on_miss, num_threads (default:
    interpolated, points outside coverage computed live; ``on_miss="nan"`` gives
    NaN rows). Lazy, like every Dask operation. The grid's manifest is read here,
    so a missing grid (GridNotFoundError), a missing column or a bad option
    (InvalidArgumentError) fail now; a bad coordinate (NaN, |lat| > 90) raises
    CoordinateError when its partition is computed.
    """
    require("dask.dataframe", "dask[dataframe]", "dask")
    import pandas as pd

    check_sql_options(lookup_options)   # the lookup options a function of rows may take
    path = str(Path(grid if grid is not None else default_grid_dir()).expanduser().resolve())
    manifest = read_manifest(path)
    missing = [name for name in (lat, lon) if name not in ddf.columns]
    if missing:
        raise InvalidArgumentError(f"the DataFrame has no column(s) {missing}; it has {list(ddf.columns)}")
    if column in ddf.columns:
        raise InvalidArgumentError(f"the DataFrame already has a column {column!r}; choose another column=")
    dtype = pd.ArrowDtype(pa.list_(pa.float32(), manifest.dim))
    meta = ddf._meta.assign(**{column: pd.Series([], dtype=dtype, index=ddf._meta.index[:0])})
    return ddf.map_partitions(embed_partition, lat, lon, path, column, lookup_options, meta=meta)


def embed_partition(frame, lat: str, lon: str, grid_path: str, column: str, lookup_options: dict):
    """One pandas partition with its embeddings added (what each Dask task runs)."""
    import pandas as pd

    grid = worker_grid(grid_path)
    embeddings = grid.lookup(np.asarray(frame[lat], dtype=np.float64), np.asarray(frame[lon], dtype=np.float64),
                             **lookup_options)
    values = pd.arrays.ArrowExtensionArray(embeddings_to_arrow(embeddings))
    return frame.assign(**{column: pd.Series(values, index=frame.index)})


def worker_grid(path: str) -> Grid:
    """The grid at resolved `path`, opened once per process and kept (threads of one
    worker, and in-process workers, share it; the lock makes the others wait for
    the first opening rather than open their own copy)."""
    with _grids_lock:
        grid = _grids.get(path)
        if grid is None:
            grid = _grids[path] = open_grid(path)
        return grid
