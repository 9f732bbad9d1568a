"""`satcle-grid` fails in one `error:` line, exit 2, for input the user can fix."""

import pytest
from typer.testing import CliRunner

import build_grid.engine as engine
from build_grid.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def grid_dir(tiny_grid):
    return tiny_grid[0]


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("sql, fragments", [
    ("SELEC 1", ['Parser Error: syntax error at or near "SELEC"', "LINE 1: SELEC 1"]),
    ("SELECT * FROM nowhere", ["Catalog Error", "nowhere"]),
    # Fails while the query runs (inside satcle's own function), not while it is parsed.
    ("SELECT satcle_embedding(95.0, 0.0)", ["CoordinateError", "95.0 is outside [-90, 90]"]),
    ("SELECT h3_latlng_to_cell(95.0, 0.0, 3)", ["CoordinateError"]),
])
def test_query_sql_errors_are_one_line(grid_dir, sql, fragments):
    assert_one_line_error(runner.invoke(app, ["query", str(grid_dir), sql]), *fragments)


@pytest.mark.parametrize("lat, lon, fragment", [("95", "0", "lats[0] = 95.0 is outside [-90, 90]"),
                                                ("nan", "0", "lats[0] is nan"), ("0", "inf", "lons[0] is inf")])
def test_similar_bad_point_is_one_line(grid_dir, lat, lon, fragment):
    assert_one_line_error(runner.invoke(app, ["similar", str(grid_dir), "--lat", lat, "--lon", lon]), fragment)


def test_similar_still_answers(grid_dir):
    result = runner.invoke(app, ["similar", str(grid_dir), "--lat", "10", "--lon", "20", "-k", "2"])
    assert result.exit_code == 0 and len(result.output.strip().splitlines()) == 3


@pytest.mark.parametrize("out", ["a-file", "a-file/grid"])
def test_build_into_a_regular_file_fails_before_any_worker(tmp_path, monkeypatch, out):
    (tmp_path / "a-file").write_text("not a grid")

    def no_cluster(config):
        raise AssertionError("a Dask cluster was started for an unusable --out")

    monkeypatch.setattr(engine, "_dask_client", no_cluster)
    result = runner.invoke(app, ["build", "--res", "0", "--out", str(tmp_path / out), "--no-error-bound"])
    assert_one_line_error(result, "choose a directory for --out", str(tmp_path / out))
    assert (tmp_path / "a-file").read_text() == "not a grid"


def test_estimate_counts_land_cells():
    from typer.testing import CliRunner

    from build_grid.cli import app as grid_app
    from build_grid.coverage import coverage_mask
    from satcle.geo.h3_cells import cells_at_resolution

    result = CliRunner().invoke(grid_app, ["estimate", "--res", "2", "--coverage", "land"])
    land = int(coverage_mask(cells_at_resolution(2), "land").sum())
    assert result.exit_code == 0 and f"res 2: {land:,} land cells (counted" in result.output and "of 5,882" in result.output
    result = CliRunner().invoke(grid_app, ["estimate", "--res", "6", "--coverage", "land"])
    assert result.exit_code == 0 and "land cells (estimated as 30%" in result.output, result.output
