import numpy as np
import pytest
from typer.testing import CliRunner

from satcle.cli.main import app
from satcle.core.errors import EvaluationConfigError
from satcle.evaluation import diagnostics
from satcle.evaluation.geography import sample_sphere
from satcle.evaluation.labels import load_labels
from satcle.evaluation.splits import make_splits, spatial_blocks, spatial_splits

runner = CliRunner()


def test_spatial_split_never_puts_one_block_in_two_sets():
    lats, lons = sample_sphere(3000, np.random.default_rng(0))
    blocks = spatial_blocks(lats, lons)
    splits = make_splits("spatial", lats, lons, [0, 1, 2])
    for split in splits:
        parts = [set(blocks[split.train]), set(blocks[split.val]), set(blocks[split.test])]
        assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        rows = np.concatenate([split.train, split.val, split.test])
        assert np.unique(rows).size == rows.size  # no row twice
        assert 0.15 < split.test.size / 3000 < 0.3 and split.val.size > 0.05 * 3000
    assert {(s.train.size, s.val.size, s.test.size) for s in splits} == {
        (splits[0].train.size, splits[0].val.size, splits[0].test.size)}  # batched probes need equal sizes
    assert not np.array_equal(splits[0].test, splits[1].test)
    with pytest.raises(EvaluationConfigError, match="at least 10 blocks"):
        spatial_splits(np.repeat(np.arange(5), 20), [0])


def test_diagnostics_tell_a_location_code_from_a_scrambled_one():
    lats, lons = sample_sphere(2000, np.random.default_rng(1))
    xyz = diagnostics.unit_vectors(lats, lons)
    smooth = np.concatenate([xyz, xyz**2, np.random.default_rng(2).normal(size=(2000, 4)) * 1e-3], axis=1)
    scrambled = np.sin(200.0 * xyz @ np.random.default_rng(3).normal(size=(3, 64)))
    assert diagnostics.location_retention(smooth, lats, lons) > 0.99
    assert diagnostics.location_retention(scrambled, lats, lons) < 0.5
    assert diagnostics.participation_ratio(np.random.default_rng(5).normal(size=(20000, 8))) == pytest.approx(8.0, rel=0.02)
    assert diagnostics.participation_ratio(np.outer(np.arange(10.0), np.ones(4))) == pytest.approx(1.0)
    near = diagnostics.smoothness(lambda a, b: diagnostics.unit_vectors(a, b), lats, lons)
    assert near["10km"] < 0.01 < near["1000km"] < 0.3
    moved_lat, moved_lon = diagnostics.destination(np.array([0.0]), np.array([0.0]), np.array([0.0]), 111.195)
    np.testing.assert_allclose([moved_lat[0], moved_lon[0]], [1.0, 0.0], atol=1e-3)  # 1 degree north


