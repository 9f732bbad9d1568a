"""The H3 pyramid: every coarser resolution stored, each parent the mean of its stored
children; served by the SQL view (DuckDB CLI and Python duckdb) and by lookup(res=r)."""

import json
import shutil

import duckdb
import h3.api.basic_int as h3
import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import satcle
from build_grid.cli import app
from build_grid.coverage import covered_cells
from build_grid.engine import write_cells
from build_grid.pyramid import parent_cells, parent_level
from satcle.core.errors import GridFormatError, InvalidArgumentError
from satcle.grid.format.duckdb_view import search_path_sql
from satcle.grid.format.store import DUCKDB_FILE, dequantize, embeddings_from_arrow, read_manifest
from satcle.grid.format.verify import verify_grid
from satcle.grid.lookup.grid import open_grid
from tests.grid.format.test_duckdb_file import duckdb_cli

PARENT = 0x8001FFFFFFFFFFF   # a res-0 cell (hexagon)
RES = 3


@pytest.fixture(scope="module")
def encoder():
    return satcle.load_encoder("default")


def stored_cells():
    """The res-3 cells under PARENT less every 5th: some parents keep fewer than 7 children."""
    cells = covered_cells(PARENT, RES, "global")
    return np.delete(cells, np.arange(0, cells.size, 5))


@pytest.fixture(scope="module", params=["float16", "int8"])
def pyramid_grid(request, tmp_path_factory, encoder):
    out = tmp_path_factory.mktemp(f"pyramid-{request.param}") / "grid"
    write_cells(out, encoder, stored_cells(), dtype=request.param, error_bound=False, pyramid=True)
    return out


def level_rows(grid_dir, file):
    """{h3: (dequantised row float32, children)} of one stored level file."""
    table = pq.read_table(grid_dir / file)
    values = embeddings_from_arrow(table.column("embedding"))
    scale = table.column("scale").to_numpy() if "scale" in table.column_names else None
    rows = dequantize(values, scale)
    return {int(c): (rows[i], int(n)) for i, (c, n) in
            enumerate(zip(table.column("h3").to_numpy(), table.column("children").to_numpy()))}


def finest_rows(grid_dir):
    grid = open_grid(grid_dir)
    return {int(c): row for c, row in zip(grid.table.h3, dequantize(np.asarray(grid.table.values),
                                                                      grid.table.scale))}


def test_parent_cells_are_h3_parents():
    cells = covered_cells(PARENT, RES, "global")
    for resolution in range(RES):
        assert parent_cells(cells, resolution).tolist() == [h3.cell_to_parent(int(c), resolution) for c in cells]


def test_each_parent_is_the_mean_of_its_stored_children(pyramid_grid):
    manifest = read_manifest(pyramid_grid)
    assert [level.resolution for level in manifest.pyramid] == [2, 1, 0]
    assert "mean of the stored children" in manifest.pyramid_aggregation
    children = finest_rows(pyramid_grid)
    tolerance = 2e-3 if manifest.dtype == "float16" else 2e-2   # one re-quantisation of the mean
    for level in manifest.pyramid:
        parents = level_rows(pyramid_grid, level.file)
        assert len(parents) == level.rows
        for parent, (row, count) in parents.items():
            mine = [c for c in children if h3.cell_to_parent(c, level.resolution) == parent]
            assert count == len(mine) and 0 < count <= 7
            mean = np.mean([children[c] for c in mine], axis=0)
            scale = np.abs(mean).max()
            assert np.abs(row - mean).max() <= tolerance * scale, (level.resolution, hex(parent))
        full = sum(count == 7 for _, count in parents.values())
        assert level.partial_parents == level.rows - full
        children = {c: row for c, (row, _) in parents.items()}
    # Every 5th child removed: some res-2 parents are partial (coastal-like), the res-0 one has all 7.
    assert manifest.pyramid[0].partial_parents > 0 and manifest.pyramid[-1].partial_parents == 0


def test_parent_level_is_the_float32_mean_requantised():
    cells = covered_cells(PARENT, 2, "global")[:9]   # one full res-1 parent and two of the next
    rng = np.random.default_rng(0)
    values = rng.normal(size=(cells.size, 8)).astype(np.float16)
    parents, out, scale, children = parent_level(cells, values, None, "float16")
    assert scale is None and children.sum() == 9 and children[0] == 7
    assert parents[0] == h3.cell_to_parent(int(cells[0]), 1)
    np.testing.assert_array_equal(out[0], values[:7].astype(np.float32).mean(axis=0).astype(np.float16))


