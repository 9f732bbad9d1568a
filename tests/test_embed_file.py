"""`satcle embed --input FILE --output FILE`: streaming bulk embedding of CSV and Parquet
point files through a grid or the live encoder (satcle/embed_file.py, satcle/core/points.py)."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import satcle
import satcle.core.points as points_module
from satcle.cli import app
from satcle.core.points import PointReader
from satcle.grid.lookup import open_grid

runner = CliRunner()
N = 3_000


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of a few hundred rows, so that every file here spans several of them."""
    monkeypatch.setattr(points_module, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setattr(points_module, "DEFAULT_CHUNK_ROWS", 500)


@pytest.fixture
def no_default_grid(monkeypatch, tmp_path):
    monkeypatch.setenv("SATCLE_GRID", str(tmp_path / "no-grid-here"))


@pytest.fixture(scope="module")
def points():
    """N points (degrees) with an id and a name column to carry through."""
    rng = np.random.default_rng(7)
    lats = np.round(np.degrees(np.arcsin(rng.uniform(-1, 1, N))), 6)
    lons = np.round(rng.uniform(-180, 180, N), 6)
    return pa.table({"id": np.arange(N, dtype=np.int64)[::-1].copy(), "lat": lats, "lon": lons,
                     "name": [f"p{i}" for i in range(N)]})


def write(table, path):
    (pacsv.write_csv if path.suffix == ".csv" else pq.write_table)(table, path)
    return path


def embed(*args):
    return runner.invoke(app, ["embed", *map(str, args)])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_input_to_parquet_through_a_grid(tiny_grid, points, tmp_path, suffix):
    grid, _ = tiny_grid
    source = write(points, tmp_path / f"points{suffix}")
    out = tmp_path / "out.parquet"
    result = embed("--input", source, "--output", out, "--grid", grid)
    assert result.exit_code == 0, result.output
    assert f"embedding with the grid {grid}" in result.stderr and "rows/s" in result.stdout
    assert f"{N / 1000:.2f}k" in result.stderr and " rows/s]" in result.stderr   # the progress bar
    table = pq.read_table(out)
    assert table.column_names == ["id", "lat", "lon", "name", "embedding"]
    assert pq.ParquetFile(out).metadata.num_row_groups > 1   # written chunk by chunk
    for name in ("id", "lat", "lon", "name"):   # carried through, in input order
        assert table[name].to_pylist() == points[name].to_pylist(), name
    embeddings = np.stack(table["embedding"].to_numpy(zero_copy_only=False))
    expected = open_grid(grid).lookup(points["lat"].to_numpy(), points["lon"].to_numpy())
    np.testing.assert_array_equal(embeddings, expected)


def test_csv_and_npy_outputs(tiny_grid, points, tmp_path):
    grid, _ = tiny_grid
    source = write(points, tmp_path / "points.parquet")
    expected = open_grid(grid).lookup(points["lat"].to_numpy(), points["lon"].to_numpy())
    assert embed("-i", source, "-o", tmp_path / "e.npy", "--grid", grid).exit_code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "e.npy"), expected)
    assert embed("-i", source, "-o", tmp_path / "e.csv", "--grid", grid).exit_code == 0
    table = pacsv.read_csv(tmp_path / "e.csv")
    assert table.column_names[:4] == ["id", "lat", "lon", "name"] and table.num_columns == 4 + expected.shape[1]
    assert table["id"].to_pylist() == points["id"].to_pylist()
    np.testing.assert_allclose(np.stack([table[f"e{i}"].to_numpy() for i in range(expected.shape[1])], 1),
                               expected, rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv", "e.npy", "points.parquet"]   # no temporaries


@pytest.mark.parametrize("suffix, bad, message", [
    (".csv", "abc", "lat is missing or not a number"),
    (".csv", "", "lat is missing or not a number"),
    (".csv", "95.5", "lat = 95.5 is outside [-90, 90]"),
    (".parquet", np.nan, "lat is nan"),
    (".parquet", -91.0, "lat = -91.0 is outside [-90, 90]"),
])
def test_bad_row_stops_with_its_row_number_and_writes_nothing(tiny_grid, points, tmp_path, suffix, bad, message):
    grid, _ = tiny_grid
    row = 2_345   # 1-based, in a later chunk than the first
    lats = points["lat"].to_pylist()
    if suffix == ".csv":
        lats = [str(v) for v in lats]
    lats[row - 1] = bad
    source = write(points.set_column(1, "lat", pa.array(lats)), tmp_path / f"points{suffix}")
    out = tmp_path / "out.parquet"
    result = embed("-i", source, "-o", out, "--grid", grid)
    assert result.exit_code == 2 and f"row {row}: {message}" in result.stderr, result.output
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: row {row}: ")   # one line
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [source.name]

    # --on-bad-row null: that row's embedding is null, every other row as without it.
    result = embed("-i", source, "-o", out, "--grid", grid, "--on-bad-row", "null", "--no-progress")
    assert result.exit_code == 0 and "1 null" in result.stdout, result.output
    table = pq.read_table(out)
    assert table.num_rows == N and table["embedding"].null_count == 1
    assert table["embedding"][row - 1].as_py() is None
    good = np.arange(N) != row - 1
    embeddings = np.stack(table["embedding"].filter(pa.array(good)).to_numpy(zero_copy_only=False))
    lat, lon = points["lat"].to_numpy()[good], points["lon"].to_numpy()[good]
    np.testing.assert_array_equal(embeddings, open_grid(grid).lookup(lat, lon))


def test_default_grid_when_it_exists_else_live(tiny_grid, points, tmp_path, monkeypatch):
    grid, _ = tiny_grid
    source = write(points.slice(0, 50), tmp_path / "points.csv")
    lat, lon = points["lat"].to_numpy()[:50], points["lon"].to_numpy()[:50]
    monkeypatch.setenv("SATCLE_GRID", str(grid))
    # The default grid, built with the asked-for model (the tiny grid's model is "test").
    result = embed("-i", source, "-o", tmp_path / "grid.npy", "--model", "test")
    assert result.exit_code == 0 and f"the grid {grid}" in result.stderr, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "grid.npy"), open_grid(grid).lookup(lat, lon))
    # A default grid of another model is not used; nor is any grid with --live.
    for args in ([], ["--live"]):
        result = embed("-i", source, "-o", tmp_path / "live.npy", *args)
        assert result.exit_code == 0 and "the live encoder, model 'default'" in result.stderr, result.output
        np.testing.assert_array_equal(np.load(tmp_path / "live.npy"), satcle.load_encoder("default").encode(lat, lon))
    result = embed("-i", source, "-o", tmp_path / "x.npy", "--live", "--grid", grid)
    assert result.exit_code == 2 and "not both" in result.stderr
    # POINTS on the command line: live unless --grid (a few points are computed sooner than a grid opens).
    result = embed("10,20", "-33.5,151.25", "-o", tmp_path / "points.npy")
    assert result.exit_code == 0 and "the live encoder" in result.stderr, result.output
    result = embed("10,20", "-33.5,151.25", "-o", tmp_path / "points.npy", "--grid", grid)
    assert result.exit_code == 0 and f"the grid {grid}" in result.stderr, result.output
    np.testing.assert_array_equal(np.load(tmp_path / "points.npy"), open_grid(grid).lookup([10, -33.5], [20, 151.25]))


