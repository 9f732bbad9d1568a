"""`satcle-grid sql DIR`: the DuckDB command line over a checked grid, never over
the grid's own satcle.duckdb (which could hold any SQL)."""

import re
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from satcle.grid.format.store import DUCKDB_FILE, read_manifest


def grid_sql(grid_dir, *args):
    """Run ``satcle-grid sql grid_dir *args`` in a fresh process: (returncode, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "build_grid.cli", "sql", str(grid_dir), *args],
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def tagged(stdout, tag):
    """The value printed as ``<tag>=<value>`` in DuckDB's table output."""
    match = re.search(rf"{tag}=([^\s│|]+)", stdout)
    assert match is not None, stdout
    return match.group(1)


@pytest.fixture
def grid(tiny_grid, tmp_path):
    return shutil.copytree(tiny_grid[0], tmp_path / "grid")


def test_the_shell_queries_the_stored_rows(grid):
    table = pq.read_table(grid / read_manifest(grid).partitions[0].file)
    cell = int(table["h3"][0].as_py())
    stored = np.asarray(table["embedding"][0].as_py(), dtype=np.float64)
    code, out, err = grid_sql(grid, "-c", f"SELECT 'ROWS=' || (SELECT count(*) FROM satcle WHERE res = 0) AS a, "
                                          f"'SUM=' || (SELECT list_sum(embedding) FROM satcle WHERE h3 = {cell}) AS b")
    assert code == 0, err
    assert int(tagged(out, "ROWS")) == 122   # every res-0 cell
    assert float(tagged(out, "SUM")) == pytest.approx(stored.sum(), rel=1e-5)
    # The cell form of the similarity macro: a cell is most similar to itself.
    code, out, err = grid_sql(grid, "-c", f"SELECT 'TOP=' || h3 AS t FROM satcle_similar({cell}, 1)")
    assert code == 0, err
    assert int(tagged(out, "TOP")) == cell


def test_sql_from_standard_input(grid):
    done = subprocess.run([sys.executable, "-m", "build_grid.cli", "sql", str(grid)],
                          input="SELECT 'N=' || count(*) AS n FROM satcle;\n", capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(tagged(done.stdout, "N")) == 122


def test_a_planted_duckdb_file_is_refused_not_opened(grid):
    """The shell never opens satcle.duckdb, and a grid whose file changed is refused."""
    (grid / DUCKDB_FILE).write_bytes(b"\x00" * 4096)
    code, out, err = grid_sql(grid, "-c", "SELECT 1")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and f"{DUCKDB_FILE} is corrupt" in err and "Traceback" not in err


def test_a_damaged_partition_is_refused_before_the_shell_starts(grid):
    part = grid / read_manifest(grid).partitions[0].file
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    code, out, err = grid_sql(grid, "-c", "SELECT 1")
    assert code == 2 and out == ""
    assert "is corrupt: checksum" in err and len(err.strip().splitlines()) == 1


def test_a_missing_duckdb_command_line_is_one_line(grid):
    code, _, err = grid_sql(grid, "--duckdb", "no-such-duckdb-binary", "-c", "SELECT 1")
    assert code == 2 and err.strip() == "error: no-such-duckdb-binary: no such DuckDB command line"


def test_the_python_functions_and_only_results(grid):
    """The same functions as satcle.connect, and nothing printed but the results."""
    code, out, err = grid_sql(grid, "-c", "SELECT 'CELL=' || h3_latlng_to_cell(10.0, 20.0, 0) AS c, "
                                          "'DIM=' || len(satcle_embedding(10.0, 20.0)) AS d;")
    assert code == 0, err
    import h3

    assert int(tagged(out, "CELL")) == h3.str_to_int(h3.latlng_to_cell(10.0, 20.0, 0))
    assert int(tagged(out, "DIM")) == 8
    assert "Loading resources" not in out + err and err == ""
    code, out, err = grid_sql(grid, "--duckdb", "duckdb", "-c", "SELECT 'N=' || count(*) AS n FROM satcle")
    assert code == 0 and int(tagged(out, "N")) == 122, err
    assert "Loading resources" not in out + err
    code, out, err = grid_sql(grid, "-c", "SELECT nope FROM satcle")
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
