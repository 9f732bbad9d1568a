"""Shared by the lookup benchmarks: random land points, a grid covering them, best-of timing.

Benchmark grids are written by the builder's in-process entry point
(`build_grid.engine.write_cells`), restricted to the cells the sample points
fall in plus their H3 neighbours, so that a resolution-6 grid is built in
minutes; lookups on it touch exactly the rows a full land grid would.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import h3.api.basic_int as h3i
import numpy as np

from build_grid.engine import write_cells


def cells_around(lats: np.ndarray, lons: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """(containing cells, containing cells and their neighbours), sorted uint64."""
    containing = np.unique(np.fromiter((h3i.latlng_to_cell(a, b, res) for a, b in zip(lats, lons)),
                                       dtype=np.uint64, count=lats.size))
    disk = np.unique(np.fromiter((c for cell in containing.tolist() for c in h3i.grid_disk(cell, 1)),
                                 dtype=np.uint64))
    return containing, disk


def write_grid_around(directory: Path, encoder, lats, lons, res: int, **options) -> Path:
    """A grid of the cells around the points (see module docstring)."""
    return write_cells(directory, encoder, cells_around(lats, lons, res)[1], coverage="land", **options)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """--model and --dtype, shared by the lookup benchmarks."""
    parser.add_argument("--model", default="default", help="model name or directory (default: default)")
    parser.add_argument("--dtype", default="float16", choices=["float16", "int8", "float32"], help="stored dtype")


def model_and_points(args: argparse.Namespace):
    """(encoder, rng, lats, lons): the benchmark's model and its random land points."""
    from satcle import load_encoder
    from satcle.geo import sample_land

    encoder = load_encoder(args.model)
    rng = np.random.default_rng(0)
    lats, lons = sample_land(args.points, rng)
    return encoder, rng, lats, lons


def best_of(repeats: int, fn) -> float:
    """The shortest of `repeats` wall-clock timings of fn(), seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def grid_path(text: str) -> Path:
    """A benchmark's --grid argument: a grid directory, or "default" for the grid
    `satcle.lookup` reads (the one `satcle-grid build` writes with its default options)."""
    from satcle.core.paths import default_grid_dir

    return default_grid_dir() if text == "default" else Path(text)
