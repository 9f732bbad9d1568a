"""The grid on disk: store format and `Manifest` (`store`), loading into memory
(`reader`), checking files against the manifest (`verify`), the DuckDB view
(`duckdb_view`). Imports nothing from the lookup or SQL layers above it."""

from .reader import GridTable
from .store import (
    COVERAGES,
    DUCKDB_FILE,
    EMBEDDING_DTYPES,
    FORMAT_VERSION,
    MANIFEST_FILE,
    PARTITIONS_DIR,
    Manifest,
    PartitionInfo,
    dequantize,
    partition_schema,
    quantize,
    read_manifest,
    write_manifest,
)
from .verify import verify_grid

__all__ = [
    "COVERAGES", "DUCKDB_FILE", "EMBEDDING_DTYPES", "FORMAT_VERSION", "GridTable", "MANIFEST_FILE",
    "PARTITIONS_DIR", "Manifest", "PartitionInfo", "dequantize", "partition_schema", "quantize",
    "read_manifest", "verify_grid", "write_manifest",
]
