"""satcle.duckdb as a file to share: opened by the DuckDB command line (`duckdb-cli`,
DuckDB 1.5, in the test extra) and by Python duckdb, after the grid directory was
moved (old location gone), from another working directory; never over another grid."""

import json
import shlex
import shutil
import struct
import subprocess
import sys

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

import satcle
from build_grid.cli import app
from build_grid.coverage import covered_cells
from build_grid.engine import write_cells
from satcle.grid.format.duckdb_view import search_path_sql
from satcle.grid.format.store import DUCKDB_FILE, read_manifest

# Two res-0 parents, so two partition files.
PARENTS = (0x8001FFFFFFFFFFF, 0x8003FFFFFFFFFFF)
OTHER_GRID = "not those of the grid"


def first_cells():
    """One cell of each partition."""
    return [int(covered_cells(parent, 2, "global")[0]) for parent in PARENTS]


@pytest.fixture(scope="module")
def encoder():
    return satcle.load_encoder("default")


def build(root, encoder, dtype, step=1):
    """A grid of the res-2 cells under PARENTS (every `step`-th of them)."""
    cells = np.concatenate([covered_cells(parent, 2, "global")[::step] for parent in PARENTS])
    write_cells(root, encoder, cells, dtype=dtype, error_bound=False)
    return root


@pytest.fixture
def moved_grid(tmp_path, encoder):
    """An int8 grid (the view dequantises) built at one place and moved to another; and a
    working directory outside it."""
    built = build(tmp_path / "built", encoder, "int8")
    moved = tmp_path / "shared" / "grid"
    moved.parent.mkdir()
    shutil.move(built, moved)
    assert not built.exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return moved, elsewhere


def duckdb_cli(args, cwd):
    """Run the DuckDB command line of `duckdb-cli` (JSON output); (returncode, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "duckdb_cli", "-readonly", "-json", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def stored_rows(grid_dir, cells):
    """{h3: embedding float32} of `cells` through `satcle.connect` (its own view, the grid's current paths)."""
    con = satcle.connect(grid_dir)
    rows = con.execute("SELECT h3, embedding FROM satcle WHERE list_contains(?, h3)", [cells]).fetchall()
    return {cell: np.asarray(embedding, dtype=np.float32) for cell, embedding in rows}


def test_file_is_in_duckdb_1_1_storage_format(moved_grid):
    grid, _ = moved_grid
    header = (grid / DUCKDB_FILE).read_bytes()[:20]
    # Main header: checksum (8 bytes), "DUCK", storage version (uint64): 64 is DuckDB 0.10-1.1's.
    assert header[8:12] == b"DUCK" and struct.unpack("<Q", header[12:20])[0] == 64


def test_duckdb_cli_queries_moved_grid_with_the_command_info_prints(moved_grid):
    grid, elsewhere = moved_grid
    manifest = read_manifest(grid)
    info = CliRunner().invoke(app, ["info", str(grid)])
    assert info.exit_code == 0, info.output
    (line,) = [line for line in info.output.splitlines() if line.strip().startswith("duckdb:")]
    command = shlex.split(line.split(":", 1)[1])
    assert command == ["duckdb", "-cmd", search_path_sql(grid), str(grid.resolve() / DUCKDB_FILE)]
    cell = first_cells()[1]
    expected = stored_rows(grid, [cell])[cell]
    code, out, err = duckdb_cli([*command[1:], "-c", f"SELECT h3, embedding FROM satcle WHERE h3 = {cell}"],
                                cwd=elsewhere)
    assert code == 0, err
    (row,) = json.loads(out)
    assert int(row["h3"]) == cell  # JSON output gives UBIGINT as a string
    np.testing.assert_array_equal(np.asarray(row["embedding"], dtype=np.float32), expected)
    code, out, err = duckdb_cli([*command[1:], "-c", "SELECT count(*) AS n FROM satcle"], cwd=elsewhere)
    assert code == 0 and json.loads(out) == [{"n": manifest.total_cells}], err
    # From the grid directory itself, with the setting as '.'.
    code, out, err = duckdb_cli(["-cmd", "SET file_search_path = '.'", DUCKDB_FILE, "-c",
                                 f"SELECT embedding FROM satcle WHERE h3 = {cell}"], cwd=grid)
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(json.loads(out)[0]["embedding"], dtype=np.float32), expected)
    # Without the setting: the files where the grid was built, gone - DuckDB's own "no files found" naming
    # that place, not a read of anything else.
    code, out, err = duckdb_cli([str(grid / DUCKDB_FILE), "-c", "SELECT count(*) FROM satcle"], cwd=elsewhere)
    assert code != 0 and "built/partitions/" in err and "No files found" in err


