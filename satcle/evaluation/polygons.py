"""Point-in-polygon labels from GeoJSON layers: RESOLVE biomes, Natural Earth continents.

Polygons are read with the standard library's JSON parser and queried with
shapely's STRtree (a well-kept GEOS binding). Coordinates are CRS84 lon/lat
degrees; points are tested in that plane, which is what the layers are drawn in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core._optional import require
from ..core.errors import DataUnavailableError

BIOMES_FILE = "resolve-biomes/eco_biomes.geojson"
CONTINENTS_FILE = "resolve-biomes/ne_continents.geojson"
#: Natural Earth continent names -> the GeoNames codes the transfer study uses.
CONTINENT_CODES = {
    "Africa": "AF", "Antarctica": "AN", "Asia": "AS", "Europe": "EU",
    "North America": "NA", "Oceania": "OC", "South America": "SA",
}


def label_points(path: Path, prop: str, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) object array: property `prop` of the polygon containing each point, '' where none does.

    path: a GeoJSON FeatureCollection of (multi)polygons; lats, lons: (N,) degrees.
    Where polygons overlap (simplified borders), the first feature in file order wins.
    """
    shapely = require("shapely", "shapely", "eval")
    if not Path(path).is_file():
        raise DataUnavailableError(f"{path} not found (give --data-dir, the folder holding resolve-biomes/)")
    try:
        features = json.loads(Path(path).read_text())["features"]
        geometries = [shapely.geometry.shape(f["geometry"]) for f in features]
        names = np.asarray([f["properties"][prop] for f in features], dtype=object)
    except (OSError, ValueError, KeyError, TypeError, shapely.errors.GEOSException) as exc:
        raise DataUnavailableError(f"{path} cannot be read as GeoJSON polygons with property {prop!r}: {exc}") from None
    tree = shapely.STRtree(geometries)
    points = shapely.points(np.asarray(lons, dtype=np.float64), np.asarray(lats, dtype=np.float64))
    point_index, geometry_index = tree.query(points, predicate="within")
    labels = np.full(len(points), "", dtype=object)
    # Assign in reverse file order so that the first containing feature is the one kept.
    order = np.lexsort((-geometry_index, point_index))
    labels[point_index[order]] = names[geometry_index[order]]
    return labels


def biome_names(data_dir: Path, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) RESOLVE 2017 biome name of each point, '' outside every biome (water, rock and ice)."""
    return label_points(Path(data_dir) / BIOMES_FILE, "BIOME_NAME", lats, lons)


def continent_codes(data_dir: Path, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) GeoNames continent code (AF AN AS EU NA OC SA) of each point by Natural Earth 1:110m, '' if none."""
    names = label_points(Path(data_dir) / CONTINENTS_FILE, "continent", lats, lons)
    return np.asarray([CONTINENT_CODES.get(name, "") for name in names], dtype=object)
