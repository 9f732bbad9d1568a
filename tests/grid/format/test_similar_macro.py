"""The table macro satcle_similar: stored in satcle.duckdb and run by the DuckDB command
line (`duckdb-cli`) and Python duckdb on that file; its (lat, lon, k) form through
`satcle.connect`; `satcle-grid similar` asks the same question in Python."""

import json
import shutil

import duckdb
import h3
import numpy as np
import pytest

import satcle
from satcle.grid.format.duckdb_view import search_path_sql
from satcle.grid.format.store import DUCKDB_FILE
from satcle.grid.lookup import open_grid
from satcle.grid.similar_cells import most_similar_cells

from .test_duckdb_file import build, duckdb_cli, first_cells

K = 7


@pytest.fixture(scope="module")
def encoder():
    return satcle.load_encoder("default")


@pytest.fixture(scope="module")
def grid(tmp_path_factory, encoder):
    """A float16 grid of 2 partitions, moved after its build (the old place deleted)."""
    built = build(tmp_path_factory.mktemp("built") / "grid", encoder, "float16")
    moved = tmp_path_factory.mktemp("moved") / "grid"
    shutil.move(built, moved)
    return moved


@pytest.fixture(scope="module")
def stored(grid):
    """(h3 (N,) uint64, embeddings (N, D) float64) of every cell, through satcle.connect's view."""
    rows = satcle.connect(grid).execute("SELECT h3, embedding FROM satcle ORDER BY h3").fetchall()
    return np.array([r[0] for r in rows], dtype=np.uint64), np.array([r[1] for r in rows], dtype=np.float64)


def assert_top_k(rows, query, stored, k=K):
    """`rows` (h3, lat, lon, similarity) are the k cells of highest cosine similarity to
    `query` (D,), most similar first, with their similarities (float32 rounding allowed)."""
    cells, embeddings = stored
    cosine = embeddings @ query / np.linalg.norm(embeddings, axis=1) / np.linalg.norm(query)
    assert len(rows) == k
    got = np.array([int(r[0]) for r in rows], dtype=np.uint64)
    similarity = np.array([r[3] for r in rows], dtype=np.float64)
    assert np.all(np.diff(similarity) <= 0), similarity
    where = np.searchsorted(cells, got)
    np.testing.assert_allclose(similarity, cosine[where], atol=1e-6)
    left_out = np.delete(cosine, where)
    assert similarity[-1] >= left_out.max() - 1e-6   # nothing better was left out


def test_duckdb_cli_runs_the_stored_macro(grid, stored, tmp_path):
    cell = first_cells()[1]
    query = stored[1][np.searchsorted(stored[0], np.uint64(cell))]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sql = f"SELECT * FROM satcle_similar({cell}, {K})"
    here = ["-cmd", "SET file_search_path = '.'", DUCKDB_FILE]   # a moved grid, from its own directory
    for args, cwd in ((here, grid), (["-cmd", search_path_sql(grid), str(grid / DUCKDB_FILE)], elsewhere)):
        code, out, err = duckdb_cli([*args, "-c", sql], cwd=cwd)
        assert code == 0, err
        rows = [(int(r["h3"]), r["lat"], r["lon"], r["similarity"]) for r in json.loads(out)]
        assert list(json.loads(out)[0]) == ["h3", "lat", "lon", "similarity"]
        assert rows[0][0] == cell and rows[0][3] == pytest.approx(1.0)   # a cell is most similar to itself
        assert_top_k(rows, query, stored)
    # A cell the grid does not hold (another partition's, or another resolution's): no row.
    code, out, err = duckdb_cli([*here, "-c", "SELECT count(*) AS n FROM satcle_similar(599686042433355775, 5)"],
                                cwd=grid)
    assert code == 0 and json.loads(out) == [{"n": 0}], err


def test_python_duckdb_runs_the_stored_macro(grid, stored, monkeypatch):
    monkeypatch.chdir(grid)
    cell = first_cells()[0]
    query = stored[1][np.searchsorted(stored[0], np.uint64(cell))]
    with duckdb.connect(DUCKDB_FILE, read_only=True) as con:
        con.execute("SET file_search_path = '.'")   # the grid moved: its files relative to here
        rows = con.execute("SELECT * FROM satcle_similar(?, ?)", [cell, K]).fetchall()
        assert_top_k(rows, query, stored)
        # k beyond the grid: every cell, once.
        everything = con.execute("SELECT h3 FROM satcle_similar(?, 10000)", [cell]).fetchall()
        assert sorted(r[0] for r in everything) == stored[0].tolist()


def test_point_form_through_connect_ranks_by_the_lookup(grid, stored):
    centre_lat, centre_lon = h3.cell_to_latlng(h3.int_to_str(first_cells()[0]))
    lat, lon = centre_lat + 0.3, centre_lon + 0.4   # inside the grid, off the centre: an interpolated embedding
    query = open_grid(grid).lookup([lat], [lon])[0].astype(np.float64)
    con = satcle.connect(grid)
    assert_top_k(con.execute("SELECT * FROM satcle_similar(?, ?, ?)", [lat, lon, K]).fetchall(), query, stored)
    # With the cell lookup, the point form is the cell form of the point's cell; `satcle-grid similar` too.
    cell_con = satcle.connect(grid, method="cell")
    by_point = cell_con.execute("SELECT * FROM satcle_similar(?, ?, ?)", [lat, lon, K]).fetchall()
    (cell,) = cell_con.execute("SELECT h3_latlng_to_cell(?, ?, 2)", [lat, lon]).fetchone()
    assert by_point == cell_con.execute("SELECT * FROM satcle_similar(?, ?)", [cell, K]).fetchall()
    in_python, _ = most_similar_cells(grid, lat, lon, K)
    assert in_python.h3.tolist() == [r[0] for r in by_point]
    np.testing.assert_allclose(in_python.similarity, [r[3] for r in by_point], atol=1e-6)
    # Outside coverage with NULL for misses: no row (`satcle-grid similar` computes that point live).
    outside = satcle.connect(grid, on_miss="nan").execute("SELECT * FROM satcle_similar(-60.0, -150.0, 3)")
    assert outside.fetchall() == []