def test_duckdb_cli_queries_a_grid_by_its_path_from_any_directory(tmp_path, encoder):
    """The README's one line, `duckdb DIR/satcle.duckdb -c "..."`, from an unrelated directory, no setting."""
    grid = build(tmp_path / "grid", encoder, "float16")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cell = first_cells()[0]
    expected = stored_rows(grid, [cell])[cell]
    code, out, err = duckdb_cli([str(grid / DUCKDB_FILE), "-c", f"SELECT embedding FROM satcle WHERE h3 = {cell}"],
                                cwd=elsewhere)
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(json.loads(out)[0]["embedding"], dtype=np.float32), expected)
    code, out, err = duckdb_cli([str(grid / DUCKDB_FILE), "-c", "SELECT count(*) AS n FROM satcle"], cwd=elsewhere)
    assert code == 0 and json.loads(out) == [{"n": read_manifest(grid).total_cells}], err


def test_python_duckdb_queries_moved_grid(moved_grid, monkeypatch):
    grid, elsewhere = moved_grid
    monkeypatch.chdir(elsewhere)
    manifest = read_manifest(grid)
    expected = stored_rows(grid, first_cells())
    assert len(expected) == 2
    with duckdb.connect(str(grid / DUCKDB_FILE), read_only=True) as con:
        con.execute(search_path_sql(grid))
        for cell, embedding in expected.items():
            (row,) = con.execute("SELECT embedding FROM satcle WHERE h3 = ?", [cell]).fetchall()
            np.testing.assert_array_equal(np.asarray(row[0], dtype=np.float32), embedding)
        assert con.execute("SELECT count(*) FROM satcle").fetchall() == [(manifest.total_cells,)]


def test_view_refuses_another_grids_files(moved_grid, encoder):
    grid, elsewhere = moved_grid
    # Another grid with the same partition file names and schema: every other cell of the same parents.
    other = build(elsewhere.parent / "other", encoder, "int8", step=2)
    database = str(grid / DUCKDB_FILE)
    query = f"SELECT h3 FROM satcle WHERE h3 = {first_cells()[0]}"
    # Pointed at the other grid.
    code, _, err = duckdb_cli(["-cmd", search_path_sql(other), database, "-c", query], cwd=elsewhere)
    assert code != 0 and OTHER_GRID in err
    # Run from within the other grid: DuckDB looks in the working directory first.
    code, _, err = duckdb_cli(["-cmd", search_path_sql(grid), database, "-c", "SELECT * FROM satcle LIMIT 1"],
                              cwd=other)
    assert code != 0 and OTHER_GRID in err
    # A directory holding one partition of the other grid and no manifest (a build in progress, say): the
    # manifest then resolves in the grid, the partition in the working directory, outside the manifest's.
    partial = elsewhere.parent / "partial"
    (partial / "partitions").mkdir(parents=True)
    name = read_manifest(grid).partitions[1].file
    shutil.copy(other / name, partial / name)
    code, _, err = duckdb_cli(["-cmd", search_path_sql(grid), database, "-c", "SELECT count(*) FROM satcle"],
                              cwd=partial)
    assert code != 0 and OTHER_GRID in err
    # Python duckdb, the same.
    with duckdb.connect(database, read_only=True) as con:
        con.execute(search_path_sql(other))
        with pytest.raises(duckdb.Error, match=OTHER_GRID):
            con.execute(query).fetchall()
    # A grid of another schema (float16) fails already when DuckDB binds the view.
    float16 = build(elsewhere.parent / "float16", encoder, "float16")
    code, out, err = duckdb_cli(["-cmd", search_path_sql(float16), database, "-c", query], cwd=elsewhere)
    assert code != 0 and out == "" and "scale" in err


def test_no_file_for_a_path_with_a_comma(tmp_path, encoder):
    # file_search_path is a comma-separated list: it cannot name such a directory.
    with pytest.warns(UserWarning, match="contains ','"):
        grid = build(tmp_path / "a,b", encoder, "float16")
    assert not (grid / DUCKDB_FILE).exists()
    assert satcle.connect(grid).execute("SELECT count(*) FROM satcle").fetchall() == [(read_manifest(grid).total_cells,)]
