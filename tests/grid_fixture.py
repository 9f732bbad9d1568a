"""A small grid writer for tests and benchmarks (not the builder: no coverage
mask, no Dask, no resume). Writes a valid grid directory through `satcle.grid.format.store`,
including ``interp_error`` from the lookup layer's precision function."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from satcle.atomic import write_atomic
from satcle.grid.format.store import (
    Manifest,
    PartitionInfo,
    embeddings_to_arrow,
    partition_schema,
    quantize,
    write_manifest,
)
from satcle.grid.lookup import interp_error


def cells_of_resolution(res: int, parents_res0: list[int] | None = None) -> np.ndarray:
    """All cells of `res` (under the given res-0 cells, else everywhere), sorted uint64."""
    roots = parents_res0 if parents_res0 is not None else sorted(h3i.get_res0_cells())
    cells = [c for root in roots for c in h3i.cell_to_children(root, res)]
    return np.unique(np.asarray(cells, dtype=np.uint64))


def write_grid(directory: str | Path, encoder, cells: np.ndarray, *, dtype: str = "float16",
               partition_resolution: int = 0, with_error: bool = True, coverage: str = "global") -> Path:
    """Write a grid of `cells` (uint64, one resolution) embedded by `encoder`."""
    directory = Path(directory)
    cells = np.unique(np.asarray(cells, dtype=np.uint64))
    resolution = h3i.get_resolution(int(cells[0]))
    latlng = np.array([h3i.cell_to_latlng(c) for c in cells.tolist()], dtype=np.float64)
    values, scale = quantize(encoder.encode(latlng[:, 0], latlng[:, 1]), dtype)
    error = interp_error(encoder, cells, cells, values, scale) if with_error else None
    parents = np.array([h3i.cell_to_parent(c, partition_resolution) for c in cells.tolist()], dtype=np.uint64)
    schema = partition_schema(values.shape[1], dtype, with_error=with_error)
    partitions = []
    for parent in np.unique(parents):
        rows = np.flatnonzero(parents == parent)
        columns = [pa.array(cells[rows]), pa.array(latlng[rows, 0]), pa.array(latlng[rows, 1]),
                   embeddings_to_arrow(values[rows])]
        if scale is not None:
            columns.append(pa.array(scale[rows]))
        if error is not None:
            columns.append(pa.array(error[rows]))
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_arrays(columns, schema=schema), buffer)
        name = f"partitions/{int(parent):x}.parquet"
        write_atomic(directory / name, buffer.getvalue())
        partitions.append(PartitionInfo(name, int(rows.size), hashlib.sha256(buffer.getvalue()).hexdigest()))
    write_manifest(directory, Manifest(
        library_version="test", model_name=encoder.metadata.get("name", "default"),
        model_sha256=encoder.metadata.get("sha256", ""), model_config=encoder.config.to_dict(),
        resolution=resolution, partition_resolution=partition_resolution, coverage=coverage,
        dtype=dtype, dim=values.shape[1], total_cells=int(cells.size), partitions=tuple(partitions),
        build_started="", build_finished="", has_interp_error=with_error))
    return directory
