"""The DuckDB view's dequantisation, on partitions written without a cluster."""

import duckdb
import numpy as np
import pytest

import satcle
from build_grid.coverage import covered_cells
from build_grid.engine import write_cells
from build_grid.partition import evaluate_partition
from satcle.grid.format.duckdb_view import create_view
from satcle.grid.format.store import read_manifest
from satcle.grid.lookup import open_grid


@pytest.fixture(scope="module")
def encoder():
    return satcle.load_encoder("default")


def one_partition_grid(root, encoder, dtype):
    """The manifest of a grid of the global res-2 cells under one res-0 parent, written by the builder."""
    write_cells(root, encoder, covered_cells(0x8001FFFFFFFFFFF, 2, "global"), dtype=dtype, error_bound=False)
    return read_manifest(root)


@pytest.mark.parametrize("dtype", ["float16", "int8", "float32"])
def test_view_dequantises_within_bounds(tmp_path, encoder, dtype):
    manifest = one_partition_grid(tmp_path, encoder, dtype)
    con = duckdb.connect()
    create_view(con, tmp_path, manifest)
    rows = con.sql("SELECT lat, lon, embedding FROM satcle ORDER BY h3").fetchall()
    assert len(rows) == manifest.total_cells == 49
    lats, lons = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    stored = np.array([r[2] for r in rows], dtype=np.float32)
    live = encoder.encode(lats, lons)
    error = np.abs(stored - live)
    if dtype == "int8":
        scale = np.abs(live).max(axis=1, keepdims=True) / 127
        assert np.all(error <= scale / 2 * (1 + 1e-5) + 1e-7)
        assert error.max() > 0  # really quantised
    elif dtype == "float16":
        assert np.all(error <= np.abs(live) * 2**-11 + 2**-24)
        cos = np.sum(stored * live, 1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(live, axis=1)
        assert cos.min() >= 0.9999
    else:
        np.testing.assert_array_equal(stored, live)
    # The lookup's exact-cell path returns exactly what the view returns.
    grid = open_grid(tmp_path, encoder=encoder)
    np.testing.assert_allclose(grid.lookup(lats, lons, method="cell", on_miss="raise"), stored, rtol=1e-6, atol=1e-7)


def test_evaluate_partition_rejects_unsorted_cells(encoder):
    cells = covered_cells(0x8001FFFFFFFFFFF, 2, "global")
    with pytest.raises(ValueError, match="sorted"):
        evaluate_partition(encoder, cells[::-1], "float16")


def test_int8_partitions_are_smaller_than_float16(tmp_path, encoder):
    sizes = {}
    for dtype in ("int8", "float16"):
        (part,) = one_partition_grid(tmp_path / dtype, encoder, dtype).partitions
        sizes[dtype] = (tmp_path / dtype / part.file).stat().st_size
    # Parquet stores int8 as 32-bit integers; without compression int8 would be twice float16.
    assert sizes["int8"] < 0.8 * sizes["float16"]
