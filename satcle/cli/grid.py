"""`satcle-grid`'s reading commands: inspect, verify, query and serve a grid.

The grid builder (`build_grid.cli`) adds `build` and `estimate` to this app: it is
the only writer of grids, and these commands only read them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Optional

import h3
import typer

from .failure import EXIT_NEGATIVE, CommandApp, fail, one_line

grid_app = CommandApp(
    help="Build and inspect precomputed SatCLE embedding grids on H3 cells.",
    no_args_is_help=True,
    add_completion=False,
)


@grid_app.callback()
def main() -> None:
    """Build and inspect precomputed SatCLE embedding grids on H3 cells."""


@grid_app.command()
def serve(
    grid_dir: Path = typer.Argument(..., help="Grid directory."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to bind: loopback by default; another address exposes the map "
                                  "to that network, an explicit choice."),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request to stderr."),
) -> None:
    """A local web map of a grid (PCA colours, click for a similarity map, place search) and its JSON API."""
    from ..core.errors import SatcleError

    from ..serve import serve as run_server

    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.secho(f"warning: binding {host}: the map and its API are open to that network, without authentication",
                    fg=typer.colors.YELLOW, err=True)
    try:
        run_server(grid_dir, host=host, port=port, verbose=verbose, echo=lambda line: typer.echo(line, err=False))
    except SatcleError:   # a missing grid is also an OSError: the failure path says what it is
        raise
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}")


@grid_app.command()
def info(grid_dir: Path = typer.Argument(..., help="Grid directory.")) -> None:
    """What a grid is: model, resolution, coverage, dtype, cells, size, build time."""
    from ..grid.format.duckdb_view import search_path_sql
    from ..grid.format.store import DUCKDB_FILE, read_manifest

    manifest = read_manifest(grid_dir)
    nbytes = sum((grid_dir / p.file).stat().st_size for p in manifest.partitions if (grid_dir / p.file).is_file())
    lines = {
        "model": f"{manifest.model_name} (sha256 {manifest.model_sha256[:16]}...)",
        "encoder": ", ".join(f"{k}={v}" for k, v in sorted(manifest.model_config.items())),
        "resolution": f"{manifest.resolution} (mean edge {h3.average_hexagon_edge_length(manifest.resolution, unit='km'):.2f} km)",
        "coverage": manifest.coverage,
        "embedding": f"{manifest.dtype}[{manifest.dim}]",
        "cells": f"{manifest.total_cells:,}",
        "partitions": f"{len(manifest.partitions):,} (ancestors at resolution {manifest.partition_resolution})",
        "size": f"{nbytes / 1e6:,.1f} MB ({nbytes / max(manifest.total_cells, 1):,.0f} bytes/cell)",
        "lookup": (f"{sum(f.bytes for f in manifest.lookup.files) / 1e6:,.1f} MB of lookup files (rows and index, "
                   "memory-mapped by open_grid)" if manifest.lookup is not None else "none"),
        "pyramid": (", ".join(f"r{level.resolution}: {level.rows:,}" for level in manifest.pyramid)
                    + f" cells ({sum(level.bytes for level in manifest.pyramid) / 1e6:,.1f} MB; parents = mean of "
                    f"their stored children, {sum(level.partial_parents for level in manifest.pyramid):,} over "
                    "fewer than all)" if manifest.pyramid else "none (single resolution)"),
        "built": f"{manifest.build_started} .. {manifest.build_finished} with satcle {manifest.library_version}",
    }
    for key, value in lines.items():
        typer.echo(f"{key:>11}: {value}")
    if (grid_dir / DUCKDB_FILE).is_file():
        # The views read the files where the grid was built, else (the setting given) relative to the setting.
        root = grid_dir.resolve()
        setting = search_path_sql(root)
        typer.echo(f"{'duckdb':>11}: duckdb -cmd {_shell_quoted(setting)} {shlex.quote(str(root / DUCKDB_FILE))}")
        typer.echo(f"{'':>11}  (from any directory; the setting is needed once the grid has moved since its "
                   f"build, and in Python or R run {setting} on the connection first)")


@grid_app.command()
def verify(grid_dir: Path = typer.Argument(..., help="Grid directory.")) -> None:
    """Check every file of a grid against its manifest; exit 1 naming bad files.

    The manifest's own checksum; every file's checksum; every partition's schema,
    rows, recorded grid identity and values (decoded with Parquet page checksums, all finite); every
    lookup file's size, shape and values (all finite); and that satcle.duckdb holds
    exactly the view the builder writes for this manifest.
    """
    from ..grid.format.store import read_manifest
    from ..grid.format.verify import verify_grid

    problems = verify_grid(grid_dir)
    for problem in problems:
        typer.secho(problem, fg=typer.colors.RED, err=True)
    if problems:
        raise typer.Exit(EXIT_NEGATIVE)
    manifest = read_manifest(grid_dir)
    typer.echo(f"{grid_dir}: the manifest and all {len(manifest.checksums)} files it lists match")


@grid_app.command()
def query(
    grid_dir: Path = typer.Argument(..., help="Grid directory."),
    sql: str = typer.Argument(..., help="SQL over the views satcle(h3, lat, lon, embedding, res) (the grid's "
                                        "cells) and satcle_pyramid (every stored resolution); functions "
                                        "h3_latlng_to_cell(lat, lon, res) and satcle_embedding(lat, lon) "
                                        "(interpolated, computed live outside coverage)."),
    max_rows: int = typer.Option(40, "--max-rows", help="Rows to print."),
) -> None:
    """Run SQL against a grid and print the result (`satcle-grid sql DIR -c SQL` with fewer rows)."""
    from ..grid.sql import connect

    _run_script(connect(grid_dir), sql, max_rows)


@grid_app.command()
def sql(
    grid_dir: Path = typer.Argument(..., help="Grid directory."),
    command: Optional[str] = typer.Option(None, "-c", "--command",
                                          help="Run this SQL and exit (default: statements from standard input, "
                                               "or an interactive prompt)."),
    max_rows: int = typer.Option(1000, "--max-rows", min=1, help="Rows to print per result."),
    duckdb_cli: Optional[str] = typer.Option(None, "--duckdb", help="Run this DuckDB command line instead "
                                             "('duckdb' for the one on PATH, else the duckdb-cli package's): its "
                                             "shell, without the Python functions satcle_embedding and "
                                             "h3_latlng_to_cell."),
) -> None:
    """SQL over a grid: the connection of satcle.connect, with its views, macro and functions.

    The grid is opened as `satcle.connect` opens it (checksums, partitions of this
    grid): views satcle(h3, lat, lon, embedding, res) (the grid's cells) and
    satcle_pyramid (every stored resolution), functions satcle_embedding(lat, lon)
    and h3_latlng_to_cell(lat, lon, res), macro satcle_similar. Statements come
    from -c, from standard input, or an interactive prompt (end each with ';');
    only results are printed. The grid's own satcle.duckdb is never opened, so a
    directory from elsewhere cannot run SQL of its own.
    """
    if duckdb_cli is not None:
        _duckdb_shell(grid_dir, command, duckdb_cli)
    import sys

    from ..grid.sql import connect

    con = connect(grid_dir)
    if command is not None:
        _run_script(con, command, max_rows)
    elif not sys.stdin.isatty():
        _run_script(con, sys.stdin.read(), max_rows)
    else:
        _prompt(con, max_rows)


def _run_script(con, text: str, max_rows: int) -> None:
    """Run every statement of `text`, printing each result; the first error ends it (exit 2)."""
    for statement in con.extract_statements(text):
        _show(con, statement, max_rows)


def _show(con, statement, max_rows: int) -> None:
    import duckdb

    relation = con.sql(statement.query)
    if relation is not None and statement.type in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN,
                                                   duckdb.StatementType.PRAGMA, duckdb.StatementType.CALL):
        relation.show(max_rows=max_rows)   # runs the query: its errors come here


def _prompt(con, max_rows: int) -> None:
    """An interactive prompt: lines gathered until one ends with ';', then run; errors printed, not fatal."""
    import duckdb

    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    typer.echo("satcle SQL over the grid: views satcle, satcle_pyramid; functions satcle_embedding, "
               "h3_latlng_to_cell; end statements with ';', Ctrl-D to leave", err=True)
    pending = []
    while True:
        try:
            line = input("satcle> " if not pending else "   ...> ")
        except EOFError:
            typer.echo("", err=True)
            return
        except KeyboardInterrupt:
            pending = []
            typer.echo("", err=True)
            continue
        pending.append(line)
        if not line.rstrip().endswith(";"):
            continue
        text, pending = "\n".join(pending), []
        try:
            for statement in con.extract_statements(text):
                _show(con, statement, max_rows)
        except duckdb.Error as exc:
            typer.secho(f"error: {one_line(str(exc))}", fg=typer.colors.RED, err=True)


def _duckdb_shell(grid_dir: Path, command: Optional[str], duckdb_cli: str) -> None:
    """The DuckDB command line over the checked grid (view and cell macro, no Python functions); exits."""
    import os
    import subprocess
    import tempfile

    from ..grid.sql import shell_sql

    program = _duckdb_command_line(None if duckdb_cli == "duckdb" else duckdb_cli)
    statements = shell_sql(grid_dir, arrow_lambda=_duckdb_version(program) < (1, 3))
    with tempfile.TemporaryDirectory(prefix="satcle-sql-") as tmp:
        script = Path(tmp) / "grid.sql"
        script.write_text(statements)
        # No init file (not ~/.duckdbrc either, and nothing printed about one); the grid's statements read silently.
        arguments = [*program, "-init", os.devnull, "-cmd", f".read {script}",
                     *(["-c", command] if command is not None else [])]
        code = subprocess.run(arguments).returncode
    raise typer.Exit(code)


def _duckdb_command_line(given: Optional[str]) -> list[str]:
    """The argv prefix that runs the DuckDB command line: `given`, else `duckdb` on
    PATH, else the duckdb-cli package through this Python; exits with a one-line
    error when there is none."""
    import importlib.util
    import shutil
    import sys

    if given is not None:
        found = shutil.which(given)
        if found is None:
            fail(f"{given}: no such DuckDB command line")
        return [found]
    found = shutil.which("duckdb")
    if found is not None:
        return [found]
    if importlib.util.find_spec("duckdb_cli") is not None:
        return [sys.executable, "-m", "duckdb_cli"]
    fail("no DuckDB command line found: install one (`pip install duckdb-cli`, or from duckdb.org) or pass "
         "--duckdb PATH; `satcle-grid query DIR SQL` runs SQL without it")


def _duckdb_version(program: list[str]) -> tuple[int, ...]:
    """The (major, minor) of the DuckDB command line `program` (``-version``: ``v1.5.6 ...``)."""
    import subprocess

    try:
        done = subprocess.run([*program, "-version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        fail(f"{program[0]}: cannot run it ({exc.strerror})")
    match = re.match(r"v?(\d+)\.(\d+)", done.stdout.strip())
    if done.returncode != 0 or match is None:
        fail(f"{program[0]} does not look like the DuckDB command line (its -version printed "
             f"{one_line(done.stdout + done.stderr)[:80]!r})")
    return int(match.group(1)), int(match.group(2))


@grid_app.command()
def similar(
    grid_dir: Path = typer.Argument(..., help="Grid directory."),
    lat: float = typer.Option(..., "--lat", help="Latitude of the query point, degrees."),
    lon: float = typer.Option(..., "--lon", help="Longitude of the query point, degrees."),
    k: int = typer.Option(10, "-k", min=1, help="How many cells to list."),
    exclude_km: float = typer.Option(0.0, "--exclude-km", min=0.0,
                                     help="List only cells whose centres lie farther than this from the point "
                                          "(km): the far look-alikes rather than its own neighbours."),
) -> None:
    """The k cells most similar (cosine) to the cell containing (lat, lon): a similarity map.

    The query is the stored row of the point's cell; a point outside the grid's
    coverage (e.g. the ocean on a land grid) is computed by the live encoder, as
    `satcle.lookup` does. Prints each cell's H3 id as hex (h3-py) and as the
    integer SQL uses, its centre, the cosine and its distance from the point.
    Exits 1 when no cell qualifies (--exclude-km beyond every cell).
    """
    from ..grid.lookup.grid import Source
    from ..grid.similar_cells import most_similar_cells

    cells, source = most_similar_cells(grid_dir, lat, lon, k, exclude_km=exclude_km)
    if source != Source.GRID:
        typer.echo(f"note: ({lat}, {lon}) lies outside the grid's coverage: its embedding was computed by the "
                   "live encoder", err=True)
    if not len(cells):
        typer.echo(f"note: no cell of the grid lies farther than {exclude_km:g} km from ({lat}, {lon})", err=True)
        raise typer.Exit(EXIT_NEGATIVE)
    typer.echo(f"{'h3':>15} {'h3_int':>18} {'lat':>9} {'lon':>10} {'cosine':>7} {'km':>9}")
    for cell, cell_lat, cell_lon, cosine, km in zip(cells.h3.tolist(), cells.lat.tolist(), cells.lon.tolist(),
                                                   cells.similarity.tolist(), cells.distance_km.tolist()):
        typer.echo(f"{cell:>15x} {cell:>18d} {cell_lat:>9.4f} {cell_lon:>10.4f} {cosine:>7.4f} {km:>9.1f}")


def _shell_quoted(text: str) -> str:
    """`text` as one POSIX shell word in double quotes (SQL's single quotes stay readable)."""
    return '"' + re.sub(r'([\\"$`])', r'\\\1', text) + '"'
