"""Size of the cell index, array by array, and the bucket size's trade of bytes for speed.

Run:  python benchmarks/bench_index.py [--res 6] [--points 1000000] [--radii 1.5 2 3]

Indexes the cells around --points random land points plus their neighbours (the
cells `bench_lookup.py` writes; seed 0, so the same grid), and prints the bytes
per cell of every index array and the index's share of the float16 row bytes
(D = 256). Then, for each bucket side in --radii (search radii; the default is
`BUCKET_RADII`), the raster's bytes per cell and the compiled `locate` alone on
the points (spatially sorted, as a lookup sorts them): interp (nearest centre and
triangle) and the exact containing cell, best of 3, the settings alternating
over --rounds rounds in one process so that they share the machine's load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from land_grid import best_of, cells_around

ROW_BYTES = 256 * 2   # one float16 row at D = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=6, help="H3 resolution (default 6)")
    parser.add_argument("--points", type=int, default=1_000_000, help="random land points (default 1M)")
    parser.add_argument("--radii", type=float, nargs="+", default=[1.5, 2.0, 3.0],
                        help="bucket sides to compare, in search radii (default 1.5 2 3)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (default 3)")
    args = parser.parse_args()

    import satcle.grid.lookup.cell_index as cell_index
    from satcle.geo import sample_land
    from satcle.geo.h3_cells import cell_centers
    from satcle.grid.format.reader import GridTable
    from satcle.grid.lookup.grid import Grid, spatial_order

    lats, lons = sample_land(args.points, np.random.default_rng(0))
    cells = cells_around(lats, lons, args.res)[1]
    centre_lats, centre_lons = cell_centers(cells)
    table = GridTable(h3=cells, lat=centre_lats, lon=centre_lons, values=np.zeros((cells.size, 1), np.float32),
                      scale=None, interp_error=None)
    m = cells.size
    grids = {}
    default = cell_index.BUCKET_RADII
    shown = default if default in args.radii else args.radii[0]   # whose arrays are listed
    for radii in args.radii:
        cell_index.BUCKET_RADII = radii
        start = time.perf_counter()
        index = cell_index.build_cell_index(cells, centre_lats, centre_lons)
        built = time.perf_counter() - start
        grids[radii] = Grid(table, resolution=args.res, index=index)
        if radii == shown:
            print(f"res {args.res}: {m:,} cells around {lats.size:,} land points; index built in {built:.1f} s "
                  f"(bucket side {radii:g} radii)")
            for name, array in index.arrays().items():
                print(f"  {name:>15} {str(array.dtype):>8} {str(array.shape):>18} {array.nbytes / m:7.1f} B/cell")
            print(f"  {'total':>15} {index.nbytes / m:7.1f} B/cell = {index.nbytes / (m * ROW_BYTES):.1%} of the "
                  f"float16 row bytes (D = 256); {index.vertices.shape[0] / m:.2f} vertices and "
                  f"{index.bucket_rows.size / m:.2f} bucket listings per cell")
    cell_index.BUCKET_RADII = default
    _, sorted_lats, sorted_lons = spatial_order(lats, lons)
    rates: dict[tuple[float, str], list[float]] = {}
    for _ in range(args.rounds):
        for radii, grid in grids.items():
            for mode, interp in (("interp", True), ("cell", False)):
                seconds = best_of(3, lambda: grid.locate(sorted_lats, sorted_lons, interp=interp,
                                                         exact_cell=not interp))
                rates.setdefault((radii, mode), []).append(lats.size / seconds)
    print(f"{'bucket side':>11} {'index B/cell':>12} {'raster B/cell':>13} {'locate interp':>14} "
          f"{'locate cell':>12}  (median of {args.rounds} rounds, points/s)")
    for radii, grid in grids.items():
        index = grid.index
        raster = (index.bucket_rows.nbytes + index.bucket_offsets.nbytes) / m
        print(f"{radii:>11g} {index.nbytes / m:>12.1f} {raster:>13.1f} "
              f"{np.median(rates[radii, 'interp']):>14,.0f} {np.median(rates[radii, 'cell']):>12,.0f}")


if __name__ == "__main__":
    main()
