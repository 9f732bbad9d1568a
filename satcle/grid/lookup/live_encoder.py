"""The live encoder behind a grid's fallbacks: the one given, else the grid's own
model (`load_matching_encoder`: the directory it was built from, else its name, with
the manifest's sha256), loaded once and shared by the grid and its pyramid's levels
(`SharedEncoder`)."""

from __future__ import annotations

import threading
from pathlib import Path

from ...core.errors import GridFormatError, ModelNotFoundError
from ...model import LocationEncoder, load_encoder
from ..format.store import Manifest


class SharedEncoder:
    """The live encoder of a grid and of its pyramid's levels: the one given, else
    the manifest's model, loaded on first use (once, whichever thread asks first)."""

    def __init__(self, manifest: Manifest | None, encoder: LocationEncoder | None = None):
        self._manifest = manifest
        self._encoder = encoder
        self._lock = threading.Lock()

    def get(self) -> LocationEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = load_matching_encoder(self._manifest)
            return self._encoder


def load_matching_encoder(manifest: Manifest | None) -> LocationEncoder:
    """The grid's model: from the directory it was built from (a model not shipped with satcle),
    else by its name; either must have the manifest's sha256."""
    if manifest is None:
        raise GridFormatError("this grid has no manifest naming its model: pass encoder= for live fallbacks")
    sources = [manifest.model_path] if manifest.model_path and Path(manifest.model_path).is_dir() else []
    encoder = None
    for source in sources + [manifest.model_name]:
        try:
            encoder = load_encoder(source)
        except ModelNotFoundError:
            continue
        if encoder.metadata.get("sha256") == manifest.model_sha256:
            return encoder
    if encoder is None:
        where = f" nor at {manifest.model_path}" if manifest.model_path else ""
        raise ModelNotFoundError(
            f"the grid's model {manifest.model_name!r} is neither a shipped model{where}: pass "
            f"encoder=satcle.load_encoder(MODEL_DIR) for live fallbacks")
    raise GridFormatError(
        f"the grid was built with model {manifest.model_name!r} sha256 {manifest.model_sha256[:12]}..., "
        f"but the installed one is {str(encoder.metadata.get('sha256'))[:12]}...: pass encoder= or rebuild")
