"""Benchmark results as markdown tables (SatCLE Table 1 style) and JSON.

The markdown goes between two marker comments of the output file, so a report
(docs/EVALUATION.md) can keep hand-written text around the generated part and a
re-run replaces only the numbers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..core.atomic import write_atomic
from .benchmark import BenchmarkResult, Score
from .diagnostics import SHARED_SOURCES

BEGIN = "<!-- satcle eval: generated section begin -->"
END = "<!-- satcle eval: generated section end -->"
# metric -> (column label, higher is better)
METRICS = {"mse": ("MSE↓", False), "r2": ("R²↑", True), "mae": ("MAE↓", False), "accuracy": ("Acc↑", True)}


def to_json(result: BenchmarkResult, command: str) -> str:
    """Every number of `result` (per seed), the settings and the command, as JSON text."""
    document = dataclasses.asdict(result)
    document["command"] = command
    return json.dumps(document, indent=1) + "\n"


SPLIT_TITLES = {"random": "random 7:1:2 split", "spatial": "spatial block split (H3 res-1 blocks)"}
#: Encoders that are baselines, not trained satcle models, in the comparison table.
BASELINES = ("untrained", "sh", "sh-l40", "identity", "geoclip")


def to_markdown(result: BenchmarkResult, command: str) -> str:
    """The generated report section: settings, probe tables per split, diagnostics, transfer, lookup check, skips."""
    lines = [
        f"Command: `{command}`  ",
        f"Runtime: {result.runtime_s / 60:.1f} min on {result.settings.get('machine', '?')}, "
        f"{result.settings.get('jobs', 1)} encoder process(es) of {result.settings.get('threads')} torch thread(s). "
        f"{result.settings.get('seeds')} seeds; each seed draws its own split and its own probe initialisation; "
        "cells are mean ± std over seeds; best mean in bold. "
        "Regression errors are in units of the target's standard deviation (standardised targets).",
        "",
        "Tasks:",
        "",
    ]
    for task in result.tasks:
        extra = f", {task['classes']} classes" if task["classes"] else ""
        where = {"land": "uniform over land", "global": "uniform on the sphere"}.get(task["coverage"], "given")
        dropped = f"; {task['dropped']} sampled points without a value dropped" if task.get("dropped") else ""
        lines.append(f"* `{task['name']}` ({task['kind']}, {task['points']} points {where}{extra}{dropped}): "
                     f"{task['description']}")
    lines += ["", "Encoders:", ""]
    for enc in result.encoders:
        lines.append(f"* `{enc['name']}` ({enc['dim']}-d): {enc['description']}")
    columns = [("", t["name"]) for t in result.tasks]
    for split in dict.fromkeys(s.split for s in result.scores if s.study == "global"):
        for probe, title in (("mlp", "MLP probe"), ("linear", "Linear (ridge) probe")):
            scores = [s for s in result.scores if s.study == "global" and s.probe == probe and s.split == split]
            if scores:
                lines += ["", f"### {title}, {SPLIT_TITLES.get(split, split)}", "", *_table(scores, columns)]
    lines += _diagnostics_table(result.encoders)
    lines += _baseline_comparison(result)
    if result.settings.get("labels"):
        sentence = verdict(result)
        lines += ["", sentence] if sentence else []
    transfer = [s for s in result.scores if s.study.startswith("transfer:")]
    if transfer:
        columns = []
        for study in dict.fromkeys(s.study for s in transfer):
            columns += [(study, t) for t in dict.fromkeys(s.task for s in transfer if s.study == study)]
        lines += [
            "", "### Continent transfer (MLP probe): trained elsewhere + 1 % of the continent, tested on the rest", "",
            *_table(transfer, columns, only={"mse", "accuracy"}),
        ]
    scarce = [s for s in result.scores if s.study.startswith("scarce:")]
    for split in dict.fromkeys(s.split for s in scarce):
        for probe, title in (("mlp", "MLP probe"), ("linear", "Linear (ridge) probe")):
            chosen = [s for s in scarce if s.split == split and s.probe == probe]
            columns = []
            for study in dict.fromkeys(s.study for s in chosen):
                columns += [(study, t) for t in dict.fromkeys(s.task for s in chosen if s.study == study)]
            lines += ["", f"### Label-scarce: {title}, {SPLIT_TITLES.get(split, split)}, trained on "
                      "1 % / 5 % of the points", "", *_table(chosen, columns, only={"mse", "accuracy"})]
    lines += _shared_sources_note(result.tasks)
    lines += _lookup_check(result.scores)
    if result.skipped:
        lines += ["", "Skipped:", ""] + [f"* {message}" for message in result.skipped]
    return "\n".join(lines) + "\n"


def _shared_sources_note(tasks: list[dict]) -> list[str]:
    """Which tasks share a source with the `stack` training imagery (claims rest on the others)."""
    shared = [f"`{t['name']}` ({SHARED_SOURCES[t['name']]})" for t in tasks if t["name"] in SHARED_SOURCES]
    if not shared:
        return []
    return ["", "Tasks that share a source with the `stack` preset's training imagery (their scores partly measure "
            "a copy of the input): " + ", ".join(shared) + ". Claims about what pretraining learnt rest on the "
            "other tasks."]


def summary_table(result: BenchmarkResult) -> str:
    """A short plain-text table for the terminal: the headline metric per encoder, split and
    probe (regression: MSE and R²), then `verdict`'s sentence."""
    global_scores = [s for s in result.scores if s.study == "global"]
    keys = list(dict.fromkeys((s.split, s.probe) for s in global_scores))
    tasks = list(dict.fromkeys(s.task for s in global_scores))
    lines = []
    for task in tasks:
        sample = next(s.metrics for s in global_scores if s.task == task)
        metric, higher = headline_metric(sample)
        shown = [metric] + (["r2"] if "r2" in sample else [])
        label = ("accuracy (higher is better)" if higher else
                 "MSE of the standardised target (lower is better)" + (", R² (higher is better)" if "r2" in sample else ""))
        lines.append(f"{task}: {label}, mean ± std over seeds")
        width = 20 * len(shown)
        lines.append(f"{'encoder':<22}" + "".join(f"{split + ' ' + probe:>{width}}" for split, probe in keys))
        for encoder in dict.fromkeys(s.encoder for s in global_scores if s.task == task):
            cells = []
            for split, probe in keys:
                metrics = next((s.metrics for s in global_scores if (s.task, s.encoder, s.split, s.probe)
                                == (task, encoder, split, probe)), None)
                for name in shown:
                    values = None if metrics is None else metrics.get(name)
                    cells.append(f"{'–':>20}" if values is None else
                                 f"{('R² ' if name == 'r2' else '') + f'{np.mean(values):.3f}':>12} ± {np.std(values):.3f}")
            lines.append(f"{encoder:<22}" + "".join(cells))
    sentence = verdict(result)
    if sentence:
        lines += ["", sentence]
    return "\n".join(lines)


