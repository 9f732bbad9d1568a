"""Check a grid's files against its manifest: one set of checks, used by
`open_grid` (which raises on the first problem) and by
``satcle-grid verify`` (which lists all).

* `checksum_problems`: every file the manifest lists under ``checksums`` is there
  with that ``xxh3_128`` checksum (generic over files);
* `check_grid_files`: the checksums and the partitions' identity, raising on the
  first problem (what every default open checks);
* `partition_problem`: one partition's footer (schema, rows, the grid identity its
  metadata records: `footer_problem`, which the builder also runs on the partitions
  a resumed build keeps);
* `content_problem`: one partition decoded completely, Parquet page checksums
  verified, every value finite and every centre a coordinate;
* `lookup_file_problem` (`lookup_files`) and `lookup_content_problem`: the
  lookup files' presence, size, shape and values;
* `verify_grid`: all of them, and the ``satcle.duckdb`` view's definition.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...core.checksum import bytes_checksum, file_checksum
from .duckdb_view import database_problem
from ...core.errors import GridFormatError
from .index_layout import index_problem
from .lookup_files import LOOKUP_DIR, lookup_file, lookup_file_problem, map_lookup_arrays
from .store import DUCKDB_FILE, MANIFEST_FILE, Manifest, PartitionInfo, embeddings_from_arrow, partition_schema, \
    read_manifest, rebuild_command, without_geometry

# Partition metadata keys that must equal the manifest's: the grid's identity
# (the model's name may differ: a renamed model is the same model).
_IDENTITY_KEYS = ("satcle_model_sha256", "satcle_resolution", "satcle_partition_resolution", "satcle_coverage",
                  "satcle_dtype", "satcle_dim", "satcle_interp_error")
# Files checksummed at once: reading from the page cache and xxh3 both release the GIL.
_CHECKSUM_THREADS = 4


def checksum_problems(grid_dir: str | os.PathLike, manifest: Manifest,
                      mapped: Mapping[str, mmap.mmap] | None = None) -> list[str]:
    """Files listed in `manifest.checksums` that are missing or whose ``xxh3_128``
    differs, and partitions, lookup files or pyramid levels it does not list, one line
    each naming the file; [] when all match.

    mapped: {file as the manifest names it: a read-only mapping of the whole file}
    (`map_lookup_files`): those files are hashed through the mapping, which maps
    their pages into the process as a side effect (cheaper than reading them into a
    buffer, and the lookup that follows then takes no page faults on them)."""
    root = Path(grid_dir)
    mapped = mapped or {}

    def problem(item: tuple[str, str]) -> str | None:
        file, recorded = item
        path = root / file
        if file in mapped:
            found = bytes_checksum(mapped[file])
        elif not path.is_file():
            return f"{file}: listed in the manifest but missing"
        else:
            found = file_checksum(path)
        if found != recorded:
            return f"{file} is corrupt: checksum {found} does not match the manifest's {recorded}"
        return None

    unlisted = [f"{p.file}: the manifest records no checksum for this partition"
                for p in manifest.partitions if p.file not in manifest.checksums]
    if manifest.lookup is not None:
        unlisted += [f"{f.file}: the manifest records no checksum for this lookup file"
                     for f in manifest.lookup.files if f.file not in manifest.checksums]
    unlisted += [f"{level.file}: the manifest records no checksum for this pyramid level"
                 for level in manifest.pyramid if level.file not in manifest.checksums]
    items = sorted(manifest.checksums.items())
    with ThreadPoolExecutor(min(_CHECKSUM_THREADS, max(1, len(items)))) as pool:
        return unlisted + [p for p in pool.map(problem, items) if p is not None]


def check_grid_files(path: Path, manifest: Manifest, mapped: Mapping[str, mmap.mmap] | None = None) -> None:
    """Raise GridFormatError unless every file the manifest lists has its recorded
    checksum and every partition's footer is of this grid (a grid whose rows are
    mapped from its lookup files still serves SQL from its partitions). What `open_grid` checks by
    default and ``satcle-grid sql`` before it starts a shell. `mapped`: as `checksum_problems`."""
    problems = checksum_problems(path, manifest, mapped)
    if problems:
        more = f" (and {len(problems) - 1} more files)" if len(problems) > 1 else ""
        raise GridFormatError(f"{path}: {problems[0]}{more}; `satcle-grid verify {path}` lists every problem, "
                              "re-running the build that wrote the grid rebuilds damaged files")
    # Footers only: cheap (metadata), and they catch partitions of another build.
    for part in manifest.partitions:
        problem = partition_problem(path, part, manifest)
        if problem is not None:
            raise GridFormatError(f"{path}: {problem}")


def partition_problem(grid_dir: Path, part: PartitionInfo, manifest: Manifest) -> str | None:
    """What is wrong with one partition file of the grid at `grid_dir`, or None: the
    file is missing, or its footer (`footer_problem`). The line names the file."""
    path = grid_dir / part.file
    if not path.is_file():
        return f"{part.file}: partition listed in the manifest is missing"
    try:
        metadata = pq.read_metadata(path)
    except (OSError, pa.ArrowException) as exc:
        return f"{part.file} is unreadable: {exc}"
    return footer_problem(part.file, metadata, manifest, rows=part.rows)


# Why a footer is not this grid's: the first words of `footer_problem`'s line.
OTHER_GRID = "belongs to another grid"


def footer_problem(file: str, metadata: pq.FileMetaData, manifest: Manifest, *, rows: int | None = None,
                   keys: tuple[str, ...] = _IDENTITY_KEYS) -> str | None:
    """What is wrong with a partition's Parquet footer (`metadata`) for the grid
    `manifest` describes, or None. In order: its metadata records another grid in
    one of `keys` (model sha256, resolution, dtype...: a partition of another build;
    the line then says `OTHER_GRID`); its schema (less a GeoParquet geometry column)
    is not the grid's; its row count is not `rows` (when given). Named `file`."""
    found = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (metadata.metadata or {}).items()}
    wanted = manifest.partition_metadata(0)
    differing = [k for k in keys if found.get(k) != wanted[k]]
    if differing:
        key = differing[0]
        return (f"{file} {OTHER_GRID}: its {key} is {found.get(key)!r}, the manifest's "
                f"{wanted[key]!r} (a build mixed into this directory; rebuild it)")
    schema = without_geometry(metadata.schema.to_arrow_schema().remove_metadata())
    expected = expected_schema(manifest)
    if not schema.equals(expected):
        return f"{file} has schema {_short(schema)}, expected {_short(expected)}"
    if rows is not None and metadata.num_rows != rows:
        return f"{file} has {metadata.num_rows} rows, the manifest says {rows}"
    return None


