"""Time of `open_grid`: a grid with its lookup files (mapped), with and without
verifying the files' checksums (on by default), and the same grid in the previous
format (no lookup files: index built, then read from the index cache).

Run:  python benchmarks/bench_open.py [--res 4] [--repeats 3]
      python benchmarks/bench_open.py --grid DIR|default    (a grid `satcle-grid build` wrote)

Writes a grid of every cell of --res (a small random 256-d encoder: the values do
not matter here), or measures the grid at --grid. Side by side (alternating, --repeats times each, files in the
page cache), opens with and without checksum verification, and the checksum pass
alone (`checksum_problems`: xxh3_128 of every file the manifest lists, the lookup
files included); prints the medians and the cost of the checks as a ratio to the
open without them. Then, for the grid it wrote, removes the lookup files (the
format before them) and opens it twice with an empty index cache in a temporary
directory: the first open builds the cell index, the second loads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

from build_grid.engine import write_cells
from land_grid import grid_path
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.core.checksum import file_checksum
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.duckdb_view import write_database
from satcle.grid.format.lookup_files import LOOKUP_DIR
from satcle.grid.format.store import DUCKDB_FILE, read_manifest, write_manifest
from satcle.grid.format.verify import checksum_problems
from satcle.grid.lookup.shared_grids import clear_shared_grids


def timed_open(path: Path, encoder: LocationEncoder, verify: bool) -> float:
    clear_shared_grids()   # a fresh load each time, not the copy this process already holds
    gc.collect()
    start = time.perf_counter()
    grid = open_grid(path, encoder=encoder, verify_checksums=verify)
    seconds = time.perf_counter() - start
    del grid
    return seconds


def to_previous_format(path: Path) -> None:
    """Remove the grid's lookup files and everything of the manifest naming them
    (satcle.duckdb, which records the manifest, rewritten for the new one)."""
    manifest = read_manifest(path)
    shutil.rmtree(path / LOOKUP_DIR)
    checksums = {f: c for f, c in manifest.checksums.items() if not f.startswith(f"{LOOKUP_DIR}/")}
    manifest = dataclasses.replace(manifest, lookup=None, checksums=checksums)
    database = write_database(path, manifest)
    if database is not None:
        manifest = dataclasses.replace(manifest, checksums={**checksums, DUCKDB_FILE: file_checksum(database)})
    write_manifest(path, manifest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=4, help="H3 resolution; every cell is stored (default 4)")
    parser.add_argument("--grid", type=grid_path,
                        help="measure this grid instead of writing one (left unchanged; 'default': the default grid)")
    parser.add_argument("--repeats", type=int, default=3, help="timed opens of each kind (default 3)")
    args = parser.parse_args()
    if args.grid is not None:
        compare_opens(args.grid, None, args.repeats)
        return
    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=32, output_dim=256))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        path = write_cells(Path(tmp) / "grid", encoder, cells_at_resolution(args.res), error_bound=False)
        compare_opens(path, encoder, args.repeats)
        to_previous_format(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for attempt in ("first open (index built)", "second open (index cached)"):
                seconds = timed_open(path, encoder, verify=True)
                print(f"previous format, {attempt}, checksums verified: {seconds:.2f} s")


def compare_opens(path: Path, encoder: LocationEncoder | None, repeats: int) -> None:
    """Print the open of the grid at `path` with and without the checksum pass, and the pass alone."""
    manifest = read_manifest(path)
    if manifest.lookup is None:
        raise SystemExit(f"{path} has no lookup files (the previous format): re-run its `satcle-grid build` first")
    nbytes = sum((path / file).stat().st_size for file in manifest.checksums)
    lookup_bytes = sum(f.bytes for f in manifest.lookup.files)
    timed_open(path, encoder, verify=True)   # files into the page cache
    verified, unverified, checksums = [], [], []
    for _ in range(repeats):
        verified.append(timed_open(path, encoder, verify=True))
        unverified.append(timed_open(path, encoder, verify=False))
        start = time.perf_counter()
        assert checksum_problems(path, manifest) == []
        checksums.append(time.perf_counter() - start)
    with_checks, without, alone = (statistics.median(t) for t in (verified, unverified, checksums))
    print(f"res {manifest.resolution}, {manifest.coverage}, {manifest.dtype}, lookup files mapped, "
          f"{manifest.total_cells:,} cells: open with checksums verified (default): {with_checks:.3f} s; "
          f"without: {without:.3f} s; checksums alone: {alone:.3f} s for {len(manifest.checksums)} files, "
          f"{nbytes / 1e9:.2f} GB ({lookup_bytes / 1e9:.2f} GB of them lookup files; {nbytes / 1e9 / alone:.1f} GB/s)")
    print(f"cost of the checks: {with_checks / without:.1f}x the open without them "
          f"(checksum pass alone: {alone / without:.1f}x); medians of {repeats}")


if __name__ == "__main__":
    main()
