"""`satcle-grid` command line."""

from __future__ import annotations

import h3
import typer

app = typer.Typer(
    help="Build and inspect precomputed SatCLE embedding grids on H3 cells.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Build and inspect precomputed SatCLE embedding grids on H3 cells."""


@app.command()
def estimate(
    res: int = typer.Option(..., "--res", min=0, max=15, help="H3 resolution (0 coarsest .. 15)."),
    dim: int = typer.Option(256, help="Embedding dimension."),
) -> None:
    """Print the number of cells of a resolution and the size of a float16 grid of them."""
    cells = h3.get_num_cells(res)
    edge_km = h3.average_hexagon_edge_length(res, unit="km")
    size = cells * (8 + 2 * dim)
    typer.echo(f"res {res}: {cells:,} cells (mean edge {edge_km:.2f} km), float16 grid ~{size / 1e9:.2f} GB")


if __name__ == "__main__":  # pragma: no cover
    app()
