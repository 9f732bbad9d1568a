"""World maps of embeddings: PCA to RGB (SatCLIP Fig. 6a) and cosine similarity to a place (SatCLE Fig. 8).

The colours are `satcle.core.embedding_space`'s (`pca_rgb`, `cosine_similarity`), the
same as the map server's (``satcle-grid serve``).

Maps are plate carrée rasters of cell centres; coastlines are the 0.5 contour of
the GLOBE land mask sampled on the same raster (cheap, no shapefiles), drawn
only when `global-land-mask` is installed. PNGs are written to a temporary name
and renamed.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..core.coordinates import as_latlon
from ..core.errors import DataUnavailableError, EvaluationConfigError
from ..core.atomic import write_atomic
from ..core.embedding_space import cosine_similarity, pca_rgb
from .encoders import EncodeFn

BEIJING = (39.9, 116.4)


def world_raster(step_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a plate carrée raster: lats (H, W), lons (H, W) float64 degrees, north row first."""
    if not 0.05 <= step_deg <= 10:
        raise EvaluationConfigError(f"step must be within [0.05, 10] degrees, got {step_deg}")
    lats = np.arange(90 - step_deg / 2, -90, -step_deg)
    lons = np.arange(-180 + step_deg / 2, 180, step_deg)
    return np.meshgrid(lats, lons, indexing="ij")


def plot_pca(encode: EncodeFn, out: Path, title: str, step_deg: float = 1.0) -> Path:
    """Write a PNG of the first three principal components of the embeddings as RGB."""
    lats, lons = world_raster(step_deg)
    rgb = pca_rgb(encode(lats.ravel(), lons.ravel())).reshape(*lats.shape, 3)
    fig, ax = _figure(title)
    ax.imshow(rgb, extent=(-180, 180, -90, 90), interpolation="nearest")
    _coastlines(ax, lats, lons)
    return _save(fig, out)


def plot_similarity(
    encode: EncodeFn, out: Path, title: str, reference: tuple[float, float] = BEIJING, step_deg: float = 1.0
) -> Path:
    """Write a PNG of the cosine similarity of every place's embedding to the one at `reference` (lat, lon degrees)."""
    ref_lat, ref_lon = as_latlon([reference[0]], [reference[1]])  # a bad reference fails before any work
    lats, lons = world_raster(step_deg)
    ref = encode(ref_lat, ref_lon)[0]
    sim = cosine_similarity(encode(lats.ravel(), lons.ravel()), ref).reshape(lats.shape)
    fig, ax = _figure(title)
    image = ax.imshow(sim, extent=(-180, 180, -90, 90), cmap="magma", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.6, label="cosine similarity")
    _coastlines(ax, lats, lons)
    ax.plot(reference[1], reference[0], marker="*", color="cyan", markersize=12, markeredgecolor="black")
    return _save(fig, out)


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 6.2), dpi=100)
    ax.set_title(title)
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    return fig, ax


def _coastlines(ax, lats: np.ndarray, lons: np.ndarray) -> None:
    from .geography import is_land

    try:
        land = is_land(lats.ravel(), lons.ravel()).reshape(lats.shape)
    except DataUnavailableError:
        return  # a map without coastlines is still a map
    ax.contour(lons, lats, land.astype(np.float32), levels=[0.5], colors="white", linewidths=0.5)


def _save(fig, out: Path) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return write_atomic(Path(out), buffer.getvalue())
