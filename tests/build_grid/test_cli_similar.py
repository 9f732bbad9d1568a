"""`satcle-grid similar`: both forms of each H3 id, --exclude-km, and points outside coverage computed live."""

import h3
import numpy as np
import pytest
from typer.testing import CliRunner

import satcle
from build_grid.cli import app
from build_grid.engine import BuildConfig, build_grid

runner = CliRunner()   # Click 8.2+: result.stdout and result.stderr apart


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("similar") / "grid-r2"
    build_grid(BuildConfig(resolution=2, coverage="land", workers=2, out=str(out), error_bound=False), progress=False)
    return out


def table(output: str) -> list[dict]:
    """The printed rows: h3 (hex), h3_int, lat, lon, cosine, km."""
    lines = output.strip().splitlines()
    assert lines[0].split() == ["h3", "h3_int", "lat", "lon", "cosine", "km"]
    return [dict(zip(["h3", "h3_int", "lat", "lon", "cosine", "km"], line.split())) for line in lines[1:]]


def similar(grid_dir, *args):
    return runner.invoke(app, ["similar", str(grid_dir), *args])


def test_similar_lists_both_forms_of_each_cell_and_its_distance(grid_dir):
    result = similar(grid_dir, "--lat", "48.85", "--lon", "2.35", "-k", "6")
    assert result.exit_code == 0, result.output + result.stderr
    rows = table(result.stdout)
    assert len(rows) == 6 and result.stderr == ""
    own = h3.latlng_to_cell(48.85, 2.35, 2)
    assert rows[0]["h3"] == own and float(rows[0]["cosine"]) == pytest.approx(1.0, abs=1e-4)
    for row in rows:
        assert int(row["h3_int"]) == h3.str_to_int(row["h3"])
        km = h3.great_circle_distance((48.85, 2.35), h3.cell_to_latlng(row["h3"]))
        assert float(row["km"]) == pytest.approx(km, abs=0.1)
    # The cosine is that of the stored rows of the point's cell and each listed cell.
    grid = satcle.open_grid(grid_dir)
    rows_of = grid.lookup([float(r["lat"]) for r in rows], [float(r["lon"]) for r in rows], method="cell")
    query = grid.lookup([48.85], [2.35], method="cell")[0]
    cosine = rows_of @ query / np.linalg.norm(rows_of, axis=1) / np.linalg.norm(query)
    np.testing.assert_allclose([float(r["cosine"]) for r in rows], cosine, atol=1e-4)


def test_exclude_km_leaves_out_the_points_own_neighbourhood(grid_dir):
    near = table(similar(grid_dir, "--lat", "48.85", "--lon", "2.35", "-k", "10").stdout)
    assert min(float(r["km"]) for r in near) < 300   # without it: the point's own cell and its neighbours
    result = similar(grid_dir, "--lat", "48.85", "--lon", "2.35", "-k", "10", "--exclude-km", "1000")
    assert result.exit_code == 0, result.output + result.stderr
    far = table(result.stdout)
    assert len(far) == 10 and all(float(r["km"]) > 1000 for r in far)
    assert float(far[0]["cosine"]) < float(near[0]["cosine"])
    # Farther than every cell: no answer, exit 1 with a note.
    result = similar(grid_dir, "--lat", "48.85", "--lon", "2.35", "--exclude-km", "20100")
    assert result.exit_code == 1 and "no cell" in result.stderr and result.stdout == ""


def test_a_point_outside_coverage_is_computed_live(grid_dir):
    result = similar(grid_dir, "--lat", "-30", "--lon", "-140", "-k", "3")   # mid-Pacific, no land cell
    assert result.exit_code == 0, result.output + result.stderr
    assert "outside the grid's coverage" in result.stderr and "live encoder" in result.stderr
    rows = table(result.stdout)
    live = satcle.load_encoder("default").encode(np.array([-30.0]), np.array([-140.0]))[0]
    stored = satcle.open_grid(grid_dir).lookup([float(r["lat"]) for r in rows], [float(r["lon"]) for r in rows],
                                               method="cell")
    cosine = stored @ live / np.linalg.norm(stored, axis=1) / np.linalg.norm(live)
    np.testing.assert_allclose([float(r["cosine"]) for r in rows], cosine, atol=1e-4)
    assert np.all(np.diff(cosine) <= 1e-6)


@pytest.mark.parametrize("args, word", [
    (["--lat", "91", "--lon", "0"], "lat"),
    (["--lat", "0", "--lon", "0", "--exclude-km", "-5"], "exclude-km"),
    (["--lat", "0", "--lon", "0", "--exclude-km", "nan"], "exclude-km"),
])
def test_bad_input_is_one_error_line_exit_2(grid_dir, args, word):
    result = similar(grid_dir, *args)
    assert result.exit_code == 2 and word in result.stderr and "Traceback" not in result.stderr