def _write_labels(path, n=400, with_bad=True):
    rng = np.random.default_rng(4)
    lats, lons = sample_sphere(n, rng)
    value = np.sin(np.radians(lats)) * 10 + rng.normal(size=n) * 0.1
    zone = np.where(lats > 20, "north", np.where(lats < -20, "south", "tropics"))
    rows = ["lat,lon,value,zone"] + [f"{a},{b},{v},{z}" for a, b, v, z in zip(lats, lons, value, zone)]
    if with_bad:
        rows += ["nan,10,1.0,north", "10,20,,north"]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_labels_file_end_to_end_regression_and_classification(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path / "cache"))
    csv = _write_labels(tmp_path / "points.csv")
    for target, metric in (("value", "MSE"), ("zone", "accuracy")):
        out = tmp_path / f"report-{target}.md"
        result = runner.invoke(app, ["eval", "--labels", str(csv), "--target", target, "--seeds", "2",
                                     "--encoders", "untrained,sh,identity", "--jobs", "1", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"{target}: " in result.output and metric in result.output  # the terminal table
        assert "Verdict: " in result.output.strip().splitlines()[-2]   # one plain sentence, last before "wrote"
        text = out.read_text()
        assert "spatial block split" in text and "Verdict: " in text
        for baseline in ("default", "untrained", "identity", "sh", "sh-l40"):   # always run, named or not
            assert f"| {baseline} |" in text, baseline
        assert out.with_suffix(".json").is_file()
    assert "2 sampled points without a value dropped" in (tmp_path / "report-value.md").read_text()
    zone = load_labels(csv, "zone")
    assert zone.kind == "classification" and zone.classes == ("north", "south", "tropics") and zone.dropped == 1
    value = load_labels(csv, "value")
    assert value.kind == "regression" and value.dropped == 2
    # The sine of latitude is what the SH basis holds: the probe must find it.
    document = __import__("json").loads((tmp_path / "report-value.json").read_text())
    sh_mse = [s for s in document["scores"] if s["encoder"] == "sh" and s["probe"] == "linear" and s["split"] == "random"]
    assert np.mean(sh_mse[0]["metrics"]["mse"]) < 0.05


def test_labels_errors_are_clear(tmp_path):
    csv = _write_labels(tmp_path / "p.csv")
    with pytest.raises(EvaluationConfigError, match="no column"):
        load_labels(csv, "height")
    with pytest.raises(EvaluationConfigError, match="not numeric"):
        load_labels(csv, "zone", "regression")
    small = _write_labels(tmp_path / "small.csv", n=30, with_bad=False)
    with pytest.raises(EvaluationConfigError, match="30 usable rows"):
        load_labels(small, "value")
    bad = tmp_path / "bad.csv"
    bad.write_text("lat,lon,value\n" + "10,10,1\n" * 60 + "95,10,1\n")
    with pytest.raises(EvaluationConfigError, match="row 61: latitude 95"):
        load_labels(bad, "value")
    with pytest.raises(EvaluationConfigError, match="not found"):
        load_labels(tmp_path / "missing.csv", "value")
    result = runner.invoke(app, ["eval", "--labels", str(csv), "--out", str(tmp_path / "r.md")])
    assert result.exit_code == 2 and "--target" in result.output


def test_labels_with_usual_column_names_and_covariates(tmp_path, monkeypatch):
    """--covariates adds the user's columns to every encoder: raw coordinates plus a covariate that
    explains most of the target beat raw coordinates alone."""
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(9)
    lats, lons = sample_sphere(300, rng)
    rain = rng.normal(size=lats.size)
    soil = rng.choice(["clay", "sand"], size=lats.size)
    value = np.sin(np.radians(lats)) + 3.0 * rain + (soil == "clay") + rng.normal(size=lats.size) * 0.05
    rows = ["decimalLatitude,decimalLongitude,rain,soil,value"] + [
        f"{a},{b},{r},{s},{v}" for a, b, r, s, v in zip(lats, lons, rain, soil, value)]
    path = tmp_path / "site.csv"
    path.write_text("\n".join(rows) + "\n")
    runs = {}
    for name, extra in (("plain", []), ("covariates", ["--covariates", "rain,soil"])):
        out = tmp_path / f"{name}.md"
        result = runner.invoke(app, ["eval", "--labels", str(path), "--target", "value", "--seeds", "2",
                                     "--encoders", "identity", "--split", "random", "--jobs", "1",
                                     "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        assert "R² " in result.output and "Verdict: " in result.output
        runs[name] = __import__("json").loads(out.with_suffix(".json").read_text())
    assert runs["covariates"]["tasks"][0]["covariates"] == 3   # rain, and soil one-hot (clay, sand)
    def identity_mse(document):
        (score,) = [s for s in document["scores"]
                    if s["encoder"] == "identity" and s["probe"] == "linear" and s["study"] == "global"]
        return np.mean(score["metrics"]["mse"]), np.mean(score["metrics"]["r2"])
    plain, with_covariates = identity_mse(runs["plain"]), identity_mse(runs["covariates"])
    assert with_covariates[0] < 0.05 < 0.5 < plain[0] and with_covariates[1] > 0.95
    result = runner.invoke(app, ["eval", "--labels", str(path), "--target", "value", "--covariates", "depth",
                                 "--out", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "no column(s) ['depth']" in result.output
