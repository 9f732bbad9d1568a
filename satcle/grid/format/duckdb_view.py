"""The SQL view ``satcle(h3, lat, lon, embedding FLOAT[D])`` over a grid's Parquet files.

One definition, used by the builder (for ``satcle.duckdb``) and by `satcle.connect`.
Embeddings are dequantised in the view, so SQL always sees float32 vectors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .store import DUCKDB_FILE, Manifest

if TYPE_CHECKING:
    import duckdb

VIEW_NAME = "satcle"


def view_sql(files: list[str], dim: int, dtype: str) -> str:
    """``CREATE OR REPLACE VIEW satcle ...`` over Parquet `files` (absolute paths or URLs)."""
    if dtype == "int8":
        embedding = f"list_transform(embedding, lambda v: v * scale)::FLOAT[{dim}]"
    else:
        embedding = f"embedding::FLOAT[{dim}]"
    if not files:  # a grid may legitimately hold no cells (e.g. land coverage of an ocean-only region)
        source = f"(SELECT NULL::UBIGINT AS h3, NULL::DOUBLE AS lat, NULL::DOUBLE AS lon, NULL::FLOAT[{dim}] AS embedding, NULL::FLOAT AS scale WHERE false)"
    else:
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        source = f"read_parquet([{quoted}])"
    return (
        f"CREATE OR REPLACE VIEW {VIEW_NAME} AS "
        f"SELECT h3, lat, lon, {embedding} AS embedding FROM {source}"
    )


def create_view(con: duckdb.DuckDBPyConnection, grid_dir: str | os.PathLike, manifest: Manifest) -> None:
    """Create the ``satcle`` view in `con` over the partitions of the grid at `grid_dir`."""
    root = Path(grid_dir).expanduser().resolve()
    files = [str(root / p.file) for p in manifest.partitions]
    con.execute(view_sql(files, manifest.dim, manifest.dtype))


def write_database(grid_dir: str | os.PathLike, manifest: Manifest) -> Path:
    """Write ``satcle.duckdb`` (just the view, absolute paths) into a local grid, atomically."""
    import duckdb  # here, not at module level: `import satcle` should not pay for it

    root = Path(grid_dir).expanduser().resolve()
    target = root / DUCKDB_FILE
    tmp = root / f".{DUCKDB_FILE}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(tmp)) as con:
            create_view(con, root, manifest)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return target