#: Relative differences of the headline metric smaller than this read as "about the same".
SAME = 0.02


def verdict(result: BenchmarkResult, model: str = "default") -> str:
    """One plain sentence: does `model` (else the first trained model) help on the run's one task,
    split by split (its better probe), against the best baseline of that split and probe ("" for a
    run of several tasks)."""
    encoders = [e["name"] for e in result.encoders]
    models = [model] if model in encoders else [e for e in encoders if e not in BASELINES and "+grid-" not in e]
    rivals = tuple(r for r in BASELINES if r in encoders)
    if not models or not rivals or len({s.task for s in result.scores if s.study == "global"}) != 1:
        return ""   # a verdict is about one task (a user's): the benchmark's tables speak for themselves
    model = models[0]
    parts, helps = [], []
    for split in dict.fromkeys(s.split for s in result.scores if s.study == "global"):
        best = None
        for probe in ("mlp", "linear"):
            gaps = wins_over(result, model, rivals, split, probe, with_rival=True)
            for task, (gap, rival) in gaps.items():
                if best is None or gap < best[0]:
                    best = (gap, rival, probe, task)
        if best is None:
            continue
        gap, rival, probe, task = best
        probe_name = "MLP" if probe == "mlp" else "ridge"
        metric, higher = headline_metric(next(s.metrics for s in result.scores if s.task == task
                                              and s.study == "global"))
        mine, theirs = (_mean_score(result, task, name, split, probe, metric) for name in (model, rival))
        label = "accuracy" if higher else "MSE"
        rival_name = f"{BASELINE_WORDS.get(rival, rival)} ({rival})"
        numbers = f"{label} {mine:.3f} against {theirs:.3f}, {probe_name} probe"
        if gap < -SAME:
            change = "raises the accuracy" if higher else "lowers the error"
            parts.append(f"on the {split} split {model} {change} by {100 * -gap:.0f} % over the best baseline, "
                         f"{rival_name} ({numbers})")
            helps.append(True)
        elif gap <= SAME:
            parts.append(f"on the {split} split {model} does about as well as {rival_name} ({numbers})")
            helps.append(False)
        else:
            parts.append(f"on the {split} split {rival_name} does better than {model} ({numbers})")
            helps.append(False)
    if not parts:
        return ""
    head = ("Verdict: satcle's embedding helps this task" if all(helps) else
            "Verdict: satcle's embedding helps this task on some splits only" if any(helps) else
            "Verdict: satcle's embedding does not help this task over the baselines")
    return head + ": " + "; ".join(parts) + "."


