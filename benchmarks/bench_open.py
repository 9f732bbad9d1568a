"""Time of `open_grid`: with the index built, with the index cached, and what
verifying the files' checksums (on by default) adds.

Run:  python benchmarks/bench_open.py [--res 4] [--repeats 3]

Writes a grid of every cell of --res (a small random 256-d encoder: the values do
not matter here) and opens it with an empty index cache in a temporary
directory: the first open builds the cell index, the next ones load it. Then,
side by side (alternating, --repeats times each, index cached, files in the page
cache), opens with and without checksum verification, and the checksum pass alone
(`checksum_problems`: xxh3_128 of every file the manifest lists); prints the
medians and the cost of the checks as a ratio to the open without them.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from build_grid.engine import write_cells
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.store import read_manifest
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=4, help="H3 resolution; every cell is stored (default 4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed opens of each kind (default 3)")
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=32, output_dim=256))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        path = write_cells(Path(tmp) / "grid", encoder, cells_at_resolution(args.res), error_bound=False)
        for attempt in ("first open (index built)", "second open (index cached)"):
            seconds = timed_open(path, encoder, verify=True)
            print(f"{attempt}: {seconds:.2f} s for {read_manifest(path).total_cells:,} cells")
        manifest = read_manifest(path)
        nbytes = sum((path / file).stat().st_size for file in manifest.checksums)
        verified, unverified, checksums = [], [], []
        for _ in range(args.repeats):
            verified.append(timed_open(path, encoder, verify=True))
            unverified.append(timed_open(path, encoder, verify=False))
            start = time.perf_counter()
            assert checksum_problems(path, manifest) == []
            checksums.append(time.perf_counter() - start)
        with_checks, without, alone = (statistics.median(t) for t in (verified, unverified, checksums))
        print(f"open with checksums verified (default): {with_checks:.2f} s; without: {without:.2f} s; "
              f"checksums alone: {alone:.2f} s for {len(manifest.checksums)} files, {nbytes / 1e9:.2f} GB "
              f"({nbytes / 1e9 / alone:.1f} GB/s)")
        print(f"cost of the checks: {with_checks / without:.2f}x the open without them "
              f"(checksum pass alone: {alone / without:.2f}x); medians of {args.repeats}")


if __name__ == "__main__":
    main()
