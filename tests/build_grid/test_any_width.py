"""A grid of a 512-d GeoCLIP-kind model through the whole product: `satcle-grid build
--model DIR`, the Parquet partitions, the DuckDB view (FLOAT[512]), `lookup`,
`satcle_embedding`, `satcle_similar`, `satcle embed --grid`, Dask and `serve`.

The model is GeoCLIP's architecture with small random MLPs (the width that matters
here is the output, 512); the grid is land at res 2, float32 rows, so that a stored
row is the live model at the cell's centre.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import dask
import dask.dataframe as dd
import duckdb
import h3
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

import satcle
import satcle.dask
from build_grid.cli import app as grid_app
from satcle.cli.main import app as satcle_app
from satcle.model import GeoClipConfig, GeoClipEncoder

REPO = Path(__file__).resolve().parents[2]
PLACES = {"paris": (48.8566, 2.3522), "cape_town": (-33.92, 18.42), "beijing": (39.9042, 116.4074)}


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    """(model directory, grid directory, encoder): a 512-d GeoCLIP-kind model and its res-2 land grid."""
    root = tmp_path_factory.mktemp("wide")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        encoder = GeoClipEncoder(GeoClipConfig(scales=(1.0, 16.0), fourier_features=8, hidden_dim=16,
                                               hidden_layers=2, output_dim=512))
    model = satcle.save_encoder(encoder, root / "geoclip-like", metadata={"trained": False})
    result = CliRunner().invoke(grid_app, ["build", "--res", "2", "--model", str(model), "--out", str(root / "grid"),
                                           "--dtype", "float32", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "interpolation error bound per cell" in result.output   # the build reports the precision contract
    return model, root / "grid", satcle.load_encoder(model)


def cell_of(place: str) -> int:
    return h3.str_to_int(h3.latlng_to_cell(*PLACES[place], 2))


def test_sql_row_is_the_live_model_at_the_cell_centre(wide):
    model, grid, encoder = wide
    with duckdb.connect(str(grid / "satcle.duckdb"), read_only=True) as con:   # the stored view, plain DuckDB
        con.execute(f"SET file_search_path = '{grid}'")
        assert dict(con.sql("DESCRIBE satcle").fetchall()[i][:2] for i in range(5))["embedding"] == "FLOAT[512]"
        for place in PLACES:
            cell = cell_of(place)
            ((row, lat, lon),) = con.execute("SELECT embedding, lat, lon FROM satcle WHERE h3 = ?", [cell]).fetchall()
            assert len(row) == 512
            centre = h3.cell_to_latlng(h3.int_to_str(cell))
            assert (lat, lon) == pytest.approx(centre, abs=1e-9)
            np.testing.assert_allclose(np.asarray(row, np.float32), encoder.encode([centre[0]], [centre[1]])[0],
                                       rtol=1e-6, atol=1e-7)
    info = CliRunner().invoke(grid_app, ["info", str(grid)])
    assert "kind=geoclip-rff" in info.output and "float32[512]" in info.output


def test_lookup_and_the_sql_functions(wide, rng, sphere_points):
    _, grid_dir, encoder = wide
    grid = satcle.open_grid(grid_dir)
    lats, lons = np.array([p[0] for p in PLACES.values()]), np.array([p[1] for p in PLACES.values()])
    interpolated = grid.lookup(lats, lons)
    assert interpolated.shape == (3, 512) and grid.dim == 512
    cells = grid.lookup(lats, lons, method="cell")
    np.testing.assert_allclose(cells, encoder.encode(*np.array([h3.cell_to_latlng(h3.int_to_str(cell_of(p)))
                                                               for p in PLACES]).T), rtol=1e-6, atol=1e-7)
    live, source = grid.lookup(lats, lons, tolerance=0.0, return_source=True)     # every bound > 0: all live
    np.testing.assert_array_equal(live, encoder.encode(lats, lons))
    assert (source == 1).all()
    con = satcle.connect(grid_dir)
    rows = con.sql("SELECT satcle_embedding(48.8566, 2.3522) AS e").fetchall()
    np.testing.assert_array_equal(np.asarray(rows[0][0], np.float32), interpolated[0])
    similar = con.execute("SELECT h3, similarity FROM satcle_similar(?, 3)", [cell_of("beijing")]).fetchall()
    assert len(similar) == 3 and similar[0][0] == cell_of("beijing") and similar[0][1] == pytest.approx(1.0)


def test_embed_with_the_grid_writes_512_wide_outputs(wide, tmp_path):
    _, grid_dir, _ = wide
    points = tmp_path / "points.csv"
    points.write_text("id,lat,lon\n" + "\n".join(f"{i},{lat},{lon}" for i, (lat, lon) in enumerate(PLACES.values())))
    for suffix in (".parquet", ".csv"):
        out = tmp_path / f"emb{suffix}"
        result = CliRunner().invoke(satcle_app, ["embed", "-i", str(points), "-o", str(out), "--grid", str(grid_dir),
                                                 "--no-progress"])
        assert result.exit_code == 0, result.output
        assert "wrote 3 x 512 embeddings" in result.output
    expected = satcle.open_grid(grid_dir).lookup(*np.array(list(PLACES.values())).T)
    table = pq.read_table(tmp_path / "emb.parquet")
    assert str(table.schema.field("embedding").type) == "fixed_size_list<element: float>[512]"
    np.testing.assert_array_equal(np.stack(table.column("embedding").to_numpy(zero_copy_only=False)), expected)
    csv = pd.read_csv(tmp_path / "emb.csv")
    assert list(csv.columns[-2:]) == ["e510", "e511"]
    np.testing.assert_allclose(csv[[f"e{i}" for i in range(512)]].to_numpy(), expected, rtol=1e-6)


def test_dask_column_is_512_wide(wide, rng, sphere_points):
    _, grid_dir, _ = wide
    lats, lons = sphere_points(rng, 300)
    frame = pd.DataFrame({"lat": lats, "lon": lons})
    with dask.config.set(scheduler="synchronous"):
        result = satcle.dask.add_embeddings(dd.from_pandas(frame, npartitions=3), grid=grid_dir,
                                            on_miss="nan").compute()
    embeddings = np.stack(result["embedding"].to_numpy())
    assert embeddings.shape == (lats.size, 512)
    np.testing.assert_array_equal(embeddings, satcle.open_grid(grid_dir).lookup(lats, lons, on_miss="nan"))


def test_serve_answers_with_512_values(wide):
    _, grid_dir, _ = wide
    process = subprocess.Popen([sys.executable, "-m", "build_grid.cli", "serve", str(grid_dir), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        url = None
        for line in process.stdout:      # the first line names the URL once the grid is loaded
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if match:
                url = match.group(1)
                break
        assert url, "serve printed no URL"
        with urllib.request.urlopen(url + "api/embedding?lat=48.8566&lon=2.3522", timeout=60) as response:
            answer = json.loads(response.read())
        assert len(answer["embedding"]) == 512
        np.testing.assert_allclose(answer["embedding"], satcle.open_grid(grid_dir).lookup([48.8566], [2.3522])[0],
                                   rtol=1e-6, atol=1e-7)
        with urllib.request.urlopen(url + "api/info", timeout=60) as response:
            assert json.loads(response.read())["dim"] == 512
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_live_fallback_names_a_moved_model_directory(wide):
    import dataclasses

    from satcle.core.errors import ModelNotFoundError
    from satcle.grid.format.store import read_manifest
    from satcle.grid.lookup.grid_model import load_matching_encoder

    model, grid_dir, _ = wide
    manifest = read_manifest(grid_dir)
    assert manifest.model_path == str(model.resolve())      # recorded by the build: not a shipped model
    assert load_matching_encoder(manifest).metadata["sha256"] == manifest.model_sha256
    moved = dataclasses.replace(manifest, model_path="/nowhere/geoclip-like")
    with pytest.raises(ModelNotFoundError, match="encoder=satcle.load_encoder"):
        load_matching_encoder(moved)
