"""The whole pretraining pipeline: tiles -> DINO -> frozen features -> contrastive -> exported encoder.

Each stage leaves its result on disk and is skipped when that result exists:
tiles in the user cache, the DINO backbone and the feature table in the
vision directory (shareable between runs with `vision_dir`), the contrastive
stage in its resumable checkpoint. Rerunning an interrupted command therefore
continues it.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from ..core.atomic import write_text_atomic
from ..data import BlueMarbleTiles, BlueMarbleTileSpec, S2Tiles
from ..data.stack import StackTiles, StackTileSpec
from ..core.errors import TrainingConfigError
from ..model.encoder_files import save_encoder
from .device import is_main_process, select_device
from .dino import train_dino
from .features import compute_features, load_features, save_features
from .model_card import render_model_card
from .monitor import make_monitor
from .presets import Preset
from .trainer import MONITOR_FIELDS, train_contrastive


@dataclass(frozen=True)
class TrainingRun:
    """One invocation: what to train (preset), on what (data), where results go.

    data : S2-100K folder (preset data "s2-100k"); unused for Blue Marble.
    out_dir : contrastive checkpoint, log and the exported model (out_dir/model).
    vision_dir : DINO backbone and feature table; default out_dir/vision. Point two
        runs (e.g. SatCLE and its SatCLIP baseline) at one to share them.
    command : the command line, recorded in the model card.
    monitor : log location retention, participation ratio, smoothness and a
        downstream ridge probe every epoch (`training/monitor.py`);
        monitor_data: the evaluation data folder its probe task reads (None: no probe).
    """

    preset: Preset
    out_dir: Path
    data: Path | None = None
    vision_dir: Path | None = None
    device: str = "auto"
    command: str = ""
    model_name: str = "satcle"
    description: str = ""
    notes: str = ""
    monitor: bool = True
    monitor_data: Path | None = None


def make_dataset(preset: Preset, data: Path | None, *, progress: bool = True) -> tuple[Dataset, dict]:
    """The preset's image source and a JSON-able description of it."""
    if preset.data in ("bluemarble", "stack") and preset.tile_size % preset.vision.patch_size:
        raise TrainingConfigError(
            f"tile size {preset.tile_size} px is not a multiple of the ViT patch size {preset.vision.patch_size}"
        )
    if preset.data == "stack":
        spec = StackTileSpec(sources=preset.sources, spacing_km=preset.tile_spacing_km, size_px=preset.tile_size,
                             km_per_px=preset.tile_km_per_px)
        return StackTiles(spec, progress=progress), {"source": "stack", **dataclasses.asdict(spec)}
    if preset.data == "bluemarble":
        spec = BlueMarbleTileSpec(count=preset.tile_count, size_px=preset.tile_size, seed=preset.contrastive.seed)
        return BlueMarbleTiles(spec, progress=progress), {"source": "bluemarble", **dataclasses.asdict(spec)}
    if preset.data == "s2-100k":
        if data is None:
            raise TrainingConfigError("the s2-100k preset needs --data pointing at an S2-100K folder")
        dataset = S2Tiles(data, progress=progress)
        return dataset, {"source": "s2-100k", "root": str(Path(data).resolve()), "count": len(dataset),
                         "skipped": len(dataset.skipped)}
    raise TrainingConfigError(f"unknown data source {preset.data!r}")


