"""satcle.dask.add_embeddings on a 2-worker LocalCluster (in-process workers: worker
processes would each import torch, seconds apiece on 2 shared cores), against lookup."""

import dask.dataframe as dd
import distributed
import duckdb
import numpy as np
import pandas as pd
import pytest

import satcle.dask
from satcle.core.errors import CoordinateError, GridNotFoundError, InvalidArgumentError
from satcle.grid.lookup import open_grid

@pytest.fixture
def frame(rng, sphere_points):
    lats, lons = sphere_points(rng, 2_000)
    return pd.DataFrame({"id": np.arange(lats.size)[::-1], "lat": lats, "lon": lons},
                        index=pd.RangeIndex(lats.size) * 3)


@pytest.fixture
def counted_opens(monkeypatch):
    """The grid paths satcle.dask opened (its per-process cache emptied first)."""
    from satcle.grid import lookup as lookup_package
    from satcle.grid.lookup.shared_grids import clear_shared_grids

    clear_shared_grids()
    opened = []
    real = lookup_package.open_grid
    monkeypatch.setattr(lookup_package, "open_grid", lambda path: opened.append(str(path)) or real(path))
    yield opened
    clear_shared_grids()


def test_add_embeddings_on_a_local_cluster_equals_lookup(tiny_grid, frame, counted_opens):
    grid, _ = tiny_grid
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        ddf = dd.from_pandas(frame, npartitions=8)
        with distributed.get_task_stream() as stream:
            result = satcle.dask.add_embeddings(ddf, grid=grid).compute()
    assert len({task["worker"] for task in stream.data}) == 2   # both workers embedded partitions
    assert counted_opens == [str(grid.resolve())]                # opened once for all 8 partitions
    assert list(result.columns) == ["id", "lat", "lon", "embedding"]
    pd.testing.assert_frame_equal(result[["id", "lat", "lon"]], frame)   # same rows, same order, same index
    embeddings = np.stack(result["embedding"].to_numpy())
    assert embeddings.dtype == np.float32
    np.testing.assert_array_equal(embeddings, open_grid(grid).lookup(frame["lat"], frame["lon"]))
    # DuckDB reads the column as a FLOAT[D] vector.
    ((kind,),) = duckdb.sql("SELECT typeof(embedding) FROM result LIMIT 1").fetchall()
    assert kind == f"FLOAT[{embeddings.shape[1]}]"


def test_options_and_errors(tiny_grid, frame, tmp_path, counted_opens):
    grid, _ = tiny_grid
    ddf = dd.from_pandas(frame, npartitions=2)
    cell = satcle.dask.add_embeddings(ddf.rename(columns={"lat": "y", "lon": "x"}), "y", "x", grid,
                                      column="e", method="cell").compute(scheduler="sync")
    np.testing.assert_array_equal(np.stack(cell["e"].to_numpy()),
                                  open_grid(grid).lookup(frame["lat"], frame["lon"], method="cell"))
    with pytest.raises(GridNotFoundError):
        satcle.dask.add_embeddings(ddf, grid=tmp_path / "none")
    with pytest.raises(InvalidArgumentError, match="no column"):
        satcle.dask.add_embeddings(ddf, lat="latitude", grid=grid)
    with pytest.raises(InvalidArgumentError, match="already has a column"):
        satcle.dask.add_embeddings(ddf, grid=grid, column="id")
    with pytest.raises(InvalidArgumentError, match="unknown lookup option"):
        satcle.dask.add_embeddings(ddf, grid=grid, out=None)
    bad = frame.copy()
    bad.loc[bad.index[5], "lat"] = 95.0
    with pytest.raises(CoordinateError, match="outside"):
        satcle.dask.add_embeddings(dd.from_pandas(bad, npartitions=2), grid=grid).compute(scheduler="sync")


def test_pandas_frames_and_usual_column_names(tiny_grid, frame):
    grid, _ = tiny_grid
    named = frame.rename(columns={"lat": "Latitude", "lon": "Longitude"})
    result = satcle.dask.add_embeddings(named, grid=grid)   # pandas in: embedded now, pandas out
    assert isinstance(result, pd.DataFrame) and result.index.equals(frame.index)
    np.testing.assert_array_equal(np.stack(result["embedding"].to_numpy()),
                                  open_grid(grid).lookup(frame["lat"], frame["lon"]))
    lazy = satcle.dask.add_embeddings(dd.from_pandas(named, npartitions=3), grid=grid).compute(scheduler="sync")
    pd.testing.assert_frame_equal(lazy, result)
    with pytest.raises(InvalidArgumentError, match="several latitude columns"):
        satcle.dask.add_embeddings(named.assign(lat=1.0), grid=grid)
