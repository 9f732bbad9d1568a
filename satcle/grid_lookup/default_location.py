"""Where the lookup layer keeps things on disk: the default grid, the index cache."""

from __future__ import annotations

import os
from pathlib import Path

GRID_ENV = "SATCLE_GRID"


def default_grid_dir() -> Path:
    """The default grid directory.

    `$SATCLE_GRID` if set, else ``$XDG_CACHE_HOME/satcle/grid`` (``~/.cache/satcle/grid``
    when XDG_CACHE_HOME is unset). The directory need not exist.
    """
    configured = os.environ.get(GRID_ENV)
    if configured:
        return Path(configured).expanduser()
    return _cache_root() / "grid"


def index_cache_dir() -> Path:
    """Where built cell indexes are cached: ``$XDG_CACHE_HOME/satcle/index``
    (``~/.cache/satcle/index`` when XDG_CACHE_HOME is unset)."""
    return _cache_root() / "index"


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "satcle"
