"""Point files read in chunks: CSV or Parquet with a latitude and a longitude column (degrees).

One reader for every command that takes a file of points. It never holds more than
one chunk (an Arrow record batch) of the file, keeps every other column as read,
and sorts each row's coordinates into usable or bad (missing, unparsable, NaN or
infinite, |lat| > 90) without raising, so that the caller chooses between stopping
at the first bad row (`PointChunk.describe` names it) and writing a null for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .coordinates import wrap_longitude
from .errors import PointFileError

SUFFIXES = (".csv", ".parquet", ".pq")
DEFAULT_CHUNK_ROWS = 32_768
# CSV blocks of 1 MiB: ~37,000 rows of an id,lat,lon file, one chunk each (~37 MB of float32 embeddings).
CSV_BLOCK_BYTES = 1 << 20
# What pyarrow's cast from text to float64 accepts, less NaN and infinities (bad rows either way).
_NUMBER = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"


@dataclass(frozen=True)
class PointChunk:
    """Consecutive rows of a point file.

    columns: every column of the file, as read (in a CSV, the latitude and
        longitude columns as float64, null where the text is not a number).
    lats, lons: (n,) float64 degrees, longitudes wrapped into [-180, 180); 0 where `bad`.
    bad: (n,) bool, rows whose coordinates are missing, unparsable, NaN or
        infinite, or whose latitude is outside [-90, 90].
    start: 0-based index of the chunk's first row among the file's data rows.
    """

    columns: pa.RecordBatch
    lats: np.ndarray
    lons: np.ndarray
    bad: np.ndarray
    start: int
    lat_name: str
    lon_name: str

    def describe(self, i: int) -> str:
        """Why row `i` of the chunk is bad, naming its 1-based row number in the file."""
        for name in (self.lat_name, self.lon_name):
            column = self.columns.column(name)
            raw = column[i].as_py()
            value = _as_float64(column.slice(i, 1))[0]
            if raw is None:
                reason = "is missing or not a number"
            elif not np.isfinite(value):
                reason = f"{raw!r} is not a number" if isinstance(raw, str) else f"is {value}"
            elif name == self.lat_name and abs(value) > 90.0:
                reason = f"= {value} is outside [-90, 90] degrees"
            else:
                continue
            return f"row {self.start + i + 1}: {name} {reason}"
        return f"row {self.start + i + 1} is valid"


class PointReader:
    """Iterate over a CSV or Parquet point file in chunks (`PointChunk`), in file order.

    lat, lon: the coordinate columns (degrees). chunk_rows: rows per Parquet chunk
    (default `DEFAULT_CHUNK_ROWS`; CSV chunks are blocks of `CSV_BLOCK_BYTES`). `schema` is that of the chunks'
    `columns`; `num_rows` is known up front for Parquet, None for CSV. Raises
    PointFileError for an unsupported suffix, a missing file or column, a column
    name used twice, or a coordinate column that is neither numbers nor text;
    OSError passes through.
    """

    def __init__(self, path: str | os.PathLike, *, lat: str = "lat", lon: str = "lon",
                 chunk_rows: int | None = None):
        self.path = Path(path)
        self.lat, self.lon = lat, lon
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
            import pyarrow.csv as pacsv

            # The coordinates as text, converted here: a bad value becomes a bad row, not a failed read.
            reader = self._csv_reader(pacsv, {lat: pa.string(), lon: pa.string()})
            schema = reader.schema
            reader.close()
            self.num_rows = None
        else:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(self.path)
            schema = parquet.schema_arrow
            self.num_rows = parquet.metadata.num_rows
        repeated = duplicated_names(schema.names)
        if repeated:
            raise PointFileError(f"{self.path}: column name(s) {repeated} appear more than once; rename them so "
                                 "that each column has its own name")
        missing = [name for name in (lat, lon) if name not in schema.names]
        if missing:
            raise PointFileError(f"{self.path} has no column(s) {missing}; it has {schema.names} "
                                 "(name the coordinate columns with --lat-column/--lon-column)")
        for name in (lat, lon):
            kind = schema.field(name).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
                    or pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
                raise PointFileError(f"{self.path}: column {name!r} must hold degrees (numbers), got {kind}")
        if self.is_csv:
            schema = schema.set(schema.get_field_index(lat), pa.field(lat, pa.float64()))
            schema = schema.set(schema.get_field_index(lon), pa.field(lon, pa.float64()))
        self.schema = schema

    def _csv_reader(self, pacsv, column_types):
        try:
            return pacsv.open_csv(self.path, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                                  convert_options=pacsv.ConvertOptions(column_types=column_types))
        except pa.ArrowInvalid as exc:
            raise PointFileError(self._csv_problem(exc)) from None

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

            reader = self._csv_reader(pacsv, {self.lat: pa.string(), self.lon: pa.string()})
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
            lats = _as_float64(batch.column(self.lat))
            lons = _as_float64(batch.column(self.lon))
            bad = ~np.isfinite(lats) | ~np.isfinite(lons) | (np.abs(lats) > 90.0)   # NaN marks missing too
            lats[bad] = 0.0
            lons[bad] = 0.0
            yield PointChunk(batch, lats, wrap_longitude(lons), bad, start, self.lat, self.lon)
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
