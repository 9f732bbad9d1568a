"""How close grid lookups are to the live encoder, per H3 resolution.

Run:  python benchmarks/fidelity_lookup.py [--res 4 5 6 7] [--points 100000] [--model NAME|DIR]
(global-land-mask, a core dependency, samples the land points; any model kind,
e.g. a GeoCLIP directory from `satcle import geoclip`)

For --points random points uniform over land and the given model it prints, per
resolution and for `method="cell"` and `method="interp"`:
* cosine similarity between lookup and live embedding: median and 1st
  percentile (the worst 1 %);
* relative error ||lookup - live|| / (mean ||live(a) - live(b)|| over random
  pairs of land points): median and 99th percentile;
and for the precision contract (``interp_error`` computed for the cells the
points fall in): the share of points whose measured ||interp - live|| / ||live||
is within their cell's bound, and the share that `tolerance=0.01` sends live.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from satcle import open_grid
from satcle.geo.h3_cells import latlng_to_cells
from satcle.grid.lookup import interp_error

from build_grid.engine import write_cells
from land_grid import add_model_options, cells_around, model_and_points


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, nargs="+", default=[4, 5, 6, 7], help="H3 resolutions (default 4 5 6 7)")
    parser.add_argument("--points", type=int, default=100_000, help="random land points (default 100k)")
    add_model_options(parser)
    args = parser.parse_args()

    encoder, rng, lats, lons = model_and_points(args)
    live = encoder.encode(lats, lons)
    pair = rng.permutation(lats.size)
    pair_distance = float(np.linalg.norm(live - live[pair], axis=1).mean())
    print(f"model {encoder.metadata.get('name')} sha256 {encoder.metadata.get('sha256')} "
          f"(trained: {encoder.metadata.get('trained', 'unknown')}), {encoder.summary()}, dtype {args.dtype}")
    print(f"{lats.size:,} land points; mean distance between live embeddings of random pairs: {pair_distance:.4f}")
    print(f"{'res':>3} {'method':>7} {'cos median':>11} {'cos p1':>9} {'rel median':>11} {'rel p99':>8}"
          f" {'within bound':>13} {'live at tol 1%':>15}")
    for res in args.res:
        start = time.perf_counter()
        containing, disk = cells_around(lats, lons, res)
        with tempfile.TemporaryDirectory() as tmp:
            grid = open_grid(write_cells(Path(tmp), encoder, disk, dtype=args.dtype, error_bound=False,
                                        coverage="land"), encoder=encoder)
        rows = grid.rows_of(containing)
        bound = np.zeros(grid.num_cells, dtype=np.float32)
        bound[rows] = interp_error(encoder, containing, grid.table.h3, grid.table.values, grid.table.scale)
        for method in ("cell", "interp"):
            emb = grid.lookup(lats, lons, method=method, on_miss="raise")
            cos = cosine(emb, live)
            rel = np.linalg.norm(emb - live, axis=1) / pair_distance
            extra = ""
            if method == "interp":
                # Each point's own cell (h3 decides, as `method="cell"` does; `locate` alone
                # leaves points within rounding of an edge AMBIGUOUS).
                point_rows = grid.rows_of(latlng_to_cells(lats, lons, res))
                own = np.linalg.norm(emb - live, axis=1) / np.linalg.norm(live, axis=1)
                point_bound = bound[point_rows]
                extra = f" {np.mean(own <= point_bound):>12.2%} {np.mean(point_bound > 0.01):>14.2%}"
            print(f"{res:>3} {method:>7} {np.median(cos):>11.6f} {np.percentile(cos, 1):>9.6f}"
                  f" {np.median(rel):>10.3%} {np.percentile(rel, 99):>7.3%}{extra}")
        print(f"    ({grid.num_cells:,} cells, {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
