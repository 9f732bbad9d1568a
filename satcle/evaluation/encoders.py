"""The encoders the benchmark compares, by name.

Every encoder is a callable ``(lats, lons) -> (N, D) float32`` (degrees in):

* each shipped satcle model (`satcle.available_models()`), run live;
* ``<model>+grid-interp`` and ``<model>+grid-cell``: the same model read from a
  precomputed grid through ``satcle.open_grid(DIR).lookup`` (only with a grid);
* ``geoclip``: GeoCLIP's pretrained location encoder with the weights shipped in
  the `geoclip` package (no download), run by satcle's `GeoClipEncoder`;
* ``untrained``: the `default` model's architecture with a seeded random
  initialisation (Siren's, as in training): what pretraining must beat;
* ``identity``: the raw coordinates, the papers' location-only baseline;
* ``sh`` and ``sh-l40``: the spherical-harmonic features alone (L = 10, 100
  features; L = 40, 1,600 features), i.e. SatCLE's input without the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.coordinates import as_latlon
from ..core.errors import EncoderUnavailableError, EvaluationConfigError, ModelNotFoundError, SatcleError

EncodeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
GRID_METHODS = ("interp", "cell")
SH_DEGREE = 10
#: Seed of the `untrained` baseline's initialisation.
UNTRAINED_SEED = 0


@dataclass(frozen=True)
class EncoderSpec:
    """A named encoder: `load()` returns the encode function or raises EncoderUnavailableError."""

    name: str
    description: str
    load: Callable[[], EncodeFn]


def encoder_specs(grid: Path | None = None, model_dirs: tuple[str, ...] = ()) -> dict[str, EncoderSpec]:
    """All encoders known here, in report order; grid rows only when `grid` is given.

    model_dirs: names that are model directories (a training run's OUT/model, or one
    written by `satcle import`, of any kind and width): each becomes an encoder of
    its own, run live, so a new model can be compared with the shipped ones.
    """
    from ..model import available_models

    specs: dict[str, EncoderSpec] = {}
    for directory in model_dirs:
        if (Path(directory) / "config.json").is_file():
            specs[directory] = EncoderSpec(directory, f"model directory {directory}, live network",
                                           lambda d=directory: _satcle_model(d))
    models = available_models()
    grid_model = _grid_model_name(grid) if grid is not None else None
    for model in models:
        specs[model] = EncoderSpec(model, f"satcle model '{model}', live network", lambda m=model: _satcle_model(m))
        if model == grid_model:
            for method in GRID_METHODS:
                name = f"{model}+grid-{method}"
                specs[name] = EncoderSpec(
                    name, f"'{model}' through grid lookup (method={method})",
                    lambda m=method: grid_lookup_fn(grid, m),
                )
    specs["untrained"] = EncoderSpec(
        "untrained", f"the 'default' architecture, random initialisation (seed {UNTRAINED_SEED}), never trained",
        _untrained,
    )
    specs["geoclip"] = EncoderSpec("geoclip", "GeoCLIP location encoder (MP-16 Flickr photos), 512-d", _geoclip)
    specs["identity"] = EncoderSpec("identity", "raw (lat, lon) in degrees", lambda: _identity)
    for degree, name in ((SH_DEGREE, "sh"), (40, "sh-l40")):
        specs[name] = EncoderSpec(
            name, f"spherical harmonics alone, L = {degree} ({degree**2} features)", lambda d=degree: _sh(d)
        )
    return specs


def load_encoder_fn(name: str, grid: Path | None = None) -> EncodeFn:
    """The encode function of encoder `name`.

    Raises EvaluationConfigError for an unknown name, EncoderUnavailableError when
    it cannot run here (package missing, grid missing or unreadable).
    """
    specs = encoder_specs(grid, (name,))
    if name not in specs:
        hint = " (grid rows need --grid DIR of a grid built from that model)" if "+grid-" in name else ""
        raise EvaluationConfigError(f"unknown encoder {name!r}{hint}; known: {', '.join(specs)}")
    return specs[name].load()


def _identity(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    lat, lon = as_latlon(lats, lons)
    return np.stack([lat, lon], axis=1).astype(np.float32)


def _sh(degree: int) -> EncodeFn:
    from ..model import spherical_harmonics

    def encode(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
        return spherical_harmonics(lats, lons, degree).astype(np.float32)

    return encode


def _satcle_model(name: str) -> EncodeFn:
    from ..model import load_encoder

    return load_encoder(name).encode


def _untrained() -> EncodeFn:
    import torch

    from ..model import LocationEncoder, load_encoder

    config = load_encoder("default").config
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(UNTRAINED_SEED)
        encoder = LocationEncoder(config).eval()
    return encoder.encode


def _grid_model_name(grid: Path) -> str:
    from ..grid.format.store import read_manifest

    try:
        return read_manifest(grid).model_name
    except SatcleError as exc:
        raise EncoderUnavailableError(f"grid rows skipped: {exc}") from None


def grid_lookup_fn(grid: Path, method: str) -> EncodeFn:
    """Encode function reading a precomputed grid: method "interp" or "cell" of `satcle.open_grid(grid).lookup`."""
    from ..grid.lookup import open_grid

    store = open_grid(grid)

    def encode(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
        return np.asarray(store.lookup(lats, lons, method=method), dtype=np.float32)

    return encode


def _geoclip() -> EncodeFn:
    """GeoCLIP's released location encoder, run natively (`satcle.model.GeoClipEncoder`) from the
    weights of the installed geoclip package: the one GeoCLIP implementation, the same as
    `satcle import geoclip` writes; geoclip itself is never imported."""
    from ..model.geoclip_import import geoclip_encoder

    try:
        return geoclip_encoder().encode
    except ModelNotFoundError as exc:
        raise EncoderUnavailableError(
            f"geoclip skipped: {exc} (setup: pip install --no-deps geoclip==1.3.0, docs/EVALUATION.md)"
        ) from None
