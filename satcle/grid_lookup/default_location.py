"""Where `satcle.lookup` finds its grid when none is given: one function, one rule."""

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
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "satcle" / "grid"
