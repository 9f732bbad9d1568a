"""`satcle.add_embeddings(df)`: a pandas or GeoPandas DataFrame with its embeddings added.

Points come from the frame's coordinate columns (found among the usual names:
lat/lon, latitude/longitude, lng, decimalLatitude/decimalLongitude, any case;
or named with lat=/lon=), or from a GeoDataFrame's point geometry in any CRS
(transformed to degrees). A GeoDataFrame of polygons gets area embeddings: the
mean of the grid cells each polygon covers (`areas.embed_areas`).

The frame is returned as a new frame, row for row, its index and every column
as they were, plus ``embedding``: one column of pandas' Arrow type
``fixed_size_list<float>[D]`` (what ``satcle embed`` writes to Parquet and what
DuckDB reads as ``FLOAT[D]``; ``np.stack(df["embedding"].to_numpy())`` is the
(N, D) matrix), or with ``as_columns=True`` D float32 columns ``e0 .. e{D-1}``.
"""

from __future__ import annotations

import numpy as np

from ..core._optional import require
from ..core.coordinates import (
    column_values,
    coordinate_columns,
    describe_invalid,
    invalid_coordinates,
    wrap_longitude,
)
from ..core.errors import CoordinateError, InvalidArgumentError
from .areas import MAX_CELLS, embed_areas
from .source import choose_embedder, embeddings_column

EMBEDDING_COLUMN = "embedding"
ON_BAD_ROW = ("error", "null")


def add_embeddings(data, *, grid=None, model: str | None = None, lat: str | None = None, lon: str | None = None,
                   live: bool = False, as_columns: bool = False, column: str = EMBEDDING_COLUMN,
                   on_bad_row: str = "error", max_cells: int = MAX_CELLS, **lookup_options):
    """`data` (a pandas DataFrame or GeoDataFrame) with the embeddings of its rows added.

    Parameters
    ----------
    data : pandas.DataFrame or geopandas.GeoDataFrame
        Points as two columns of degrees, or (GeoDataFrame, no lat/lon given) a
        geometry of points (any CRS) or polygons / multipolygons (areas).
    grid : grid directory or `Grid`, optional
        Where embeddings come from; default: the default grid when it exists and
        was built with `model`, else the live encoder (`source.choose_embedder`).
    model : str, optional
        Encoder name or directory (default "default"); with `grid`, it must be the grid's.
    lat, lon : str, optional
        The coordinate columns; default: found among the usual names
        (`coordinate_columns`; none or several -> InvalidArgumentError naming them).
    live : bool
        Compute every point with the encoder, even when a grid exists.
    as_columns : bool
        D float32 columns ``e0 .. e{D-1}`` instead of one ``embedding`` column.
    column : str
        Name of the embedding column (with as_columns: the prefix, default "e").
    on_bad_row : "error" or "null"
        A row whose coordinates are missing, NaN or |lat| > 90: CoordinateError
        naming its index label, or a null embedding (NaN with as_columns).
    max_cells : int
        Areas: most cells averaged per polygon at the grid's resolution; a larger
        polygon is averaged at the finest coarser pyramid level where it fits.
    lookup_options :
        `Grid.lookup`'s method, tolerance, exact, on_miss, num_threads.

    Returns
    -------
    A new DataFrame of the same type, index and columns, plus the embedding
    column(s); for areas also ``<column>_cells`` (int64: cells averaged, 0 where
    the embedding was taken at the polygon's representative point) and
    ``<column>_res`` (int8: their H3 resolution, -1 at a point).
    """
    pd = require("pandas", "pandas", "geo")
    if hasattr(data, "map_partitions") and hasattr(data, "npartitions"):
        raise InvalidArgumentError("a Dask DataFrame: use satcle.dask.add_embeddings(ddf), which runs on its workers")
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgumentError(f"add_embeddings takes a pandas or GeoPandas DataFrame, got {type(data).__name__}"
                                   " (arrays: satcle.lookup(lats, lons) or load_encoder().encode(lats, lons))")
    if on_bad_row not in ON_BAD_ROW:
        raise InvalidArgumentError(f"on_bad_row must be one of {ON_BAD_ROW}, got {on_bad_row!r}")
    embedder = choose_embedder(grid, live, model, **lookup_options)
    names = _output_names(data, column, embedder.dim, as_columns)
    geometry = _geometry(data) if lat is None and lon is None else None
    extra = {}
    if geometry is not None and not set(geometry.geom_type.dropna().unique()) <= {"Point"}:
        geometry = _in_degrees(geometry)
        areas = _embed_areas(geometry, embedder, max_cells)
        embeddings, null = areas.embeddings, np.isnan(areas.embeddings[:, 0]) if embedder.dim else np.zeros(0, bool)
        _check_bad(null, data.index, on_bad_row, lambda i: "the geometry is missing or empty")
        extra = {f"{column}_cells": areas.cells, f"{column}_res": areas.resolution}
    else:
        if geometry is not None:
            from ..core.coordinates import point_geometry_degrees

            lats, lons = point_geometry_degrees(geometry)
        else:
            lat_name, lon_name = coordinate_columns(data.columns, lat=lat, lon=lon, where="the DataFrame")
            lats, lons = _degrees(data[lat_name], lat_name), _degrees(data[lon_name], lon_name)
        null = invalid_coordinates(lats, lons)
        _check_bad(null, data.index, on_bad_row, lambda i: describe_invalid(lats[i], lons[i]))
        if not null.any():
            embeddings = embedder.embed(lats, wrap_longitude(lons))
        else:
            good = ~null
            embeddings = np.empty((len(data), embedder.dim), dtype=np.float32)
            embeddings[good] = embedder.embed(lats[good], wrap_longitude(lons[good]))
            embeddings[null] = np.nan
    return _with_columns(data, pd, embeddings, null, names, as_columns, column, extra)