def _mean_score(result: BenchmarkResult, task: str, encoder: str, split: str, probe: str, metric: str) -> float:
    return float(np.mean(next(s.metrics[metric] for s in result.scores if s.study == "global" and (
        s.task, s.encoder, s.split, s.probe) == (task, encoder, split, probe))))


#: How the verdict names each baseline.
BASELINE_WORDS = {"identity": "raw coordinates", "sh": "spherical harmonics L = 10",
                  "sh-l40": "spherical harmonics L = 40", "untrained": "the untrained network",
                  "geoclip": "GeoCLIP"}


def headline_metric(kind_metrics: dict) -> tuple[str, bool]:
    """The metric a task is judged by: accuracy (higher is better) if present, else MSE (lower)."""
    return ("accuracy", True) if "accuracy" in kind_metrics else ("mse", False)


def wins_over(result: BenchmarkResult, encoder: str, rivals: tuple[str, ...], split: str, probe: str,
              *, study: str = "global", with_rival: bool = False) -> dict:
    """How `encoder` fares against the best of `rivals` on each task of one study, split and probe.

    Returns {task: relative gap}, the gap being (encoder - best rival) / |best rival|
    on the headline metric, signed so that negative means `encoder` is better
    (with `with_rival`: {task: (gap, name of the best rival)}). Tasks where
    `encoder` or every rival lacks a score are left out.
    """
    cell = {(s.task, s.encoder): s.metrics for s in result.scores
            if s.study == study and s.split == split and s.probe == probe}
    gaps = {}
    for task in dict.fromkeys(t for t, _ in cell):
        mine = cell.get((task, encoder))
        others = {r: cell[(task, r)] for r in rivals if (task, r) in cell}
        if mine is None or not others:
            continue
        metric, higher = headline_metric(mine)
        value = float(np.mean(mine[metric]))
        rival_values = {r: float(np.mean(o[metric])) for r, o in others.items()}
        rival = (max if higher else min)(rival_values, key=rival_values.get)
        best = rival_values[rival]
        gap = (value - best) / max(abs(best), 1e-12)
        gap = -gap if higher else gap
        gaps[task] = (gap, rival) if with_rival else gap
    return gaps


