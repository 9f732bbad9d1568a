"""Deprecated location of `satcle.grid.format.store` (kept so that existing imports work)."""

from .format.store import *  # noqa: F401,F403
from .format.store import __all__  # noqa: F401
