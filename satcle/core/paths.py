"""Where satcle keeps things on disk: one cache root, and the grids under it.

Everything satcle writes on its own (grids built without ``--out``, the
land mask, prepared evaluation tasks) lives under `cache_dir()`,
so one variable moves it all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "SATCLE_CACHE"
GRID_ENV = "SATCLE_GRID"


@dataclass(frozen=True)
class GridSpec:
    """What names a built grid: model, H3 resolution, coverage, stored dtype.

    `GridSpec()` is the default grid: what ``satcle-grid build`` writes with no
    options and what ``satcle.lookup`` reads.
    """

    model: str = "default"
    resolution: int = 6
    coverage: str = "land"
    dtype: str = "float16"

    @property
    def name(self) -> str:
        """Directory name, ``<model>-r<res>-<coverage>-<dtype>``."""
        return f"{self.model}-r{self.resolution}-{self.coverage}-{self.dtype}"


DEFAULT_GRID = GridSpec()


def cache_dir() -> Path:
    """The cache root: ``$SATCLE_CACHE``, else ``$XDG_CACHE_HOME/satcle``, else
    ``~/.cache/satcle``. The directory need not exist."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "satcle"


def built_grid_dir(spec: GridSpec = DEFAULT_GRID) -> Path:
    """Where ``satcle-grid build`` writes a grid when no ``--out`` is given:
    ``cache_dir()/grids/<model>-r<res>-<coverage>-<dtype>``."""
    return cache_dir() / "grids" / spec.name


def default_grid_dir() -> Path:
    """The grid `satcle.lookup` reads when given none: ``$SATCLE_GRID`` if set,
    else ``built_grid_dir(DEFAULT_GRID)``, which ``satcle-grid build`` fills
    with its default options. The directory need not exist."""
    configured = os.environ.get(GRID_ENV)
    if configured:
        return Path(configured).expanduser()
    return built_grid_dir(DEFAULT_GRID)


def evaluation_cache_dir() -> Path:
    """Where prepared evaluation tasks are kept: ``cache_dir()/eval``."""
    return cache_dir() / "eval"
