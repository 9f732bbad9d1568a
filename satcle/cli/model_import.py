"""`satcle import ...`: other projects' location encoders as satcle model directories.

A typer sub-app of its own; each command writes a model directory (safetensors +
config.json + MODEL_CARD.md, atomically) that `load_encoder`, `satcle embed
--model`, `satcle-grid build --model` and `satcle eval --encoders` take.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .failure import CommandApp

import_app = CommandApp(
    help="Import another project's location encoder as a satcle model directory (docs/IMPORT.md).",
    no_args_is_help=True, add_completion=False,
)
_OUT = typer.Option(..., "--out", "-o", help="Model directory to write (replaced only once the new one is complete).")
_NAME = typer.Option(None, help="Name recorded in the model (default: the directory's name).")


@import_app.command()
def satclip(
    checkpoint: Path = typer.Argument(..., help="A SatCLIP checkpoint (.ckpt of microsoft/satclip, e.g. "
                                      "satclip-vit16-l40.ckpt); read with torch.load(weights_only=True)."),
    out: Path = _OUT,
    name: Optional[str] = _NAME,
) -> None:
    """SatCLIP's Siren(SH) location encoder from its checkpoint: SatCLIP's (lon, lat) order and harmonics
    convention are folded into the first layer, so the model equals SatCLIP's forward."""
    from ..model.satclip_import import import_satclip

    _write(lambda: import_satclip(checkpoint, out, name=name))


@import_app.command()
def geoclip(
    out: Path = _OUT,
    weights: Optional[Path] = typer.Option(
        None, help="GeoCLIP's location_encoder_weights.pth (default: the installed geoclip package's; "
        "pip install --no-deps geoclip==1.3.0)."),
    name: Optional[str] = _NAME,
) -> None:
    """GeoCLIP's location encoder (512-d) from the installed geoclip package, run natively by satcle
    afterwards (no geoclip or transformers needed)."""
    from ..model.geoclip_import import import_geoclip

    _write(lambda: import_geoclip(out, weights=weights, name=name))


def _write(make) -> None:
    from ..model import load_encoder

    directory = make()
    encoder = load_encoder(directory)
    typer.echo(f"wrote {directory}: {encoder.summary()}, sha256 {encoder.metadata['sha256'][:12]}")
    typer.echo(f"use it with --model {directory} (satcle embed, satcle-grid build) or --encoders {directory} "
               "(satcle eval)")
