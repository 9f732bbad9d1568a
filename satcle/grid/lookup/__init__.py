"""Lookup layer: compiled interpolation over a precomputed grid (`grid`: `Grid`,
`open_grid`; `cell_index`: what the kernels search), with a
precision contract (`precision`: per-cell error bounds) and a live-encoder
fallback. `lookup` here is the function `satcle.lookup`.
"""

from __future__ import annotations

import os
from pathlib import Path

from numpy.typing import ArrayLike

from ...core.errors import GridNotFoundError
from ..format.store import MANIFEST_FILE
from ...core.paths import DEFAULT_GRID, GRID_ENV, default_grid_dir
from .grid import Grid, Source, open_grid
from .precision import interp_error, probe_points
from .shared_grids import recent_grid

__all__ = [
    "GRID_ENV", "Grid", "Source", "default_grid_dir", "grid_at",
    "interp_error", "lookup", "no_grid_advice", "open_grid", "probe_points",
]

#: What building the default grid costs (docs/GRID.md: 4.1 M cells, 5.4 GB with its lookup files, 339 s on 16 cores).
DEFAULT_GRID_COST = "~5.4 GB of disk, ~6 min on 16 cores"


def lookup(lats: ArrayLike, lons: ArrayLike | None = None, grid: Grid | str | os.PathLike | None = None,
           **options):
    """Embeddings of points (degrees) from a grid: `Grid.lookup` with its options.

    lats, lons: (N,) degrees; or `lats` alone as an (N, 2) array of (lat, lon),
    a two-column DataFrame or a GeoSeries of points (`core.coordinates.as_latlon`).
    grid: an opened `Grid`, a grid directory, or None for `default_grid_dir()`.
    A directory is opened once and kept while its manifest is unchanged
    (`grid_at`), so repeated calls do not reload it. Returns (N, D) float32
    (see `Grid.lookup`). Raises GridNotFoundError when there is no grid, saying
    what building one costs and the alternatives.
    """
    if not isinstance(grid, Grid):
        grid = grid_at(grid)
    return grid.lookup(lats, lons, **options)


def grid_at(path: str | os.PathLike | None = None) -> Grid:
    """The grid at `path` (None: `default_grid_dir()`), opened once and kept by the
    process's grid cache (`shared_grids.recent_grid`) while its manifest is
    unchanged: a rebuilt grid is opened again, not served stale."""
    directory = Path(path).expanduser() if path is not None else default_grid_dir()
    manifest = directory / MANIFEST_FILE
    try:
        stamp = manifest.stat().st_mtime_ns
    except OSError:
        raise GridNotFoundError(f"no grid at {directory}"
                                + ("" if path is not None else f" (the default grid; ${GRID_ENV} names another)")
                                + f": {no_grid_advice(directory)}") from None
    return recent_grid((str(directory.resolve()), stamp), lambda: open_grid(directory))


def no_grid_advice(directory: Path, *, model: str = DEFAULT_GRID.model) -> str:
    """What to do without a grid at `directory`: build it (and what that costs), pass
    grid=, or embed with the live encoder."""
    build = "satcle-grid build" + ("" if model == DEFAULT_GRID.model else f" --model {model}")
    return (f"build it with `{build}` (the default res-{DEFAULT_GRID.resolution} grid: {DEFAULT_GRID_COST}; "
            f"--res 5 is 7x smaller), pass grid=DIR of a grid you have, or compute embeddings live without "
            f"a grid: satcle.load_encoder({model!r}).encode(lats, lons)")
