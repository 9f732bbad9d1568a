"""Throughput of `Grid.lookup` against the live encoder and the memory-bandwidth bound.

Run:  python benchmarks/bench_lookup.py [--res 6] [--points 1000000]
(global-land-mask, a core dependency, samples the land points)

On --points random land points, float32 out, it prints, measured side by side
in this run: points/s of `method="cell"` and `method="interp"` (best of 5, all
cores; into a new array, and with `out=` into a reused one), of the live encoder (the grid's model, on a subset), their ratio, and the
ratio to a bandwidth bound: bytes a lookup must touch (K stored rows read, one
float32 row written) / `np.copyto` throughput (read + write bytes per second).
It also times the two compiled passes of `interp` alone (`locate`, then
`gather_blend` with the rows known), the ceiling each would leave if the other
were free.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from satcle import open_grid
from satcle._ext.grid_blend import gather_blend
from satcle._ext.grid_locate import AMBIGUOUS
from satcle.grid.lookup.grid import spatial_order

from land_grid import add_model_options, model_and_points, write_grid_around


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def copy_bandwidth(megabytes: int = 512) -> float:
    """Bytes per second moved by np.copyto (read + write) on float32 arrays."""
    src = np.ones(megabytes * (1 << 20) // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return 2 * src.nbytes / best_of(3, lambda: np.copyto(dst, src))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=6, help="H3 resolution of the grid (default 6)")
    parser.add_argument("--points", type=int, default=1_000_000, help="random land points looked up (default 1M)")
    parser.add_argument("--live-points", type=int, default=100_000, help="points for the live encoder (default 100k)")
    add_model_options(parser)
    args = parser.parse_args()

    encoder, rng, lats, lons = model_and_points(args)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = write_grid_around(Path(tmp), encoder, lats, lons, args.res, dtype=args.dtype, error_bound=False)
        built = time.perf_counter() - start
        start = time.perf_counter()
        grid = open_grid(path, encoder=encoder, index_cache=False)
        opened = time.perf_counter() - start

    cell_rows, _, _ = grid.locate(lats, lons)
    # Reuse an array the lookup returned, as a caller would (it is 64-byte aligned).
    buffer = grid.lookup(lats, lons, method="cell", on_miss="nan")
    timings = {}
    for method in ("cell", "interp"):
        timings[method] = best_of(5, lambda: grid.lookup(lats, lons, method=method, on_miss="nan"))
        timings[f"{method} out="] = best_of(5, lambda: grid.lookup(lats, lons, method=method, on_miss="nan",
                                                                    out=buffer))
    # The two compiled passes of an interp lookup alone, on the spatially sorted
    # points: what the lookup would cost with a free search, or a free gather.
    order, sorted_lats, sorted_lons = spatial_order(lats, lons)
    _, tri_rows, tri_weights = grid.locate(sorted_lats, sorted_lons, interp=True, exact_cell=False)
    phases = {
        "locate": best_of(3, lambda: grid.locate(sorted_lats, sorted_lons, interp=True, exact_cell=False)),
        "gather": best_of(3, lambda: gather_blend(grid._values, grid._scale, grid._half_table, tri_rows,
                                                  tri_weights, buffer, order)),
    }
    live_lats, live_lons = lats[: args.live_points], lons[: args.live_points]
    encoder.encode(live_lats[:1000], live_lons[:1000])
    live_s = best_of(2, lambda: encoder.encode(live_lats, live_lons))
    bandwidth = copy_bandwidth()

    d = grid.dim
    item = grid.table.values.dtype.itemsize
    live_rate = live_lats.size / live_s
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"model {encoder.metadata.get('name')} sha256 {encoder.metadata.get('sha256')} "
          f"(trained: {encoder.metadata.get('trained', 'unknown')}), L={encoder.config.legendre_degree}")
    print(f"grid: res {args.res}, {grid.num_cells:,} cells around {lats.size:,} land points, {args.dtype} "
          f"({grid.table.values.nbytes / 1e9:.2f} GB rows + {grid.index.nbytes / 1e9:.2f} GB index, "
          f"{grid.index.nbytes / grid.num_cells:.0f} bytes per cell); "
          f"written in {built:.0f} s, opened and indexed in {opened:.1f} s")
    print(f"points resolved by h3 (within rounding of an edge): {int((cell_rows == AMBIGUOUS).sum())}")
    print(f"copy bandwidth (np.copyto, read + write): {bandwidth / 1e9:.1f} GB/s")
    print(f"live encoder: {live_rate:,.0f} points/s")
    print(f"{'method':>11} {'points/s':>12} {'x live':>8} {'bytes/pt':>9} {'bound pts/s':>12} {'of bound':>9}")
    for name, seconds in timings.items():
        rows = 1 if name.startswith("cell") else 3
        rate = lats.size / seconds
        touched = rows * d * item + d * 4
        bound = bandwidth / touched
        print(f"{name:>11} {rate:>12,.0f} {rate / live_rate:>7.1f}x {touched:>9} {bound:>12,.0f} {rate / bound:>8.0%}")
    touched = 3 * d * item + d * 4
    print("interp, each compiled pass alone (sorted points; the gather writes to the callers' order):")
    for name, seconds in phases.items():
        rate = lats.size / seconds
        print(f"{name:>11} {rate:>12,.0f} {rate / live_rate:>7.1f}x {touched:>9} {bandwidth / touched:>12,.0f} "
              f"{rate * touched / bandwidth:>8.0%}")


if __name__ == "__main__":
    main()
