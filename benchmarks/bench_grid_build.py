"""Grid build throughput against the encoder's own, measured side by side in one run.

Run:  python benchmarks/bench_grid_build.py [--res 5] [--coverage land] [--dtypes float16,int8,float32] [--no-error-bound]
      python benchmarks/bench_grid_build.py --res 5 --dtypes float16 --bound-cost   (without, then with bounds)

Prints, for each dtype, the encoder's throughput (`encode` on 1M random points,
all cores, as in bench_encoder.py) timed right before the wall time of a full
`build_grid` (cluster start-up, land mask loading, coverage, encoding, Parquet,
manifest and DuckDB included), cells/s, bytes per cell and the ratio of build
cells/s to encoder points/s; then the points the build's tasks gave the encoder
(per cell, per second and as a share of the encoder's own rate: with error bounds
a cell costs several evaluations, and this is the share of the build's time spent
doing them).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time

import numpy as np
import torch

import satcle
from build_grid.engine import BuildConfig, build_grid
from satcle.geo import sample_sphere
from satcle.model import LocationEncoder


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the Dask workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def encoder_points_per_second(points: int) -> tuple[float, float]:
    """(points/s, CPU microseconds per point) of `encode` on all cores."""
    torch.set_num_threads(os.cpu_count() or 1)
    encoder = satcle.load_encoder("default")
    rng = np.random.default_rng(0)
    lats, lons = sample_sphere(points, rng)
    encoder.encode(lats[:20000], lons[:20000])
    start, cpu = time.perf_counter(), cpu_seconds()
    encoder.encode(lats, lons)
    return points / (time.perf_counter() - start), (cpu_seconds() - cpu) / points * 1e6


class EncodeCounter:
    """Counts the points `LocationEncoder.encode` evaluates in this process while
    active: the local build's tasks run here, so this is the build's encoder work
    (cell centres, and with error bounds the halo and the probes)."""

    def __init__(self):
        self.points = 0
        self._lock = threading.Lock()
        self._original = LocationEncoder.encode

    def __enter__(self) -> "EncodeCounter":
        original, counter = self._original, self

        def counted(encoder, lats, lons, *args, **kwargs):
            with counter._lock:
                counter.points += len(lats)
            return original(encoder, lats, lons, *args, **kwargs)

        LocationEncoder.encode = counted
        return self

    def __exit__(self, *exc) -> None:
        LocationEncoder.encode = self._original


def stage_costs(res: int, coverage: str, dtype: str, error_bound: bool, partitions: int = 12) -> None:
    """Microseconds per stored cell of each stage of a partition task, one thread, in this process."""
    from build_grid.coverage import LandMask, covered_cells, stored_neighbors
    from build_grid.partition import BATCH_SIZE, evaluate_partition, partition_to_parquet
    from satcle.geo.h3_cells import cells_at_resolution

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    encoder = satcle.load_encoder("default")
    parents = cells_at_resolution(max(0, res - 5))
    parents = parents[np.linspace(0, parents.size - 1, partitions).astype(int)]
    land_mask = LandMask()
    evaluate = "evaluate (centres, encode, quantise" + (", error bound)" if error_bound else ")")
    seconds = {"coverage": 0.0, "encode": 0.0, evaluate: 0.0, "parquet": 0.0}
    cells_total = 0
    for parent in parents:
        t0 = time.perf_counter()
        cells = covered_cells(int(parent), res, coverage, land_mask)
        t1 = time.perf_counter()
        neighbors = stored_neighbors(cells, coverage, land_mask) if error_bound else None
        table = evaluate_partition(encoder, cells, dtype, neighbors=neighbors)
        t2 = time.perf_counter()
        partition_to_parquet(table)
        t3 = time.perf_counter()
        lats = table.column("lat").to_numpy()
        encoder.encode(lats, table.column("lon").to_numpy(), batch_size=BATCH_SIZE)
        t4 = time.perf_counter()
        seconds["coverage"] += t1 - t0
        seconds[evaluate] += t2 - t1
        seconds["parquet"] += t3 - t2
        seconds["encode"] += t4 - t3
        cells_total += cells.size
    torch.set_num_threads(threads)
    print(f"stages, one thread, {partitions} partitions, {cells_total:,} {dtype} cells (us per stored cell):")
    for name, value in seconds.items():
        print(f"  {name:<50} {value / max(cells_total, 1) * 1e6:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--res", type=int, default=5)
    parser.add_argument("--coverage", default="land")
    parser.add_argument("--dtypes", default="float16,int8,float32")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--stages", action="store_true", help="also time each stage of a partition task")
    parser.add_argument("--error-bound", action=argparse.BooleanOptionalAction, default=True,
                        help="measure builds that store interp_error (the build's default)")
    parser.add_argument("--bound-cost", action="store_true",
                        help="build the first dtype without, then with error bounds, and print the ratio")
    args = parser.parse_args()
    dtypes = args.dtypes.split(",")
    runs = [(dtypes[0], False), (dtypes[0], True)] if args.bound_cost else [(d, args.error_bound) for d in dtypes]
    if args.stages:
        stage_costs(args.res, args.coverage, dtypes[0], args.error_bound)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}")
    # The encoder is timed again right before each build: on a shared machine the
    # cores' availability drifts, and the ratio should compare like with like.
    # Wall-clock ratios drift with other load on the machine; CPU time per cell
    # (build: driver plus workers) against CPU time per point (encoder) does not.
    print(f"{'dtype':>8} {'bound':>5} {'encoder pts/s':>13} {'cells':>10} {'wall s':>7} {'cells/s':>9} "
          f"{'bytes/cell':>10} {'of encoder':>10} {'CPU us/pt enc':>13} {'CPU us/cell':>11} {'CPU ratio':>9} "
          f"{'enc pts/cell':>12} {'enc pts/s':>10} {'of encoder':>10}")
    measured = []
    for dtype, error_bound in runs:
        encoder_rate, encoder_cpu = encoder_points_per_second(args.points)
        cpu = cpu_seconds()
        with tempfile.TemporaryDirectory() as out:
            config = BuildConfig(resolution=args.res, coverage=args.coverage, dtype=dtype,
                                 workers=args.workers, out=out, error_bound=error_bound)
            with EncodeCounter() as counted:
                summary = build_grid(config, progress=False)
        build_cpu = (cpu_seconds() - cpu) / summary.cells * 1e6
        rate = summary.cells / summary.seconds
        measured.append((summary.seconds, build_cpu))
        print(f"{dtype:>8} {'yes' if error_bound else 'no':>5} {encoder_rate:>13,.0f} {summary.cells:>10,} "
              f"{summary.seconds:>7.1f} {rate:>9,.0f} {summary.nbytes / summary.cells:>10,.0f} "
              f"{rate / encoder_rate:>10.0%} {encoder_cpu:>13.1f} {build_cpu:>11.1f} {encoder_cpu / build_cpu:>9.0%} "
              f"{counted.points / summary.cells:>12.2f} {counted.points / summary.seconds:>10,.0f} "
              f"{counted.points / summary.seconds / encoder_rate:>10.0%}", flush=True)
    if args.bound_cost:
        (plain_wall, plain_cpu), (bound_wall, bound_cpu) = measured
        print(f"error bound costs {bound_wall / plain_wall:.2f}x the wall time, {bound_cpu / plain_cpu:.2f}x the CPU time")


if __name__ == "__main__":
    main()
