"""Point files that used to give tracebacks or ambiguous output: duplicated column
names, an input column the CSV output would repeat, a row longer than a CSV block,
a pipe. Each is one clear ``error:`` line, exit 2, nothing written."""

import os

import pytest
from typer.testing import CliRunner

from satcle.cli.main import app
from satcle.core.errors import EvaluationConfigError, PointFileError
from satcle.frames.point_files import PointReader
from satcle.evaluation.labels import load_labels

runner = CliRunner()


def embed(*arguments):
    return runner.invoke(app, ["embed", "--no-progress", *map(str, arguments)])


@pytest.mark.parametrize("header", ["lat,lon,lat", "id,lat,lon,id"])
def test_duplicated_column_names_are_one_clear_error(tmp_path, header):
    points = tmp_path / "points.csv"
    points.write_text(f"{header}\n10,20,30{',1' if header.count(',') == 3 else ''}\n")
    repeated = "lat" if header.startswith("lat") else "id"
    with pytest.raises(PointFileError, match=rf"column name\(s\) \['{repeated}'\] appear more than once"):
        PointReader(points)
    result = embed("-i", points, "-o", tmp_path / "out.parquet")
    assert result.exit_code == 2 and "appear more than once" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["points.csv"]


def test_duplicated_label_columns_are_one_clear_error(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("lat,lon,y,y\n10,20,1,2\n")
    with pytest.raises(EvaluationConfigError, match=r"column name\(s\) \['y'\] appear more than once"):
        load_labels(labels, "y")


def test_an_input_column_the_csv_output_would_repeat_is_refused(tmp_path):
    """`e5` beside the embedding's e0..e255 would give two `e5` headers."""
    points = tmp_path / "points.csv"
    points.write_text("lat,lon,e5\n10,20,x\n")
    result = embed("-i", points, "-o", tmp_path / "out.csv", "--model", "default")
    assert result.exit_code == 2 and "column(s) ['e5'], which the embedding's CSV columns e0..e255 would repeat" \
        in result.output
    assert not (tmp_path / "out.csv").exists()
    # Parquet keeps the embedding in one column: nothing collides.
    result = embed("-i", points, "-o", tmp_path / "out.parquet", "--model", "default")
    assert result.exit_code == 0, result.output


def test_a_row_longer_than_a_csv_block_names_the_fix(tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("lat,lon,note\n10,20," + "x" * (2 << 20) + "\n")
    result = embed("-i", points, "-o", tmp_path / "out.parquet")
    assert result.exit_code == 2 and "a row is longer than 1 MiB" in result.output
    assert "block size" not in result.output


def test_a_pipe_is_not_reported_as_a_missing_file(tmp_path):
    fifo = tmp_path / "points.csv"
    os.mkfifo(fifo)
    with pytest.raises(PointFileError, match="is not a regular file .* save them to a file first"):
        PointReader(fifo)
