"""Time of `open_grid`: a grid with its lookup files (mapped), and the same grid in
the previous format (index built, then read from the index cache).

Run:  python benchmarks/bench_open.py [--res 4]

Writes a grid of every cell of --res (a small random 256-d encoder: the values do
not matter here), opens it, then removes its lookup files (the format before
them) and opens it twice with an empty index cache in a temporary directory: the
first open builds the cell index, the second loads it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

from build_grid.engine import write_cells
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.geo.h3_cells import cells_at_resolution
from satcle.grid.format.lookup_files import LOOKUP_DIR
from satcle.grid.format.store import read_manifest, write_manifest


def timed_open(path: Path, encoder: LocationEncoder, what: str) -> None:
    start = time.perf_counter()
    grid = open_grid(path, encoder=encoder)
    print(f"{what}: {time.perf_counter() - start:.3f} s for {grid.num_cells:,} cells")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=4, help="H3 resolution; every cell is stored (default 4)")
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=32, output_dim=256))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        path = write_cells(Path(tmp) / "grid", encoder, cells_at_resolution(args.res), error_bound=False)
        timed_open(path, encoder, "lookup files mapped")
        shutil.rmtree(path / LOOKUP_DIR)
        write_manifest(path, dataclasses.replace(read_manifest(path), lookup=None))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timed_open(path, encoder, "previous format, first open (index built)")
            timed_open(path, encoder, "previous format, second open (index cached)")


if __name__ == "__main__":
    main()
