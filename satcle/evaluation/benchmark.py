"""The whole benchmark: tasks x encoders x splits x probes x seeds, continent transfer, diagnostics.

`run_benchmark(BenchmarkConfig(...))` returns a `BenchmarkResult` holding every
per-seed number; `report.py` turns it into markdown and JSON. Tasks whose data
is missing and encoders that cannot run here are skipped with a message, so the
benchmark runs wherever the core package does. With `BenchmarkConfig.labels`
the benchmark runs on the user's own task instead of the built-in ones.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..core.errors import DataUnavailableError, EncoderUnavailableError, EvaluationConfigError, SatcleError
from . import encoders as encoder_registry
from . import diagnostics
from .probe import LINEAR, MLP, ProbeConfig, fit_probe
from .splits import SPLITS, make_splits
from .tasks import TaskData, load_task
from .transfer import continent_splits, point_continents

DEFAULT_TASKS = ("elevation", "population_density", "temperature", "precipitation", "biome",
                 "countries", "population", "land_ocean")
DEFAULT_CONTINENTS = ("NA", "AF", "OC")
#: Tasks of the continent-transfer study: one climate, one human, one land-cover target
#: (every land task x 3 continents would double the run time).
DEFAULT_TRANSFER_TASKS = ("temperature", "population_density", "biome")
#: Encoders of a run on the user's own labels when none are named.
LABEL_ENCODERS = ("default", "untrained", "sh", "identity")


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run. encoders=None means every encoder available (see `encoders.encoder_specs`).

    splits: "random" and/or "spatial" (see `splits.py`). data_dir: folder of the
    gridded tasks' files (None: those tasks are skipped). labels: a user task
    (`labels.load_labels`) run instead of `tasks`, without continent transfer.
    diagnostics: location retention, participation ratio and smoothness per encoder.
    """

    tasks: tuple[str, ...] = DEFAULT_TASKS
    encoders: tuple[str, ...] | None = None
    seeds: int = 5
    n_points: int = 10_000
    grid: Path | None = None
    continents: tuple[str, ...] = DEFAULT_CONTINENTS
    transfer_tasks: tuple[str, ...] = DEFAULT_TRANSFER_TASKS
    mlp: ProbeConfig = MLP
    linear: ProbeConfig = LINEAR
    threads: int = 1
    cache: Path | None = None
    splits: tuple[str, ...] = SPLITS
    data_dir: Path | None = None
    labels: TaskData | None = None
    diagnostics: bool = True


@dataclass(frozen=True)
class Score:
    """Per-seed metrics of one probe of one encoder on one task.

    study: "global" (split = "random" or "spatial") or "transfer:<continent>" (split "continent").
    """

    study: str
    probe: str
    task: str
    encoder: str
    metrics: dict[str, list[float]]
    split: str = "random"


@dataclass
class BenchmarkResult:
    """Everything a run produced, JSON-ready (see `report.to_json`)."""

    tasks: list[dict] = field(default_factory=list)
    encoders: list[dict] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    runtime_s: float = 0.0
    settings: dict = field(default_factory=dict)


def run_benchmark(config: BenchmarkConfig, log: Callable[[str], None] = print) -> BenchmarkResult:
    """Run every (task, encoder) pair of `config`; progress on stderr, messages through `log`."""
    if config.seeds < 1 or config.n_points < 10:
        raise EvaluationConfigError("need seeds >= 1 and n_points >= 10")
    if not config.splits or set(config.splits) - set(SPLITS):
        raise EvaluationConfigError(f"splits must be a non-empty subset of {SPLITS}, got {config.splits}")
    started = time.perf_counter()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        result = BenchmarkResult(settings=_settings(config))
        tasks = [config.labels] if config.labels is not None else _load_tasks(config, result, log)
        if config.labels is not None:
            result.tasks.append(_task_row(config.labels))
        try:
            specs = encoder_registry.encoder_specs(config.grid, config.encoders or ())
        except EncoderUnavailableError as exc:  # an unreadable grid costs its rows, not the run
            result.skipped.append(str(exc))
            log(str(exc))
            specs = encoder_registry.encoder_specs(None, config.encoders or ())
        names = list(config.encoders) if config.encoders is not None else list(specs)
        unknown = [n for n in names if n not in specs]
        if unknown:
            raise EvaluationConfigError(
                f"unknown encoder(s) {unknown}; known here: {', '.join(specs)}"
                + (" (grid rows need --grid)" if any("+grid-" in n for n in unknown) else "")
            )
        seeds = list(range(config.seeds))
        splits = _global_splits(tasks, config, seeds, result, log)
        transfer = _transfer_splits(tasks, config, seeds, result, log)
        probe_points = _diagnostic_points(tasks, config)
        jobs = len(names) * len(tasks)
        with tqdm(total=jobs, desc="eval", unit="pair", disable=jobs == 0) as bar:
            for name in names:
                try:
                    encode = specs[name].load()
                except (EncoderUnavailableError, ImportError, OSError) as exc:
                    result.skipped.append(f"encoder {name}: {exc}")
                    log(f"skipped encoder {name}: {exc}")
                    bar.update(len(tasks))
                    continue
                encode_s, dim = 0.0, None
                for task in tasks:
                    bar.set_postfix_str(f"{name} / {task.name}")
                    t0 = time.perf_counter()
                    try:
                        features = np.asarray(encode(task.lats, task.lons), dtype=np.float32)
                    except (SatcleError, OSError) as exc:  # e.g. a land-only grid asked about the ocean
                        result.skipped.append(f"encoder {name} on task {task.name}: {exc}")
                        log(f"skipped encoder {name} on task {task.name}: {exc}")
                        bar.update(1)
                        continue
                    encode_s += time.perf_counter() - t0
                    dim = features.shape[1]
                    n_classes = len(task.classes) or None
                    for split_name, split in splits.get(task.name, {}).items():
                        for probe_name, probe in (("mlp", config.mlp), ("linear", config.linear)):
                            metrics = fit_probe(features, task.y, task.kind, split, seeds, probe, n_classes)
                            result.scores.append(
                                Score("global", probe_name, task.name, name, _lists(metrics), split_name))
                    for continent, continent_split in transfer.get(task.name, {}).items():
                        metrics = fit_probe(features, task.y, task.kind, continent_split, seeds, config.mlp, n_classes)
                        result.scores.append(
                            Score(f"transfer:{continent}", "mlp", task.name, name, _lists(metrics), "continent"))
                    bar.update(1)
                row = {"name": name, "description": specs[name].description, "dim": dim,
                       "encode_seconds": round(encode_s, 3)}
                if config.diagnostics and probe_points is not None:
                    row["diagnostics"] = _diagnostics(encode, *probe_points, result, name, log)
                result.encoders.append(row)
    finally:
        torch.set_num_threads(threads_before)
    result.runtime_s = time.perf_counter() - started
    return result


