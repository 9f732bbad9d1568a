"""MODEL_CARD.md of an exported encoder, written from the run's facts and log."""

from __future__ import annotations

import dataclasses
import json

from .presets import Preset
from .trainer import MONITOR_FIELDS, RETENTION_FIELD


def render_model_card(name: str, preset: Preset, metadata: dict, history: list[dict]) -> str:
    """Markdown: what the model is, the data, the exact command, budget, seed, per-epoch log, final numbers."""
    refinement = metadata["refinement"]
    kind = ("SatCLE (causal + spatial refinement)" if refinement["causal"] and refinement["spatial"]
            else "SatCLIP baseline (no refinement)" if not (refinement["causal"] or refinement["spatial"])
            else f"SatCLE ablation (causal={refinement['causal']}, spatial={refinement['spatial']})")
    first, best = history[0], history[metadata["best_epoch"] - 1]
    step = max(1, len(history) // 25)
    shown = [row for i, row in enumerate(history) if i % step == 0 or i == len(history) - 1]
    watched = [k for k in (RETENTION_FIELD, *MONITOR_FIELDS) if k in best]
    rows = "\n".join(
        f"| {r['epoch']} | {r['train_loss']:.4f} | {r['val_loss']:.4f} | {r['val_top1']:.3f} | {r['temperature']:.4f} |"
        + "".join(f" {r[k]:.3f} |" if k in r else " – |" for k in watched)
        for r in shown
    )
    watched_header = "".join(f" {k} |" for k in watched)
    watched_rule = "---|" * len(watched)
    watched_best = "".join(f"| {k} | {first[k]:.4f} | {best[k]:.4f} |\n" if k in first else "" for k in watched)
    encoder = preset.encoder
    return f"""# {name}

{metadata['description']}

* **Model**: {kind}; exported location encoder Siren(SH), L = {encoder.legendre_degree},
  width {encoder.hidden_dim}, {encoder.num_layers} sine layers, output {encoder.output_dim}.
  Only the location encoder ships (SPCE / graph fusion and the image side are training-only).
* **Data**: `{json.dumps(metadata['data'], sort_keys=True)}`
* **Command**: `{metadata['command'] or '(Python API)'}`
* **Seed**: {metadata['seed']}
* **Device**: {metadata['device']}, torch {metadata['torch']}, {metadata['machine']}.
  The GPU paths (CUDA, bfloat16 autocast, DDP via torchrun) exist in the code but were
  not exercised for this model.
* **Stage wall-clock of the run** (seconds, summed over every invocation that worked on it,
  resumed ones included; stages shared through a vision directory count once there):
  `{json.dumps(metadata.get('stage_seconds_run', {}))}`; of the exporting invocation:
  `{json.dumps(metadata['stage_seconds_this_invocation'])}`

{("## Notes" + chr(10) + chr(10) + metadata["notes"] + chr(10)) if metadata.get("notes") else ""}
## Result

Epochs run: {metadata['epochs_run']}; exported: epoch {metadata['best_epoch']}, chosen by
{metadata.get('selection', 'lowest validation loss')}.
Validation (10 % held out, plain exported encoder, in-batch groups of about
{round(1 / best['val_chance'])} pairs):

| | epoch 1 | best epoch {metadata['best_epoch']} |
|---|---|---|
| train loss | {first['train_loss']:.4f} | {best['train_loss']:.4f} |
| validation loss | {first['val_loss']:.4f} | {best['val_loss']:.4f} |
| location->image top-1 | {first['val_top1']:.3f} | {best['val_top1']:.3f} |
| chance top-1 | {first['val_chance']:.4f} | {best['val_chance']:.4f} |
{watched_best}
retention_loss = the training-only retention objective (normalised squared error of the
head reproducing the initial network's features; ContrastiveConfig.retention_weight).
Monitor fields (`satcle/training/monitor.py`): location_r2 = held-out R² of a ridge from
the embedding to the location's unit vector; participation_ratio = effective dimensions;
distance_10km / distance_1000km = embedding distance to a displaced point over that of
random pairs; detail_50km = the same at 50 km on standardised features; far_biome_p10 /
far_landcover_p10 = precision@10 of the biome / MODIS land-cover class among the most
similar points at least 2,000 km away; probe_mse = ridge-probe test MSE on the
standardised `temperature` task.

## Training log (every {step} epoch(s))

| epoch | train loss | val loss | val top-1 | temperature |{watched_header}
|---|---|---|---|---|{watched_rule}
{rows}

## Configuration

```json
{json.dumps(dataclasses.asdict(preset), indent=2, sort_keys=True)}
```
"""
