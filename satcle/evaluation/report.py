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

from ..atomic import write_atomic
from .benchmark import BenchmarkResult, Score

BEGIN = "<!-- satcle eval: generated section begin -->"
END = "<!-- satcle eval: generated section end -->"
# metric -> (column label, higher is better)
METRICS = {"mse": ("MSE↓", False), "mae": ("MAE↓", False), "accuracy": ("Acc↑", True)}


def to_json(result: BenchmarkResult, command: str) -> str:
    """Every number of `result` (per seed), the settings and the command, as JSON text."""
    document = dataclasses.asdict(result)
    document["command"] = command
    return json.dumps(document, indent=1) + "\n"


def to_markdown(result: BenchmarkResult, command: str) -> str:
    """The generated report section: settings, the probe tables, transfer, lookup check, skips."""
    lines = [
        f"Command: `{command}`  ",
        f"Runtime: {result.runtime_s / 60:.1f} min on {result.settings.get('machine', '?')}, "
        f"{result.settings.get('threads')} torch thread(s). "
        f"{result.settings.get('seeds')} seeds; each seed draws its own random 7:1:2 train/val/test split "
        "and its own probe initialisation; cells are mean ± std over seeds; best mean in bold. "
        "Regression errors are in units of the target's standard deviation (standardised targets).",
        "",
        "Tasks:",
        "",
    ]
    for task in result.tasks:
        extra = f", {task['classes']} classes" if task["classes"] else ""
        where = "uniform over land" if task["coverage"] == "land" else "uniform on the sphere"
        lines.append(f"* `{task['name']}` ({task['kind']}, {task['points']} points {where}{extra}): "
                     f"{task['description']}")
    lines += ["", "Encoders:", ""]
    for enc in result.encoders:
        lines.append(f"* `{enc['name']}` ({enc['dim']}-d): {enc['description']}")
    for probe, title in (("mlp", "MLP probe"), ("linear", "Linear probe")):
        scores = [s for s in result.scores if s.study == "global" and s.probe == probe]
        if scores:
            lines += ["", f"### {title}, global random split", "", *_table(scores, [("", t["name"]) for t in result.tasks])]
    transfer = [s for s in result.scores if s.study.startswith("transfer:")]
    if transfer:
        columns = []
        for study in dict.fromkeys(s.study for s in transfer):
            columns += [(study, t) for t in dict.fromkeys(s.task for s in transfer if s.study == study)]
        lines += [
            "", "### Continent transfer (MLP probe): trained elsewhere + 1 % of the continent, tested on the rest", "",
            *_table(transfer, columns, only={"mse", "accuracy"}),
        ]
    lines += _lookup_check(result.scores)
    if result.skipped:
        lines += ["", "Skipped:", ""] + [f"* {message}" for message in result.skipped]
    return "\n".join(lines) + "\n"


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
    live = {(s.study, s.probe, s.task, s.encoder): s.metrics for s in scores}
    lines = []
    for s in scores:
        if "+grid-" not in s.encoder or s.study != "global":
            continue
        model = s.encoder.split("+grid-")[0]
        reference = live.get((s.study, s.probe, s.task, model))
        if reference is None:
            continue
        for metric, values in s.metrics.items():
            if metric not in METRICS:
                continue
            diff = float(np.mean(values) - np.mean(reference[metric]))
            noise = float(np.std(reference[metric]))
            verdict = "within seed noise" if abs(diff) <= max(noise, 1e-9) else "LARGER than seed noise"
            lines.append(f"| {s.encoder} | {s.probe} | {s.task} | {metric} | {diff:+.4f} | {noise:.4f} | {verdict} |")
    if not lines:
        return []
    return ["", "### Grid lookup versus live network", "",
            "| encoder | probe | task | metric | lookup − live (mean) | live seed std | verdict |",
            "|---|---|---|---|---:|---:|---|", *lines]
