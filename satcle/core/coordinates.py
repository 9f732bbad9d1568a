"""Coordinates wherever they enter the library: the one validation door.

* `as_latlon(lats, lons)` validates and raises (CoordinateError naming the first
  bad value); every public function that takes points calls it first, so the
  kernels behind it can assume finite, in-range, contiguous float64. It also
  takes the points as one (N, 2) array of (lat, lon), a two-column frame, or a
  GeoSeries of points (any CRS, transformed to degrees).
* `invalid_coordinates(lats, lons)` is the same rule without raising: a mask of
  the rows that cannot be embedded, for readers of files that report or null
  bad rows instead of stopping.
* `coordinate_columns(names)` finds the latitude and longitude columns of a
  table among the usual names (lat/lon, latitude/longitude, lng,
  decimalLatitude/decimalLongitude, ...), for every reader of tables.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from numpy.typing import ArrayLike

from .errors import CoordinateError, InvalidArgumentError

#: Column names recognised as latitude / longitude (compared case-insensitively,
#: ignoring "_", "-" and blanks). x/y are left out on purpose: in a table they are
#: as often projected metres or pixels as degrees.
LAT_NAMES = ("lat", "latitude", "decimallatitude", "latdeg", "latitudedeg", "latdd", "ylat")
LON_NAMES = ("lon", "lng", "long", "longitude", "decimallongitude", "londeg", "longitudedeg", "londd", "xlon")


def as_latlon(lats: ArrayLike, lons: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate coordinates and return them as contiguous float64 arrays.

    Parameters
    ----------
    lats, lons : array-like, shape (N,)
        Latitudes and longitudes in **degrees** (lists, integer or float arrays).
        With `lons` None, `lats` holds both: an (N, 2) array of (lat, lon) rows,
        a two-column DataFrame (columns found by `coordinate_columns`, else taken
        in order as lat, lon), or a GeoSeries / GeoDataFrame of points (x = lon,
        y = lat after transforming to EPSG:4326).

    Returns
    -------
    lats, lons : np.ndarray, shape (N,), float64
        Latitudes unchanged; longitudes wrapped into [-180, 180).

    Raises
    ------
    CoordinateError
        If an input is not 1-D numeric, the lengths differ, a value is NaN or
        infinite, or a latitude lies outside [-90, 90] (latitudes are never
        wrapped: a latitude of 95 is a bug upstream, not a place).
    """
    if lons is None:
        lats, lons = split_points(lats)
    lat = _as_1d_float64(lats, "lats")
    lon = _as_1d_float64(lons, "lons")
    if lat.shape != lon.shape:
        raise CoordinateError(
            f"lats and lons must have the same length, got {lat.size} and {lon.size}"
        )
    bad = invalid_coordinates(lat, lon)
    if bad.any():
        i = int(np.argmax(bad))
        raise CoordinateError(describe_invalid(lat[i], lon[i], f"[{i}]"))
    return lat, wrap_longitude(lon)


