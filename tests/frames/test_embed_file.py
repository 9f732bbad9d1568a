"""`satcle embed --input FILE --output FILE`: streaming bulk embedding of CSV and Parquet
point files through a grid or the live encoder (satcle/embed_file.py, satcle/core/points.py)."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import satcle
import satcle.frames.point_files as points_module
from satcle.cli.main import app
from satcle.frames.point_files import PointReader
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
        expected = points[name].to_pylist()
        if suffix == ".csv" and name in ("id", "name"):   # a CSV's other columns: their text, as written
            expected = [str(v) for v in expected]
        assert table[name].to_pylist() == expected, name
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
        (["-i", source, "-o", tmp_path / "o.parquet", "--lat-column", "latitude"], "has no column 'latitude'"),
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


KEYS = [  # text a naive reader turns into other values: leading zeros, dates, exponents, blanks, quotes
    ("01234", "06037", "2024-01-05", "1e5", "  padded ", 'say "hi", ok', "", "007.50", "TRUE"),
    ("99501", "36061", "05/01/2024", "NaN", "x", "ünïcode", " ", "-0", "null"),
]


def _keyed_csv(path, header="zip,fips,date,exp,pad,quoted,blank,decimal,flag,lat,lon"):
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header.split(","))
        for i in range(600):   # several chunks
            writer.writerow([*KEYS[i % 2], f"{(i % 170) - 85}.25", f"{(i * 7) % 360 - 180}.5"])
    return path


def test_csv_columns_come_out_byte_identical(no_default_grid, tmp_path):
    """ZIP 01234, FIPS 06037, dates, text: what the user wrote comes out, to CSV byte for byte."""
    source = _keyed_csv(tmp_path / "keyed.csv")
    result = embed("-i", source, "-o", tmp_path / "out.csv", "--no-progress")
    assert result.exit_code == 0, result.output
    import csv
    import io

    with open(source, newline="") as a, open(tmp_path / "out.csv", newline="") as b:
        rows_in, rows_out = list(csv.reader(a)), list(csv.reader(b))
    assert len(rows_in) == len(rows_out) == 601
    assert rows_out[0][:9] == rows_in[0][:9] and rows_out[0][11:13] == ["e0", "e1"]
    for row_in, row_out in zip(rows_in[1:], rows_out[1:]):
        assert row_out[:9] == row_in[:9]   # every non-coordinate field, as text, unchanged
        assert float(row_out[9]) == float(row_in[9]) and float(row_out[10]) == float(row_in[10])
    # Byte for byte: each output line begins with the input line's bytes for those fields (quotes only
    # where a field needs them, as the input has them).
    lines = (tmp_path / "out.csv").read_bytes().split(b"\n")
    for row_in, line in zip(rows_in, lines):
        prefix = io.StringIO()
        csv.writer(prefix, lineterminator="").writerow(row_in[:9])
        assert line.startswith(prefix.getvalue().encode() + b","), (row_in, line[:80])
    # To Parquet: the same text, as strings.
    result = embed("-i", source, "-o", tmp_path / "out.parquet", "--no-progress")
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out.parquet")
    for k, name in enumerate(rows_in[0][:9]):
        assert table.schema.field(name).type == pa.string()
        assert table[name].to_pylist() == [row[k] for row in rows_in[1:]], name


def test_parquet_columns_keep_their_types_and_values(no_default_grid, tmp_path):
    import datetime
    import decimal

    n = 40
    table = pa.table({
        "zip": pa.array(["01234"] * n), "fips": pa.array(["06037"] * n),
        "day": pa.array([datetime.date(2024, 1, 5)] * n), "when": pa.array([datetime.datetime(2024, 1, 5, 7)] * n),
        "price": pa.array([decimal.Decimal("7.50")] * n, pa.decimal128(5, 2)),
        "count": pa.array(range(n), pa.uint16()), "tags": pa.array([["a", "b"]] * n),
        "latitude": np.linspace(-80, 80, n), "longitude": np.linspace(-170, 170, n),
    })
    pq.write_table(table, tmp_path / "typed.parquet")
    result = embed("-i", tmp_path / "typed.parquet", "-o", tmp_path / "out.parquet", "--no-progress")
    assert result.exit_code == 0, result.output   # latitude/longitude found by name
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.remove(out.schema.get_field_index("embedding")) == table.schema
    assert out.drop_columns(["embedding"]).equals(table)


def test_coordinate_columns_are_found_by_name_or_the_error_names_the_candidates(no_default_grid, tmp_path):
    for header in ("decimalLatitude,decimalLongitude", "Latitude,Lng", "LAT,LON"):
        path = tmp_path / "named.csv"
        path.write_text(f"id,{header}\n1,10,20\n2,-5,30\n")
        result = embed("-i", path, "-o", tmp_path / "named.npy", "--no-progress")
        assert result.exit_code == 0, (header, result.output)
        lat, lon = header.split(",")
        assert np.load(tmp_path / "named.npy").shape[0] == 2
    path = tmp_path / "two.csv"
    path.write_text("lat,latitude,lon\n1,1,2\n")
    result = embed("-i", path, "-o", tmp_path / "x.npy")
    assert result.exit_code == 2 and "several latitude columns ['lat', 'latitude']" in result.stderr
    assert "--lat-column" in result.stderr
    result = embed("-i", path, "-o", tmp_path / "x.npy", "--lat-column", "latitude", "--no-progress")
    assert result.exit_code == 0, result.output
    path.write_text("a,b\n1,2\n")
    result = embed("-i", path, "-o", tmp_path / "x.npy")
    assert result.exit_code == 2 and "no latitude column" in result.stderr and "['a', 'b']" in result.stderr


def test_geoparquet_points_in_any_crs_and_geoparquet_out(no_default_grid, tmp_path):
    gpd = pytest.importorskip("geopandas", reason="the geo extra")
    lats, lons = np.array([48.8566, -33.92, 35.68]), np.array([2.3522, 18.42, 139.69])
    frame = gpd.GeoDataFrame({"zip": ["01234", "06037", "99501"]},
                             geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326")
    frame.to_crs(3857).to_parquet(tmp_path / "points.parquet")   # Web Mercator metres
    result = embed("-i", tmp_path / "points.parquet", "-o", tmp_path / "out.parquet", "--live", "--no-progress")
    assert result.exit_code == 0, result.output
    out = gpd.read_parquet(tmp_path / "out.parquet")   # GeoParquet out: geometry and CRS kept
    assert out.crs.equals("EPSG:3857") and list(out["zip"]) == ["01234", "06037", "99501"]
    expected = satcle.load_encoder("default").encode(lats, lons)
    np.testing.assert_allclose(np.stack(out["embedding"].to_numpy()), expected, atol=1e-5)
