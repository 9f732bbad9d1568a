"""Point files read in chunks: CSV, Parquet or GeoParquet, with a latitude and a
longitude column (degrees) or a point geometry.

One reader for every command that takes a file of points. It never holds more than
one chunk (an Arrow record batch) of the file, and keeps every other column
exactly as the user wrote it: a CSV's other columns are read as text (a ZIP code
``01234`` or a FIPS code ``06037`` stays that text, a date stays its string), a
Parquet file's keep their types. The coordinate columns are found among the usual
names (`coordinates.coordinate_columns`) unless named; a GeoParquet file without
such columns gives its points from its primary geometry (WKB or GeoArrow points,
transformed to degrees from its CRS). Each row's coordinates are sorted into
usable or bad (missing, unparsable, NaN or infinite, |lat| > 90,
`coordinates.invalid_coordinates`) without raising, so that the caller chooses
between stopping at the first bad row (`PointChunk.describe` names it) and
writing a null for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.coordinates import coordinate_columns, invalid_coordinates, wrap_longitude
from ..core.errors import InvalidArgumentError, PointFileError
from .geoparquet import point_degrees, primary_point_geometry

SUFFIXES = (".csv", ".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 32_768
# CSV blocks of 1 MiB: ~37,000 rows of an id,lat,lon file, one chunk each (~37 MB of float32 embeddings).
CSV_BLOCK_BYTES = 1 << 20
# What pyarrow's cast from text to float64 accepts, less NaN and infinities (bad rows either way).
_NUMBER = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"


@dataclass(frozen=True)
class PointChunk:
    """Consecutive rows of a point file.

    columns: every column of the file, as read (a CSV's coordinate columns as
        float64, null where the text is not a number; its other columns as text).
    lats, lons: (n,) float64 degrees, longitudes wrapped into [-180, 180); 0 where `bad`.
    bad: (n,) bool, rows whose coordinates are missing, unparsable, NaN or
        infinite, or whose latitude is outside [-90, 90].
    start: 0-based index of the chunk's first row among the file's data rows.
    raw_lats, raw_lons: (n,) float64 as read, NaN where missing or not a number.
    lat_name, lon_name: the coordinate columns (both the geometry column's name
        for points read from a geometry).
    """

    columns: pa.RecordBatch
    lats: np.ndarray
    lons: np.ndarray
    bad: np.ndarray
    start: int
    lat_name: str
    lon_name: str
    raw_lats: np.ndarray
    raw_lons: np.ndarray

    def describe(self, i: int) -> str:
        """Why row `i` of the chunk is bad, naming its 1-based row number in the file."""
        row = f"row {self.start + i + 1}"
        if self.lat_name == self.lon_name:   # a geometry column
            lat, lon = self.raw_lats[i], self.raw_lons[i]
            if not (np.isfinite(lat) and np.isfinite(lon)):
                return f"{row}: {self.lat_name} is missing, empty or not a finite point"
            if abs(lat) > 90.0:
                return f"{row}: {self.lat_name} has latitude {lat}, outside [-90, 90] degrees"
            return f"{row} is valid"
        for name, values in ((self.lat_name, self.raw_lats), (self.lon_name, self.raw_lons)):
            value = values[i]
            raw = self.columns.column(name)[i].as_py()
            if raw is None:
                reason = "is missing or not a number"
            elif not np.isfinite(value):
                reason = f"{raw!r} is not a number" if isinstance(raw, str) else f"is {value}"
            elif name == self.lat_name and abs(value) > 90.0:
                reason = f"= {value} is outside [-90, 90] degrees"
            else:
                continue
            return f"{row}: {name} {reason}"
        return f"{row} is valid"


class PointReader:
    """Iterate over a CSV, Parquet or GeoParquet point file in chunks (`PointChunk`), in file order.

    lat, lon: the coordinate columns (degrees); None: found among the usual names
    (`coordinate_columns`), else (GeoParquet) the primary point geometry.
    chunk_rows: rows per Parquet chunk (default `DEFAULT_CHUNK_ROWS`; CSV chunks
    are blocks of `CSV_BLOCK_BYTES`). `schema` is that of the chunks' `columns`
    (a GeoParquet file's ``geo`` metadata kept); `num_rows` is known up front for
    Parquet, None for CSV. `geometry` names the geometry column the points come
    from, else None. Raises PointFileError for an unsupported suffix, a missing
    file or column, none or several candidate coordinate columns, a column name used twice, or a coordinate
    column that is neither numbers nor text; OSError passes through.
    """

    def __init__(self, path: str | os.PathLike, *, lat: str | None = None, lon: str | None = None,
                 chunk_rows: int | None = None):
        self.path = Path(path)
        self.chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
        suffix = self.path.suffix.lower()
        if suffix not in SUFFIXES:
            raise PointFileError(f"{self.path}: point files are {', '.join(SUFFIXES)}, got {suffix or 'no suffix'}")
        if not self.path.exists():
            raise PointFileError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise PointFileError(f"{self.path} is not a regular file (a directory, a pipe or a device): points are "
                                 "read in several passes; save them to a file first")
        self.is_csv = suffix == ".csv"
        if self.is_csv:
            names = self._csv_names()
            self.num_rows = None
            schema = pa.schema([pa.field(name, pa.string()) for name in names])
        else:
            import pyarrow.parquet as pq

            try:
                parquet = pq.ParquetFile(self.path)
            except pa.ArrowInvalid as exc:
                raise PointFileError(f"cannot read {self.path}: {exc}") from None
            schema = parquet.schema_arrow
            self.num_rows = parquet.metadata.num_rows
        repeated = duplicated_names(schema.names)
        if repeated:
            raise PointFileError(f"{self.path}: column name(s) {repeated} appear more than once; rename them so "
                                 "that each column has its own name")
        self.geometry, self.crs = None, None
        try:
            self.lat, self.lon = coordinate_columns(schema.names, lat=lat, lon=lon, where=str(self.path),
                                                    fix="name them with --lat-column/--lon-column")
        except InvalidArgumentError as exc:
            self.geometry, self.crs = primary_point_geometry(schema) if lat is None and lon is None else (None, None)
            if self.geometry is None:
                raise PointFileError(str(exc)) from None
            self.lat = self.lon = self.geometry
        if self.geometry is None:
            for name in (self.lat, self.lon):
                kind = schema.field(name).type
                if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
                        or pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
                    raise PointFileError(f"{self.path}: column {name!r} must hold degrees (numbers), got {kind}")
        if self.is_csv:
            schema = schema.set(schema.get_field_index(self.lat), pa.field(self.lat, pa.float64()))
            schema = schema.set(schema.get_field_index(self.lon), pa.field(self.lon, pa.float64()))
        self.schema = schema

    def _csv_names(self) -> list[str]:
        """The CSV's column names (its header), read from its first block."""
        import pyarrow.csv as pacsv

        try:
            reader = pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                                    convert_options=pacsv.ConvertOptions(column_types={}))
        except pa.ArrowInvalid as exc:
            raise PointFileError(self._csv_problem(exc)) from None
        names = reader.schema.names
        reader.close()
        return names

    def _csv_problem(self, exc: Exception) -> str:
        """What went wrong reading the CSV, for the user: Arrow's own words, except for
        a row longer than a block, whose "increase block size" no option of ours does."""
        if "straddl" in str(exc):
            return (f"cannot read {self.path}: a row is longer than {CSV_BLOCK_BYTES >> 20} MiB (a field of that "
                    "size, or an unclosed quote); shorten it, or convert the file to Parquet")
        return f"cannot read {self.path}: {exc}"

    def _batches(self) -> Iterator[pa.RecordBatch]:
        if self.is_csv:
            import pyarrow.csv as pacsv

            # Every column as text: nothing the user wrote is reinterpreted (the coordinates are converted here,
            # so that a bad value becomes a bad row, not a failed read).
            text = {name: pa.string() for name in self.schema.names}
            try:
                reader = pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                                        convert_options=pacsv.ConvertOptions(column_types=text,
                                                                             strings_can_be_null=False))
            except pa.ArrowInvalid as exc:
                raise PointFileError(f"cannot read {self.path}: {exc}") from None
        else:
            import pyarrow.parquet as pq

            reader = pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_rows)
        while True:
            try:
                batch = next(reader)
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                # Type inference reads the first block: a later value of another type ends the read here.
                raise PointFileError(self._csv_problem(exc) if self.is_csv else f"cannot read {self.path}: {exc}") \
                    from None
            yield batch

    def __iter__(self) -> Iterator[PointChunk]:
        start = 0
        for batch in self._batches():
            if self.is_csv:
                for name in (self.lat, self.lon):
                    index = batch.schema.get_field_index(name)
                    batch = batch.set_column(index, name, _text_to_float64(batch.column(index)))
                if batch.schema.metadata != self.schema.metadata:
                    batch = batch.replace_schema_metadata(self.schema.metadata)
            if self.geometry is not None:
                raw_lats, raw_lons = point_degrees(batch.column(self.geometry), self.crs, self.path)
            else:
                raw_lats, raw_lons = _as_float64(batch.column(self.lat)), _as_float64(batch.column(self.lon))
            bad = invalid_coordinates(raw_lats, raw_lons)
            lats, lons = np.where(bad, 0.0, raw_lats), np.where(bad, 0.0, raw_lons)
            yield PointChunk(batch, lats, wrap_longitude(lons), bad, start, self.lat, self.lon, raw_lats, raw_lons)
            start += batch.num_rows


def duplicated_names(names: list[str]) -> list[str]:
    """The names that occur more than once in `names`, in order of first occurrence."""
    seen, repeated = set(), []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


def _as_float64(column: pa.Array) -> np.ndarray:
    """(n,) float64 copy of a numeric or text column, NaN where null or not a number."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = _text_to_float64(column)
    elif pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    return np.array(pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False),
                    dtype=np.float64)


def _text_to_float64(column: pa.Array) -> pa.Array:
    """Text (surrounding blanks allowed) -> float64, null where it is not a number."""
    text = pc.utf8_trim_whitespace(column)
    try:
        return pc.cast(text, pa.float64())
    except pa.ArrowInvalid:   # some value is not a number: those become null (checked only then: rare)
        number = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
        return pc.cast(pc.if_else(number, text, pa.scalar(None, pa.string())), pa.float64())
