"""The one definition of a satcle grid on disk, shared by builder and readers.

A grid is a directory:

* ``partitions/<parent-h3-hex>.parquet`` - one file per coarse ancestor cell,
  one row per H3 cell, sorted by ``h3``; schema from `partition_schema`;
* ``manifest.json`` - `Manifest`, written last and atomically: a directory
  without one is not a grid (a build in progress or one that crashed);
* ``satcle.duckdb`` - a DuckDB database with a view over the partitions;
* ``pyramid/r<res>.parquet`` - one file per coarser resolution 0..res-1 (the
  H3 pyramid, `PyramidLevel`): each parent cell's embedding is the mean of its
  stored children one resolution finer, with their count in ``children``
  (fewer than 7 at coasts; pentagons have 6). Grids without it (``pyramid``
  absent from the manifest) are single-resolution grids;
* ``lookup/*.npy`` - the same rows, and the cell index the lookup searches, as
  raw arrays a reader memory-maps (`LookupInfo`; `satcle.grid.format.lookup_files`).

Integrity: the manifest's ``checksums`` maps every other file of the grid
(partitions, ``satcle.duckdb``, the lookup files, the pyramid, any other file a
builder adds) to its ``xxh3_128`` checksum (`satcle.core.checksum`), verified by
every open; the Parquet files also carry page checksums, so DuckDB and pyarrow
readers catch damage too. The manifest protects itself: ``manifest_checksum`` is
the ``xxh3_128`` of the manifest's other fields (`manifest_checksum`), so an edit
of any value (a raster constant, a resolution, a checksum) is refused by
`read_manifest`. This is the only format this satcle reads (`FORMAT_VERSION`);
a grid of another is refused with the command that rebuilds it.

Columns: ``h3`` UINT64, ``lat``/``lon`` FLOAT64 (cell centre, degrees),
``embedding`` FIXED_SIZE_LIST<float16|int8|float32>[D], ``scale`` FLOAT32 (int8
only: row i dequantises as embedding[i] * scale[i]) and, when the build measured
it, ``interp_error`` FLOAT32: an upper estimate of the relative error
‖interpolated - live‖ / ‖live‖ of an interpolated lookup inside the cell.
Grids built since GeoParquet support also end with ``geometry`` BINARY: the
centre as a WKB point (lon, lat), described by GeoParquet ``geo`` file metadata
(version 1.1.0, encoding WKB, CRS OGC:CRS84 by default), so that GeoPandas, QGIS
or DuckDB's spatial extension read the files as point layers. Readers here ignore
it (files without it are the same grid format).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pyarrow as pa

from ...core.atomic import write_atomic
from ...core.checksum import bytes_checksum, check_checksum_text
from ...core.errors import GridFormatError, GridNotFoundError, InvalidArgumentError
from ...core.version import __version__

__all__ = [
    "COVERAGES",
    "DUCKDB_FILE",
    "EMBEDDING_DTYPES",
    "FORMAT_VERSION",
    "GEOMETRY_COLUMN",
    "GEO_METADATA",
    "IDENTITY_FIELDS",
    "LookupFile",
    "LookupInfo",
    "MANIFEST_FILE",
    "Manifest",
    "PARTITIONS_DIR",
    "PartitionInfo",
    "PYRAMID_AGGREGATION",
    "PYRAMID_DIR",
    "PyramidLevel",
    "pyramid_file",
    "pyramid_schema",
    "dequantize",
    "embeddings_from_arrow",
    "embeddings_to_arrow",
    "partition_schema",
    "quantize",
    "read_manifest",
    "rebuild_command",
    "without_geometry",
    "wkb_points",
    "write_manifest",
]

# 2: the manifest's own checksum (``manifest_checksum``); partitions listed without a sha256.
FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"
PARTITIONS_DIR = "partitions"
DUCKDB_FILE = "satcle.duckdb"
PYRAMID_DIR = "pyramid"
# How a pyramid level is computed, recorded in the manifest beside the levels.
PYRAMID_AGGREGATION = ("mean of the stored children one resolution finer (dequantised, averaged in float32, "
                       "re-quantised in the grid's dtype); column children = their count (< 7 at coasts, "
                       "pentagons 6)")
EMBEDDING_DTYPES = ("float16", "int8", "float32")
COVERAGES = ("land", "global")

_ARROW_TYPES = {"float16": pa.float16(), "int8": pa.int8(), "float32": pa.float32()}
GEOMETRY_COLUMN = "geometry"
# GeoParquet file metadata of the geometry column (no "crs": OGC:CRS84, lon/lat on WGS 84).
GEO_METADATA = json.dumps({
    "version": "1.1.0",
    "primary_column": GEOMETRY_COLUMN,
    "columns": {GEOMETRY_COLUMN: {"encoding": "WKB", "geometry_types": ["Point"]}},
}, sort_keys=True)


def partition_schema(dim: int, dtype: str, *, with_error: bool = False, with_geometry: bool = False,
                     metadata: dict | None = None) -> pa.Schema:
    """Arrow schema of one partition file.

    dim: embedding size D; dtype: one of EMBEDDING_DTYPES; with_error: add the
    ``interp_error`` column; with_geometry: end with the GeoParquet ``geometry``
    column and add the ``geo`` key to the metadata; metadata: str -> str key-value
    pairs for the file.
    """
    _check_dtype(dtype)
    fields = [
        pa.field("h3", pa.uint64(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("embedding", pa.list_(_ARROW_TYPES[dtype], dim), nullable=False),
    ]
    if dtype == "int8":
        fields.append(pa.field("scale", pa.float32(), nullable=False))
    if with_error:
        fields.append(pa.field("interp_error", pa.float32(), nullable=False))
    metadata = {k: str(v) for k, v in (metadata or {}).items()}
    if with_geometry:
        fields.append(pa.field(GEOMETRY_COLUMN, pa.binary(), nullable=False))
        metadata["geo"] = GEO_METADATA
    return pa.schema(fields, metadata=metadata)


def pyramid_schema(dim: int, dtype: str, *, metadata: dict | None = None) -> pa.Schema:
    """Arrow schema of one pyramid level file: the partition columns without
    ``interp_error`` and ``geometry``, then ``children`` UINT8 (how many stored
    cells one resolution finer the row is the mean of)."""
    schema = partition_schema(dim, dtype, metadata=metadata)
    return schema.append(pa.field("children", pa.uint8(), nullable=False))


def without_geometry(schema: pa.Schema) -> pa.Schema:
    """`schema` less a trailing GeoParquet ``geometry`` column, if it has one."""
    if schema.names and schema.names[-1] == GEOMETRY_COLUMN:
        return schema.remove(len(schema.names) - 1)
    return schema


# WKB point, little-endian: byte order 1, geometry type 1 (Point), x, y.
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def wkb_points(lats: np.ndarray, lons: np.ndarray) -> pa.BinaryArray:
    """Points (degrees, (N,)) as WKB (x = lon, y = lat), 21 bytes each, vectorised."""
    lats, lons = np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64)
    records = np.empty(lats.size, dtype=_WKB_POINT)
    records["order"], records["type"], records["x"], records["y"] = 1, 1, lons, lats
    offsets = np.arange(lats.size + 1, dtype=np.int32) * _WKB_POINT.itemsize
    return pa.Array.from_buffers(pa.binary(), lats.size, [None, pa.py_buffer(offsets),
                                                          pa.py_buffer(records.tobytes())])


def quantize(embeddings: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Store float32 embeddings (N, D) as `dtype`.

    Returns (values (N, D) of dtype, scale (N,) float32 or None). int8 is
    symmetric per row: scale = max|row| / 127, values = round(row / scale), so
    the absolute error per value is at most scale / 2.
    """
    _check_dtype(dtype)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if dtype != "int8":
        with np.errstate(over="ignore"):   # beyond float16's range: inf (never stored: the builder checks)
            return embeddings.astype(dtype), None
    peak = np.abs(embeddings).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    values = np.clip(np.rint(embeddings / scale[:, None]), -127, 127).astype(np.int8)
    return values, scale


