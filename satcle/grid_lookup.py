"""Deprecated: the lookup layer is `satcle.grid.lookup`, its SQL function `satcle.grid.sql`.

Kept so that ``from satcle.grid_lookup import ...`` of the public names still works.
"""

from .grid.lookup import (  # noqa: F401
    GRID_ENV,
    Grid,
    Source,
    default_grid_dir,
    index_cache_dir,
    interp_error,
    lookup,
    open_grid,
    probe_points,
)
from .grid.sql import embedding_function, register_embedding_function  # noqa: F401

__all__ = [
    "GRID_ENV", "Grid", "Source", "default_grid_dir", "embedding_function", "index_cache_dir", "interp_error", "lookup",
    "open_grid", "probe_points", "register_embedding_function",
]
