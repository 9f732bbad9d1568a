"""Embed a whole point file, streaming: what ``satcle embed --input FILE --output FILE`` runs.

The input (CSV or Parquet, `satcle.core.points.PointReader`) is read one chunk at a
time, each chunk embedded and appended to the output before the next is read, so
memory depends on the chunk size, not on the file's. The output holds every input
column and the embedding, row for row in input order, and is written under a
temporary name and renamed at the end: a failed or interrupted run leaves nothing
at the output path. Embeddings come from a precomputed grid (`Grid.lookup`,
interpolated, points outside its coverage computed live) or the live encoder
(`choose_embedder`).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from .core.atomic import atomic_path
from .core.errors import BadRowError, InvalidArgumentError
from .core.paths import default_grid_dir
from .core.points import PointChunk, PointReader

OUTPUT_SUFFIXES = (".parquet", ".csv", ".npy")
ON_BAD_ROW = ("error", "null")
EMBEDDING_COLUMN = "embedding"


@dataclass(frozen=True)
class Embedder:
    """Where embeddings come from. embed: (n,) lats, (n,) lons in degrees (valid,
    longitudes wrapped) -> (n, dim) float32. description: one line for the user."""

    embed: Callable[[np.ndarray, np.ndarray], np.ndarray]
    dim: int
    description: str


@dataclass(frozen=True)
class EmbedFileSummary:
    rows: int
    null_rows: int
    seconds: float


def choose_embedder(grid: Path | None = None, live: bool = False, model: str | None = None,
                    batch_size: int = 16384) -> Embedder:
    """The grid at `grid`; with `live`, the encoder `model`; with neither, the default
    grid (`default_grid_dir()`) when it exists and was built with `model` (default:
    "default"), else the live encoder. Raises InvalidArgumentError for `grid` with
    `live`, or `grid` with another `model` than the grid's; GridNotFoundError or
    GridFormatError for a `grid` that is not a complete grid."""
    from .grid.format.store import MANIFEST_FILE, read_manifest

    if grid is not None and live:
        raise InvalidArgumentError("give --grid DIR or --live, not both")
    name = model or "default"
    if grid is None and not live:
        candidate = default_grid_dir()
        if (candidate / MANIFEST_FILE).is_file() and read_manifest(candidate).model_name == name:
            grid = candidate
    if grid is None:
        from .model import load_encoder

        encoder = load_encoder(name)
        why = "" if live else f" (no grid of model {name!r} at {default_grid_dir()}: `satcle-grid build` makes one)"
        untrained = "" if encoder.metadata.get("trained", True) else " - UNTRAINED placeholder weights"
        return Embedder(lambda lats, lons: encoder.encode(lats, lons, batch_size=batch_size),
                        encoder.config.output_dim, f"the live encoder, model {name!r}{untrained}{why}")
    from .grid.lookup import open_grid

    opened = open_grid(grid)
    manifest = opened.manifest
    if model is not None and model != manifest.model_name:
        raise InvalidArgumentError(f"--model {model!r}, but the grid {grid} was built with {manifest.model_name!r}")
    return Embedder(opened.lookup, opened.dim,
                    f"the grid {grid} (model {manifest.model_name!r}, H3 res {manifest.resolution}, "
                    "interpolated; points outside its coverage computed live)")


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


def embeddings_column(embeddings: np.ndarray, null: np.ndarray) -> pa.FixedSizeListArray:
    """(n, D) float32 -> Arrow FIXED_SIZE_LIST<float32>[D], null where `null` (n,) bool."""
    values = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(values, embeddings.shape[1],
                                             mask=pa.array(null) if null.any() else None)


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


class _CsvSink(_ParquetSink):
    def __init__(self, path: Path, schema: pa.Schema, dim: int):
        import pyarrow.csv as pacsv

        self.schema = pa.schema([*schema, *(pa.field(name, pa.float32()) for name in csv_embedding_names(dim))])
        self.writer = pacsv.CSVWriter(path, self.schema)

    def write(self, columns: pa.RecordBatch, embeddings: np.ndarray, null: np.ndarray) -> None:
        mask = pa.array(null) if null.any() else None
        arrays = [*columns.columns, *(pa.array(embeddings[:, i], mask=mask) for i in range(embeddings.shape[1]))]
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))


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
