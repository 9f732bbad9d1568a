"""The pretraining study table of docs/TRAINING.md, from training runs and `satcle eval` reports.

    python benchmarks/training_study.py --runs RUN_DIR [RUN_DIR ...] --evals EVAL.json [EVAL.json ...]
                                        [--reference ENCODER]

Each RUN_DIR is a `satcle train --out` directory (its model/config.json holds the
recipe and the monitor's numbers at the exported epoch). The eval reports must
hold the runs' model directories as encoders plus `untrained` and `sh`, all on
the same tasks, points and seeds (reports are pooled, so the baselines may come
from one of them). Prints one markdown row per run: recipe, validation loss,
diagnostics, the tasks won against the best of `untrained` and `sh` per
split and probe, and the mean relative gap to that best over all of them
(negative = better; small differences are seed noise, see docs/EVALUATION.md).
With --reference (an encoder of the reports, e.g. `default`), also the tasks on
which each run is no worse than it, per split and probe.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from satcle.evaluation.benchmark import BenchmarkResult, Score
from satcle.evaluation.report import wins_over
from satcle.training.presets import ContrastiveConfig, get_preset

RECIPE_KEYS = ("lr", "schedule", "warmup_epochs", "max_epochs", "anchor_weight", "first_layer_lr_scale",
               "image_hidden", "damping_degree", "retention_weight", "retention_degree", "retention_model",
               "min_location_r2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", type=Path, required=True)
    parser.add_argument("--evals", nargs="+", type=Path, required=True)
    parser.add_argument("--reference", help="also count the tasks on which each run is no worse than this encoder")
    args = parser.parse_args()
    result, diagnostics = pooled_reports(args.evals)
    settings = [(split, probe) for split in ("random", "spatial") for probe in ("mlp", "linear")]
    header = ("| run | L | refinement | DINO epochs | recipe | exported epoch / run | val loss | val top-1 | "
              "location R² | participation ratio | "
              + " | ".join(f"won {split} {probe}" for split, probe in settings) + " | mean gap |"
              + "".join(f" no worse than {args.reference}, {split} {probe} |" for split, probe in settings
                        if args.reference))
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for run in args.runs:
        meta = json.loads((run / "model" / "config.json").read_text())["metadata"]
        preset = _preset(run / "model" / "MODEL_CARD.md")
        contrastive = preset["contrastive"]
        defaults = dataclasses.asdict(ContrastiveConfig())
        recipe = ", ".join(f"{k} {contrastive[k]:g}" if isinstance(contrastive[k], float) else f"{k} {contrastive[k]}"
                           for k in RECIPE_KEYS if k in contrastive and (k == "lr" or contrastive[k] != defaults[k]))
        sigma = preset["refinement"]["sigma_deg"]
        if sigma != get_preset(preset["name"]).refinement.sigma_deg:
            recipe += f", sigma_deg {sigma:g}"
        refinement = "+".join(k for k, on in meta["refinement"].items() if on) or "none"
        encoder = str(run / "model")
        cells, all_gaps = [], []
        for split, probe in settings:
            gaps = wins_over(result, encoder, ("untrained", "sh"), split, probe)
            cells.append(f"{sum(g < 0 for g in gaps.values())}/{len(gaps)}" if gaps else "–")
            all_gaps += list(gaps.values())
        mean_gap = f"{100 * sum(all_gaps) / len(all_gaps):+.1f} %" if all_gaps else "–"
        if args.reference:
            for split, probe in settings:
                gaps = wins_over(result, encoder, (args.reference,), split, probe)
                mean_gap += f" | {sum(g <= 0 for g in gaps.values())}/{len(gaps)}" if gaps else " | –"
        # Diagnostics as the eval measured them (same points for every run), else the training monitor's.
        measured = diagnostics.get(encoder) or meta
        r2, ratio = measured.get("location_r2"), measured.get("participation_ratio")
        print(f"| {run.name} | {preset['encoder']['legendre_degree']} | {refinement} | {preset['dino']['epochs']} | "
              f"{recipe} | {meta['best_epoch']} / {meta['epochs_run']} | "
              f"{meta['val_loss']:.3f} | {meta['val_top1']:.3f} | {'–' if r2 is None else f'{r2:.3f}'} | "
              f"{'–' if ratio is None else f'{ratio:.1f}'} | " + " | ".join(cells) + f" | {mean_gap} |")


def pooled_reports(paths: list[Path]) -> tuple[BenchmarkResult, dict[str, dict]]:
    """The scores of several `satcle eval` JSON reports as one result, and each encoder's diagnostics."""
    scores, diagnostics = [], {}
    for path in paths:
        document = json.loads(Path(path).read_text())
        scores += [Score(**s) for s in document["scores"]]
        diagnostics.update({e["name"]: e.get("diagnostics", {}) for e in document["encoders"]})
    return BenchmarkResult(scores=scores), diagnostics


def _preset(card: Path) -> dict:
    """The preset a run trained with: the JSON block under "## Configuration" of its model card."""
    text = card.read_text().split("## Configuration", 1)[1]
    return json.loads(text.split("```json", 1)[1].split("```", 1)[0])


if __name__ == "__main__":
    main()
