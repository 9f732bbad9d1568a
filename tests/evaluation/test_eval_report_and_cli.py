import json

import numpy as np
from typer.testing import CliRunner

from satcle.cli.main import app
from satcle.evaluation.benchmark import BenchmarkResult, Score
from satcle.evaluation.report import BEGIN, END, to_markdown, write_report

runner = CliRunner()


def _result() -> BenchmarkResult:
    return BenchmarkResult(
        tasks=[{"name": "pop", "kind": "regression", "points": 10, "coverage": "land", "classes": 0, "description": "d"},
               {"name": "cc", "kind": "classification", "points": 10, "coverage": "land", "classes": 3, "description": "d"}],
        encoders=[{"name": n, "description": n, "dim": 2} for n in ("a", "a+grid-cell", "b")],
        scores=[
            Score("global", "mlp", "pop", "a", {"mse": [0.5, 0.7], "mae": [0.4, 0.4]}),
            Score("global", "mlp", "pop", "a+grid-cell", {"mse": [0.61, 0.61], "mae": [0.4, 0.4]}),
            Score("global", "mlp", "pop", "b", {"mse": [0.3, 0.3], "mae": [0.5, 0.5]}),
            Score("global", "mlp", "cc", "a", {"accuracy": [0.9, 0.8]}),
            Score("global", "mlp", "cc", "b", {"accuracy": [0.7, 0.7]}),
            Score("transfer:AF", "mlp", "cc", "b", {"accuracy": [0.2, 0.4]}),
        ],
        skipped=["task elevation: no data"],
    )


def test_markdown_bolds_the_best_mean_per_column_and_checks_lookup_rows():
    text = to_markdown(_result(), "satcle eval")
    assert "| b | **0.300 ± 0.000** | 0.500 ± 0.000 |" in text  # lowest MSE bold, higher MAE not
    assert "| a | 0.600 ± 0.100 | **0.400 ± 0.000** | **0.850 ± 0.050** |" in text
    assert "| a+grid-cell | 0.610 ± 0.000 | **0.400 ± 0.000** | – |" in text  # a missing cell is a dash
    assert "| encoder | AF cc Acc↑ |" in text and "| b | **0.300 ± 0.100** |" in text
    assert "| a+grid-cell | random | mlp | pop | mse | +0.0100 | 0.1000 | within seed noise |" in text
    assert "task elevation: no data" in text


def test_write_report_keeps_hand_written_text_and_writes_every_number(tmp_path):
    out = tmp_path / "EVALUATION.md"
    out.write_text(f"# Title\n\nintro\n\n{BEGIN}\nold numbers\n{END}\n\ncommentary\n")
    md, js = write_report(out, _result(), "satcle eval --seeds 2")
    text = md.read_text()
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith("\n\ncommentary\n")
    assert "old numbers" not in text and "satcle eval --seeds 2" in text
    document = json.loads(js.read_text())
    assert document["scores"][0]["metrics"]["mse"] == [0.5, 0.7] and document["command"] == "satcle eval --seeds 2"