def dequantize(values: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """Inverse of `quantize`: (N, D) float32."""
    out = values.astype(np.float32)
    if scale is not None:
        out *= scale[:, None]
    return out


def embeddings_to_arrow(values: np.ndarray) -> pa.FixedSizeListArray:
    """(N, D) numpy array -> Arrow FIXED_SIZE_LIST<dtype>[D] without copying rows one by one."""
    values = np.ascontiguousarray(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def embeddings_from_arrow(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Arrow FIXED_SIZE_LIST column -> (N, D) C-contiguous numpy array in the stored
    dtype: one copy, each chunk's values viewed in place and copied to their rows."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    dim = column.type.list_size
    out = np.empty((len(column), dim), dtype=column.type.value_type.to_pandas_dtype())
    at = 0
    for chunk in chunks:
        out[at: at + len(chunk)] = chunk.flatten().to_numpy(zero_copy_only=True).reshape(-1, dim)
        at += len(chunk)
    return out


@dataclass(frozen=True)
class PartitionInfo:
    """One partition file: path relative to the grid directory, rows (its checksum is in
    the manifest's ``checksums``, like every other file's)."""

    file: str
    rows: int


@dataclass(frozen=True)
class PyramidLevel:
    """One coarser resolution of the grid (``manifest.json``'s ``pyramid``): its
    resolution, file (relative path), rows, the file's size, and how many of those parents have
    fewer stored children than H3 gives them (coastal parents, and parents of
    partial coverage)."""

    resolution: int
    file: str
    rows: int
    bytes: int
    partial_parents: int


@dataclass(frozen=True)
class LookupFile:
    """One lookup file: the array it holds, its path relative to the grid directory, its size
    (its checksum is in the manifest's ``checksums``, like every other file's)."""

    name: str
    file: str
    bytes: int


@dataclass(frozen=True)
class LookupInfo:
    """The lookup files of a grid (``manifest.json``'s ``lookup``): their layout
    version, the files, and the scalar constants of the cell index they hold
    (str -> number: raster size and search radius)."""

    version: int
    files: tuple[LookupFile, ...]
    index: dict

    @classmethod
    def from_dict(cls, document: dict) -> "LookupInfo":
        files = tuple(LookupFile(**entry) for entry in document["files"])
        for entry in files:
            _check_partition_path(entry.file)
        return cls(version=document["version"], files=files, index=dict(document["index"]))


# The fields that make two manifests the same grid: a build resumed into a
# directory must match them, and every partition file records them.
IDENTITY_FIELDS = ("model_name", "model_sha256", "resolution", "partition_resolution", "coverage", "dtype", "dim",
                   "has_interp_error")


@dataclass(frozen=True)
class Manifest:
    """What a grid is: its identity (`IDENTITY_FIELDS`), its partitions and its
    build. `manifest.json` holds exactly these fields and ``manifest_checksum``
    (`to_json`); a build in progress holds one with no partitions (and no lookup
    files) as its identity."""

    library_version: str
    model_name: str
    model_sha256: str
    model_config: dict
    resolution: int
    partition_resolution: int
    coverage: str
    dtype: str
    dim: int
    total_cells: int
    partitions: tuple[PartitionInfo, ...]
    build_started: str
    build_finished: str
    has_interp_error: bool = False
    format_version: int = FORMAT_VERSION
    # Relative path -> "xxh3_128:<hex>" of every file of the grid but the manifest.
    checksums: dict = dataclasses.field(default_factory=dict)
    lookup: LookupInfo | None = None
    # The coarser resolutions, finest first (empty: a single-resolution grid), and how they are computed.
    pyramid: tuple[PyramidLevel, ...] = ()
    pyramid_aggregation: str = ""
    # Where the model directory was at build time, for a model not shipped with satcle
    # (e.g. `satcle import`): live fallbacks load it from there. Empty for shipped models.
    model_path: str = ""

    def identity(self) -> tuple:
        """The values of `IDENTITY_FIELDS`, less the model's name (a renamed model is the same model)."""
        return tuple(getattr(self, name) for name in IDENTITY_FIELDS if name != "model_name")

    def partition_metadata(self, parent: int) -> dict[str, str]:
        """Parquet key-value metadata of this grid's partition under `parent` (H3 id):
        the identity, so that a file of another grid is recognised."""
        return {
            "satcle_format_version": str(self.format_version),
            "satcle_model_name": self.model_name,
            "satcle_model_sha256": self.model_sha256,
            "satcle_resolution": str(self.resolution),
            "satcle_partition_resolution": str(self.partition_resolution),
            "satcle_coverage": self.coverage,
            "satcle_dtype": self.dtype,
            "satcle_dim": str(self.dim),
            "satcle_interp_error": str(int(self.has_interp_error)),
            "satcle_geometry": "1",
            "satcle_parent": format(parent, "x"),
        }

    def to_json(self) -> str:
        """The text of ``manifest.json``: every field, sorted, and ``manifest_checksum``
        (`manifest_checksum`) of them."""
        document = self._document()
        return _json_text({**document, MANIFEST_CHECKSUM_FIELD: manifest_checksum(document)})

    def _document(self) -> dict:
        document = dataclasses.asdict(self)
        document["partitions"] = [dataclasses.asdict(p) for p in self.partitions]
        document["pyramid"] = [dataclasses.asdict(level) for level in self.pyramid]
        if self.lookup is None:
            del document["lookup"]   # a build's identity, before its lookup files exist
        return document

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        """The manifest of ``manifest.json``'s text. Raises GridFormatError for another
        format (naming the satcle that wrote it), a ``manifest_checksum`` that does not
        match the other fields (an edit or damage), or fields that are not this format's."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise GridFormatError("manifest is not a JSON object")
        version = document.get("format_version")
        if version != FORMAT_VERSION:
            raise GridFormatError(f"written by satcle {document.get('library_version', '?')}, format {version!r}; "
                                  f"this satcle ({__version__}) reads format {FORMAT_VERSION} only")
        recorded = document.pop(MANIFEST_CHECKSUM_FIELD, None)
        if recorded != manifest_checksum(document):
            raise GridFormatError(f"{MANIFEST_CHECKSUM_FIELD} {recorded!r} does not match the manifest's content "
                                  "(it was edited or damaged)")
        document["partitions"] = tuple(PartitionInfo(**p) for p in document["partitions"])
        if document.get("lookup") is not None:
            document["lookup"] = LookupInfo.from_dict(document["lookup"])
        document["pyramid"] = tuple(PyramidLevel(**level) for level in document.get("pyramid", ()))
        for part in document["partitions"] + document["pyramid"]:
            _check_partition_path(part.file)
        checksums = document.get("checksums", {})
        if not isinstance(checksums, dict):
            raise GridFormatError("checksums is not a JSON object")
        for file, checksum in checksums.items():
            _check_partition_path(file)
            try:
                check_checksum_text(checksum)
            except InvalidArgumentError as exc:
                raise GridFormatError(f"{file}: {exc}") from None
        manifest = cls(**document)
        _check_dtype(manifest.dtype)
        if manifest.total_cells != sum(p.rows for p in manifest.partitions):
            raise GridFormatError("total_cells does not equal the sum of partition rows")
        return manifest


# The manifest's field holding the checksum of all the others.
MANIFEST_CHECKSUM_FIELD = "manifest_checksum"


def _json_text(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def manifest_checksum(document: dict) -> str:
    """``"xxh3_128:<hex>"`` of a manifest's fields (a JSON object without
    ``manifest_checksum``), over their canonical text (sorted keys, 2-space indent):
    the same for the fields as written and as parsed back, whatever the file's layout."""
    return bytes_checksum(_json_text(document).encode())


def pyramid_file(resolution: int) -> str:
    """Relative path of the pyramid level of `resolution`."""
    return f"{PYRAMID_DIR}/r{resolution}.parquet"


def read_manifest(grid_dir: str | os.PathLike) -> Manifest:
    """Read and validate ``manifest.json`` of a grid directory.

    Raises GridNotFoundError when `grid_dir` is not a directory, else
    GridFormatError naming the problem: no manifest (not a grid, or a build
    that did not finish), unreadable or inconsistent manifest, a partition path
    that is absolute, climbs with ``..`` or (through a symbolic link) resolves
    outside `grid_dir`. Every reader of a grid (`open_grid`, `verify_grid`,
    `satcle.connect`, ``satcle-grid info``) reads its manifest here.
    """
    grid_dir = Path(grid_dir)
    if not grid_dir.is_dir():
        raise GridNotFoundError(f"no grid at {grid_dir}: not a directory (build one with `satcle-grid build`)")
    path = grid_dir / MANIFEST_FILE
    if not path.is_file():
        raise GridFormatError(
            f"{grid_dir} is not a complete grid: {MANIFEST_FILE} is missing "
            "(build it with `satcle-grid build`, or re-run an interrupted build to finish it)"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GridFormatError(f"{path} is unreadable ({exc}); {rebuild_command(grid_dir)}") from None
    try:
        manifest = Manifest.from_json(text)
    except GridFormatError as exc:
        raise GridFormatError(f"{path}: {exc}; {rebuild_command(grid_dir, text)}") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise GridFormatError(f"{path} is corrupt ({type(exc).__name__}: {exc}); "
                              f"{rebuild_command(grid_dir, text)}") from None
    root = grid_dir.resolve()
    listed = [part.file for part in manifest.partitions] + sorted(manifest.checksums)
    listed += [entry.file for entry in manifest.lookup.files] if manifest.lookup is not None else []
    listed += [level.file for level in manifest.pyramid]
    for file in listed:
        # After symbolic links: a link inside the directory may not lead out of it.
        if not (grid_dir / file).resolve().is_relative_to(root):
            raise GridFormatError(f"{path}: file {file!r} resolves outside the grid directory {root}")
    return manifest


def rebuild_command(grid_dir: str | os.PathLike, manifest_text: str = "") -> str:
    """'rebuild it with `satcle-grid build ... --out DIR`': the build options read from
    a manifest's text where it has them (any format), else the command's defaults."""
    try:
        document = json.loads(manifest_text)
    except ValueError:
        document = {}
    document = document if isinstance(document, dict) else {}
    options = [f"--{option} {document[field]}" for option, field in
               (("res", "resolution"), ("coverage", "coverage"), ("dtype", "dtype"), ("model", "model_name"))
               if isinstance(document.get(field), (str, int)) and str(document[field]).isprintable()
               and " " not in str(document[field])]
    if document.get("has_interp_error") is False:
        options.append("--no-error-bound")
    return (f"rebuild it with `satcle-grid build {' '.join(options + [f'--out {grid_dir}'])}` "
            "(files it cannot use are rebuilt)")


def write_manifest(grid_dir: str | os.PathLike, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically (temporary file, then rename)."""
    return write_atomic(Path(grid_dir) / MANIFEST_FILE, manifest.to_json().encode())


def _check_partition_path(file: object) -> None:
    """Raise GridFormatError unless `file` is a relative path that stays inside
    the grid directory as written (no absolute path, drive, ``..`` or backslash):
    a manifest is read from directories of unknown origin, and its paths are opened
    and hashed."""
    if not isinstance(file, str) or not file:
        raise GridFormatError(f"partition file {file!r} is not a path")
    posix = PurePosixPath(file)
    if (posix.is_absolute() or PureWindowsPath(file).anchor or "\\" in file or ".." in posix.parts):
        raise GridFormatError(f"partition file {file!r} must be a relative path inside the grid directory")


def _check_dtype(dtype: str) -> None:
    if dtype not in EMBEDDING_DTYPES:
        raise InvalidArgumentError(f"dtype must be one of {EMBEDDING_DTYPES}, got {dtype!r}")
