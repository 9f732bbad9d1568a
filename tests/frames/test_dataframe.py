"""satcle.add_embeddings: pandas and GeoPandas frames in, the same frame with embeddings out
(satcle/frames/dataframe.py, areas.py)."""

import numpy as np
import pandas as pd
import pytest

import satcle
from satcle.core.errors import CoordinateError, InvalidArgumentError
from satcle.frames.areas import embed_areas
from satcle.grid.lookup import open_grid

gpd = pytest.importorskip("geopandas", reason="the geo extra (CI installs it)")
shapely = pytest.importorskip("shapely")
h3 = pytest.importorskip("h3")


@pytest.fixture
def frame():
    return pd.DataFrame({"zip": ["01234", "06037", "99501"], "Latitude": [48.8566, -33.92, 61.2],
                         "Lng": [2.3522, 18.42, -149.9], "when": pd.to_datetime(["2024-01-05"] * 3)},
                        index=pd.Index([30, 10, 20], name="site"))


def test_pandas_points_found_by_name_index_and_columns_kept(tiny_grid, frame):
    grid, _ = tiny_grid
    out = satcle.add_embeddings(frame, grid=grid)
    pd.testing.assert_frame_equal(out[frame.columns], frame)   # every column and the index as given
    assert list(out.columns) == [*frame.columns, "embedding"]
    expected = open_grid(grid).lookup(frame["Latitude"], frame["Lng"])
    np.testing.assert_array_equal(np.stack(out["embedding"].to_numpy()), expected)
    wide = satcle.add_embeddings(frame, grid=grid, as_columns=True, method="cell")
    assert list(wide.columns[-8:]) == [f"e{i}" for i in range(8)] and wide["e0"].dtype == np.float32
    np.testing.assert_array_equal(wide[[f"e{i}" for i in range(8)]].to_numpy(),
                                  open_grid(grid).lookup(frame["Latitude"], frame["Lng"], method="cell"))


def test_missing_ambiguous_and_bad_coordinates_are_clear(tiny_grid, frame):
    grid, _ = tiny_grid
    with pytest.raises(InvalidArgumentError, match=r"no latitude column .* it has \['zip', 'Lng', 'when'\]"):
        satcle.add_embeddings(frame.drop(columns="Latitude"), grid=grid)
    with pytest.raises(InvalidArgumentError, match=r"several longitude columns \['Lng', 'lon'\].*lat=/lon="):
        satcle.add_embeddings(frame.assign(lon=0.0), grid=grid)
    assert satcle.add_embeddings(frame.assign(lon=0.0), grid=grid, lon="Lng").shape == (3, 6)
    bad = frame.copy()
    bad.loc[10, "Latitude"] = np.nan
    with pytest.raises(CoordinateError, match=r"row 10 \(position 1\)"):
        satcle.add_embeddings(bad, grid=grid)
    out = satcle.add_embeddings(bad, grid=grid, on_bad_row="null")
    assert out["embedding"].isna().tolist() == [False, True, False]
    with pytest.raises(InvalidArgumentError, match="already has"):
        satcle.add_embeddings(frame.assign(embedding=1), grid=grid)
    with pytest.raises(InvalidArgumentError, match="pandas or GeoPandas DataFrame"):
        satcle.add_embeddings(np.zeros((3, 2)), grid=grid)


def test_geopandas_points_in_a_projected_crs(tiny_grid, frame):
    grid, _ = tiny_grid
    points = gpd.GeoDataFrame(frame[["zip"]], geometry=gpd.points_from_xy(frame["Lng"], frame["Latitude"]),
                              crs="EPSG:4326")
    projected = points.to_crs(3857)   # Web Mercator metres
    out = satcle.add_embeddings(projected, grid=grid, method="cell")
    assert isinstance(out, gpd.GeoDataFrame) and out.crs.equals("EPSG:3857") and out.index.equals(frame.index)
    expected = open_grid(grid).lookup(frame["Latitude"], frame["Lng"], method="cell")
    np.testing.assert_array_equal(np.stack(out["embedding"].to_numpy()), expected)
    # lookup and encode take the GeoSeries (any CRS), an (N, 2) array or a two-column frame too.
    np.testing.assert_array_equal(satcle.lookup(projected.geometry, grid=grid, method="cell"), expected)
    np.testing.assert_array_equal(satcle.lookup(frame[["Latitude", "Lng"]].to_numpy(), grid=grid, method="cell"),
                                  expected)
    np.testing.assert_array_equal(satcle.lookup(frame[["Lng", "Latitude"]], grid=grid, method="cell"), expected)


