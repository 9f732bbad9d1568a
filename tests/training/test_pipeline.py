"""The training pipeline end to end on 64 tiles, exact resume, early stopping, CLI and plot."""

import json

import pytest
import torch
from typer.testing import CliRunner

import satcle
from satcle.cli.main import app
from satcle.core.errors import TrainingConfigError
from satcle.model.vision import VisionConfig
from satcle.training import (
    ContrastiveConfig, DinoConfig, Preset, RefinementConfig, TrainingRun, run_training,
)
from support import write_s2_folder

from .conftest import TINY_ENCODER
from satcle.training.device import Distributed, autocast, init_distributed, select_device

TINY_PRESET = Preset(
    name="tiny",
    data="bluemarble",
    tile_count=64,
    tile_size=16,
    vision=VisionConfig(image_size=16, patch_size=4, dim=16, depth=1, heads=2),
    dino=DinoConfig(epochs=1, batch_size=32, out_dim=32, hidden_dim=32, bottleneck_dim=8, local_size=8),
    refinement=RefinementConfig(sigma_deg=0.5, copies=2),
    contrastive=ContrastiveConfig(batch_size=16, max_epochs=2, patience=5, lr=1e-3),
    encoder=TINY_ENCODER,
)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SATCLE_CACHE", str(root / "cache"))
        model_dir = run_training(TrainingRun(TINY_PRESET, root / "out", command="test run"), progress=False,
                                 log=lambda line: None)
    return root, model_dir


