"""GeoParquet points: the primary geometry column of a GeoParquet schema, and its points in degrees.

Reads what GeoParquet 1.x writes for points: WKB (ISO or EWKB, 2 to 4 dimensions,
either byte order; parsed vectorised, no per-row Python) or GeoArrow's struct of x, y,
in the column's CRS (PROJJSON, default OGC:CRS84), transformed to degrees with pyproj
when it is not longitude/latitude already.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.errors import PointFileError

GEO_METADATA = b"geo"


def _as_float64(column: pa.Array) -> np.ndarray:
    """(n,) float64 of a numeric column, NaN where null."""
    return np.array(pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False),
                    dtype=np.float64)


def primary_point_geometry(schema: pa.Schema) -> tuple[str | None, dict | str | None]:
    """(column, crs) of a GeoParquet schema's primary geometry, else (None, None)."""
    raw = (schema.metadata or {}).get(GEO_METADATA)
    if raw is None:
        return None, None
    try:
        geo = json.loads(raw)
        column = geo["primary_column"]
        crs = geo["columns"][column].get("crs", "OGC:CRS84")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, None
    return (column, crs) if column in schema.names else (None, None)


def point_degrees(column: pa.Array, crs, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(n,) lats and lons (degrees, NaN where null or empty) of a geometry column of points:
    WKB (ISO or EWKB, 2 to 4 dimensions, either byte order) or GeoArrow's struct of x, y."""
    if pa.types.is_struct(column.type):
        x = _as_float64(pc.struct_field(column, "x"))
        y = _as_float64(pc.struct_field(column, "y"))
    elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        x, y = _wkb_points(column, path)
    else:
        raise PointFileError(f"{path}: geometry column of type {column.type}: expected WKB points")
    if crs is not None and not _is_degrees_crs(crs):
        x, y = _to_degrees(x, y, crs, path)
    return y, x


def _wkb_points(column: pa.Array, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """x, y (n,) float64 of a binary column of WKB points, vectorised (no per-row Python)."""
    n = len(column)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if n == 0:
        return x, y
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64 if pa.types.is_large_binary(column.type)
                            else np.int32, count=n + 1, offset=column.offset * (
                                8 if pa.types.is_large_binary(column.type) else 4))
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8) if column.buffers()[2] is not None else np.empty(0, np.uint8)
    valid = np.asarray(column.is_valid())
    starts, lengths = offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)
    present = valid & (lengths >= 21)
    if not present.any():
        return x, y
    first = starts[present]
    little = data[first] == 1
    type_bytes = data[first[:, None] + np.arange(1, 5)]
    kind = np.where(little, type_bytes[:, 0].astype(np.uint32) | (type_bytes[:, 1].astype(np.uint32) << 8),
                    type_bytes[:, 3].astype(np.uint32) | (type_bytes[:, 2].astype(np.uint32) << 8))
    flags = np.where(little, type_bytes[:, 3], type_bytes[:, 0])
    srid = (flags & 0x20) != 0   # EWKB: a 4-byte SRID follows the type
    if not np.all(kind % 1000 == 1):
        raise PointFileError(f"{path}: the geometry holds shapes that are not points (WKB type "
                             f"{int(kind[np.argmax(kind % 1000 != 1)])}): `satcle embed` takes points; "
                             "satcle.add_embeddings embeds polygons as areas")
    coordinate = first + 5 + np.where(srid, 4, 0)
    raw = data[coordinate[:, None] + np.arange(16)]
    raw = np.where(little[:, None], raw, raw.reshape(-1, 2, 8)[:, :, ::-1].reshape(-1, 16))
    values = np.ascontiguousarray(raw).view("<f8")
    x[present], y[present] = values[:, 0], values[:, 1]
    return x, y


def _is_degrees_crs(crs) -> bool:
    if isinstance(crs, str):
        return crs.upper() in ("OGC:CRS84", "EPSG:4326", "CRS84")
    if isinstance(crs, dict):
        ident = crs.get("id") or {}
        return (str(ident.get("authority", "")).upper(), str(ident.get("code", "")).upper()) in (
            ("OGC", "CRS84"), ("EPSG", "4326"))
    return False


def _to_degrees(x: np.ndarray, y: np.ndarray, crs, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """x, y of `crs` (PROJJSON or a string) -> longitude, latitude in degrees (pyproj)."""
    from ..core._optional import require

    pyproj = require("pyproj", "pyproj", "geo")
    try:
        source = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise PointFileError(f"{path}: cannot read the geometry's CRS: {exc}") from None
    transformer = pyproj.Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
