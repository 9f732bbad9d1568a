"""`satcle` command line: embed coordinates, list models, train, plot.

Thin wrappers over the Python API; every option is documented in --help.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from .model_import import import_app
from .plot import plot_app
from .failure import CommandApp
from ..core.errors import InvalidArgumentError
from ..core.threads import MAX_THREADS
from ..frames.embed_file import OUTPUT_SUFFIXES
from ..evaluation.benchmark import (
    DEFAULT_CONTINENTS,
    DEFAULT_TASKS,
    DEFAULT_TRANSFER_TASKS,
    LABEL_ENCODERS,
)
from ..evaluation.tasks import DATA_ENV, TASKS

app = CommandApp(
    help="SatCLE location embeddings: (lat, lon) in degrees -> D-dimensional vectors (256 for the shipped models).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(plot_app, name="plot")
app.add_typer(import_app, name="import")


def _print_version(value: bool) -> None:
    if value:
        from ..core.version import __version__

        typer.echo(f"satcle {__version__}")
        raise typer.Exit()


def _column_option(with_option: str, axis: str, extra: str = ""):
    """--lat-column / --lon-column of a command that reads a table (`core.coordinates.coordinate_columns`)."""
    names = "lat, latitude, decimalLatitude" if axis == "latitude" else "lon, lng, long, longitude, decimalLongitude"
    return typer.Option(None, f"--{axis[:3]}-column",
                        help=f"With {with_option}: the {axis} column (default: found among {names}, any case{extra}).")


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the installed satcle version and exit."),
) -> None:
    """SatCLE location embeddings: (lat, lon) in degrees -> D-dimensional vectors (256 for the shipped models)."""


@app.command(context_settings={"ignore_unknown_options": True})
def embed(
    points: Optional[List[str]] = typer.Argument(
        None, help='Points as "LAT,LON" in degrees, e.g. 48.8566,2.3522; negative values work as they are: -33.92,18.42.'
    ),
    input: Optional[Path] = typer.Option(
        None, "--input", "-i", help="CSV, Parquet or GeoParquet file of points (degrees, or a point geometry in "
        "any CRS) instead of POINTS; read and written in chunks, every other column carried through to the output "
        "exactly (a CSV's as its text: ZIP 01234 stays 01234; Parquet types and GeoParquet metadata kept)."
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write all embeddings to .parquet (input columns + embedding FLOAT[D]), "
        ".csv (+ e0..e{D-1}) or .npy (the array); without it a summary is printed. Written atomically."
    ),
    grid: Optional[Path] = typer.Option(
        None, "--grid", help="Embed from this precomputed grid (interpolated; outside its coverage live). "
        "Default with --input: the default grid when it exists (satcle-grid build; $SATCLE_GRID), else the live "
        "encoder; POINTS: the live encoder."
    ),
    live: bool = typer.Option(False, "--live", help="Run the encoder on every point, even when a grid exists."),
    model: Optional[str] = typer.Option(
        None, help="Shipped model name (see `satcle models`) or model directory [default: default]. A shipped "
        "name always means the shipped model: a folder of the same name is ./NAME."),
    lat_column: Optional[str] = _column_option("--input", "latitude", "; a GeoParquet file without one: its points"),
    lon_column: Optional[str] = _column_option("--input", "longitude"),
    on_bad_row: str = typer.Option(
        "error", "--on-bad-row", help="With --input, a row whose lat/lon is missing, unparsable, NaN or has "
        "|lat| > 90: 'error' stops naming its row number (nothing written), 'null' writes a null embedding."
    ),
    progress: bool = typer.Option(True, help="Progress bar (rows, rows/s) on stderr with --input."),
    batch_size: int = typer.Option(16384, min=1, help="Points per network pass (memory ~ batch x 4 KB)."),
) -> None:
    """Embed coordinates with a location encoder or a precomputed grid."""
    from ..frames.embed_file import embed_file
    from ..frames.source import choose_embedder

    if output is not None:
        _check_output(output)   # before reading or encoding anything
    if input is not None:
        if points:
            raise InvalidArgumentError("give POINTS or --input, not both")
        if output is None:
            raise InvalidArgumentError("--input needs --output FILE (.parquet, .csv or .npy)")
        if on_bad_row not in ("error", "null"):
            raise InvalidArgumentError(f"--on-bad-row must be 'error' or 'null', got {on_bad_row!r}")
        from ..frames.point_files import PointReader

        reader = PointReader(input, lat=lat_column, lon=lon_column)
        embedder = choose_embedder(grid, live, model, batch_size)
        typer.echo(f"embedding with {embedder.description}", err=True)
        done = embed_file(reader, output, embedder, on_bad_row=on_bad_row, progress=progress)
        nulls = f", {done.null_rows} null (bad rows)" if done.null_rows else ""
        typer.echo(f"wrote {done.rows} x {embedder.dim} embeddings{nulls} to {output} in {done.seconds:.1f} s "
                   f"({done.rows / max(done.seconds, 1e-9):,.0f} rows/s)")
        return
    lats, lons = _parse_points(points or [])
    # A few points: the live encoder answers exactly in milliseconds, sooner than a grid opens.
    embedder = choose_embedder(grid, live or grid is None, model, batch_size)
    typer.echo(f"embedding with {embedder.description}", err=True)
    embeddings = embedder.embed(lats, lons)
    if output is None:
        np.set_printoptions(precision=4, suppress=True)
        for lat, lon, row in zip(lats, lons, embeddings):
            typer.echo(f"{lat:9.4f} {lon:10.4f}  {row[:6]} ... ({row.size} values)")
        typer.echo("use --output FILE.npy|.parquet|.csv for all values", err=True)
        return
    import pyarrow as pa

    from ..frames.embed_file import write_embeddings

    write_embeddings(output, pa.table({"lat": lats, "lon": lons}), embeddings)
    typer.echo(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {output}")


@app.command()
def models(
    directories: Optional[List[Path]] = typer.Argument(
        None, help="Model directories to describe as well (e.g. written by `satcle import`)."),
) -> None:
    """List the models shipped with this installation (and the given model directories): kind, architecture,
    output width, trained or not, sha256."""
    from ..model import available_models, load_encoder

    names = [*available_models(), *map(str, directories or [])]
    width = max(map(len, names), default=0)
    for name in names:
        encoder = load_encoder(name)
        meta = encoder.metadata
        state = "trained" if meta.get("trained", True) else "UNTRAINED"
        typer.echo(
            f"{name:<{width}} {meta['kind']:<11} D={encoder.output_dim:<4} {state:<9} "
            f"sha256={meta['sha256'][:12]}  {encoder.summary()}; {meta.get('description', '')}"
        )


@app.command("eval")
def evaluate(
    tasks: str = typer.Option(
        ",".join(DEFAULT_TASKS),
        help=f"Comma-separated tasks; known: {', '.join(TASKS)}. The first five read real gridded data from "
        "--data-dir (ETOPO elevation, GPW population density, BIOME4 temperature and precipitation, RESOLVE "
        "biomes); the others installed packages. Tasks whose data is absent are skipped with a message.",
    ),
    encoders: Optional[str] = typer.Option(
        None, help="Comma-separated encoders (default: all available; with --labels: "
        f"{','.join(LABEL_ENCODERS)}): shipped model names, untrained (the default architecture, random init), "
        "sh (L = 10), sh-l40, identity (raw lat/lon), geoclip, <model>+grid-interp, <model>+grid-cell (need --grid).",
    ),
    split: str = typer.Option(
        "both", help="'random' (the papers' 7:1:2), 'spatial' (whole H3 res-1 blocks, ~800 km, per set: "
        "prediction into unseen regions) or 'both'."
    ),
    seeds: int = typer.Option(5, min=1, help="Runs per probe; each seed draws its own split and initialisation."),
    points: int = typer.Option(10_000, min=10, help="Points sampled per task (the papers use 10,000)."),
    data_dir: Optional[Path] = typer.Option(
        None, help=f"Folder with etopo20/, gpw-popdensity/, biome4-climate/, resolve-biomes/ (default: ${DATA_ENV}, "
        "else ../shared/data when it exists)."
    ),
    labels: Optional[Path] = typer.Option(
        None, help="Your own points: a CSV or Parquet file with a latitude and a longitude column (degrees) and "
        "--target. Answers 'does satcle help my task?': default against the best of identity (raw lat/lon), sh, "
        "sh-l40 and untrained, always run. Rows with NaN are dropped and counted."
    ),
    target: Optional[str] = typer.Option(None, help="With --labels: the column to predict."),
    covariates: Optional[str] = typer.Option(
        None, help="With --labels: comma-separated columns of your own (numbers, or text one-hot) added to every "
        "encoder's features: 'what does satcle add to what I already have?'."),
    lat_column: Optional[str] = _column_option("--labels", "latitude"),
    lon_column: Optional[str] = _column_option("--labels", "longitude"),
    task: Optional[str] = typer.Option(
        None, help="With --labels: 'regression' or 'classification' (default: numeric -> regression, else classification)."
    ),
    grid: Optional[Path] = typer.Option(None, help="Grid directory: adds the <model>+grid-interp/-cell lookup rows."),
    continents: str = typer.Option(
        ",".join(DEFAULT_CONTINENTS), help="Held-out continents for the transfer study (GeoNames codes AF AS EU NA OC SA); '' for none."
    ),
    transfer_tasks: str = typer.Option(
        ",".join(DEFAULT_TRANSFER_TASKS), help="Tasks of the continent-transfer study (land tasks only)."
    ),
    scarce: str = typer.Option(
        "0.01,0.05", help="Label-scarce probes: shares of all points their training sets are cut to (both splits, both probes); '' for none."
    ),
    threads: int = typer.Option(1, min=1, max=MAX_THREADS, help="Torch threads per process: the probes are small, and one thread avoids oversubscription."),
    jobs: Optional[int] = typer.Option(None, min=1, max=MAX_THREADS, help="Encoders evaluated at once, each in its own process (default: one per core)."),
    out: Optional[Path] = typer.Option(
        None, help="Markdown report; only its generated section is replaced. JSON goes beside it (.json). "
        "Default: satcle-eval.md in the current directory (satcle-eval-<target>.md with --labels)."
    ),
) -> None:
    """Downstream benchmark: frozen embeddings -> MLP and ridge probes over seeds, random and spatial splits,
    continent transfer and embedding diagnostics (location retention, participation ratio, smoothness)."""
    import time

    from ..evaluation.benchmark import BenchmarkConfig, run_benchmark
    from ..evaluation.labels import load_labels
    from ..evaluation.report import summary_table, write_report
    from ..evaluation.splits import SPLITS
    from ..evaluation.tasks import default_data_dir

    splits = SPLITS if split == "both" else (split,)
    if split != "both" and split not in SPLITS:
        raise InvalidArgumentError(f"--split must be random, spatial or both, got {split!r}")
    user_task = None
    if labels is not None:
        if not target:
            raise InvalidArgumentError("--labels needs --target COLUMN")
        user_task = load_labels(labels, target, task, lat=lat_column, lon=lon_column,
                                covariates=_names(covariates or ""))
    elif target or task or covariates or lat_column or lon_column:
        raise InvalidArgumentError("--target, --task, --covariates, --lat-column and --lon-column go with "
                                   "--labels FILE")
    chosen = _names(encoders) if encoders else (LABEL_ENCODERS if labels is not None else None)
    if labels is not None:   # default and the baselines that answer "does it help?" run every time
        chosen = (*chosen, *(b for b in LABEL_ENCODERS if b not in chosen))
    config = BenchmarkConfig(
        tasks=_names(tasks), encoders=chosen, seeds=seeds, n_points=points, grid=grid,
        continents=_names(continents) if labels is None else (), transfer_tasks=_names(transfer_tasks),
        threads=threads, jobs=jobs if jobs is not None else min(os.cpu_count() or 1, MAX_THREADS), splits=splits,
        scarce=_shares(scarce),
        data_dir=data_dir if data_dir is not None else default_data_dir(), labels=user_task,
    )
    if out is None:
        out = Path(f"satcle-eval-{target}.md" if labels is not None else "satcle-eval.md")
    command = "satcle " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["eval"] else "satcle eval"
    result = run_benchmark(config, log=lambda m: typer.echo(m, err=True))
    md, js = write_report(out, result, command)
    typer.echo(summary_table(result))
    typer.echo(f"wrote {md} and {js} ({time.strftime('%H:%M:%S')}, {result.runtime_s / 60:.1f} min)")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _shares(text: str) -> tuple[float, ...]:
    """--scarce: comma-separated shares in (0, 1)."""
    try:
        shares = tuple(float(part) for part in _names(text))
    except ValueError:
        raise InvalidArgumentError(f"--scarce takes shares such as 0.01,0.05, got {text!r}") from None
    if any(not 0.0 < share < 1.0 for share in shares):
        raise InvalidArgumentError(f"--scarce shares must lie in (0, 1), got {text!r}")
    return shares


@app.command()
def train(
    preset: str = typer.Option("bluemarble", help="Pipeline preset: 'bluemarble' (Blue Marble, 2 CPU cores), 'stack' (five installed image sources on 58,929 dense tiles; docs/TRAINING.md 'Image sources') or 's2-100k' (paper hyperparameters, GPU)."),
    config: Optional[Path] = typer.Option(None, help="TOML file of research settings applied over the preset (learning rate, retention loss, L, refinements, tiles, ViT, DINO ...): top-level keys tile_count, tile_size, sources, tile_spacing_km, tile_km_per_px; tables vision, dino, refinement, contrastive and encoder. docs/TRAINING.md lists every field."),
    out: Path = typer.Option(..., help="Run directory: vision/ (DINO backbone, features), contrastive/ (checkpoint, train_log.csv), model/ (exported encoder). Rerunning the same command resumes."),
    data: Optional[Path] = typer.Option(None, help="S2-100K folder (index.csv + images/) for --preset s2-100k; the other presets need none."),
    device: str = typer.Option("auto", help="'auto' (CUDA, else MPS, else CPU), or a torch device such as 'cpu' or 'cuda:0'. Multi-GPU: launch with torchrun."),
    seed: Optional[int] = typer.Option(None, help="Seed for tiles, split, order, jitter and initialisation (preset: 0)."),
    epochs: Optional[int] = typer.Option(None, min=1, help="Maximum contrastive epochs (early stopping may end sooner)."),
    vision_dir: Optional[Path] = typer.Option(None, help="Share a DINO backbone + feature cache between runs (default OUT/vision); it must come from the same data and ViT/DINO settings."),
    monitor: bool = typer.Option(True, help="Log location retention, participation ratio, smoothness, local detail, far retrieval and a temperature ridge probe every epoch."),
    eval_data: Optional[Path] = typer.Option(None, help="Evaluation data folder for the monitor's probe and biome retrieval (default: $SATCLE_EVAL_DATA, else ../shared/data when it exists; none: neither)."),
    name: str = typer.Option("satcle", help="Name recorded in the exported model."),
    description: str = typer.Option("", help="One-line description recorded in the model and its card."),
    notes: str = typer.Option("", help="Free text for the model card (e.g. the budget)."),
    threads: Optional[int] = typer.Option(None, min=1, max=MAX_THREADS, help="torch CPU threads (default: torch's choice)."),
    quiet: bool = typer.Option(False, help="No progress bars (logs still print)."),
) -> None:
    """Pretrain a location encoder: tiles -> DINO ViT -> frozen features -> CLIP with refinements -> OUT/model.

    Research settings live in the preset and an optional --config TOML file, e.g. the SatCLIP
    baseline is a file whose refinement table sets spatial = false and causal = false.
    """
    import torch

    from ..training import TrainingRun, run_training
    from ..training.config_file import preset_for_run

    chosen = preset_for_run(preset, config, seed=seed, epochs=epochs)
    if threads is not None:
        torch.set_num_threads(threads)
    from ..evaluation.tasks import default_data_dir

    run = TrainingRun(chosen, out, data=data, vision_dir=vision_dir, device=device,
                      command=shlex.join(["satcle", "train", *sys.argv[2:]]),
                      model_name=name, description=description, notes=notes, monitor=monitor,
                      monitor_data=eval_data if eval_data is not None else default_data_dir())
    model_dir = run_training(run, progress=not quiet, log=typer.echo)
    from ..training.device import is_main_process

    if is_main_process():
        typer.echo(f"model: {model_dir}")


@plot_app.command("smoothing")
def plot_smoothing_command(
    vision_dir: Path = typer.Option(..., help="Directory with the trained DINO backbone (a training run's OUT/vision)."),
    out: Path = typer.Option(Path("smoothing.png"), help="PNG to write."),
    preset: str = typer.Option("bluemarble", help="Where tiles come from, as in training: 'bluemarble', 'stack' or 's2-100k'."),
    config: Optional[Path] = typer.Option(None, help="The TOML config file used in training, if any (its tile settings)."),
    data: Optional[Path] = typer.Option(None, help="S2-100K folder for --preset s2-100k."),
    count: int = typer.Option(6, min=1, max=32, help="Tiles to show, one row each."),
    seed: Optional[int] = typer.Option(None, help="Seed of the Blue Marble tile set (as used in training; preset 0)."),
    causal_quantile: float = typer.Option(0.1, help="tau as a quantile of each tile's patch attention."),
) -> None:
    """Tiles, their last-layer CLS attention and their causally smoothed version, side by side."""
    import torch

    from ..model.vision import load_vision_encoder
    from ..training.config_file import preset_for_run
    from ..training.pipeline import make_dataset
    from ..training.plot import plot_smoothing

    chosen = preset_for_run(preset, config, seed=seed)
    dataset, _ = make_dataset(chosen, data, progress=False)
    backbone = load_vision_encoder(vision_dir / "backbone")
    images = torch.stack([dataset[i].image for i in range(min(count, len(dataset)))])
    path = plot_smoothing(backbone, images, causal_quantile, out)
    typer.echo(f"wrote {path}")


def _parse_points(points: List[str]) -> tuple[np.ndarray, np.ndarray]:
    """"LAT,LON" texts -> (N,) lats, (N,) lons float64 degrees, validated (CoordinateError)."""
    from ..core.coordinates import as_latlon

    if not points:
        raise InvalidArgumentError('no points: give "LAT,LON" arguments or --input FILE')
    pairs = []
    for text in points:
        parts = text.replace(" ", "").split(",")
        try:
            pairs.append((float(parts[0]), float(parts[1])) if len(parts) == 2 else None)
        except ValueError:
            pairs.append(None)
        if pairs[-1] is None:
            raise InvalidArgumentError(f'cannot read point {text!r}; expected "LAT,LON" in degrees')
    arr = np.asarray(pairs, dtype=np.float64)
    return as_latlon(arr[:, 0], arr[:, 1])


def _check_output(path: Path) -> None:
    """Raise InvalidArgumentError unless `embed` can write `path`: a known suffix, an existing folder
    (none is created), not a directory itself."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidArgumentError(f"unsupported output {path}: use {', '.join(OUTPUT_SUFFIXES)}")
    if path.is_dir():
        raise InvalidArgumentError(f"cannot write {path}: it is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise InvalidArgumentError(f"cannot write {path}: the folder {parent} does not exist"
                                   + (" (it is a file)" if parent.exists() else ""))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