def _geometry(data):
    """The active geometry of a GeoDataFrame, else None."""
    if not hasattr(data, "crs") or not hasattr(data, "geometry"):
        return None
    try:
        return data.geometry
    except AttributeError:   # a GeoDataFrame without an active geometry column
        return None


def _in_degrees(geometry):
    crs = geometry.crs
    if crs is not None and not (crs.equals("EPSG:4326") or crs.equals("OGC:CRS84")):
        return geometry.to_crs(4326)
    return geometry


def _embed_areas(geometry, embedder, max_cells: int):
    grid = embedder.grid
    if grid is None:   # the live encoder: cells of the default grid's resolution, embedded at their centres
        from ..core.paths import DEFAULT_GRID

        resolutions = tuple(range(DEFAULT_GRID.resolution + 1))

        def lookup_cells(lats, lons, res):
            return embedder.embed(lats, lons)
    else:
        resolutions = grid.stored_resolutions

        def lookup_cells(lats, lons, res):
            return grid.lookup(lats, lons, method="cell", res=res)
    return embed_areas(geometry, lookup_cells, embedder.embed, embedder.dim, resolutions, max_cells=max_cells)


def _degrees(values, name: str) -> np.ndarray:
    array = column_values(values)
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer)
                                       or np.issubdtype(array.dtype, np.floating)):
        raise CoordinateError(f"column {name!r} must hold degrees (numbers), got dtype {values.dtype}")
    return np.ascontiguousarray(array, dtype=np.float64)


def _check_bad(null: np.ndarray, index, on_bad_row: str, why) -> None:
    if on_bad_row == "error" and null.any():
        i = int(np.argmax(null))
        label = index[i].item() if isinstance(index[i], np.generic) else index[i]
        raise CoordinateError(f"row {label!r} (position {i}): {why(i)} "
                              f"({int(null.sum())} such rows; on_bad_row='null' gives them a null embedding)")


def _output_names(data, column: str, dim: int, as_columns: bool) -> list[str]:
    names = [f"{column if column != EMBEDDING_COLUMN else 'e'}{i}" for i in range(dim)] if as_columns else [column]
    taken = [n for n in names if n in data.columns]
    if taken:
        raise InvalidArgumentError(f"the DataFrame already has column(s) {taken[:5]}; choose another column=")
    return names


def _with_columns(data, pd, embeddings: np.ndarray, null: np.ndarray, names: list[str], as_columns: bool,
                  column: str, extra: dict):
    taken = [n for n in extra if n in data.columns]
    if taken:
        raise InvalidArgumentError(f"the DataFrame already has column(s) {taken}; choose another column=")
    out = data.copy()
    if as_columns:
        out[names] = embeddings
    else:
        out[column] = pd.Series(pd.arrays.ArrowExtensionArray(embeddings_column(embeddings, null)), index=data.index)
    for name, values in extra.items():
        out[name] = values
    return out
