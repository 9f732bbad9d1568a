"""`satcle plot ...`: maps of a model's embeddings as PNG files.

A typer sub-app of its own, so that more plot commands can join it without
touching the main command module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .failure import CommandApp

plot_app = CommandApp(help="Figures as PNG: embedding maps over the globe, and the causal smoothing of training tiles.", no_args_is_help=True, add_completion=False)

_MODEL = typer.Option(
    "default", help="Shipped model name (see `satcle models`) or model directory, run live; "
    "or another `satcle eval` encoder: geoclip, sh, identity."
)
_GRID = typer.Option(
    None, help="Read embeddings from this precomputed grid (fast, interpolated lookup) instead of running the model."
)
_STEP = typer.Option(1.0, help="Raster step in degrees: 1.0 gives 360 x 180 points; 0.25 is finer and 16x slower.")


@plot_app.command()
def pca(
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    model: str = _MODEL,
    grid: Optional[Path] = _GRID,
    step: float = _STEP,
) -> None:
    """First three principal components of the embeddings as RGB over the globe (SatCLIP Fig. 6a)."""
    from ..evaluation.maps import plot_pca

    encode, label = _encoder(model, grid)
    typer.echo(f"wrote {plot_pca(encode, out, f'PCA of {label} embeddings (RGB = PC1-3)', step)}")


@plot_app.command()
def similarity(
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    model: str = _MODEL,
    grid: Optional[Path] = _GRID,
    lat: float = typer.Option(39.9, help="Reference latitude in degrees (default Beijing, as in the SatCLE paper)."),
    lon: float = typer.Option(116.4, help="Reference longitude in degrees."),
    step: float = _STEP,
) -> None:
    """Cosine similarity of every place's embedding to a reference place (SatCLE Fig. 8)."""
    from ..evaluation.maps import plot_similarity

    encode, label = _encoder(model, grid)
    path = plot_similarity(encode, out, f"Cosine similarity of {label} embeddings to ({lat:g}, {lon:g})",
                           (lat, lon), step)
    typer.echo(f"wrote {path}")


def _encoder(model: str, grid: Optional[Path]):
    from ..evaluation.encoders import grid_lookup_fn, load_encoder_fn
    from ..model import available_models, load_encoder

    if grid is not None:
        return grid_lookup_fn(grid, "interp"), f"grid {grid.name}"
    if model in available_models() or Path(model).exists():
        encoder = load_encoder(model)
        trained = "" if encoder.metadata.get("trained", True) else " (UNTRAINED)"
        return encoder.encode, f"'{encoder.metadata.get('name', model)}'{trained}"
    return load_encoder_fn(model), model

