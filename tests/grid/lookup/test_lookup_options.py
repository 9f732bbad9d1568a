"""Every option of the lookup that reaches compiled code is refused at the door.

The dangerous thread counts (-2, 2**31 - 1, 100000) abort or crash the process
inside libgomp, so they are never run: the kernels are replaced by functions
that fail the test if reached, and the error must come first.
"""

import importlib
import subprocess
import sys

import numpy as np
import pytest

import satcle
from satcle import open_grid
from satcle.core.errors import InvalidArgumentError
from satcle.grid.lookup import grid as grid_module
from satcle.core.threads import MAX_THREADS

sh_module = importlib.import_module("satcle.model.spherical_harmonics")
encoder_module = importlib.import_module("satcle.model.location_encoder")
DIM = 8
BAD_THREADS = [-2, -(2**31), 2**31 - 1, 100_000, MAX_THREADS + 1, 1.5, "4", True]


@pytest.fixture(scope="module")
def encoder(tiny_grid):
    return tiny_grid[1]


@pytest.fixture(scope="module")
def grid_dir(tiny_grid):
    return tiny_grid[0]


@pytest.fixture(scope="module")
def grid(grid_dir, encoder):
    return open_grid(grid_dir, encoder=encoder)


@pytest.fixture
def no_kernels(monkeypatch):
    """Replace every compiled kernel the lookup and the SH basis call by a failure."""
    def reached(*args, **kwargs):
        raise AssertionError("a kernel ran with options that should have been refused")

    for name in ("locate", "gather_blend", "spatial_sort"):
        monkeypatch.setattr(grid_module, name, reached)
    monkeypatch.setattr(sh_module, "fill_real_sh", reached)
    monkeypatch.setattr(encoder_module, "fill_real_sh", reached)


@pytest.mark.parametrize("num_threads", BAD_THREADS)
def test_bad_num_threads_is_refused_before_any_kernel(grid, no_kernels, num_threads):
    lats, lons = np.zeros(3), np.zeros(3)
    for call in (lambda: grid.lookup(lats, lons, num_threads=num_threads),
                 lambda: grid.lookup([], [], num_threads=num_threads),
                 lambda: grid.locate(lats, lons, num_threads=num_threads),
                 lambda: grid.locate_cells(lats, lons, method="cell", num_threads=num_threads,
                                           out=np.empty((3, DIM), np.float32)),
                 lambda: sh_module.spherical_harmonics(lats, lons, 3, num_threads=num_threads)):
        with pytest.raises(InvalidArgumentError, match=rf"num_threads must be .*1\.\.{MAX_THREADS}"):
            call()


@pytest.mark.parametrize("options, message", [
    ({"method": "nearest"}, "method must be one of"),
    ({"method": ["cell"]}, "method must be one of"),
    ({"on_miss": "skip"}, "on_miss must be one of"),
    ({"on_miss": None}, "on_miss must be one of"),
    ({"tolerance": "0.1"}, "tolerance must be a finite number"),
    ({"tolerance": float("nan")}, "tolerance must be a finite number"),
    ({"tolerance": -1.0}, "tolerance must be a finite number"),
    ({"tolerance": True}, "tolerance must be a finite number"),
    ({"out": np.empty((3, DIM), np.float64)}, r"out must be .* float32 .* shape \(3, 8\), got float64"),
    ({"out": np.empty((4, DIM), np.float32)}, r"got float32 array of shape \(4, 8\)"),
    ({"out": np.empty((DIM, 3), np.float32).T}, "not C-contiguous"),
    ({"out": np.zeros((3, DIM), np.float32).tolist()}, "got list"),
    ({"dtype": np.float64}, "dtype must be np.float32 or np.float16, got"),
    ({"dtype": "int8"}, "dtype must be np.float32 or np.float16, got 'int8'"),
    ({"dtype": "half-ish"}, "dtype must be np.float32 or np.float16"),
    ({"dtype": True}, "dtype must be np.float32 or np.float16"),
    ({"dtype": np.float32, "out": np.empty((3, DIM), np.float16)}, r"out must be .* float32 .*got float16"),
    ({"dtype": np.float16, "out": np.empty((3, DIM), np.float32)}, r"out must be .* float16 .*got float32"),
])
def test_bad_options_are_refused_before_any_kernel(grid, no_kernels, options, message):
    with pytest.raises(InvalidArgumentError, match=message):
        grid.lookup(np.zeros(3), np.zeros(3), **options)