def test_lookup_at_every_stored_resolution(pyramid_grid):
    grid = open_grid(pyramid_grid)
    manifest = grid.manifest
    assert grid.stored_resolutions == (0, 1, 2, 3)
    cell = int(grid.table.h3[len(grid.table.h3) // 2])
    lat, lon = h3.cell_to_latlng(cell)
    for level in manifest.pyramid:
        parent = h3.cell_to_parent(cell, level.resolution)
        expected, _ = level_rows(pyramid_grid, level.file)[parent]
        got = satcle.lookup([lat], [lon], grid=grid, method="cell", res=level.resolution)
        np.testing.assert_allclose(got[0], expected, rtol=0, atol=1e-6)
        interp = grid.lookup([lat], [lon], res=level.resolution, on_miss="nan")
        assert np.isfinite(interp).all() and interp.shape == (1, manifest.dim)
    np.testing.assert_array_equal(grid.lookup([lat], [lon], res=RES), grid.lookup([lat], [lon]))
    with pytest.raises(InvalidArgumentError, match="stored resolutions"):
        grid.lookup([lat], [lon], res=4)
    with pytest.raises(InvalidArgumentError, match="tolerance"):
        grid.lookup([lat], [lon], res=1, tolerance=0.1)


def test_sql_views_satcle_the_grid_and_satcle_pyramid_every_resolution(pyramid_grid, tmp_path):
    cells = {RES: int(stored_cells()[3])}
    cells[1] = h3.cell_to_parent(cells[RES], 1)
    for res, cell in cells.items():
        query = f"SELECT h3, res, embedding FROM satcle_pyramid WHERE h3 = {cell}"
        code, out, err = duckdb_cli(["-cmd", search_path_sql(pyramid_grid), str(pyramid_grid / DUCKDB_FILE),
                                     "-c", query], cwd=tmp_path)
        assert code == 0, err
        rows = json.loads(out)
        assert [(int(r["h3"]), r["res"]) for r in rows] == [(cell, res)]   # JSON gives UBIGINT as text
        with duckdb.connect(str(pyramid_grid / DUCKDB_FILE), read_only=True) as con:
            con.execute(search_path_sql(pyramid_grid))
            (h3_id, got_res, embedding), = con.execute(query).fetchall()
        assert (h3_id, got_res) == (cell, res)
        np.testing.assert_allclose(rows[0]["embedding"], embedding, rtol=1e-6)
        if res != RES:
            file = next(level.file for level in read_manifest(pyramid_grid).pyramid if level.resolution == res)
            np.testing.assert_allclose(embedding, level_rows(pyramid_grid, file)[cell][0], rtol=1e-6)
    con = satcle.connect(pyramid_grid)
    counts = dict(con.execute("SELECT res, count(*) FROM satcle_pyramid GROUP BY res").fetchall())
    assert counts == {RES: stored_cells().size, **{level.resolution: level.rows
                                                    for level in read_manifest(pyramid_grid).pyramid}}
    # `satcle` holds the grid's own cells only: an aggregate cannot mix parents with cells by accident.
    assert con.execute("SELECT count(*), min(res), max(res) FROM satcle").fetchone() == (
        read_manifest(pyramid_grid).total_cells, RES, RES)
    with duckdb.connect(str(pyramid_grid / DUCKDB_FILE), read_only=True) as stored:   # the shared file too
        assert stored.execute("SELECT count(*) FROM satcle").fetchone() == (read_manifest(pyramid_grid).total_cells,)


def test_pyramid_files_are_verified(pyramid_grid, tmp_path):
    # int8 grids included: their view's lambda is stored as `v -> ...` in the 1.1 storage format.
    assert verify_grid(pyramid_grid) == []

    copy = tmp_path / "copy"
    shutil.copytree(pyramid_grid, copy)
    level = read_manifest(copy).pyramid[1].file
    data = bytearray((copy / level).read_bytes())
    data[len(data) // 3] ^= 0xFF
    (copy / level).write_bytes(bytes(data))
    with pytest.raises(GridFormatError, match=f"{level} is corrupt"):
        open_grid(copy)


def test_build_stores_the_pyramid_and_reports_its_cost(tmp_path):
    out = tmp_path / "r2"
    result = CliRunner().invoke(app, ["build", "--res", "2", "--coverage", "global", "--no-error-bound",
                                      "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert [(level.resolution, level.rows, level.partial_parents) for level in manifest.pyramid] == [
        (1, h3.get_num_cells(1), 0), (0, h3.get_num_cells(0), 0)]
    assert "pyramid (res 0..1): 964 cells" in result.output
    single = tmp_path / "single"
    result = CliRunner().invoke(app, ["build", "--res", "1", "--coverage", "global", "--no-error-bound",
                                      "--no-pyramid", "--workers", "1", "--out", str(single)])
    assert result.exit_code == 0 and read_manifest(single).pyramid == ()
    assert '"pyramid": []' in (single / "manifest.json").read_text()


def test_size_estimate_counts_the_pyramid():
    from build_grid.size import estimated_bytes

    extra = estimated_bytes(5, "global", "float16") - estimated_bytes(5, "global", "float16", pyramid=False)
    # A sixth of the cells (1/7 + 1/49 + ...), each a row of h3, lat, lon, float16[256] and its children count.
    assert extra == pytest.approx(h3.get_num_cells(5) * (24 + 512 + 1) / 6, rel=1e-6)