def _loss(gap: float, rival: str, task: str) -> str:
    """The largest loss of a row: its gap, task and the baseline that won, or "none" when the model lost nowhere."""
    return f"{100 * gap:+.1f} % ({task}, vs {rival})" if gap > 0 else "none"


def _baseline_comparison(result: BenchmarkResult) -> list[str]:
    """Per trained model, study (all labels, label-scarce), split and probe: on how many tasks it beats the
    best of `untrained`, `sh` and `sh-l40` (and raw coordinates, `identity`, on the user's own labels), its
    mean gap and its largest loss, naming the baseline it lost to."""
    encoders = [e["name"] for e in result.encoders]
    candidates = ("untrained", "sh", "sh-l40") + (("identity",) if result.settings.get("labels") else ())
    rivals = tuple(r for r in candidates if r in encoders)
    models = [e for e in encoders if e not in BASELINES and "+grid-" not in e]
    if not rivals or not models:
        return []
    rows = []
    studies = [s for s in dict.fromkeys(s.study for s in result.scores) if s == "global" or s.startswith("scarce:")]
    for study in studies:
        for split in dict.fromkeys(s.split for s in result.scores if s.study == study):
            for probe in ("mlp", "linear"):
                for model in models:
                    gaps = wins_over(result, model, rivals, split, probe, study=study, with_rival=True)
                    if not gaps:
                        continue
                    wins = sum(g < 0 for g, _ in gaps.values())
                    worst_task = max(gaps, key=lambda task: gaps[task][0])
                    labels = "all" if study == "global" else f"{100 * float(study.split(':')[1]):g} % of points"
                    rows.append(f"| {model} | {labels} | {split} | {probe} | {wins} of {len(gaps)} | "
                                f"{100 * np.mean([g for g, _ in gaps.values()]):+.1f} % | "
                                f"{_loss(*gaps[worst_task], worst_task)} |")
    if not rows:
        return []
    return ["", f"### Trained models against the best of {', '.join(f'`{r}`' for r in rivals)}", "",
            "Headline metric per task (MSE, or accuracy for classes); the gap is relative, negative = better "
            "than the best baseline. \"Training labels\": all of the split's training rows, or the label-scarce "
            "regime (training rows cut to that share of all points; same validation and test rows).", "",
            "| model | training labels | split | probe | tasks won | mean gap | largest loss (task) |",
            "|---|---|---|---|---:|---:|---|", *rows]