def test_eval_command_end_to_end_on_a_tiny_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "docs" / "EVAL.md"
    arguments = ["eval", "--points", "200", "--seeds", "2", "--tasks", "land_ocean,elevation", "--encoders",
                 "identity,sh", "--continents", "", "--data-dir", str(tmp_path / "empty")]
    result = runner.invoke(app, [*arguments, "--jobs", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| identity |" in text and "| sh |" in text and "land_ocean Acc↑" in text
    assert "task elevation" in text  # skipped with its reason, not silently
    assert "2 encoder process(es)" in text
    scores = json.loads(out.with_suffix(".json").read_text())["scores"]
    assert {(s["probe"], s["encoder"]) for s in scores} == {(p, e) for p in ("mlp", "linear") for e in ("identity", "sh")}
    assert all(0.5 < np.mean(s["metrics"]["accuracy"]) <= 1 for s in scores if s["study"] == "global")
    assert {s["study"] for s in scores} == {"global", "scarce:0.01", "scarce:0.05"}   # label-scarce probes too
    assert "Label-scarce" in text
    # The encoders' worker processes give exactly what one process gives, in the same order.
    result = runner.invoke(app, [*arguments, "--jobs", "1", "--out", str(tmp_path / "one.md")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "one.json").read_text())["scores"] == scores


def test_eval_command_rejects_unknown_names(tmp_path):
    result = runner.invoke(app, ["eval", "--tasks", "carbon", "--out", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "unknown task" in result.output
    result = runner.invoke(app, ["eval", "--scarce", "0.01,5", "--out", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "--scarce shares must lie in (0, 1)" in result.output
    result = runner.invoke(app, ["eval", "--tasks", "land_ocean", "--encoders", "nope", "--points", "50",
                                 "--out", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "unknown encoder" in result.output
    assert not (tmp_path / "x.md").exists()


def test_grid_rows_are_compared_with_the_live_row_and_failures_skip_only_their_pair(tmp_path, monkeypatch, grid_manifest):
    import satcle.grid.lookup
    from satcle.core.errors import GridFormatError
    from satcle.grid.format.store import write_manifest

    grid = tmp_path / "grid"
    write_manifest(grid, grid_manifest)
    live = satcle.load_encoder("default")

    class FakeGrid:  # stands in for the lookup runtime: exact for "interp", broken for "cell"
        def lookup(self, lats, lons, method):
            if method == "cell":
                raise GridFormatError("partition file is corrupt")
            return live.encode(lats, lons)

    monkeypatch.setattr(satcle.grid.lookup, "open_grid", lambda path: FakeGrid())
    monkeypatch.setenv("SATCLE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "E.md"
    result = runner.invoke(app, [
        "eval", "--points", "150", "--seeds", "2", "--tasks", "land_ocean", "--continents", "", "--grid", str(grid),
        "--encoders", "default,default+grid-interp,default+grid-cell", "--out", str(out),
        "--jobs", "1",  # the fake grid is patched into this process only
    ])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "| default+grid-interp | random | mlp | land_ocean | accuracy | +0.0000 |" in text
    assert "encoder default+grid-cell on task land_ocean: partition file is corrupt" in text


def test_comparison_with_the_best_baseline_and_the_verdict():
    """A model that wins everywhere has no 'largest loss'; the verdict is one sentence with the numbers."""
    from satcle.evaluation.report import verdict

    scores = [Score("global", probe, "t", encoder, {"mse": [mse, mse], "r2": [1 - mse, 1 - mse]}, split)
              for split in ("random", "spatial") for probe in ("mlp", "linear")
              for encoder, mse in (("default", 0.20 if split == "random" else 0.50), ("identity", 0.40),
                                   ("sh", 0.30), ("untrained", 0.60))]
    result = BenchmarkResult(
        tasks=[{"name": "t", "kind": "regression", "points": 10, "coverage": "user", "classes": 0, "description": "d"}],
        encoders=[{"name": n, "description": n, "dim": 2} for n in ("default", "identity", "sh", "untrained")],
        scores=scores, settings={"labels": True})
    text = to_markdown(result, "satcle eval")
    assert "### Trained models against the best of `untrained`, `sh`, `identity`" in text
    assert "| default | all | random | mlp | 1 of 1 | -33.3 % | none |" in text
    assert "| default | all | spatial | mlp | 0 of 1 | +66.7 % | +66.7 % (t, vs sh) |" in text
    assert "R²↑" in text
    sentence = verdict(result)
    assert sentence.startswith("Verdict: satcle's embedding helps this task on some splits only: ")
    assert "on the random split default lowers the error by 33 % over the best baseline, spherical harmonics " \
           "L = 10 (sh) (MSE 0.200 against 0.300, MLP probe)" in sentence
    assert "on the spatial split spherical harmonics L = 10 (sh) does better than default (MSE 0.500 against " \
           "0.300" in sentence and sentence in text