def test_read_only_out_is_refused(grid, no_kernels):
    out = np.empty((3, DIM), np.float32)
    out.flags.writeable = False
    with pytest.raises(InvalidArgumentError, match="read-only"):
        grid.lookup(np.zeros(3), np.zeros(3), out=out)


def test_encode_batch_size_is_checked(encoder, no_kernels):
    for bad in (0, -5, 1.5, "10", None, True):
        with pytest.raises(InvalidArgumentError, match="batch_size must be an integer >= 1"):
            encoder.encode([0.0], [0.0], batch_size=bad)


def test_encode_caps_torch_thread_count(encoder, monkeypatch):
    seen = []
    monkeypatch.setattr(encoder_module.torch, "get_num_threads", lambda: 100_000)   # torch accepts it
    monkeypatch.setattr(encoder_module, "fill_real_sh", lambda *args: seen.append(args[-1]))
    encoder.encode([0.0], [0.0])
    assert seen == [MAX_THREADS]


def test_minus_one_means_all_cores_and_runs(grid):
    # -1 reaches the kernels as 0 (all cores): the same rows as the default.
    lats, lons = np.linspace(-80, 80, 50), np.linspace(-170, 170, 50)
    np.testing.assert_array_equal(grid.lookup(lats, lons, num_threads=-1), grid.lookup(lats, lons))
    np.testing.assert_array_equal(sh_module.spherical_harmonics(lats, lons, 3, num_threads=-1),
                                  sh_module.spherical_harmonics(lats, lons, 3))


@pytest.mark.parametrize("options, message", [
    ({"num_threads": -2}, "num_threads must be"),
    ({"num_threads": 100_000}, "num_threads must be"),
    ({"method": "nearest"}, "method must be one of"),
    ({"num_thread": 4}, r"unknown lookup option\(s\) \['num_thread'\]"),
    ({"out": None}, r"unknown lookup option\(s\) \['out'\]"),
])
def test_connect_checks_options_when_called(grid_dir, monkeypatch, options, message):
    def no_grid(*args, **kwargs):
        raise AssertionError("the grid was loaded before grid-independent options were checked")

    monkeypatch.setattr("satcle.grid.sql.open_grid", no_grid)
    with pytest.raises(InvalidArgumentError, match=message):
        satcle.connect(grid_dir, **options)


def test_connect_checks_grid_dependent_options_when_called(grid_dir):
    with pytest.raises(satcle.core.errors.GridFormatError, match="interp_error"):
        satcle.connect(grid_dir, tolerance=0.1)


def test_dangerous_thread_counts_do_not_kill_a_process(grid_dir):
    # In a child process, so that a regression aborts the child, not the test run.
    script = f"""
import numpy as np, torch, satcle
from satcle import EncoderConfig, LocationEncoder
torch.manual_seed(3)
encoder = LocationEncoder(EncoderConfig(legendre_degree=3, hidden_dim=16, output_dim={DIM}))
grid = satcle.open_grid({str(grid_dir)!r}, encoder=encoder)
for bad in (-2, 2**31 - 1, 100000):
    try:
        grid.lookup(np.zeros(4), np.zeros(4), num_threads=bad)
    except ValueError as exc:
        print("refused", bad)
    try:
        satcle.connect({str(grid_dir)!r}, num_threads=bad)
    except ValueError as exc:
        print("refused", bad)
con = satcle.connect({str(grid_dir)!r}, num_threads=-1, method="cell")
print("rows", con.sql("SELECT satcle_embedding(10.0, 20.0) IS NOT NULL").fetchall())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused") == 6 and "rows [(True,)]" in done.stdout
