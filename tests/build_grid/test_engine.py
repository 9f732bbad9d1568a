"""The grid builder end to end, on a real Dask LocalCluster (2 workers, loopback)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import h3
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

import satcle
from build_grid.cli import app
from build_grid.coverage import LandMask, covered_cells, stored_neighbors
from build_grid.engine import JOURNAL_DIR, BuildConfig, build_grid
from build_grid.partition import evaluate_partition, partition_to_parquet
from satcle.grid.format.duckdb_view import search_path_sql
from satcle.grid.format.verify import verify_grid
from satcle.core.checksum import bytes_checksum
from satcle.core.errors import GridBuildError, GridFormatError
from satcle.grid.lookup import interp_error
from satcle.geo.h3_cells import cell_centers
from satcle.core.paths import DEFAULT_GRID, GridSpec, built_grid_dir, cache_dir, default_grid_dir
from satcle.grid.format.store import DUCKDB_FILE, MANIFEST_FILE, partition_schema, read_manifest

runner = CliRunner()


@pytest.fixture(scope="module")
def encoder():
    return satcle.load_encoder("default")


@pytest.fixture(scope="module")
def land_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "r2-land"
    summary = build_grid(BuildConfig(resolution=2, coverage="land", dtype="float16", workers=2, out=str(out)),
                         progress=False)
    return out, summary


def cosine(a, b):
    return np.sum(a * b, axis=-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_partitions_schema_metadata_and_manifest(land_grid, encoder):
    out, summary = land_grid
    manifest = read_manifest(out)
    assert (manifest.resolution, manifest.coverage, manifest.dtype, manifest.dim) == (2, "land", "float16", 256)
    assert manifest.model_sha256 == encoder.metadata["sha256"]
    assert manifest.model_config == {"kind": "siren-sh", **encoder.config.to_dict()}
    assert manifest.total_cells == summary.cells > 0 and manifest.has_interp_error
    # No temp files; the pyramid (res 1 and 0) by default, land parents at coasts over fewer children.
    assert {p.name for p in out.iterdir()} == {MANIFEST_FILE, DUCKDB_FILE, "partitions", "lookup", "pyramid"}
    assert [level.resolution for level in manifest.pyramid] == [1, 0] and manifest.pyramid[0].partial_parents > 0
    for part in manifest.partitions:
        path = out / part.file
        table = pq.read_table(path)
        assert table.schema.remove_metadata().equals(partition_schema(256, "float16", with_error=True,
                                                                       with_geometry=True))
        meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
        # GeoParquet: the centre as a WKB point (x = lon, y = lat), described by the "geo" metadata.
        geo = json.loads(meta["geo"])
        assert geo["primary_column"] == "geometry" and geo["version"] == "1.1.0"
        assert geo["columns"]["geometry"] == {"encoding": "WKB", "geometry_types": ["Point"]}
        wkb = np.frombuffer(b"".join(table.column("geometry").to_pylist()),
                            dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
        assert np.all(wkb["order"] == 1) and np.all(wkb["type"] == 1)
        np.testing.assert_array_equal(wkb["x"], table.column("lon").to_numpy())
        np.testing.assert_array_equal(wkb["y"], table.column("lat").to_numpy())
        assert meta["satcle_model_sha256"] == manifest.model_sha256
        assert (meta["satcle_resolution"], meta["satcle_dtype"], meta["satcle_coverage"]) == ("2", "float16", "land")
        cells = table.column("h3").to_numpy()
        assert np.all(np.diff(cells.astype(np.float64)) > 0)  # sorted, unique
        assert all(h3.get_resolution(h3.int_to_str(int(c))) == 2 for c in cells[:5])
        assert f"{int(meta['satcle_parent'], 16):x}.parquet" == Path(part.file).name
        assert bytes_checksum(path.read_bytes()) == manifest.checksums[part.file] and table.num_rows == part.rows


@pytest.mark.skipif(tuple(int(x) for x in duckdb.__version__.split(".")[:2]) < (2, 0),
                    reason="DuckDB reads GeoParquet natively from 2.0 on")
def test_duckdb_reads_partitions_as_geoparquet(land_grid):
    files = str(land_grid[0] / "partitions" / "*.parquet")
    rows = duckdb.sql(f"SELECT typeof(geometry), ST_AsText(geometry), lon, lat FROM read_parquet('{files}')").fetchall()
    assert len(rows) == read_manifest(land_grid[0]).total_cells
    assert {kind for kind, _, _, _ in rows} == {"GEOMETRY('OGC:CRS84')"}
    assert all(text == f"POINT ({lon!r} {lat!r})" for _, text, lon, lat in rows)


def test_duckdb_file_query_equals_live_encoder(land_grid, encoder):
    out, _ = land_grid
    with duckdb.connect(str(out / DUCKDB_FILE), read_only=True) as con:
        con.execute(search_path_sql(out))  # the view's paths are relative to the grid
        # The grid's own resolution (the view also holds the pyramid's coarser levels).
        rows = con.sql("SELECT h3, lat, lon FROM satcle WHERE res = 2 USING SAMPLE 20 ROWS (reservoir, 7)").fetchall()
        for cell, lat, lon in rows:
            (embedding,) = con.execute("SELECT embedding FROM satcle WHERE h3 = ?", [cell]).fetchall()[0]
            stored = np.asarray(embedding, dtype=np.float32)
            assert cosine(stored, encoder.encode([lat], [lon])[0]) >= 0.9999
            assert np.allclose((lat, lon), h3.cell_to_latlng(h3.int_to_str(cell)), atol=1e-9)
        assert con.execute("SELECT count(*) FROM satcle WHERE res = 2").fetchall()[0][0] == read_manifest(out).total_cells


def test_connect_sql_functions(land_grid, rng):
    out, _ = land_grid
    con = satcle.connect(out)
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, 50)))
    lons = rng.uniform(-180, 180, 50)
    con.execute("CREATE TABLE points AS SELECT * FROM (SELECT unnest(?) AS lat, unnest(?) AS lon)", [lats.tolist(), lons.tolist()])
    cells = [c for (c,) in con.sql("SELECT h3_latlng_to_cell(lat, lon, 5) FROM points").fetchall()]
    assert cells == [h3.str_to_int(h3.latlng_to_cell(a, b, 5)) for a, b in zip(lats, lons)]
    # satcle_embedding is the lookup's: interpolated, computed live outside coverage.
    looked_up = np.array([e for (e,) in con.sql("SELECT satcle_embedding(lat, lon) FROM points").fetchall()],
                         dtype=np.float32)
    grid = satcle.open_grid(out)
    np.testing.assert_array_equal(looked_up, grid.lookup(lats, lons, method="interp"))
    # With the options: exactly the stored row of the containing cell, NULL outside coverage.
    cell_con = satcle.connect(out, method="cell", on_miss="nan")
    cell_con.execute("CREATE TABLE points AS SELECT * FROM (SELECT unnest(?) AS lat, unnest(?) AS lon)",
                     [lats.tolist(), lons.tolist()])
    joined = cell_con.sql("""
        SELECT p.lat, p.lon, satcle_embedding(p.lat, p.lon) AS looked_up, s.embedding AS stored
        FROM points p LEFT JOIN satcle s ON s.h3 = h3_latlng_to_cell(p.lat, p.lon, 2)""").fetchall()
    covered = [(a, b) for _, _, a, b in joined if b is not None]
    assert 0 < len(covered) < len(joined)
    assert all(np.array_equal(a, b) for a, b in covered)
    assert all(a is None for _, _, a, b in joined if b is None)
    with pytest.raises(ValueError, match="method"):
        satcle.connect(out, method="nearest")
    assert con.execute("SELECT satcle_embedding(NULL, 1.0) IS NULL, h3_latlng_to_cell(1.0, NULL, 3) IS NULL").fetchall()[0] == (True, True)
    with pytest.raises(duckdb.Error, match="outside"):
        con.sql("SELECT h3_latlng_to_cell(95.0, 0.0, 3)").fetchall()


def test_similar_and_info_cli(land_grid):
    out, _ = land_grid
    result = runner.invoke(app, ["similar", str(out), "--lat", "48.85", "--lon", "2.35", "-k", "3"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4 and lines[1].split()[0] == h3.latlng_to_cell(48.85, 2.35, 2)
    assert float(lines[1].split()[4]) == pytest.approx(1.0, abs=1e-4)   # h3, h3_int, lat, lon, cosine, km
    ocean = runner.invoke(app, ["similar", str(out), "--lat", "0", "--lon", "-150"])   # computed live
    assert ocean.exit_code == 0 and "live encoder" in ocean.stderr
    info = runner.invoke(app, ["info", str(out)])
    assert info.exit_code == 0 and "float16[256]" in info.output and f"{read_manifest(out).total_cells:,}" in info.output
    assert "MB of lookup files" in info.output
    query = runner.invoke(app, ["query", str(out), "SELECT count(*) AS n FROM satcle WHERE res = 2"])
    assert query.exit_code == 0 and f"{read_manifest(out).total_cells}" in query.output


def test_lookup_files_hold_the_sorted_rows_and_the_index(land_grid, monkeypatch):
    import satcle.grid.lookup.grid as grid_module
    from satcle.grid.format.lookup_files import LOOKUP_VERSION
    from satcle.grid.format.reader import table_from_partitions
    from satcle.grid.lookup.cell_index import build_cell_index

    out, _ = land_grid
    manifest = read_manifest(out)
    assert manifest.lookup.version == LOOKUP_VERSION
    # Every file listed, nothing else (no temporary files), sizes as listed, checksums in the manifest's map.
    assert sorted(p.name for p in (out / "lookup").iterdir()) == sorted(Path(f.file).name for f in manifest.lookup.files)
    for entry in manifest.lookup.files:
        data = (out / entry.file).read_bytes()
        assert len(data) == entry.bytes and bytes_checksum(data) == manifest.checksums[entry.file]
    # Opening maps them: nothing is built, nothing cached, nothing copied.
    monkeypatch.setattr(grid_module, "build_cell_index", None)
    grid = satcle.open_grid(out)
    from_partitions = table_from_partitions([str(out / p.file) for p in manifest.partitions], manifest)
    for name in ("h3", "lat", "lon", "values", "interp_error"):
        mapped = getattr(grid.table, name)
        assert not mapped.flags.writeable and not mapped.flags.owndata       # a view of the file's pages
        np.testing.assert_array_equal(mapped, getattr(from_partitions, name))
    built = build_cell_index(from_partitions.h3, from_partitions.lat, from_partitions.lon)
    for name, array in built.arrays().items():
        np.testing.assert_array_equal(getattr(grid.index, name), array)
    assert built.constants() == grid.index.constants()
    assert grid.index.centres.ctypes.data % 64 == 0


def test_grid_of_another_format_is_rebuilt_by_the_command_its_error_names(land_grid, tmp_path, rng):
    """A grid of format 1 (no manifest checksum, partitions listed with a sha256) is
    refused in one line naming the satcle that wrote it and the command that rebuilds
    it; that command, run as printed, makes it a grid of this format."""
    out = tmp_path / "old"
    shutil.copytree(land_grid[0], out)
    expected = satcle.open_grid(out)
    lats, lons = rng.uniform(-60, 70, 2000), rng.uniform(-180, 180, 2000)
    document = json.loads((out / "manifest.json").read_text())
    del document["manifest_checksum"]
    document.update(format_version=1, library_version="0.0.9",
                    partitions=[{**p, "sha256": "00"} for p in document["partitions"]])
    (out / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(satcle.GridFormatError) as caught:
        satcle.open_grid(out)
    message = str(caught.value)
    assert "\n" not in message and "written by satcle 0.0.9, format 1" in message
    command = message.split("`")[1].split()
    assert command[:2] == ["satcle-grid", "build"] and command[-2:] == ["--out", str(out)]
    result = runner.invoke(app, command[1:])
    assert result.exit_code == 0, result.output
    assert verify_grid(out) == [] and read_manifest(out).format_version == 2
    np.testing.assert_array_equal(satcle.open_grid(out).lookup(lats, lons, on_miss="nan"),
                                  expected.lookup(lats, lons, on_miss="nan"))


def test_verify_catches_flipped_byte_and_missing_file(land_grid, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(land_grid[0], out)
    assert verify_grid(out) == []
    assert runner.invoke(app, ["verify", str(out)]).exit_code == 0
    first, second = read_manifest(out).partitions[:2]
    data = bytearray((out / first.file).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / first.file).write_bytes(bytes(data))
    (out / second.file).unlink()
    problems = sorted(verify_grid(out))
    assert len(problems) == 2 and first.file in problems[0] and "is corrupt: checksum" in problems[0]
    assert second.file in problems[1] and "missing" in problems[1]
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 1 and first.file in result.output
    # The lookup files too: a flipped byte, a missing file.
    rows, centres = (out / "lookup" / "values.npy"), (out / "lookup" / "centres.npy")
    data = bytearray(rows.read_bytes())
    data[len(data) // 2] ^= 0x01
    rows.write_bytes(bytes(data))
    centres.unlink()
    problems = verify_grid(out)   # their checksums, with every file's
    assert len(problems) == 4 and sum("lookup/values.npy is corrupt: checksum" in p for p in problems) == 1
    assert sum("lookup/centres.npy: listed in the manifest but missing" in p for p in problems) == 1


def test_stored_error_bound_equals_the_bound_on_the_whole_grid(land_grid, encoder, rng):
    out, _ = land_grid
    grid = satcle.open_grid(out, encoder=encoder)
    table = grid.table

    def disk(cell):
        return [h3.str_to_int(n) for n in h3.grid_disk(h3.int_to_str(int(cell)), 1)]

    # Cells on partition borders (their bound reads rows of other partitions) and on
    # coasts (some neighbours not stored), plus random ones.
    parent = [h3.cell_to_parent(h3.int_to_str(int(c)), 0) for c in table.h3]
    border = [i for i, c in enumerate(table.h3) if any(h3.cell_to_parent(h3.int_to_str(n), 0) != parent[i]
                                                      for n in disk(c))]
    coast = [i for i, c in enumerate(table.h3) if np.any(grid.rows_of(disk(c)) < 0)]
    chosen = np.unique(np.concatenate([rng.choice(border, 5, replace=False), rng.choice(coast, 5, replace=False),
                                       rng.choice(table.h3.size, 5)]))
    cells = table.h3[chosen]
    around = np.unique(np.array([n for c in cells for n in disk(c)], dtype=np.uint64))
    around = around[grid.rows_of(around) >= 0]
    rows = grid.rows_of(around)
    expected = interp_error(encoder, cells, around, table.values[rows], table.scale)
    assert np.all(expected > 0)
    np.testing.assert_array_equal(table.interp_error[chosen], expected)
    # tolerance routes exactly the cells whose stored bound exceeds it to the encoder.
    tolerance = float(np.median(expected))
    _, source = grid.lookup(*cell_centers(cells), tolerance=tolerance, return_source=True)
    np.testing.assert_array_equal(source == satcle.grid.lookup.Source.LIVE, expected > tolerance)


def test_bounded_partitions_are_reproducible_to_the_byte(land_grid, encoder):
    out, _ = land_grid
    manifest = read_manifest(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # the workers' torch threads
    try:
        for part in manifest.partitions[:3]:
            parent = int(Path(part.file).stem, 16)
            cells = covered_cells(parent, 2, "land")
            table = evaluate_partition(encoder, cells, "float16", neighbors=stored_neighbors(cells, "land"),
                                       metadata=manifest.partition_metadata(parent))
            assert (out / part.file).read_bytes() == partition_to_parquet(table), part.file
    finally:
        torch.set_num_threads(threads)


def test_no_error_bound_build_and_tolerance_error(tmp_path, monkeypatch):
    # No --out: the grid goes under the cache root, where the default grid is looked for.
    LandMask()  # (the mask file, linked into the new root so that its workers need not inflate it again)
    (tmp_path / LandMask.FILE).symlink_to(cache_dir() / LandMask.FILE)
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path))
    monkeypatch.delenv("SATCLE_GRID", raising=False)
    result = runner.invoke(app, ["build", "--res", "1", "--workers", "1", "--no-error-bound"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "grids" / "default-r1-land-float16"
    assert built_grid_dir(GridSpec(resolution=1)) == out
    assert default_grid_dir() == built_grid_dir(GridSpec()) == tmp_path / "grids" / "default-r6-land-float16"
    defaults = BuildConfig()
    assert GridSpec(defaults.model, defaults.resolution, defaults.coverage, defaults.dtype) == DEFAULT_GRID
    manifest = read_manifest(out)
    assert not manifest.has_interp_error
    assert "interp_error" not in pq.read_schema(out / manifest.partitions[0].file).names
    grid = satcle.open_grid(out)
    assert grid.lookup([48.85], [2.35]).shape == (1, 256)
    with pytest.raises(GridFormatError, match="--error-bound"):
        grid.lookup([48.85], [2.35], tolerance=0.01)
    # The same directory with bounds is another grid: refused, not mixed.
    with pytest.raises(GridBuildError, match="another grid"):
        build_grid(BuildConfig(resolution=1, workers=1, out=str(out)), progress=False)


def test_refuses_to_mix_grids(land_grid):
    with pytest.raises(GridBuildError, match="another grid"):
        build_grid(BuildConfig(resolution=2, dtype="int8", workers=1, out=str(land_grid[0])), progress=False)


def test_kill_and_resume_is_byte_identical(tmp_path, encoder):
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "build_grid.cli", "build", "--res", "3", "--coverage", "global",
         "--workers", "2", "--no-error-bound", "--out", str(killed)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partitions = killed / "partitions"
    try:
        # Kill the build, its scheduler and workers as soon as its second partition is on disk.
        deadline = time.monotonic() + 120
        while not (partitions.is_dir() and sum(p.suffix == ".parquet" for p in partitions.iterdir()) >= 2):
            assert process.poll() is None and time.monotonic() < deadline, "build ended before writing partitions"
            time.sleep(0.005)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not (killed / MANIFEST_FILE).exists()
    written = sorted(p for p in partitions.iterdir() if p.suffix == ".parquet")
    assert 2 <= len(written) < 122
    journal = killed / JOURNAL_DIR / "partitions"
    journaled = [p for p in written if (journal / f"{p.name}.checksum").is_file()]
    assert len(journaled) >= len(written) - 2   # the files being written at the kill may lack their entry
    # A damaged file (as if the disk had lost its end) is rebuilt, not kept.
    written[0].write_bytes(written[0].read_bytes()[:-100])

    # Resumed through fsspec (file:// URL), the path taken for shared or object-store outputs.
    # (Without error bounds, to keep this test short: that bounded partitions are
    # reproducible to the byte is checked on the land grid above.)
    resumed = build_grid(BuildConfig(resolution=3, coverage="global", workers=2, out=f"file://{killed}",
                                     error_bound=False), progress=False)
    # Kept: the undamaged files whose checksum reached the journal (a kill between a file and
    # its journal entry leaves the file to be rebuilt).
    assert resumed.partitions_skipped >= len(journaled) - 1 and resumed.partitions_built <= 122 - len(journaled) + 1
    assert verify_grid(killed) == []
    # Reference: every partition evaluated uninterrupted, in this process, with the
    # workers' torch thread count (one each, two workers on the test machine's cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        identity = read_manifest(killed)
        for part in read_manifest(killed).partitions:
            parent = int(Path(part.file).stem, 16)
            table = evaluate_partition(encoder, covered_cells(parent, 3, "global"), "float16",
                                       metadata=identity.partition_metadata(parent))
            assert (killed / part.file).read_bytes() == partition_to_parquet(table), part.file
    finally:
        torch.set_num_threads(threads)


def test_scheduler_build_equals_local_build(land_grid, tmp_path):
    """`--scheduler`: the same grid, to the byte, built by the worker processes of
    an existing Dask cluster (2 workers on loopback) instead of in this process."""
    from distributed import Client, LocalCluster

    from build_grid.engine import ENCODER_PLUGIN

    out = tmp_path / "remote"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        result = runner.invoke(app, ["build", "--res", "2", "--scheduler", cluster.scheduler_address,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        # The work ran there: both workers loaded the encoder plugin and ran tasks.
        assert all(client.run(lambda dask_worker: ENCODER_PLUGIN in dask_worker.plugins).values())
        assert sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values()) == 122
    local, remote = read_manifest(land_grid[0]), read_manifest(out)
    assert remote.has_interp_error and remote.total_cells == local.total_cells
    assert remote.partitions == local.partitions
    assert all(remote.checksums[p.file] == local.checksums[p.file] for p in local.partitions)
    assert all((out / p.file).read_bytes() == (land_grid[0] / p.file).read_bytes() for p in local.partitions)
    assert verify_grid(out) == []


def test_fsspec_url_output(tmp_path, encoder):
    """`--out file://...` goes through fsspec (the path of s3:// and other remote
    outputs): same partitions as a local build, no DuckDB file (local outputs only)."""
    url_out, path_out = tmp_path / "url", tmp_path / "path"
    for out in (f"file://{url_out}", str(path_out)):
        build_grid(BuildConfig(resolution=1, workers=2, out=out, error_bound=False), progress=False)
    by_url, by_path = read_manifest(url_out), read_manifest(path_out)
    assert by_url.total_cells == by_path.total_cells > 0
    assert by_url.partitions == by_path.partitions
    assert all(by_url.checksums[p.file] == by_path.checksums[p.file] for p in by_path.partitions)
    assert (path_out / DUCKDB_FILE).is_file() and not (url_out / DUCKDB_FILE).exists()
    assert verify_grid(url_out) == []
    assert not [p for p in (url_out / "partitions").iterdir() if not p.name.endswith(".parquet")]  # no temp files
