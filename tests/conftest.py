import os
from pathlib import Path

import numpy as np
import pytest

from support import write_s2_folder

# With SATCLE_REQUIRE_DATA=1 a test whose data folder is missing fails instead of skipping:
# set it wherever the evaluation data exists (docs/EVALUATION.md, "Data").
REQUIRE_DATA = "SATCLE_REQUIRE_DATA"
_missing_data: list[str] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_data(folder, what): reads a data folder that may be absent")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_data"):
        folder = mark.kwargs["folder"]
        if folder is not None and Path(folder).is_dir():
            continue
        message = (f"{mark.kwargs['what']} not found ({folder or 'no data folder'}): set SATCLE_EVAL_DATA "
                   "to the evaluation data folder (docs/EVALUATION.md)")
        if os.environ.get(REQUIRE_DATA) == "1":
            pytest.fail(f"{message}; {REQUIRE_DATA}=1 makes a missing data folder a failure")
        _missing_data.append(item.nodeid)
        pytest.skip(message)


def pytest_terminal_summary(terminalreporter):
    if _missing_data:
        terminalreporter.write_line(
            f"satcle: {len(_missing_data)} test(s) did not run because their data folder is missing; "
            f"set SATCLE_EVAL_DATA and {REQUIRE_DATA}=1 to run them (docs/EVALUATION.md)", yellow=True)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def sphere_points():
    """`sphere_points(rng, n)`: (lats, lons) degrees, n points uniform on the sphere
    plus the poles and both sides of the antimeridian (8 more)."""
    return _sphere_points


def _sphere_points(rng, n):
    z = rng.uniform(-1.0, 1.0, n)
    lats = np.degrees(np.arcsin(z))
    lons = rng.uniform(-180.0, 180.0, n)
    extra_lat = np.array([90.0, -90.0, 0.0, 0.0, 45.0, -45.0, 89.9999, -89.9999])
    extra_lon = np.array([0.0, 123.0, 180.0, -180.0, 179.9999, -179.9999, 180.0, -180.0])
    return np.concatenate([lats, extra_lat]), np.concatenate([lons, extra_lon])


@pytest.fixture
def s2_folder(tmp_path):
    """An S2-100K-layout folder of three images under tmp_path (`write_s2_folder`)."""
    write_s2_folder(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory):
    """(grid directory, encoder): every resolution-0 cell, no error bound, from a seeded
    L = 3, 16-wide, 8-d encoder named "test" - cheap to build, for option and error tests."""
    import torch

    from build_grid.engine import write_cells
    from satcle import EncoderConfig, LocationEncoder
    from satcle.geo.h3_cells import cells_at_resolution

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        encoder = LocationEncoder(EncoderConfig(legendre_degree=3, hidden_dim=16, output_dim=8))
    encoder.metadata.update(name="test", sha256="0" * 64)
    path = write_cells(tmp_path_factory.mktemp("tiny"), encoder, cells_at_resolution(0), error_bound=False)
    return path, encoder