def test_input_errors_are_one_line(no_default_grid, points, tmp_path):
    source = write(points.slice(0, 10), tmp_path / "points.csv")
    cases = [
        (["-i", source], "--input needs --output"),
        (["-i", source, "-o", tmp_path / "o.parquet", "--lat-column", "latitude"], "no column(s) ['latitude']"),
        (["-i", tmp_path / "points.txt", "-o", tmp_path / "o.parquet"], "point files are"),
        (["-i", tmp_path / "absent.csv", "-o", tmp_path / "o.parquet"], "no such file"),
        (["-i", source, "-o", tmp_path / "o.parquet", "--on-bad-row", "skip"], "--on-bad-row"),
        (["-i", source, "-o", source], "is the input file"),
    ]
    for args, message in cases:
        result = embed(*args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
        assert "Traceback" not in result.output
    with_embedding = write(points.slice(0, 10).append_column("embedding", pa.array(range(10))),
                           tmp_path / "has.parquet")
    result = embed("-i", with_embedding, "-o", tmp_path / "o.parquet")
    assert result.exit_code == 2 and "already has a column 'embedding'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["has.parquet", "points.csv"]


def test_reader_keeps_columns_and_marks_bad_rows(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("lat,lon,label\n 10.5 ,20,a\n1e1,x,b\n,5,c\n-90,540,d\nnan,0,e\n")
    (chunk,) = list(PointReader(path))
    assert chunk.columns.schema.names == ["lat", "lon", "label"]
    assert chunk.columns.schema.field("lat").type == pa.float64()
    np.testing.assert_array_equal(chunk.bad, [False, True, True, False, True])
    np.testing.assert_array_equal(chunk.lats[~chunk.bad], [10.5, -90.0])
    np.testing.assert_array_equal(chunk.lons[~chunk.bad], [20.0, -180.0])   # 540 wrapped into [-180, 180)
    assert chunk.describe(1) == "row 2: lon is missing or not a number"
    assert chunk.describe(4) == "row 5: lat is missing or not a number"
    assert chunk.columns.column("label").to_pylist() == list("abcde")