def _short(schema: pa.Schema) -> str:
    """A schema on one line: 'h3: uint64, lat: double, ...'."""
    return ", ".join(f"{field.name}: {field.type}" for field in schema)


def content_problem(grid_dir: Path, part: PartitionInfo) -> str | None:
    """What is wrong with the values of one partition, or None: decoded completely
    with Parquet page checksums verified (files written without them decode
    unchecked), coordinates finite and in range, embeddings, scales and error
    bounds finite (scales > 0, bounds >= 0)."""
    try:
        table = pq.read_table(grid_dir / part.file, page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        return f"{part.file} is unreadable: {' '.join(str(exc).split())}"
    for name in PER_CELL_RULES:
        if name in table.column_names:
            problem = per_cell_column_problem(name, table.column(name).to_numpy(), table.column("h3").to_numpy())
            if problem is not None:
                return f"{part.file}: {problem}"
    embeddings = embeddings_from_arrow(table.column("embedding"))
    if embeddings.dtype != np.int8:
        bad = np.flatnonzero(~np.isfinite(embeddings).all(axis=1))
        if bad.size:
            return f"{part.file}: {bad.size} rows with non-finite embedding values (row {bad[0]})"
    return None


# What each per-cell column must hold (degrees for lat/lon): checked on every open
# (one value per cell, cheap) and by `content_problem`.
PER_CELL_RULES = {
    "lat": lambda v: np.isfinite(v) & (np.abs(v) <= 90),
    "lon": lambda v: np.isfinite(v) & (np.abs(v) <= 180),
    "scale": lambda v: np.isfinite(v) & (v > 0),
    "interp_error": lambda v: np.isfinite(v) & (v >= 0),
}


def per_cell_column_problem(name: str, values: np.ndarray, h3: np.ndarray) -> str | None:
    """What is wrong with per-cell column `name` (values (M,), cells h3 (M,) uint64), or None."""
    ok = PER_CELL_RULES[name](values)
    if ok.all():
        return None
    i = int(np.argmin(ok))
    return f"{int((~ok).sum())} cells have a bad {name} (cell {int(h3[i]):x}: {values[i]})"


def expected_schema(manifest: Manifest) -> pa.Schema:
    """The partition schema (without geometry) that `manifest` describes."""
    return partition_schema(manifest.dim, manifest.dtype, with_error=manifest.has_interp_error)


def verify_grid(grid_dir: str | os.PathLike) -> list[str]:
    """Problems found in the grid at `grid_dir`, one line each naming the file; [] if sound.

    Checks every file the manifest lists
    (checksum), every partition (schema, rows, the identity its metadata records,
    every value decoded and finite), every lookup file (present, its size, shape and
    dtype, then `lookup_content_problem`) and ``satcle.duckdb`` (`database_problem`:
    exactly the view the builder writes for this manifest). Raises
    GridNotFoundError when `grid_dir` is not a directory, GridFormatError when its
    manifest is missing, unreadable, edited (its own checksum: nothing it lists could
    be trusted) or of another format (`read_manifest`).
    """
    root = Path(grid_dir)
    manifest = read_manifest(root)
    if manifest.lookup is None:
        return [f"{MANIFEST_FILE}: lists no lookup files; {rebuild_command(root, manifest.to_json())}"]
    problems = checksum_problems(root, manifest)
    reported = {problem.split(":")[0].split(" ")[0] for problem in problems}   # one line per file
    for part in manifest.partitions:
        if part.file in reported:
            continue
        problem = partition_problem(root, part, manifest)
        if problem is None:
            problem = content_problem(root, part)
        if problem is not None:
            problems.append(problem)
    if manifest.lookup is not None:
        lookup_problems = [lookup_file_problem(root, entry, manifest) for entry in manifest.lookup.files
                           if entry.file not in reported]
        lookup_problems = [problem for problem in lookup_problems if problem is not None]
        if not lookup_problems and not any(f.file in reported for f in manifest.lookup.files):
            problem = lookup_content_problem(root, manifest)
            lookup_problems = [problem] if problem is not None else []
        problems += lookup_problems
    all_partitions = all((root / part.file).is_file() for part in manifest.partitions)
    # Also after a checksum mismatch: what the file holds says whether it is safe to open.
    # (The view can only be rebuilt for comparison over the partitions it names.)
    if (root / DUCKDB_FILE).is_file() and all_partitions:
        problem = database_problem(root, manifest)
        if problem is not None:
            problems.append(problem)
    return problems


def lookup_content_problem(grid_dir: Path, manifest: Manifest) -> str | None:
    """What is wrong with the values of a grid's lookup files (their sizes and
    shapes already checked: `lookup_file_problem`), or None: cells in strictly
    ascending H3 order, the partitions' rules (`PER_CELL_RULES`, finite
    embedding values), and a cell index of this layout in bounds (`_index_problem`)."""
    try:
        arrays = map_lookup_arrays(grid_dir, manifest)
    except GridFormatError as exc:
        return str(exc)
    missing = [name for name in ("h3", "lat", "lon", "values") if name not in arrays]
    if missing:
        return f"{LOOKUP_DIR}: the manifest lists no lookup file for {', '.join(missing)}"
    h3 = arrays["h3"]
    if h3.size > 1 and not bool(np.all(h3[1:] > h3[:-1])):
        return f"{lookup_file('h3')}: cells are not in strictly ascending H3 order"
    for name in PER_CELL_RULES:
        if name in arrays:
            problem = per_cell_column_problem(name, arrays[name], h3)
            if problem is not None:
                return f"{lookup_file(name)}: {problem}"
    values = arrays["values"]
    if values.dtype != np.int8:
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if bad.size:
            return f"{lookup_file('values')}: {bad.size} rows with non-finite embedding values (row {bad[0]})"
    return _index_problem(arrays, manifest, h3.size)


def _index_problem(arrays: dict[str, np.ndarray], manifest: Manifest, cells: int) -> str | None:
    """What is wrong with the cell index of a grid's lookup files (`arrays`, mapped),
    or None: `index_problem` (layout, every row, vertex and offset in bounds: what
    the kernels trust), and one entry per cell. The line names the file."""
    problem = index_problem(arrays, manifest.lookup.index)
    if problem is None and arrays["centres"].shape[0] != cells:
        problem = "centres", f"{arrays['centres'].shape[0]} cells, the grid has {cells}"
    if problem is None:
        return None
    name, what = problem
    where = f"{MANIFEST_FILE} (lookup.index)" if name == "constants" else lookup_file(name)
    return f"{where}: corrupt cell index: {what}"
