"""Time of `open_grid`: a grid with its lookup files (mapped), with and without
verifying the files' checksums (on by default), and the checks every open runs
whatever it verifies (the values the compiled kernels index).

Run:  python benchmarks/bench_open.py [--res 4] [--repeats 3]
      python benchmarks/bench_open.py --grid DIR|default    (a grid `satcle-grid build` wrote)

Writes a grid of every cell of --res (a small random 256-d encoder: the values do
not matter here), or measures the grid at --grid. Side by side (alternating, --repeats times each, files in the
page cache), opens with and without checksum verification, the checksum pass
alone (`checksum_problems`: xxh3_128 of every file the manifest lists, the lookup
files included) and the open-time value checks alone (`open_checks`: the cell
index's bounds and finiteness, `validate_index`; the table's per-cell values and
H3 order); prints the medians and each as a ratio to the opens.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from build_grid.engine import write_cells
from land_grid import grid_path
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.reader import per_cell_problem
from satcle.grid.format.store import read_manifest
from satcle.grid.format.verify import checksum_problems
from satcle.grid.lookup.cell_index import validate_index
from satcle.grid.lookup.shared_grids import clear_shared_grids


def timed_open(path: Path, encoder: LocationEncoder, verify: bool) -> float:
    clear_shared_grids()   # a fresh load each time, not the copy this process already holds
    gc.collect()
    start = time.perf_counter()
    grid = open_grid(path, encoder=encoder, verify_checksums=verify)
    seconds = time.perf_counter() - start
    del grid
    return seconds


def open_checks(grid) -> None:
    """What every open checks of the mapped arrays, whatever it verifies: the index
    (`validate_index`), the per-cell values and the cells' H3 order (`GridTable`)."""
    validate_index(grid.index)
    assert per_cell_problem(grid.table) is None
    h3 = grid.table.h3
    assert bool(np.all(h3[1:] > h3[:-1]))


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


def compare_opens(path: Path, encoder: LocationEncoder | None, repeats: int) -> None:
    """Print the open of the grid at `path` with and without the checksum pass, and the pass alone."""
    manifest = read_manifest(path)
    nbytes = sum((path / file).stat().st_size for file in manifest.checksums)
    lookup_bytes = sum(f.bytes for f in manifest.lookup.files)
    timed_open(path, encoder, verify=True)   # files into the page cache
    verified, unverified, checksums, checks = [], [], [], []
    grid = open_grid(path, encoder=encoder, verify_checksums=False)
    for _ in range(repeats):
        verified.append(timed_open(path, encoder, verify=True))
        unverified.append(timed_open(path, encoder, verify=False))
        start = time.perf_counter()
        assert checksum_problems(path, manifest) == []
        checksums.append(time.perf_counter() - start)
        start = time.perf_counter()
        open_checks(grid)
        checks.append(time.perf_counter() - start)
    with_checks, without, alone, values = (statistics.median(t) for t in (verified, unverified, checksums, checks))
    print(f"res {manifest.resolution}, {manifest.coverage}, {manifest.dtype}, lookup files mapped, "
          f"{manifest.total_cells:,} cells: open with checksums verified (default): {with_checks:.3f} s; "
          f"without: {without:.3f} s; checksums alone: {alone:.3f} s for {len(manifest.checksums)} files, "
          f"{nbytes / 1e9:.2f} GB ({lookup_bytes / 1e9:.2f} GB of them lookup files; {nbytes / 1e9 / alone:.1f} GB/s)")
    print(f"cost of the checks: {with_checks / without:.1f}x the open without them "
          f"(checksum pass alone: {alone / without:.1f}x); medians of {repeats}")
    print(f"value checks of every open (index bounds and finiteness, per-cell values, H3 order): {values:.3f} s = "
          f"{values / without:.2f} of the open without checksums, {values / with_checks:.2f} of the default open "
          f"(both include them)")


if __name__ == "__main__":
    main()
