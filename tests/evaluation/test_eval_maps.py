import numpy as np
from typer.testing import CliRunner

from satcle.cli.main import app
from satcle.core.errors import EvaluationConfigError
from satcle.evaluation.maps import cosine_similarity, pca_rgb, plot_pca, world_raster

import pytest

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_world_raster_covers_the_globe_at_cell_centres():
    lats, lons = world_raster(10.0)
    assert lats.shape == (18, 36) and lats[0, 0] == 85 and lons[0, 0] == -175 and lats[-1, 0] == -85
    with pytest.raises(EvaluationConfigError):
        world_raster(0.0)


def test_pca_rgb_puts_the_dominant_direction_first(rng):
    t = rng.normal(size=500)
    emb = np.outer(t, [3.0, 0, 0, 0]) + 0.01 * rng.normal(size=(500, 4))
    rgb = pca_rgb(emb)
    assert rgb.shape == (500, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert abs(np.corrcoef(rgb[:, 0], t)[0, 1]) > 0.99


def test_cosine_similarity(rng):
    emb = rng.normal(size=(4, 8))
    sim = cosine_similarity(emb, emb[2])
    assert sim[2] == pytest.approx(1.0) and np.all(np.abs(sim) <= 1 + 1e-12)
    assert cosine_similarity(-emb[:1], emb[0])[0] == pytest.approx(-1.0)


def test_plot_pca_writes_a_png(tmp_path):
    out = plot_pca(lambda lats, lons: np.stack([lats, lons, lats * lons], 1), tmp_path / "m" / "pca.png", "t", 10.0)
    assert out.read_bytes().startswith(PNG) and [p.name for p in out.parent.iterdir()] == ["pca.png"]


def test_plot_similarity_command(tmp_path):
    out = tmp_path / "sim.png"
    result = runner.invoke(app, ["plot", "similarity", "--step", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG)
    result = runner.invoke(app, ["plot", "similarity", "--lat", "95", "--out", str(tmp_path / "bad.png")])
    assert result.exit_code == 2 and "outside [-90, 90]" in result.output


def test_plot_pca_command_reads_a_grid(tmp_path, monkeypatch, grid_manifest):
    import satcle.grid.lookup
    from satcle.grid.format.store import write_manifest

    write_manifest(tmp_path / "grid", grid_manifest)
    methods = []

    class FakeGrid:
        def lookup(self, lats, lons, method):
            methods.append(method)
            return np.stack([lats, lons, np.cos(np.radians(lats))], axis=1)

    monkeypatch.setattr(satcle.grid.lookup, "open_grid", lambda path: FakeGrid())
    out = tmp_path / "pca.png"
    result = runner.invoke(app, ["plot", "pca", "--grid", str(tmp_path / "grid"), "--step", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG) and methods == ["interp"]
