import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import satcle
from satcle.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def no_default_grid(monkeypatch, tmp_path):
    """`satcle embed` embeds from the default grid when one exists: these tests compare with the live encoder."""
    monkeypatch.setenv("SATCLE_GRID", str(tmp_path / "no-grid-here"))


def test_embed_points_to_parquet_matches_api(tmp_path):
    out = tmp_path / "e.parquet"
    result = runner.invoke(app, ["embed", "48.8566,2.3522", "-33.92,18.42", "--output", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    emb = np.stack(table["embedding"].to_numpy(zero_copy_only=False))
    expected = satcle.load_encoder("default").encode([48.8566, -33.92], [2.3522, 18.42])
    np.testing.assert_array_equal(emb, expected)
    np.testing.assert_array_equal(table["lat"].to_numpy(), [48.8566, -33.92])


def test_embed_csv_input_to_npy(tmp_path):
    src = tmp_path / "pts.csv"
    src.write_text("lat,lon\n0,0\n10,20\n-5,170\n")
    out = tmp_path / "e.npy"
    result = runner.invoke(app, ["embed", "--input", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = satcle.load_encoder("default").encode([0.0, 10.0, -5.0], [0.0, 20.0, 170.0])
    np.testing.assert_array_equal(np.load(out), expected)


def test_embed_bad_input_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["embed", "95,0"])
    assert result.exit_code == 2 and "outside [-90, 90]" in result.output
    result = runner.invoke(app, ["embed", "abc"])
    assert result.exit_code == 2 and "LAT,LON" in result.output
    result = runner.invoke(app, ["embed", "1,2", "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "unsupported" in result.output
    assert not list(tmp_path.iterdir())


def test_embed_checks_its_output_before_encoding(tmp_path, monkeypatch):
    import satcle.model

    def no_encoding(*args, **kwargs):
        raise AssertionError("a model was loaded for an output that cannot be written")

    monkeypatch.setattr(satcle.model, "load_encoder", no_encoding)
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-dir.npy").mkdir()
    for output, message in [("x.txt", "unsupported output"), ("missing/e.npy", "does not exist"),
                            ("missing/deeper/e.csv", "does not exist"), ("a-file/e.npy", "(it is a file)"),
                            ("a-dir.npy", "it is a directory")]:
        result = runner.invoke(app, ["embed", "1,2", "-o", str(tmp_path / output)])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "missing").exists()   # no folder created on the way
    # The input file is not read either when the output is unusable.
    result = runner.invoke(app, ["embed", "-i", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "unsupported output" in result.output


def test_models_lists_default():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and result.output.startswith("default")


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"satcle {satcle.__version__}"
