"""Embed a whole point file, streaming: what ``satcle embed --input FILE --output FILE`` runs.

The input (CSV or Parquet, `satcle.frames.point_files.PointReader`) is read one chunk at a
time, each chunk embedded and appended to the output before the next is read, so
memory depends on the chunk size, not on the file's. The output holds every input
column and the embedding, row for row in input order, and is written under a
temporary name and renamed at the end: a failed or interrupted run leaves nothing
at the output path. Embeddings come from a precomputed grid (`Grid.lookup`,
interpolated, points outside its coverage computed live) or the live encoder
(`satcle.frames.source.choose_embedder`). Every other column comes out as the
reader gives it: a CSV's as its text, a Parquet file's in its types, a
GeoParquet file's geometry and ``geo`` metadata too (GeoParquet out).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..core.atomic import atomic_path
from ..core.errors import BadRowError, InvalidArgumentError
from .point_files import PointChunk, PointReader
from .source import Embedder, embeddings_column

OUTPUT_SUFFIXES = (".parquet", ".csv", ".npy")
ON_BAD_ROW = ("error", "null")
EMBEDDING_COLUMN = "embedding"


@dataclass(frozen=True)
class EmbedFileSummary:
    rows: int
    null_rows: int
    seconds: float


def embed_file(reader: PointReader, output: str | Path, embedder: Embedder, *, on_bad_row: str = "error",
               progress: bool = True) -> EmbedFileSummary:
    """Embed every row of `reader` into `output` (.parquet, .csv or .npy), atomically.

    .parquet: the input's columns (a CSV's coordinates as float64) and
    ``embedding`` FLOAT[D] (a fixed-size list of float32), one row group per chunk;
    .csv: the input's columns and e0..e{D-1}; .npy: the (N, D) float32 array alone.
    on_bad_row: "error" stops at the first bad row (BadRowError naming its 1-based
    row number, nothing written); "null" writes a null embedding (NaN rows in
    .npy) for it. progress: a bar of rows and rows/s on stderr.
    """
    from tqdm import tqdm

    if on_bad_row not in ON_BAD_ROW:
        raise InvalidArgumentError(f"on_bad_row must be one of {ON_BAD_ROW}, got {on_bad_row!r}")
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InvalidArgumentError(f"unsupported output {output}: use {', '.join(OUTPUT_SUFFIXES)}")
    if output.resolve() == reader.path.resolve():
        raise InvalidArgumentError(f"{output} is the input file; choose another output")
    if EMBEDDING_COLUMN in reader.schema.names and suffix == ".parquet":
        raise InvalidArgumentError(f"{reader.path} already has a column {EMBEDDING_COLUMN!r}")
    taken = [name for name in reader.schema.names if name in csv_embedding_names(embedder.dim)]
    if taken and suffix == ".csv":
        raise InvalidArgumentError(f"{reader.path} has column(s) {taken}, which the embedding's CSV columns "
                                   f"e0..e{embedder.dim - 1} would repeat: rename them, or write .parquet (one "
                                   f"{EMBEDDING_COLUMN!r} column) or .npy")
    started = time.perf_counter()
    rows = nulls = 0
    bar = tqdm(total=reader.num_rows, unit=" rows", unit_scale=True, file=sys.stderr, disable=not progress,
               desc="embed")
    with bar, atomic_path(output) as tmp, _SINKS[suffix](tmp, reader.schema, embedder.dim) as sink:
        for chunk in reader:
            embeddings = _embed_chunk(chunk, embedder, on_bad_row)
            sink.write(chunk.columns, embeddings, chunk.bad)
            rows += chunk.columns.num_rows
            nulls += int(chunk.bad.sum())
            bar.update(chunk.columns.num_rows)
    return EmbedFileSummary(rows, nulls, time.perf_counter() - started)


def _embed_chunk(chunk: PointChunk, embedder: Embedder, on_bad_row: str) -> np.ndarray:
    """(n, D) float32 embeddings of a chunk; rows of bad points are NaN (with "null")."""
    if not chunk.bad.any():
        return embedder.embed(chunk.lats, chunk.lons)
    if on_bad_row == "error":
        raise BadRowError(f"{chunk.describe(int(np.argmax(chunk.bad)))} "
                          "(--on-bad-row null writes a null embedding instead)")
    good = ~chunk.bad
    out = np.full((chunk.bad.size, embedder.dim), np.nan, dtype=np.float32)
    out[good] = embedder.embed(chunk.lats[good], chunk.lons[good])
    return out


def write_embeddings(output: str | Path, columns: pa.Table, embeddings: np.ndarray) -> None:
    """Write `columns` (N rows) and (N, D) float32 `embeddings` to `output` (.parquet, .csv
    or .npy, laid out as `embed_file` writes them), atomically: what ``satcle embed POINTS
    --output FILE`` writes, through the same writers as a whole file."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InvalidArgumentError(f"unsupported output {output}: use {', '.join(OUTPUT_SUFFIXES)}")
    null = np.zeros(embeddings.shape[0], dtype=bool)
    batch = columns.combine_chunks().to_batches()
    batch = batch[0] if batch else pa.RecordBatch.from_pylist([], schema=columns.schema)
    with atomic_path(output) as tmp, _SINKS[suffix](tmp, columns.schema, embeddings.shape[1]) as sink:
        sink.write(batch, embeddings, null)


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema, dim: int):
        import pyarrow.parquet as pq

        self.schema = schema.append(pa.field(EMBEDDING_COLUMN, pa.list_(pa.float32(), dim)))
        # No dictionary for the embedding: distinct floats, and its hash table would cost ~ the chunk again.
        self.writer = pq.ParquetWriter(path, self.schema, use_dictionary=list(schema.names))

    def write(self, columns: pa.RecordBatch, embeddings: np.ndarray, null: np.ndarray) -> None:
        arrays = [*columns.columns, embeddings_column(embeddings, null)]
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.writer.close()


