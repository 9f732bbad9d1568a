"""Optional packages: imported where a feature needs them, one error when absent."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from .errors import MissingPackageError


def require(module: str, package: str, extra: str) -> ModuleType:
    """Import `module`, or raise MissingPackageError naming the PyPI `package` and
    the satcle `extra` that installs it (``pip install 'satcle[extra]'``)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingPackageError(_message(package, extra)) from None


def package_dir(module: str, package: str, extra: str) -> Path:
    """The directory of installed `module`, found without importing it (some
    packages do seconds of work on import); MissingPackageError as `require`."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:   # a parent package of a dotted name is missing
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(_message(package, extra))
    return Path(next(iter(spec.submodule_search_locations)))


def _message(package: str, extra: str) -> str:
    return f"package '{package}' is not installed (pip install 'satcle[{extra}]' or {package})"
