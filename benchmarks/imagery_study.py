"""The imagery study table of docs/TRAINING.md (issue 24's criteria), from `satcle eval` reports.

    python benchmarks/imagery_study.py --evals EVAL.json [EVAL.json ...] --models NAME [NAME ...]

The reports must hold the models plus `untrained`, `sh`, `sh-l40` (and `geoclip` for
its column), all on the same tasks, points and seeds; they are pooled, so baselines
may come from one report and the models from another. One markdown row per model:

* mean gap: the mean relative gap on the headline metric to the best of `untrained`,
  `sh` and `sh-l40`, over every task x split x probe cell (negative = better), then
  the worst task (its gap averaged over splits and probes);
* label-scarce mean gap: the same over the 1 % and 5 % training-label studies;
* tasks on which the model beats GeoCLIP with both splits (MLP probe);
* the diagnostics as the eval measured them: far-retrieval precision@10 of the
  biome and the MODIS land-cover class (chance beside), embedding distance at
  25 / 50 / 100 km relative to random pairs (standardised features).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from satcle.evaluation.benchmark import BenchmarkResult
from satcle.evaluation.report import wins_over
from training_study import pooled_reports

RIVALS = ("untrained", "sh", "sh-l40")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evals", nargs="+", type=Path, required=True)
    parser.add_argument("--models", nargs="+", required=True, help="encoder names as the reports hold them")
    args = parser.parse_args()
    result, diagnostics = pooled_reports(args.evals)
    studies = sorted({s.study for s in result.scores if s.study.startswith("scarce:")})
    print("| model | mean gap | worst task | label-scarce mean gap | beats GeoCLIP, both splits (MLP) | "
          "far biome p@10 | far land cover p@10 | distance 25 / 50 / 100 km |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for name in [*args.models, *RIVALS, "geoclip"]:
        d = diagnostics.get(name, {})
        if name in RIVALS or name == "geoclip":
            gap_cells = "– | – | –"
        else:
            gap_cells = _gap_cells(result, name, studies)
        beats = _beats(result, name, "geoclip") if name != "geoclip" else "–"
        chance = lambda key: f" ({d[key]:.2f})" if key in d else ""   # noqa: E731
        far = [f"{d[f'far_{label}_p10']:.3f}{chance(f'far_{label}_chance')}" if f"far_{label}_p10" in d else "–"
               for label in ("biome", "landcover")]
        detail = " / ".join(f"{d[k]:.3f}" for k in ("detail_25km", "detail_50km", "detail_100km") if k in d) or "–"
        print(f"| {name} | {gap_cells} | {beats} | {far[0]} | {far[1]} | {detail} |")


def _gap_cells(result: BenchmarkResult, name: str, studies: list[str]) -> str:
    per_task: dict[str, list[float]] = {}
    for split in ("random", "spatial"):
        for probe in ("mlp", "linear"):
            for task, gap in wins_over(result, name, RIVALS, split, probe).items():
                per_task.setdefault(task, []).append(gap)
    scarce = [gap for study in studies for split in ("random", "spatial") for probe in ("mlp", "linear")
              for gap in wins_over(result, name, RIVALS, split, probe, study=study).values()]
    if not per_task:
        return "– | – | –"
    every = [g for gaps in per_task.values() for g in gaps]
    worst = max(per_task, key=lambda t: np.mean(per_task[t]))
    scarce_text = f"{100 * np.mean(scarce):+.1f} %" if scarce else "–"
    return f"{100 * np.mean(every):+.1f} % | {worst} {100 * np.mean(per_task[worst]):+.1f} % | {scarce_text}"


def _beats(result: BenchmarkResult, name: str, rival: str) -> str:
    random = wins_over(result, name, (rival,), "random", "mlp")
    spatial = wins_over(result, name, (rival,), "spatial", "mlp")
    tasks = set(random) & set(spatial)
    if not tasks:
        return "–"
    return f"{sum(random[t] < 0 and spatial[t] < 0 for t in tasks)} of {len(tasks)}"


if __name__ == "__main__":
    main()
