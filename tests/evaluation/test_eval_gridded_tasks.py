"""The gridded tasks read real data: values checked at named places.

They need the evaluation data folder ($SATCLE_EVAL_DATA, or ../shared/data from the
working directory); without it they skip with a message, or fail with SATCLE_REQUIRE_DATA=1.
"""

import numpy as np
import pytest

from satcle.core.errors import DataUnavailableError
from satcle.evaluation import polygons, rasters, tasks
from satcle.evaluation.transfer import point_continents

from support import needs_data as conftest_needs_data

DATA = tasks.default_data_dir()
needs_data = conftest_needs_data(DATA and DATA / "etopo20", "the evaluation data folder")

# name: (lat, lon)
PLACES = {
    "everest": (27.99, 86.93), "tibet": (32.0, 90.0), "dead_sea": (31.5, 35.5), "sahara": (23.0, 12.0),
    "amazon": (-3.0, -60.0), "paris": (48.85, 2.35), "dhaka": (23.81, 90.41), "atlantic": (0.0, -30.0),
    "siberia": (66.0, 120.0), "cherrapunji": (25.27, 91.73),
}


def _at(*names):
    return np.array([PLACES[n][0] for n in names]), np.array([PLACES[n][1] for n in names])


@needs_data
def test_elevation_is_high_in_the_himalaya_and_below_sea_level_at_the_dead_sea_and_the_ocean():
    raster = rasters.etopo_elevation(DATA)
    height = rasters.sample(raster, *_at("everest", "tibet", "dead_sea", "paris", "atlantic"), rasters.BILINEAR)
    assert height[0] > 4500 and height[1] > 4000  # 20' cells smooth the summit (~5,400 m)
    assert height[2] < 0 and 0 < height[3] < 300 and height[4] < -3000


@needs_data
def test_precipitation_is_low_in_the_sahara_and_high_in_the_amazon_and_assam():
    temperature, precipitation = rasters.biome4_climate(DATA)
    rain = rasters.sample(precipitation, *_at("sahara", "amazon", "cherrapunji", "paris"))
    assert rain[0] < 100 and rain[1] > 1800 and rain[2] > 2000 and 400 < rain[3] < 1000
    heat = rasters.sample(temperature, *_at("sahara", "amazon", "siberia", "atlantic"))
    assert heat[0] > 20 and heat[1] > 24 and heat[2] < -5 and np.isnan(heat[3])  # no value at sea


@needs_data
def test_population_density_of_a_megacity_far_exceeds_a_desert():
    density = rasters.sample(rasters.gpw_population_density(DATA), *_at("dhaka", "paris", "sahara", "atlantic"))
    assert density[0] > 1000 * density[2] and density[1] > 1000 and density[2] < 1 and np.isnan(density[3])


@needs_data
def test_biomes_and_continents_by_point_in_polygon():
    names = polygons.biome_names(DATA, *_at("amazon", "sahara", "paris", "tibet", "atlantic"))
    assert list(names) == [
        "Tropical & Subtropical Moist Broadleaf Forests", "Deserts & Xeric Shrublands",
        "Temperate Broadleaf & Mixed Forests", "Montane Grasslands & Shrublands", "",
    ]
    lats, lons = _at("amazon", "sahara", "paris", "dhaka")
    assert list(polygons.continent_codes(DATA, lats, lons)) == ["SA", "AF", "EU", "AS"]
    # A coastal point outside the coarse polygons still gets a continent (nearest place).
    assert list(point_continents(np.array([-33.87]), np.array([151.21]), DATA)) == ["OC"]


@needs_data
def test_gridded_tasks_drop_points_without_a_value_and_count_them(cache):
    task = tasks.load_task("temperature", 400, data_dir=DATA)
    assert task.kind == "regression" and task.dropped > 0 and task.lats.size + task.dropped == 400
    assert np.isfinite(task.y).all() and -60 < task.y.min() and task.y.max() < 35
    biome = tasks.load_task("biome", 400, data_dir=DATA)
    assert biome.kind == "classification" and biome.lats.size + biome.dropped == 400
    assert "Tundra" in biome.classes and biome.y.max() < len(biome.classes)
    again = tasks.load_task("biome", 400, data_dir=DATA)  # from the cache, same dropped count
    assert again.dropped == biome.dropped and again.classes == biome.classes


def test_bilinear_sampling_interpolates_between_centres_and_wraps_in_longitude():
    raster = rasters.Raster(np.array([[0.0, 10.0, 20.0, 30.0], [40.0, 50.0, 60.0, 70.0]]), north=90.0,
                            west=-180.0, cell=90.0)
    # Centres at lat 45 / -45 and lon -135, -45, 45, 135.
    values = rasters.sample(raster, np.array([45.0, 0.0, 45.0]), np.array([-90.0, -135.0, 180.0]), rasters.BILINEAR)
    np.testing.assert_allclose(values, [5.0, 20.0, 15.0])  # halfway; between rows; across the antimeridian
    nearest = rasters.sample(raster, np.array([89.0, -89.0]), np.array([-179.0, 179.9]))
    np.testing.assert_array_equal(nearest, [0.0, 70.0])
    with pytest.raises(DataUnavailableError, match="not found"):
        rasters.etopo_elevation(DATA.parent / "no-such-folder" if DATA else __import__("pathlib").Path("/nonexistent"))
