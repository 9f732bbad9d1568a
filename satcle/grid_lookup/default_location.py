"""Where the lookup layer keeps things on disk: defined once in `satcle.paths`,
named here too for modules that import them from the lookup layer."""

from ..paths import GRID_ENV, default_grid_dir, index_cache_dir

__all__ = ["GRID_ENV", "default_grid_dir", "index_cache_dir"]
