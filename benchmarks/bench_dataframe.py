"""What `satcle.add_embeddings` costs over the lookup it runs, and what areas cost.

Run:  python benchmarks/bench_dataframe.py [--res 3] [--points 1000000] [--repeats 3]
      python benchmarks/bench_dataframe.py --grid DIR|default    (a grid `satcle-grid build` wrote)

Writes a global grid of every cell of --res (a small random 256-d encoder: the values
do not matter here), or measures the grid at --grid. Side by side (alternating,
--repeats times each): `Grid.lookup` of N random points, and `add_embeddings` of a
pandas frame of the same points (columns found by name, index and columns kept, the
embedding column built); prints the medians and their ratio. Then, when the
evaluation data is there (../shared/data/resolve-biomes), the area embeddings of the
RESOLVE biome and Natural Earth continent polygons: time, cells averaged, and how many
polygons were smaller than a cell.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import satcle
from build_grid.engine import write_cells
from land_grid import grid_path
from satcle import EncoderConfig, LocationEncoder
from satcle.geo.h3_cells import cells_at_resolution

POLYGONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "resolve-biomes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, default=3)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--grid", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.grid is not None:
            path = grid_path(args.grid)
        else:
            torch.manual_seed(0)
            encoder = LocationEncoder(EncoderConfig(legendre_degree=10, hidden_dim=64, output_dim=256))
            path = write_cells(Path(tmp) / "grid", encoder, cells_at_resolution(args.res), error_bound=False)
        grid = satcle.open_grid(path, encoder=None if args.grid is not None else encoder)
        print(repr(grid))
        measure(grid, args.points, args.repeats)
        if POLYGONS.is_dir():
            areas(grid)


def measure(grid, n: int, repeats: int) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": np.arange(n), "latitude": np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
                          "longitude": rng.uniform(-180, 180, n)})
    lookup, frames = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        grid.lookup(frame["latitude"].to_numpy(), frame["longitude"].to_numpy())
        lookup.append(time.perf_counter() - start)
        start = time.perf_counter()
        satcle.add_embeddings(frame, grid=grid)
        frames.append(time.perf_counter() - start)
    a, b = statistics.median(lookup), statistics.median(frames)
    print(f"{n:,} points: lookup {a:.3f} s, add_embeddings {b:.3f} s (median of {repeats}): "
          f"add_embeddings / lookup = {b / a:.2f}")


def areas(grid) -> None:
    import geopandas as gpd

    for name in ("ne_continents.geojson", "eco_biomes.geojson"):
        polygons = gpd.read_file(POLYGONS / name)
        start = time.perf_counter()
        out = satcle.add_embeddings(polygons, grid=grid)
        seconds = time.perf_counter() - start
        cells = out["embedding_cells"]
        print(f"{name}: {len(polygons):,} polygons in {seconds:.2f} s, {int(cells.sum()):,} cells averaged, "
              f"{int((cells == 0).sum()):,} smaller than a res-{grid.resolution} cell (taken at a point)")


if __name__ == "__main__":
    main()
