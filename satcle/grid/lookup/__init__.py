"""Lookup layer: compiled interpolation over a precomputed grid (`grid`: `Grid`,
`open_grid`; `cell_index`: what the kernels search), with a
precision contract (`precision`: per-cell error bounds) and a live-encoder
fallback. `lookup` here is the function `satcle.lookup`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from numpy.typing import ArrayLike

from ...core.errors import GridNotFoundError
from ..format.store import MANIFEST_FILE
from ...core.paths import GRID_ENV, default_grid_dir
from .grid import Grid, Source, open_grid
from .precision import interp_error, probe_points

__all__ = [
    "GRID_ENV", "Grid", "Source", "default_grid_dir", "interp_error", "lookup", "open_grid", "probe_points",
]


def lookup(lats: ArrayLike, lons: ArrayLike, grid: Grid | str | os.PathLike | None = None, **options):
    """Embeddings of points (degrees) from a grid: `Grid.lookup` with its options.

    grid: an opened `Grid`, a grid directory, or None for `default_grid_dir()`.
    A directory is opened once and kept while its manifest is unchanged, so
    repeated calls do not reload it. Returns (N, D) float32 (see `Grid.lookup`).
    """
    if not isinstance(grid, Grid):
        path = Path(grid) if grid is not None else default_grid_dir()
        manifest = path / MANIFEST_FILE
        if not manifest.is_file():
            where = f"{path}" if grid is not None else f"{path} (set ${GRID_ENV} to use another)"
            raise GridNotFoundError(f"no grid at {where}: build one with `satcle-grid build`")
        grid = _open_cached(str(path.resolve()), manifest.stat().st_mtime_ns)
    return grid.lookup(lats, lons, **options)


@functools.lru_cache(maxsize=2)
def _open_cached(path: str, manifest_mtime_ns: int) -> Grid:
    # The mtime is part of the key: a rebuilt grid is reopened, not served stale.
    return open_grid(path)