def _load_tasks(config: BenchmarkConfig, result: BenchmarkResult, log) -> list[TaskData]:
    tasks = []
    for name in config.tasks:
        try:
            task = load_task(name, config.n_points, seed=0, cache=config.cache, data_dir=config.data_dir)
        except DataUnavailableError as exc:
            result.skipped.append(f"task {name}: {exc}")
            log(f"skipped task {name}: {exc}")
            continue
        tasks.append(task)
        result.tasks.append(_task_row(task))
    return tasks


def _task_row(task: TaskData) -> dict:
    return {
        "name": task.name, "kind": task.kind, "points": int(task.lats.size), "coverage": task.coverage,
        "classes": len(task.classes), "description": task.description, "dropped": int(task.dropped),
    }


def _global_splits(tasks, config: BenchmarkConfig, seeds, result: BenchmarkResult, log) -> dict:
    """task name -> split kind ("random", "spatial") -> one split per seed."""
    out: dict[str, dict] = {}
    for task in tasks:
        out[task.name] = {}
        for kind in config.splits:
            try:
                out[task.name][kind] = make_splits(kind, task.lats, task.lons, seeds)
            except EvaluationConfigError as exc:
                result.skipped.append(f"{kind} split of {task.name}: {exc}")
                log(f"skipped the {kind} split of {task.name}: {exc}")
    return out


def _diagnostic_points(tasks: list[TaskData], config: BenchmarkConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """Where the diagnostics are measured: the points of the first land (or user) task, else of the first task."""
    if not tasks:
        return None
    chosen = next((t for t in tasks if t.coverage in ("land", "user")), tasks[0])
    return chosen.lats, chosen.lons


def _diagnostics(encode, lats, lons, result: BenchmarkResult, name: str, log) -> dict:
    """Location retention, participation ratio and smoothness of one encoder (None where it cannot answer)."""
    out: dict = {"points": int(lats.size)}
    try:
        features = np.asarray(encode(lats, lons), dtype=np.float64)
        out["location_r2"] = round(diagnostics.location_retention(features, lats, lons), 4)
        out["participation_ratio"] = round(diagnostics.participation_ratio(features), 2)
        out.update({f"distance_{k}": round(v, 4) for k, v in diagnostics.smoothness(encode, lats, lons).items()})
    except (SatcleError, OSError) as exc:  # e.g. a land grid asked about a displaced point at sea
        result.skipped.append(f"diagnostics of {name}: {exc}")
        log(f"diagnostics of {name} incomplete: {exc}")
    return out


def _transfer_splits(tasks, config: BenchmarkConfig, seeds, result: BenchmarkResult, log) -> dict:
    """task name -> continent -> splits, for tasks sampled over land."""
    out: dict[str, dict] = {}
    for task in tasks:
        if task.coverage != "land" or not config.continents or task.name not in config.transfer_tasks:
            continue
        try:
            continents = point_continents(task.lats, task.lons, config.data_dir)
        except DataUnavailableError as exc:
            result.skipped.append(f"transfer on {task.name}: {exc}")
            log(f"skipped transfer on {task.name}: {exc}")
            continue
        out[task.name] = {}
        for continent in config.continents:
            try:
                out[task.name][continent] = continent_splits(continents, continent, seeds)
            except EvaluationConfigError as exc:
                result.skipped.append(f"transfer {task.name}/{continent}: {exc}")
                log(f"skipped transfer {task.name}/{continent}: {exc}")
    return out


def _lists(metrics: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {k: [float(x) for x in v] for k, v in metrics.items()}


def _settings(config: BenchmarkConfig) -> dict:
    from ..core.version import __version__

    return {
        "seeds": config.seeds, "n_points": config.n_points, "splits": list(config.splits),
        "data_dir": str(config.data_dir) if config.data_dir else None,
        "continents": list(config.continents), "transfer_tasks": list(config.transfer_tasks), "few_shot": 0.01,
        "mlp": dataclasses.asdict(config.mlp), "linear": dataclasses.asdict(config.linear), "threads": config.threads,
        "grid": str(config.grid) if config.grid else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "satcle": __version__,
    }