def _diagnostics_table(encoders: list[dict]) -> list[str]:
    keys = ("distance_10km", "distance_1000km", "detail_25km", "detail_50km", "detail_100km",
            "far_biome_p10", "far_landcover_p10")
    rows, chance = [], {}
    for enc in encoders:
        d = enc.get("diagnostics")
        if not d or "location_r2" not in d:
            continue
        chance.update({k: d[k] for k in ("far_biome_chance", "far_landcover_chance") if k in d})
        cells = " | ".join("–" if d.get(k) is None else f"{d[k]:.3f}" for k in keys)
        rows.append(f"| {enc['name']} | {d['location_r2']:.3f} | {d['participation_ratio']:.1f} | {cells} |")
    if not rows:
        return []
    points = next(e["diagnostics"]["points"] for e in encoders if e.get("diagnostics"))
    chance_text = ", ".join(f"{k.split('_')[1]} {v:.3f}" for k, v in chance.items()) or "–"
    return ["", "### Embedding diagnostics", "",
            f"On {points} land points: location retention = held-out R² of a ridge from the embedding to the "
            "point's 3-D unit vector; participation ratio of the PCA spectrum (effective dimensions); embedding "
            "distance to a point 10 km and 1,000 km away, relative to random pairs; local detail: the same at "
            "25 / 50 / 100 km on standardised features; far retrieval: precision@10 of the biome (the `biome` "
            "task's points) and of the MODIS land-cover class among each of 2,000 points' most similar points "
            f"at least 2,000 km away (chance: {chance_text}). Land cover is also an input of the `stack` "
            "imagery, so its retrieval partly measures a copy of the input.", "",
            "| encoder | location R² | participation ratio | distance at 10 km | distance at 1,000 km "
            "| detail 25 km | detail 50 km | detail 100 km | far biome p@10 | far land cover p@10 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *rows]


def write_report(path: Path, result: BenchmarkResult, command: str) -> tuple[Path, Path]:
    """Write the markdown section into `path` (keeping text outside the markers) and JSON beside it."""
    section = f"{BEGIN}\n{to_markdown(result, command)}{END}"
    old = path.read_text() if path.is_file() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = (old.rstrip() + "\n\n" if old else "# Evaluation\n\n") + section + "\n"
    json_path = path.with_suffix(".json")
    write_atomic(json_path, to_json(result, command).encode())
    write_atomic(path, text.encode())
    return path, json_path


def _table(scores: list[Score], columns: list[tuple[str, str]], only: set[str] | None = None) -> list[str]:
    """Markdown table: a row per encoder, a column per (study, task, metric); best mean bold."""
    # Global scores sit under study "" so that columns name only the task.
    cell = {("" if s.study == "global" else s.study, s.task, s.encoder): s.metrics for s in scores}
    headers, keys = [], []
    for study, task in columns:
        sample = next((m for (st, t, _), m in cell.items() if st == study and t == task), None)
        if sample is None:
            continue
        for metric in METRICS:
            if metric in sample and (only is None or metric in only):
                label = f"{study.removeprefix('transfer:')} {task}" if study else task
                headers.append(f"{label} {METRICS[metric][0]}")
                keys.append((study, task, metric))
    encoders = list(dict.fromkeys(s.encoder for s in scores))
    best = {}
    for study, task, metric in keys:
        means = {e: np.mean(cell[(study, task, e)][metric]) for e in encoders if (study, task, e) in cell}
        best[(study, task, metric)] = (max if METRICS[metric][1] else min)(means.values())
    rows = ["| encoder | " + " | ".join(headers) + " |", "|---|" + "---:|" * len(headers)]
    for enc in encoders:
        cells = []
        for study, task, metric in keys:
            values = cell.get((study, task, enc), {}).get(metric)
            if values is None:
                cells.append("–")
                continue
            mean, std = float(np.mean(values)), float(np.std(values))
            text = f"{mean:.3f} ± {std:.3f}"
            cells.append(f"**{text}**" if mean == best[(study, task, metric)] else text)
        rows.append(f"| {enc} | " + " | ".join(cells) + " |")
    return rows


def _lookup_check(scores: list[Score]) -> list[str]:
    """Grid-lookup rows against their live model: difference of means versus seed noise."""
    live = {(s.study, s.split, s.probe, s.task, s.encoder): s.metrics for s in scores}
    lines = []
    for s in scores:
        if "+grid-" not in s.encoder or s.study != "global":
            continue
        model = s.encoder.split("+grid-")[0]
        reference = live.get((s.study, s.split, s.probe, s.task, model))
        if reference is None:
            continue
        for metric, values in s.metrics.items():
            if metric not in METRICS:
                continue
            diff = float(np.mean(values) - np.mean(reference[metric]))
            noise = float(np.std(reference[metric]))
            verdict = "within seed noise" if abs(diff) <= max(noise, 1e-9) else "LARGER than seed noise"
            lines.append(f"| {s.encoder} | {s.split} | {s.probe} | {s.task} | {metric} | {diff:+.4f} | {noise:.4f} "
                         f"| {verdict} |")
    if not lines:
        return []
    return ["", "### Grid lookup versus live network", "",
            "| encoder | split | probe | task | metric | lookup − live (mean) | live seed std | verdict |",
            "|---|---|---|---|---|---:|---:|---|", *lines]
