"""Where derived data (tiles, features) is cached: never inside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The satcle cache directory: $SATCLE_CACHE, else $XDG_CACHE_HOME/satcle, else ~/.cache/satcle.

    Created on first use.
    """
    env = os.environ.get("SATCLE_CACHE")
    if env:
        root = Path(env)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "satcle"
    root.mkdir(parents=True, exist_ok=True)
    return root
