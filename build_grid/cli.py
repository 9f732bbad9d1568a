"""`satcle-grid` command line: the reading commands of `satcle.cli.grid` (info, verify,
query, sql, similar, serve) plus the builder's own, `build` and `estimate`."""

from __future__ import annotations


import h3
import numpy as np
import typer

from satcle.cli.failure import fail
from satcle.cli.grid import grid_app as app
from satcle.grid.format.store import COVERAGES, EMBEDDING_DTYPES
from satcle.core.paths import DEFAULT_GRID

#: Up to this resolution `estimate --coverage land` counts the land cells (res 4: 288,122 cells tested).
EXACT_LAND_COUNT_RES = 4


@app.command()
def estimate(
    res: int = typer.Option(..., "--res", min=0, max=15, help="H3 resolution (0 coarsest .. 15)."),
    dim: int = typer.Option(256, help="Embedding dimension."),
    coverage: str = typer.Option("global", "--coverage", help=f"One of {COVERAGES} ('land': counted up to res "
                                 f"{EXACT_LAND_COUNT_RES}, estimated above from the share measured at each resolution)."),
    dtype: str = typer.Option("float16", "--dtype", help=f"One of {EMBEDDING_DTYPES}."),
) -> None:
    """Print the number of cells of a resolution and the size of a grid of them."""
    from .size import LAND_FRACTIONS, estimated_bytes, format_size

    if coverage not in COVERAGES or dtype not in EMBEDDING_DTYPES:
        fail(f"coverage must be one of {COVERAGES} and dtype one of {EMBEDDING_DTYPES}")
    total = h3.get_num_cells(res)
    edge_km = h3.average_hexagon_edge_length(res, unit="km")
    size = estimated_bytes(res, coverage, dtype, dim)
    if coverage == "land":
        if res <= EXACT_LAND_COUNT_RES:   # counted: every cell's coverage test takes well under a second here
            from satcle.geo.h3_cells import cells_at_resolution

            from .coverage import coverage_mask

            count = f"{int(coverage_mask(cells_at_resolution(res), 'land').sum()):,} land cells (counted"
        else:
            share = LAND_FRACTIONS[min(res, len(LAND_FRACTIONS) - 1)]
            count = f"~{total * share:,.0f} land cells (estimated as {share:.0%}"
        cells = f"{count}: land plus one ring of cells around coasts) of {total:,}"
    else:
        cells = f"{total:,} cells"
    typer.echo(f"res {res}: {cells} (mean edge {edge_km:.2f} km), {coverage} {dtype} grid ~{format_size(size)}")


@app.command()
def build(
    res: int = typer.Option(DEFAULT_GRID.resolution, "--res", min=0, max=10,
                            help="H3 resolution of the cells (0 coarsest .. 10)."),
    model: str = typer.Option(DEFAULT_GRID.model, "--model", help="Encoder: a shipped model name (always the shipped model) or a model "
                                                        "directory (a folder named like a shipped model: ./NAME)."),
    out: str = typer.Option(None, "--out", show_default=False,
                            help="Output directory or fsspec URL (s3://...). Default: "
                                 "<cache>/grids/<model>-r<res>-<coverage>-<dtype>, <cache> being $SATCLE_CACHE, "
                                 "else $XDG_CACHE_HOME/satcle, else ~/.cache/satcle. With every option at its "
                                 "default this is the grid satcle.lookup() reads."),
    coverage: str = typer.Option(DEFAULT_GRID.coverage, "--coverage",
                                 help=f"Which cells: 'land' (land plus one ring of cells around coasts) or 'global'. One of {COVERAGES}."),
    dtype: str = typer.Option(DEFAULT_GRID.dtype, "--dtype", help=f"Stored embedding type, one of {EMBEDDING_DTYPES} (int8: per-row scale)."),
    workers: int = typer.Option(None, "--workers", min=1, show_default=False,
                                help="Worker threads of the local (in-process) Dask cluster. Default: one per CPU core."),
    scheduler: str = typer.Option(None, "--scheduler", show_default=False,
                                  help="Address of an existing Dask scheduler (tcp://host:port); "
                                       "--out must then be a path or URL every worker can write."),
    error_bound: bool = typer.Option(True, "--error-bound/--no-error-bound",
                                     help="Store each cell's interpolation error bound (interp_error), which "
                                          "lookup(tolerance=...) needs; costs about 5 more encoder evaluations "
                                          "per cell (see docs/GRID.md for measured build times)."),
    pyramid: bool = typer.Option(True, "--pyramid/--no-pyramid",
                                 help="Also store every coarser resolution 0..res-1, each parent the mean of its "
                                      "stored children (about 1/6 more cells)."),
) -> None:
    """Evaluate the encoder at every H3 cell centre and write a grid (Parquet + DuckDB).

    Re-running the same command resumes an interrupted build: finished partitions
    are verified and skipped.
    """
    from satcle.model import load_encoder

    from .engine import BuildConfig, build_grid, output_dir
    from .size import estimated_bytes, format_size, free_disk_bytes

    config = BuildConfig(resolution=res, model=model, out=out, coverage=coverage, dtype=dtype,
                         workers=workers, scheduler=scheduler, error_bound=error_bound, pyramid=pyramid)
    target = output_dir(config)
    dim = load_encoder(model).output_dim   # any width: GeoCLIP's is 512
    need, free = estimated_bytes(res, coverage, dtype, dim, error_bound=error_bound, pyramid=pyramid), free_disk_bytes(target)
    if free is not None and need > free:
        typer.secho(f"warning: the grid needs about {format_size(need)}, {format_size(free)} are free at {target}",
                    fg=typer.colors.YELLOW, err=True)
    summary = build_grid(config)
    typer.echo(
        f"{summary.out}: {summary.cells:,} cells, {summary.nbytes / 1e6:,.1f} MB "
        f"({summary.nbytes / max(summary.cells, 1):,.0f} bytes/cell), {summary.seconds:,.1f} s "
        f"({summary.partitions_built} partitions built, {summary.partitions_skipped} verified and kept)"
    )
    if error_bound:
        _report_error_bound(summary.out, res)
    if summary.pyramid_cells:
        typer.echo(f"pyramid (res 0..{res - 1}): {summary.pyramid_cells:,} cells, {summary.pyramid_bytes / 1e6:,.1f} MB "
                   f"(+{summary.pyramid_bytes / max(summary.nbytes, 1):.1%} of the partitions' bytes), "
                   f"{summary.pyramid_seconds:,.1f} s (+{summary.pyramid_seconds / max(summary.seconds - summary.pyramid_seconds, 1e-9):.1%} of the rest of the build)")


def _report_error_bound(grid_dir, res: int) -> None:
    """Print the spread of the grid's per-cell interpolation error bound; warn when a typical
    cell exceeds 1 % (a model that varies faster than the cells, e.g. GeoCLIP)."""
    from satcle.grid.lookup import open_grid

    bound = open_grid(grid_dir, verify_checksums=False).table.interp_error
    median, p99 = np.percentile(bound, [50, 99])
    typer.echo(f"interpolation error bound per cell (||interp - live|| / ||live||): median {median:.2%}, "
               f"99th percentile {p99:.2%}; lookup(tolerance=0.01) answers {np.mean(bound > 0.01):.1%} of the "
               "cells live")
    if median > 0.01:
        typer.secho(f"warning: this model varies faster than res-{res} cells interpolate it: use a finer --res, "
                    "lookup(tolerance=...) or the live model (docs/LOOKUP.md, 'Fidelity per model')",
                    fg=typer.colors.YELLOW, err=True)


if __name__ == "__main__":  # pragma: no cover
    app()