def invalid_coordinates(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) bool: the points that cannot be embedded (NaN or infinite lat or lon,
    a NaN standing for a missing value too, or |lat| > 90), of (N,) float64 degrees."""
    return ~np.isfinite(lats) | ~np.isfinite(lons) | (np.abs(lats) > 90.0)


def describe_invalid(lat: float, lon: float, where: str = "") -> str:
    """Why the point (lat, lon) is invalid, e.g. ``lats[3] = 95.0 is outside [-90, 90] degrees``;
    `where` follows the names (an index such as ``[3]``)."""
    for name, value in (("lats", lat), ("lons", lon)):
        if not np.isfinite(value):
            return f"{name}{where} is {value}; coordinates must be finite"
    return f"lats{where} = {lat} is outside [-90, 90] degrees"


def wrap_longitude(lons: np.ndarray) -> np.ndarray:
    """Map longitudes in degrees (float64, any finite value) into [-180, 180)."""
    inside = (lons >= -180.0) & (lons < 180.0)
    if inside.all():
        return lons
    return np.mod(lons + 180.0, 360.0) - 180.0


def _normalised(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch not in "_- .")


def coordinate_columns(names: Iterable[str], *, lat: str | None = None, lon: str | None = None,
                       where: str = "the table", fix: str = "name them with lat=/lon=") -> tuple[str, str]:
    """The (latitude, longitude) column names among `names`.

    lat, lon: the caller's choice (checked to exist); a None one is found among
    the usual names (`LAT_NAMES`, `LON_NAMES`, any case, ignoring "_", "-").
    Raises InvalidArgumentError naming the columns `where` has, when a named
    column is missing, when none matches, or when several do (naming them),
    ending with `fix` (how the caller names them: arguments, command-line options).
    """
    names = [str(n) for n in names]
    chosen = []
    for given, known, kind in ((lat, LAT_NAMES, "latitude"), (lon, LON_NAMES, "longitude")):
        if given is not None:
            if given not in names:
                raise InvalidArgumentError(f"{where} has no column {given!r}; it has {_listed(names)}")
            chosen.append(given)
            continue
        found = [n for n in names if _normalised(n) in known]
        if not found:
            raise InvalidArgumentError(
                f"{where} has no {kind} column (looked for {', '.join(known[:5])}, any case); it has "
                f"{_listed(names)}: {fix}")
        if len(found) > 1:
            raise InvalidArgumentError(f"{where} has several {kind} columns {found}: {fix}")
        chosen.append(found[0])
    if chosen[0] == chosen[1]:
        raise InvalidArgumentError(f"the latitude and longitude columns are both {chosen[0]!r}: {fix}")
    return chosen[0], chosen[1]


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:12])
    return f"[{shown}{', ...' if len(names) > 12 else ''}]"


def split_points(points) -> tuple[np.ndarray, np.ndarray]:
    """(N,) lats and (N,) lons (degrees, not yet validated) of points given as one object:
    an (N, 2) array of (lat, lon), a two-column DataFrame, or a GeoSeries/GeoDataFrame of points."""
    geometry = getattr(points, "geometry", None) if hasattr(points, "crs") else None
    if geometry is not None:
        return point_geometry_degrees(geometry)
    columns = getattr(points, "columns", None)
    if columns is not None:
        names = [str(c) for c in columns]
        if len(names) != 2:
            lat, lon = coordinate_columns(names, where="the DataFrame")
        else:
            try:
                lat, lon = coordinate_columns(names, where="the DataFrame")
            except InvalidArgumentError:
                lat, lon = names   # two columns of other names: (lat, lon) in that order
        return column_values(points[lat]), column_values(points[lon])
    try:
        arr = np.asarray(points)
    except (TypeError, ValueError) as exc:
        raise CoordinateError(f"points could not be read as an array: {exc}") from None
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise CoordinateError(f"points without lons must be an (N, 2) array of (lat, lon) degrees, "
                              f"a two-column DataFrame or a GeoSeries of points; got shape {arr.shape}")
    return arr[:, 0], arr[:, 1]


def column_values(column) -> np.ndarray:
    """(N,) values of a DataFrame column (not validated): a column as an array: numeric pandas columns (nullable ones too) as float64 with NaN for missing."""
    kind = getattr(getattr(column, "dtype", None), "kind", "O")
    if kind in "iuf" and hasattr(column, "to_numpy"):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(column)


def point_geometry_degrees(geometry) -> tuple[np.ndarray, np.ndarray]:
    """(N,) lats and lons in degrees of a GeoSeries of points, transformed from its CRS to
    EPSG:4326 first (a GeoSeries without a CRS is taken as degrees). Empty or missing
    geometries give NaN. Raises CoordinateError for geometries that are not points."""
    kinds = set(geometry.geom_type.dropna().unique())
    if kinds - {"Point"}:
        raise CoordinateError(f"the geometry holds {sorted(kinds - {'Point'})}, not points: "
                              "satcle.add_embeddings embeds polygons as areas")
    crs = geometry.crs
    if crs is not None and not _is_degrees(crs):
        geometry = geometry.to_crs(4326)
    missing = geometry.isna().to_numpy() | geometry.is_empty.to_numpy()
    x = np.where(missing, np.nan, geometry.x.to_numpy(dtype=np.float64, na_value=np.nan))
    y = np.where(missing, np.nan, geometry.y.to_numpy(dtype=np.float64, na_value=np.nan))
    return y, x


def _is_degrees(crs) -> bool:
    """Whether a pyproj CRS is longitude/latitude on WGS 84 already (EPSG:4326, OGC:CRS84)."""
    return crs.equals("EPSG:4326") or crs.equals("OGC:CRS84")


def _as_1d_float64(values: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise CoordinateError(f"{name} could not be read as an array: {exc}") from None
    if arr.ndim != 1:
        raise CoordinateError(
            f"{name} must be a 1-D array of degrees, got shape {arr.shape}"
            + (" (an (N, 2) array of (lat, lon) goes alone, without lons)" if arr.ndim == 2 else "")
        )
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise CoordinateError(f"{name} must be numeric (degrees), got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float64)
