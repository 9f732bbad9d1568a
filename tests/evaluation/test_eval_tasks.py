import numpy as np
import pytest

from satcle.core.errors import DataUnavailableError, EvaluationConfigError
from satcle.evaluation import geography, tasks
from satcle.evaluation.transfer import continent_splits, point_continents


def test_country_labels_are_the_real_countries():
    codes = geography.nearest_place_codes(
        geography.geocoder_places(), np.array([48.8566, 39.9, -33.92, -1.29]), np.array([2.3522, 116.4, 18.42, 36.82])
    )
    assert list(codes) == ["FR", "CN", "ZA", "KE"]


def test_countries_task_samples_land_and_labels_every_point(cache):
    task = tasks.load_task("countries", 300)
    assert task.kind == "classification" and task.coverage == "land"
    assert geography.is_land(task.lats, task.lons).all()
    assert task.y.min() >= 0 and task.y.max() < len(task.classes)
    assert {"RU", "AQ"} & set(task.classes)  # the largest land areas are sampled


def test_land_ocean_is_uniform_on_the_sphere_and_matches_the_mask(cache):
    task = tasks.load_task("land_ocean", 2000)
    np.testing.assert_array_equal(task.y, geography.is_land(task.lats, task.lons))
    assert 0.2 < task.y.mean() < 0.4  # land is ~29 % of the sphere
    assert abs(np.sin(np.radians(task.lats)).mean()) < 0.1  # equal-area: sin(lat) uniform


def test_population_is_high_in_cities_and_zero_in_empty_land():
    places = geography.geonames_cities()
    people = geography.weight_within(places, np.array([48.8566, -80.0]), np.array([2.3522, 0.0]), radius_km=50.0)
    assert people[0] > 2e6 and people[1] == 0.0


def test_prepared_tasks_are_cached_and_a_corrupt_cache_is_rebuilt(cache, monkeypatch):
    first = tasks.load_task("land_ocean", 100, seed=3)
    files = list(cache.glob("land_ocean-*.npz"))
    assert len(files) == 1 and not list(cache.glob(".*"))  # no temporary left behind

    def fail(n, seed, data_dir):
        raise AssertionError("recomputed although cached")

    monkeypatch.setitem(tasks.TASKS, "land_ocean", fail)
    again = tasks.load_task("land_ocean", 100, seed=3)
    np.testing.assert_array_equal(first.lats, again.lats)
    assert again.classes == ("ocean", "land") and again.kind == first.kind
    files[0].write_bytes(b"not an npz")
    monkeypatch.undo()
    monkeypatch.setenv("SATCLE_CACHE", str(cache.parent))
    np.testing.assert_array_equal(tasks.load_task("land_ocean", 100, seed=3).y, first.y)


def test_unavailable_and_unknown_tasks_are_clear_errors(cache, tmp_path):
    with pytest.raises(DataUnavailableError, match="data folder"):
        tasks.load_task("elevation", 100)
    with pytest.raises(DataUnavailableError, match="etopo20data.gz not found"):
        tasks.load_task("elevation", 100, data_dir=tmp_path)
    with pytest.raises(EvaluationConfigError, match="unknown task"):
        tasks.load_task("carbon", 100)
    with pytest.raises(DataUnavailableError, match="not installed"):
        geography._import("satcle_no_such_module", "no-such-package")


def test_continents_and_few_shot_transfer_splits():
    continents = point_continents(np.array([-1.29, -33.87, 48.85, 40.7]), np.array([36.82, 151.2, 2.35, -74.0]))
    assert list(continents) == ["AF", "OC", "EU", "NA"]
    labels = np.array(["AF"] * 300 + ["EU"] * 700, dtype=object)
    for split in continent_splits(labels, "AF", [0, 1]):
        assert split.test.size == 297 and (labels[split.test] == "AF").all()
        assert (labels[split.train] == "AF").sum() == 3  # 1 % few-shot
        assert (labels[split.val] == "EU").all()
        assert not set(split.test) & set(split.train)
    with pytest.raises(EvaluationConfigError, match="too few"):
        continent_splits(labels, "OC", [0])
