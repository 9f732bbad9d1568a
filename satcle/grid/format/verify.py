"""Check a grid's files against its manifest: one check, used by `read_grid_table`
(which raises on the first problem) and by ``satcle-grid verify`` (which lists all)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ...core.checksum import file_sha256
from .lookup_files import lookup_file_problem
from .store import Manifest, PartitionInfo, partition_schema, read_manifest, without_geometry


def partition_problem(grid_dir: Path, part: PartitionInfo, expected: pa.Schema, *, checksum: bool) -> str | None:
    """What is wrong with one partition file of the grid at `grid_dir`, or None.

    In order: the file is missing; (with `checksum`) its sha256 differs from
    the manifest's; its footer is unreadable; its schema (less a GeoParquet
    geometry column) is not `expected`; its row count differs from the
    manifest's. The line names the file.
    """
    path = grid_dir / part.file
    if not path.is_file():
        return f"{part.file}: partition listed in the manifest is missing"
    if checksum:
        digest = file_sha256(path)
        if digest != part.sha256:
            return f"{part.file} is corrupt: sha256 {digest} does not match the manifest's {part.sha256}"
    try:
        metadata = pq.read_metadata(path)
        schema = without_geometry(metadata.schema.to_arrow_schema().remove_metadata())
    except (OSError, pa.ArrowException) as exc:
        return f"{part.file} is unreadable: {exc}"
    if not schema.equals(expected):
        return f"{part.file} has schema {schema}, expected {expected}"
    if metadata.num_rows != part.rows:
        return f"{part.file} has {metadata.num_rows} rows, the manifest says {part.rows}"
    return None


def expected_schema(manifest: Manifest) -> pa.Schema:
    """The partition schema (without geometry) that `manifest` describes."""
    return partition_schema(manifest.dim, manifest.dtype, with_error=manifest.has_interp_error)


def verify_grid(grid_dir: str | os.PathLike) -> list[str]:
    """Problems found in the grid at `grid_dir` (every partition and lookup
    file, sha256 included), one line each naming the file; [] if sound.

    Raises GridFormatError when there is no readable manifest at all.
    """
    root = Path(grid_dir)
    manifest = read_manifest(root)
    expected = expected_schema(manifest)
    problems = [partition_problem(root, part, expected, checksum=True) for part in manifest.partitions]
    if manifest.lookup is not None:
        problems += [lookup_file_problem(root, entry, manifest, checksum=True) for entry in manifest.lookup.files]
    return [problem for problem in problems if problem is not None]