def test_polygon_embedding_is_the_mean_of_its_filled_cells(tiny_grid):
    grid, _ = tiny_grid
    big = shapely.box(0.0, 0.0, 60.0, 50.0)
    small = shapely.box(10.0, 10.0, 10.5, 10.5)   # far smaller than a res-0 cell: no cell centre inside
    areas = gpd.GeoDataFrame({"name": ["big", "small"]}, geometry=[big, small], crs="EPSG:4326")
    out = satcle.add_embeddings(areas, grid=grid)
    # The fill, computed independently with h3-py: every res-0 cell whose centre lies inside.
    cells = h3.geo_to_cells(big.__geo_interface__, 0)
    assert out["embedding_cells"].tolist() == [len(cells), 0] and len(cells) >= 2
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    expected = open_grid(grid).lookup(centres[:, 0], centres[:, 1], method="cell").mean(axis=0)
    np.testing.assert_allclose(np.stack(out["embedding"].to_numpy())[0], expected, rtol=1e-6)
    inside = small.representative_point()
    np.testing.assert_array_equal(np.stack(out["embedding"].to_numpy())[1],
                                  open_grid(grid).lookup([inside.y], [inside.x])[0])
    assert out["embedding_res"].tolist() == [0, -1]


def test_large_polygons_are_averaged_at_a_coarser_level():
    """A polygon over `max_cells` cells at the finest resolution is filled at the finest that fits."""
    asked = []

    def lookup_cells(lats, lons, res):
        asked.append((res, lats.size))
        return np.full((lats.size, 2), float(res), dtype=np.float32)

    areas = gpd.GeoSeries([shapely.box(0, 0, 20, 20), shapely.box(0, 0, 2, 2)], crs="EPSG:4326")
    result = embed_areas(areas, lookup_cells, lambda lats, lons: np.zeros((lats.size, 2), np.float32), 2,
                         (1, 2, 3), max_cells=40)
    # 20 x 20 degrees ~ 4.9 M km2: ~390 res-3 cells, ~56 at res 2, ~8 at res 1; 2 x 2 degrees: ~4 at res 3.
    assert result.resolution.tolist() == [1, 3]
    assert result.embeddings[:, 0].tolist() == [1.0, 3.0] and (result.cells > 0).all()
    assert sorted(res for res, _ in asked) == [1, 3]


def test_arrays_of_pairs_grid_repr_and_source_names(tiny_grid, frame):
    grid, encoder = tiny_grid
    pairs = frame[["Latitude", "Lng"]].to_numpy()
    np.testing.assert_array_equal(encoder.encode(pairs), encoder.encode(pairs[:, 0], pairs[:, 1]))
    with pytest.raises(CoordinateError, match=r"\(N, 2\) array"):
        encoder.encode(np.zeros((3, 3)))
    opened = open_grid(grid)
    assert repr(opened) == (f"Grid({str(grid)!r}, model='test', res=0, coverage='global', cells=122, dim=8, "
                            "dtype='float16')")
    _, source = open_grid(grid, encoder=encoder).lookup([10.0, 20.0], [5.0, 6.0], exact=True, return_source=True)
    assert satcle.Source.names(source).tolist() == ["LIVE", "LIVE"]


def test_without_a_grid_the_live_encoder(frame, tmp_path, monkeypatch):
    monkeypatch.setenv("SATCLE_GRID", str(tmp_path / "no-grid-here"))
    out = satcle.add_embeddings(frame)
    expected = satcle.load_encoder("default").encode(frame["Latitude"], frame["Lng"])
    np.testing.assert_array_equal(np.stack(out["embedding"].to_numpy()), expected)
