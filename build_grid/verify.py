"""Check a grid's files against its manifest: existence, sha256, row counts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow.parquet as pq

from satcle.grid.store_format import read_manifest


def verify_grid(grid_dir: str | os.PathLike) -> list[str]:
    """Problems found in the grid at `grid_dir`, one line each naming the file; [] if sound.

    Raises GridFormatError when there is no readable manifest at all.
    """
    root = Path(grid_dir)
    manifest = read_manifest(root)
    problems = []
    for part in manifest.partitions:
        path = root / part.file
        if not path.is_file():
            problems.append(f"{part.file}: missing")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != part.sha256:
            problems.append(f"{part.file}: sha256 {digest} does not match the manifest's {part.sha256}")
            continue
        rows = pq.read_metadata(path).num_rows
        if rows != part.rows:
            problems.append(f"{part.file}: {rows} rows, the manifest says {part.rows}")
    return problems