def run_training(run: TrainingRun, *, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Run every stage of `run`; returns the exported model directory (out_dir/model)."""
    preset = run.preset
    out_dir = Path(run.out_dir)
    vision_dir = Path(run.vision_dir) if run.vision_dir is not None else out_dir / "vision"
    device = select_device(run.device)
    log(f"device: {device}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    dataset, data_description = make_dataset(preset, run.data, progress=progress)
    seconds["data"] = time.perf_counter() - started
    vision = dataclasses.replace(preset.vision, in_channels=dataset.channels)
    _check_vision_dir(vision_dir, {"data": data_description, "vision": dataclasses.asdict(vision),
                                   "dino": dataclasses.asdict(preset.dino), "seed": preset.contrastive.seed})

    started = time.perf_counter()
    backbone = train_dino(dataset, vision, preset.dino, vision_dir, device=device, seed=preset.contrastive.seed,
                          amp=preset.contrastive.amp, progress=progress, log=log)
    seconds["dino"] = time.perf_counter() - started
    if is_main_process():
        add_stage_seconds(vision_dir / STAGE_SECONDS, {"data": seconds["data"], "dino": seconds["dino"]})

    started = time.perf_counter()
    feature_path = vision_dir / f"features-q{preset.refinement.causal_quantile:g}.safetensors"
    if feature_path.is_file():
        features = load_features(feature_path)
    else:
        features = compute_features(backbone, dataset, preset.refinement.causal_quantile, device=device,
                                    num_workers=preset.dino.num_workers, amp=preset.contrastive.amp,
                                    progress=progress)
        save_features(features, feature_path)
    seconds["features"] = time.perf_counter() - started
    if is_main_process():
        add_stage_seconds(vision_dir / STAGE_SECONDS, {"features": seconds["features"]})

    started = time.perf_counter()
    monitor = make_monitor(run.monitor_data, log=log) if run.monitor and is_main_process() else None
    result = train_contrastive(features.lats, features.lons, features.select(preset.refinement.causal),
                               preset.encoder, preset.refinement, preset.contrastive, out_dir / "contrastive",
                               device=device, progress=progress, log=log, monitor=monitor)
    seconds["contrastive"] = time.perf_counter() - started
    if not is_main_process():  # under torchrun every rank trained the same model; rank 0 exports it
        return out_dir / "model"
    run_seconds = {**add_stage_seconds(vision_dir / STAGE_SECONDS, {}),
                   **add_stage_seconds(out_dir / "contrastive" / STAGE_SECONDS, {"contrastive": seconds["contrastive"]})}

    best = result.history[result.best_epoch - 1]
    metadata = {
        "trained": True,
        "description": run.description or f"SatCLE location encoder, {preset.name} preset",
        "preset": preset.name,
        "refinement": {"causal": preset.refinement.causal, "spatial": preset.refinement.spatial},
        "data": data_description,
        "seed": preset.contrastive.seed,
        "command": run.command,
        "notes": run.notes,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "val_loss": round(best["val_loss"], 5),
        "val_top1": round(best["val_top1"], 5),
        "val_chance": round(best["val_chance"], 6),
        "selection": selection_rule(preset),
        **{k: round(best[k], 5) for k in MONITOR_FIELDS if k in best},
        "stage_seconds_this_invocation": {k: round(v, 1) for k, v in seconds.items()},
        "stage_seconds_run": {k: round(v, 1) for k, v in run_seconds.items()},
        "device": str(device),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
    }
    card = render_model_card(run.model_name, preset, metadata, result.history)
    model_dir = save_encoder(result.model.location_encoder.cpu(), out_dir / "model", name=run.model_name,
                             metadata=metadata, model_card=card)
    log(f"exported {model_dir} (best epoch {result.best_epoch}: val_loss {best['val_loss']:.4f}, "
        f"val_top1 {best['val_top1']:.3f}, chance {best['val_chance']:.4f})")
    return model_dir


#: Per-stage wall-clock seconds summed over every invocation (a run's vision dir and contrastive dir hold one each).
STAGE_SECONDS = "stage-seconds.json"


def add_stage_seconds(path: Path, seconds: dict[str, float]) -> dict[str, float]:
    """Add this invocation's `seconds` per stage to the totals stored at `path`; returns the new totals.

    Rerunning an interrupted command resumes it: its stages' real cost is the sum over invocations.
    """
    totals = json.loads(path.read_text()) if path.is_file() else {}
    for stage, value in seconds.items():
        totals[stage] = float(totals.get(stage, 0.0)) + float(value)
    write_text_atomic(path, json.dumps(totals, indent=2, sort_keys=True) + "\n")
    return totals


def selection_rule(preset: Preset) -> str:
    """How the exported epoch was chosen, in words (model card and metadata)."""
    threshold = preset.contrastive.min_location_r2
    rule = "lowest validation loss"
    if threshold > 0:
        rule += f" among epochs whose location retention R^2 >= {threshold:g}"
    return rule + f"; early stopping after {preset.contrastive.patience} epochs without such an improvement"


def _check_vision_dir(vision_dir: Path, description: dict) -> None:
    """Record what a vision directory was made from; refuse to reuse it for something else."""
    path = vision_dir / "vision-run.json"
    text = json.dumps(description, indent=2, sort_keys=True) + "\n"
    if path.is_file():
        if json.loads(path.read_text()) != json.loads(text):
            raise TrainingConfigError(
                f"{vision_dir} was made for other data or another ViT/DINO configuration ({path}); "
                "use another --vision-dir"
            )
        return
    write_text_atomic(path, text)
