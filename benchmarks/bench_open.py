"""Time of `open_grid` with the index built, then with the index cached.

Run:  python benchmarks/bench_open.py [--res 4]

Writes a grid of every cell of --res (a small random 256-d encoder: the values do
not matter here) and opens it twice with an empty index cache in a temporary
directory: the first open builds the cell index, the second loads it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from build_grid.engine import write_cells
from satcle import EncoderConfig, LocationEncoder, open_grid
from satcle.geo.h3_cells import cells_at_resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=4, help="H3 resolution; every cell is stored (default 4)")
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=32, output_dim=256))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        path = write_cells(Path(tmp) / "grid", encoder, cells_at_resolution(args.res), error_bound=False)
        for attempt in ("first open (index built)", "second open (index cached)"):
            start = time.perf_counter()
            grid = open_grid(path, encoder=encoder)
            print(f"{attempt}: {time.perf_counter() - start:.1f} s for {grid.num_cells:,} cells")


if __name__ == "__main__":
    main()
