"""satcle.grid.similar_cells: the top-k of `satcle-grid similar` and the map server, against brute force."""

import numpy as np
import pytest

from satcle.core.errors import InvalidArgumentError
from satcle.geo.h3_cells import cell_centers, cells_at_resolution
from satcle.grid.format.reader import GridTable
from satcle.grid.lookup import Grid
from satcle.grid import similar_cells
from satcle.grid.similar_cells import level_similarity, most_similar, top_k


def haversine_km(lat, lon, lat0, lon0):
    lat, lon, lat0, lon0 = map(np.radians, (lat, lon, lat0, lon0))
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="module", params=["float16", "int8"])
def grid(request):
    """Every res-1 cell with random rows (float16, or int8 with per-row scales)."""
    rng = np.random.default_rng(7)
    cells = cells_at_resolution(1)
    lat, lon = cell_centers(cells)
    rows = rng.normal(size=(cells.size, 24)).astype(np.float32)
    if request.param == "float16":
        values, scale = rows.astype(np.float16), None
    else:
        scale = (np.abs(rows).max(axis=1) / 127).astype(np.float32)
        values = np.round(rows / scale[:, None]).astype(np.int8)
    return Grid(GridTable(h3=cells, lat=lat, lon=lon, values=values, scale=scale, interp_error=None), resolution=1)


def brute_force(grid, query):
    rows = grid.table.values.astype(np.float64)
    if grid.table.scale is not None:
        rows *= grid.table.scale[:, None]
    return rows @ query / np.linalg.norm(rows, axis=1) / np.linalg.norm(query)


def test_level_similarity_in_blocks_is_the_cosine_of_every_row(grid, monkeypatch):
    monkeypatch.setattr(similar_cells, "BLOCK_ROWS", 100)   # several blocks and a partial one
    query = np.random.default_rng(1).normal(size=24)
    np.testing.assert_allclose(level_similarity(grid, query), brute_force(grid, query), atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="24 finite numbers"):
        level_similarity(grid, np.ones(23))


def test_most_similar_ranks_as_brute_force_and_excludes_the_neighbourhood(grid):
    query = grid.stored_rows([10])[0]
    cosine = brute_force(grid, query.astype(np.float64))
    top = most_similar(grid, query, 8)
    assert top.h3.tolist() == grid.table.h3[np.argsort(-cosine, kind="stable")[:8]].tolist()
    assert top.h3[0] == grid.table.h3[10] and top.similarity[0] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.isnan(top.distance_km))
    point = (float(grid.table.lat[10]), float(grid.table.lon[10]))
    far = most_similar(grid, query, 8, point=point, exclude_km=2500.0)
    km = haversine_km(grid.table.lat, grid.table.lon, *point)
    allowed = np.flatnonzero(km > 2500.0)
    expected = allowed[np.argsort(-cosine[allowed], kind="stable")[:8]]
    assert far.h3.tolist() == grid.table.h3[expected].tolist()
    np.testing.assert_allclose(far.distance_km, km[expected], rtol=1e-6)
    assert np.all(far.distance_km > 2500.0)
    # Beyond every cell: nothing qualifies.
    assert len(most_similar(grid, query, 8, point=point, exclude_km=similar_cells.MAX_EXCLUDE_KM)) == 0


@pytest.mark.parametrize("k, exclude_km, point, match", [
    (0, 0.0, None, "k must be"), (True, 0.0, None, "k must be"), (2.5, 0.0, None, "k must be"),
    (3, -1.0, (0.0, 0.0), "exclude_km"), (3, float("nan"), (0.0, 0.0), "exclude_km"),
    (3, 100.0, None, "needs the query's point"),
])
def test_bad_options_are_refused(grid, k, exclude_km, point, match):
    with pytest.raises(InvalidArgumentError, match=match):
        most_similar(grid, np.ones(24), k, point=point, exclude_km=exclude_km)


def test_top_k_breaks_ties_by_index_and_skips_non_finite():
    values = np.array([0.5, 0.9, np.nan, 0.9, -np.inf, 0.5, 0.5, 0.1], dtype=np.float32)
    assert top_k(values, 4).tolist() == [1, 3, 0, 5]
    assert top_k(values, 100).tolist() == [1, 3, 0, 5, 6, 7]
    assert top_k(np.full(3, np.nan), 2).size == 0


def test_stored_rows_are_the_dequantised_rows(grid):
    rows = grid.table.values[[3, 0, 7]].astype(np.float32)
    if grid.table.scale is not None:
        rows *= grid.table.scale[[3, 0, 7], None]
    np.testing.assert_array_equal(grid.stored_rows(np.array([3, 0, 7])), rows)
    np.testing.assert_array_equal(grid.stored_rows(slice(2, 5)), grid.stored_rows(np.arange(2, 5)))
    with pytest.raises(InvalidArgumentError, match="rows must lie in"):
        grid.stored_rows(np.array([grid.num_cells]))
