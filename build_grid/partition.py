"""One partition of a grid: cells in, Arrow table out, Parquet bytes out.

`evaluate_partition` is pure (no I/O): the engine decides which cells (and which
stored neighbours, for the ``interp_error`` bound) and where the bytes go.
"""

from __future__ import annotations

import io
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from satcle.core.errors import GridBuildError, InvalidArgumentError
from satcle.geo.h3_cells import cell_centers
from satcle.grid.format.store import embeddings_to_arrow, partition_schema, quantize, wkb_points
from satcle.grid.lookup import interp_error
from satcle.model import LocationEncoder

# Rows per Parquet row group: ~2 MB of float16 embeddings at D = 256, so that a
# query for one cell (min/max statistics on the sorted h3 column) reads ~2 MB.
ROW_GROUP_ROWS = 4096
# Points per network pass: single-threaded (one task per core), small batches
# whose activations stay in cache are faster: 11.5 CPU-us per point at 2,048
# against 13.7 at 16,384 (res-5 default model, this machine class). Results do
# not depend on the batch size.
BATCH_SIZE = 2048
# Parquet's path of the embedding values (per-column options address leaves).
EMBEDDING_LEAF = "embedding.list.element"


def evaluate_partition(
    encoder: LocationEncoder,
    cells: np.ndarray,
    dtype: str,
    *,
    neighbors: np.ndarray | None = None,
    metadata: dict[str, str] | None = None,
    batch_size: int = BATCH_SIZE,
    centres: tuple[np.ndarray, np.ndarray] | None = None,
    geometry: bool = True,
) -> pa.Table:
    """Embeddings of H3 cells at their centres, as a partition table.

    Parameters
    ----------
    encoder : LocationEncoder
    cells : (N,) uint64
        H3 cell ids, sorted ascending (the stored order).
    dtype : "float16" | "int8" | "float32"
        Stored embedding type (int8 adds the per-row ``scale`` column).
    neighbors : (K,) uint64, optional
        The stored neighbours of `cells` outside them (`coverage.stored_neighbors`).
        When given, they are evaluated too (as their own partitions store them)
        and the ``interp_error`` column is added (`satcle.grid.lookup.interp_error`:
        about 5 more live evaluations per cell, boundary probes shared by neighbours).
    metadata : str -> str, optional
        Key-value metadata of the table (and so of the Parquet file).
    centres : (lats, lons), optional
        The cells' centres if already known (`coverage.covered_cells_and_centres`);
        else computed (`cell_centers`).
    geometry : bool
        End with the GeoParquet ``geometry`` column (centres as WKB points; 14
        bytes per cell after compression at res 5).

    Returns
    -------
    pa.Table with `partition_schema(D, dtype, with_error=neighbors is not None, with_geometry=geometry)`:
    h3, lat/lon (centre, degrees), embedding[, scale][, interp_error][, geometry].
    """
    cells = np.ascontiguousarray(cells, dtype=np.uint64)
    if cells.size > 1 and not np.all(cells[1:] > cells[:-1]):
        raise InvalidArgumentError("cells must be sorted ascending and unique")
    lats, lons = cell_centers(cells) if centres is None else centres
    embeddings = encoder.encode(lats, lons, batch_size=batch_size)
    finite = np.isfinite(embeddings).all(axis=1)
    if not finite.all():   # never stored: every reader would serve them, interpolation spreads them
        raise GridBuildError(f"the encoder gave non-finite embeddings for {int((~finite).sum())} cells "
                             f"(first {int(cells[np.argmin(finite)]):x}); the model is broken")
    values, scale = quantize(embeddings, dtype)
    columns = [pa.array(cells), pa.array(lats), pa.array(lons), embeddings_to_arrow(values)]
    if scale is not None:
        columns.append(pa.array(scale))
    if neighbors is not None:
        columns.append(pa.array(_interp_error(encoder, cells, embeddings, values, scale, neighbors, dtype,
                                               batch_size)))
    if geometry:
        columns.append(wkb_points(lats, lons))
    schema = partition_schema(encoder.output_dim, dtype, with_error=neighbors is not None, with_geometry=geometry,
                              metadata=metadata)
    return pa.Table.from_arrays(columns, schema=schema)


def _interp_error(encoder: LocationEncoder, cells: np.ndarray, embeddings: np.ndarray, values: np.ndarray,
                  scale: np.ndarray | None, neighbors: np.ndarray, dtype: str, batch_size: int) -> np.ndarray:
    """`interp_error` of `cells` (C,) -> (C,) float32, from their stored rows and
    their neighbours' (evaluated and quantised here exactly as stored elsewhere)."""
    neighbors = np.ascontiguousarray(neighbors, dtype=np.uint64)
    around_values, around_scale = quantize(encoder.encode(*cell_centers(neighbors), batch_size=batch_size), dtype)
    h3_ids = np.concatenate([cells, neighbors])
    order = np.argsort(h3_ids, kind="stable")
    all_values = np.concatenate([values, around_values])[order]
    all_scale = None if scale is None else np.concatenate([scale, around_scale])[order]
    # The lookup kernels take as many threads as the encoder (one per task in a build).
    return interp_error(encoder, cells, h3_ids[order], all_values, all_scale, live=embeddings,
                        num_threads=torch.get_num_threads(), batch_size=batch_size)


def partition_to_parquet(table: pa.Table) -> bytes:
    """Serialise a partition table to Parquet bytes, deterministically.

    float16/float32 embeddings are stored uncompressed (their low bits are noise);
    int8 ones are compressed, since Parquet has no 8-bit physical type and would
    spend 4 bytes per value (zstd brings them back to ~1). Statistics are kept
    only where queries filter. Every page carries its CRC-32 (Parquet page
    checksums), so readers that verify them (pyarrow with
    ``page_checksum_verification=True``, ``satcle-grid verify``) catch damage.
    """
    int8 = table.schema.field("embedding").type.value_type == pa.int8()
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        row_group_size=ROW_GROUP_ROWS,
        compression={**{name: "zstd" for name in table.column_names}, EMBEDDING_LEAF: "zstd" if int8 else "none"},
        use_dictionary=False,
        write_statistics=["h3", "lat", "lon"],
        write_page_checksum=True,
    )
    return sink.getvalue()