def csv_embedding_names(dim: int) -> list[str]:
    """The CSV output's embedding columns: e0..e{dim-1}."""
    return [f"e{i}" for i in range(dim)]


class _CsvSink:
    """CSV with quotes only where a field needs them (a comma, a quote or a line break in
    it), like Python's csv module: a field the user wrote without quotes comes out as
    the same bytes. (Arrow's CSV writer quotes every string.) Lines are assembled by
    Arrow compute, column by column, not row by row in Python."""

    def __init__(self, path: Path, schema: pa.Schema, dim: int):
        self.names = [*schema.names, *csv_embedding_names(dim)]
        self.file = open(path, "wb")
        self.file.write((",".join(_csv_field(name) for name in self.names) + "\n").encode())

    def write(self, columns: pa.RecordBatch, embeddings: np.ndarray, null: np.ndarray) -> None:
        import pyarrow.compute as pc

        mask = pa.array(null) if null.any() else None
        texts = [_csv_text(column, name) for column, name in zip(columns.columns, columns.schema.names)]
        texts += [_csv_text(pa.array(embeddings[:, i], mask=mask), f"e{i}") for i in range(embeddings.shape[1])]
        if not texts or not columns.num_rows and not embeddings.shape[0]:
            return
        texts[-1] = pc.binary_join_element_wise(texts[-1], "\n", "")   # each line's end, on the shortest column
        lines = pc.binary_join_element_wise(*texts, ",")
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
        self.file.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n\r') else text


def _csv_text(column: pa.Array, name: str) -> pa.Array:
    """A column as CSV fields: its values as text (Arrow's formatting; null -> empty), quoted where needed."""
    import pyarrow.compute as pc

    try:
        text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        raise InvalidArgumentError(f"column {name!r} of type {column.type} cannot be written to CSV; "
                                   "write .parquet instead") from None
    text = pc.fill_null(text, "")
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type) and not (
            pa.types.is_binary(column.type)):
        return text   # numbers, dates, booleans: never a comma or quote
    special = pc.match_substring_regex(text, '[,"\n\r]')
    if not pc.any(special).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(special, quoted, text)


class _NpySink:
    """The (N, D) float32 array: rows go to a raw file beside the output as they come
    (N is unknown until the end), then behind the .npy header."""

    def __init__(self, path: Path, schema: pa.Schema, dim: int):
        self.path, self.dim, self.rows = path, dim, 0
        self.raw_path = path.with_name(path.name + ".raw")
        self.raw = open(self.raw_path, "wb")

    def write(self, columns: pa.RecordBatch, embeddings: np.ndarray, null: np.ndarray) -> None:
        self.raw.write(np.ascontiguousarray(embeddings, dtype="<f4").tobytes())
        self.rows += embeddings.shape[0]

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.raw.close()
        try:
            if exc_type is None:
                header = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.dim)}
                with open(self.path, "wb") as out, open(self.raw_path, "rb") as raw:
                    np.lib.format.write_array_header_1_0(out, header)
                    shutil.copyfileobj(raw, out, 16 << 20)
        finally:
            self.raw_path.unlink(missing_ok=True)


_SINKS = {".parquet": _ParquetSink, ".csv": _CsvSink, ".npy": _NpySink}