def test_two_epoch_cpu_run_end_to_end_on_64_tiles(trained_run):
    root, model_dir = trained_run
    encoder = satcle.load_encoder(model_dir)
    assert encoder.metadata["trained"] is True and encoder.config == TINY_ENCODER
    assert encoder.metadata["epochs_run"] == 2 and encoder.metadata["refinement"] == {"causal": True, "spatial": True}
    assert encoder.encode([10.0, -45.0], [20.0, 170.0]).shape == (2, 16)
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "test run" in card and "validation loss" in card
    log = (root / "out" / "contrastive" / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch,train_loss,val_loss,val_top1") and len(log) == 3
    features = root / "out" / "vision" / "features-q0.1.safetensors"
    assert features.is_file() and (root / "out" / "vision" / "backbone" / "vision.safetensors").is_file()


def test_s2_100k_layout_runs_through_the_pipeline(tmp_path):
    write_s2_folder(tmp_path / "s2", count=24)
    preset = TINY_PRESET.replace(data="s2-100k", contrastive=ContrastiveConfig(batch_size=8, max_epochs=1, lr=1e-3))
    model_dir = run_training(TrainingRun(preset, tmp_path / "out", data=tmp_path / "s2"), progress=False,
                             log=lambda line: None)
    encoder = satcle.load_encoder(model_dir)
    assert encoder.metadata["data"]["source"] == "s2-100k" and encoder.metadata["data"]["count"] == 24
    vision = json.loads((tmp_path / "out" / "vision" / "vision-run.json").read_text())
    assert vision["vision"]["in_channels"] == 12  # the ViT takes every Sentinel-2 band


def test_vision_dir_refuses_other_settings(trained_run, monkeypatch):
    root, _ = trained_run
    monkeypatch.setenv("SATCLE_CACHE", str(root / "cache"))
    other = TINY_PRESET.replace(dino=DinoConfig(epochs=2, batch_size=32, out_dim=32, hidden_dim=32,
                                                bottleneck_dim=8, local_size=8))
    with pytest.raises(TrainingConfigError, match="vision-dir"):
        run_training(TrainingRun(other, root / "other", vision_dir=root / "out" / "vision"), progress=False,
                     log=lambda line: None)


def test_plot_smoothing_writes_a_png(trained_run, monkeypatch):
    root, _ = trained_run
    monkeypatch.setenv("SATCLE_CACHE", str(root / "cache"))
    from satcle.model.vision import load_vision_encoder
    from satcle.training.plot import plot_smoothing

    backbone = load_vision_encoder(root / "out" / "vision" / "backbone")
    path = plot_smoothing(backbone, torch.rand(2, 3, 16, 16), 0.1, root / "smoothing.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


RESUMABLE = [
    ContrastiveConfig(batch_size=16, max_epochs=3, patience=10, lr=1e-3, seed=5),
    # Every part of the recipe that holds state or depends on the step: schedule, anchor, layer groups.
    ContrastiveConfig(batch_size=16, max_epochs=3, patience=10, lr=2e-3, seed=5, schedule="cosine", warmup_epochs=1,
                      anchor_weight=0.5, first_layer_lr_scale=0.1, first_layer_weight_decay=0.1),
]


@pytest.mark.parametrize("config", RESUMABLE, ids=["constant", "recipe"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, train_pairs, config):
    straight = train_pairs(tmp_path / "straight", config)

    def interrupt(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_pairs(tmp_path / "resumed", config, on_epoch_end=interrupt)
    resumed = train_pairs(tmp_path / "resumed", config)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert [r["val_loss"] for r in straight.history] == [r["val_loss"] for r in resumed.history]
    assert [r["lr"] for r in straight.history] == [r["lr"] for r in resumed.history]
    with pytest.raises(TrainingConfigError, match="another configuration"):
        train_pairs(tmp_path / "resumed", ContrastiveConfig(batch_size=16, max_epochs=3, lr=1e-2, seed=5))


def test_early_stopping_when_validation_stops_improving(tmp_path, train_pairs):
    frozen = ContrastiveConfig(batch_size=16, max_epochs=20, patience=2, lr=0.0, weight_decay=0.0)
    result = train_pairs(tmp_path, frozen, spatial=False)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1


def test_training_beats_chance_on_learnable_pairs(tmp_path, train_pairs):
    config = ContrastiveConfig(batch_size=32, max_epochs=12, patience=12, lr=5e-3)
    result = train_pairs(tmp_path, config, spatial=False)
    first, last = result.history[0], result.history[-1]
    assert last["train_loss"] < first["train_loss"] - 0.3
    assert last["val_top1"] > 3 * last["val_chance"]


def test_device_selection_and_cpu_fallbacks(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    device = select_device("auto")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    assert device.type == ("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    assert select_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert device.type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA"):
            select_device("cuda")
    with autocast(torch.device("cpu"), True):  # AMP is a no-op on CPU: float32 stays float32
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert init_distributed(torch.device("cpu")) == Distributed(rank=0, world_size=1)


runner = CliRunner()


@pytest.mark.slow
def test_ddp_under_torchrun_on_cpu_with_gloo(tmp_path):
    """Two torchrun workers (gloo) train one model; only rank 0 logs and exports."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = {**os.environ, "SATCLE_CACHE": str(tmp_path / "cache")}
    config = tmp_path / "tiny.toml"
    config.write_text("tile_count = 64\n[dino]\nepochs = 1\n[contrastive]\nbatch_size = 16\n")
    done = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "satcle.cli", "train", "--out", str(tmp_path / "out"),
         "--config", str(config), "--epochs", "1", "--threads", "1", "--quiet"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("dino epoch 1/1: loss") == 1 and done.stdout.count("exported") == 1
    assert satcle.load_encoder(tmp_path / "out" / "model").metadata["trained"] is True


def test_cli_train_help_and_errors(tmp_path):
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--config" in result.output and "--preset" in result.output
    assert "--lr" not in result.output and "--retention-weight" not in result.output   # research fields: the file
    result = runner.invoke(app, ["train", "--preset", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown preset" in result.output
    result = runner.invoke(app, ["train", "--preset", "s2-100k", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--data" in result.output
    odd = tmp_path / "odd.toml"
    odd.write_text("tile_size = 30\n")
    result = runner.invoke(app, ["train", "--config", str(odd), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "multiple of the ViT patch size" in result.output
    odd.write_text("[contrastive]\nlearning_rate = 1e-3\n")
    result = runner.invoke(app, ["train", "--config", str(odd), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "odd.toml" in result.output and "'learning_rate'" in result.output
    result = runner.invoke(app, ["plot", "smoothing", "--help"])
    assert result.exit_code == 0 and "--vision-dir" in result.output


def test_presets_follow_the_paper_where_they_claim_to():
    from satcle.training import BLUEMARBLE, S2_100K

    assert (S2_100K.contrastive.lr, S2_100K.contrastive.weight_decay, S2_100K.contrastive.batch_size) == (1e-4, 1e-2, 512)
    assert S2_100K.refinement.copies == 5 and S2_100K.refinement.causal_quantile == 0.1
    assert BLUEMARBLE.contrastive.val_fraction == 0.1
    assert json.loads(json.dumps(BLUEMARBLE.to_dict()))["contrastive"]["val_fraction"] == 0.1  # survives JSON
