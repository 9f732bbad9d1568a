"""`satcle` command line: embed coordinates, list models.

Thin wrappers over the Python API; every option is documented in --help.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from .errors import SatcleError

app = typer.Typer(
    help="SatCLE location embeddings: (lat, lon) in degrees -> 256-d vectors.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command(context_settings={"ignore_unknown_options": True})
def embed(
    points: Optional[List[str]] = typer.Argument(
        None, help='Points as "LAT,LON" in degrees, e.g. 48.8566,2.3522; negative values work as they are: -33.92,18.42.'
    ),
    input: Optional[Path] = typer.Option(
        None, "--input", "-i", help="CSV file with columns 'lat' and 'lon' (degrees) instead of POINTS."
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write all embeddings to .npy, .parquet or .csv; without it a summary is printed."
    ),
    model: str = typer.Option("default", help="Shipped model name (see `satcle models`) or model directory."),
    batch_size: int = typer.Option(16384, min=1, help="Points per network pass (memory ~ batch x 4 KB)."),
) -> None:
    """Embed coordinates with a location encoder."""
    from .model import load_encoder

    try:
        lats, lons = _read_points(points or [], input)
        encoder = load_encoder(model)
        embeddings = encoder.encode(lats, lons, batch_size=batch_size)
    except (SatcleError, OSError, ValueError) as exc:
        _fail(str(exc))
    if not encoder.metadata.get("trained", True):
        typer.echo(f"note: model '{encoder.metadata['name']}' is UNTRAINED (placeholder weights)", err=True)
    if output is None:
        np.set_printoptions(precision=4, suppress=True)
        for lat, lon, row in zip(lats, lons, embeddings):
            typer.echo(f"{lat:9.4f} {lon:10.4f}  {row[:6]} ... ({row.size} values)")
        typer.echo("use --output FILE.npy|.parquet|.csv for all values", err=True)
        return
    _write_embeddings(output, lats, lons, embeddings)
    typer.echo(f"wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {output}")


@app.command()
def models() -> None:
    """List the models shipped with this installation."""
    from .model import available_models, load_encoder

    for name in available_models():
        encoder = load_encoder(name)
        meta, cfg = encoder.metadata, encoder.config
        state = "trained" if meta.get("trained", True) else "UNTRAINED"
        typer.echo(
            f"{name:<16} L={cfg.legendre_degree:<3} D={cfg.output_dim:<4} {state:<9} "
            f"sha256={meta['sha256'][:12]}  {meta.get('description', '')}"
        )


def _read_points(points: List[str], csv_path: Optional[Path]) -> tuple[np.ndarray, np.ndarray]:
    if points and csv_path is not None:
        raise ValueError("give POINTS or --input, not both")
    if csv_path is not None:
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(csv_path)
        missing = {"lat", "lon"} - set(table.column_names)
        if missing:
            raise ValueError(f"{csv_path} lacks column(s) {sorted(missing)}; it has {table.column_names}")
        return table["lat"].to_numpy(), table["lon"].to_numpy()
    if not points:
        raise ValueError('no points: give "LAT,LON" arguments or --input CSV')
    pairs = []
    for text in points:
        parts = text.replace(" ", "").split(",")
        try:
            pairs.append((float(parts[0]), float(parts[1])) if len(parts) == 2 else None)
        except ValueError:
            pairs.append(None)
        if pairs[-1] is None:
            raise ValueError(f'cannot read point {text!r}; expected "LAT,LON" in degrees')
    arr = np.asarray(pairs, dtype=np.float64)
    return arr[:, 0], arr[:, 1]


def _write_embeddings(path: Path, lats: np.ndarray, lons: np.ndarray, embeddings: np.ndarray) -> None:
    import os
    import tempfile

    suffix = path.suffix.lower()
    if suffix not in (".npy", ".parquet", ".csv"):
        _fail(f"unsupported output {path}: use .npy, .parquet or .csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".npy":
            np.save(tmp, embeddings)
        else:
            import pyarrow as pa

            dim = embeddings.shape[1]
            columns = {"lat": lats, "lon": lons}
            if suffix == ".parquet":
                import pyarrow.parquet as pq

                flat = pa.array(embeddings.reshape(-1), type=pa.float32())
                columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, dim)
                pq.write_table(pa.table(columns), tmp)
            else:
                import pyarrow.csv as pacsv

                columns.update({f"e{i}": embeddings[:, i] for i in range(dim)})
                pacsv.write_csv(pa.table(columns), tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
