"""Opening a grid and `Grid.lookup` throughput, against physical bounds measured in the same run.

Run:  python benchmarks/bench_lookup.py [--res 6] [--points 1000000] [--grid DIR]

The grid is written by the builder in this process (`build_grid.engine.write_cells`,
the cells around --points random land points and their neighbours: what a full
land grid holds there), or is an existing grid (--grid, e.g. one `satcle-grid build`
wrote). Printed side by side, each figure measured in this run:

* opening, in fresh processes (page cache as the build left it; medians of 3): `open_grid`
  without the checksum pass (`verify_checksums=False`) vs reading the rows alone
  (the stored embedding bytes, read into memory the process already holds), the resident memory that
  opening added vs the row bytes, and the default open (every file's checksum
  verified first);
* the lookup files: index bytes vs row bytes;
* in a fresh process after the default open, the first `lookup` of the points vs
  the best of the following four, into a new output array each call (the
  previous result dropped: the grid reuses its memory) and with `out=` (an
  array the process wrote before), and beside them the same for an array of the
  output's size written by numpy alone (what fresh memory costs the process);
* points/s of `method="cell"` and `"interp"` (best of 5, all cores; into a new
  array each call, the previous one dropped, with `out=` into a reused one, and
  float16 output), against the live
  encoder and a bandwidth bound: bytes a lookup must touch (K stored rows read,
  one output row written) / copy throughput (read + write; the faster of
  `np.copyto`, one thread, and a copy parallel over all cores, as the lookup is,
  each the best of the copies timed before, between and after the lookups and
  in 3 fresh processes: this VM's copy rate moves from 29 to 57 GB/s from one
  moment or process to the next, and the bound is the best);
* the two compiled passes of `interp` alone (`locate`, `gather_blend` with the rows known),
  and the gather writing its rows in the sorted order instead of the caller's, and
  with every point's rows in cache (its writes alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from land_grid import best_of, grid_path

FIRST_CALLS = 5
FRESH_PROCESSES = 3


def copy_bandwidth(megabytes: int = 512):
    """A function timing copies of float32 arrays: it returns bytes per second
    (read + write), {"np.copyto": one thread, "all cores": a numba loop parallel
    over the cores, as the lookup is}, each the best of 5. The arrays and the
    compiled loop are made once, here, so that it can be called around the lookups."""
    import numba

    @numba.njit(parallel=True, cache=False)
    def parallel_copy(src, dst):
        for i in numba.prange(src.size):
            dst[i] = src[i]

    src = np.ones(megabytes * (1 << 20) // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    parallel_copy(src, dst)   # compiled and the pages touched before timing

    def measure() -> dict[str, float]:
        return {"np.copyto": 2 * src.nbytes / best_of(5, lambda: np.copyto(dst, src)),
                "all cores": 2 * src.nbytes / best_of(5, lambda: parallel_copy(src, dst))}

    return measure


def resident_bytes() -> int:
    """Resident memory of this process now (Linux: /proc/self/statm), file pages mapped in included."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def faults_and_system_seconds() -> tuple[int, float]:
    """Page faults so far, and CPU seconds spent in the kernel (faulting memory in)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt + usage.ru_majflt, usage.ru_stime


def child(task: str, grid_dir: str, points: str) -> dict:
    """One measurement in this fresh process (what a new pipeline job pays)."""
    from satcle import open_grid
    from satcle.grid.format.store import read_manifest

    before = resident_bytes()
    if task == "fill":
        # No grid: a new array of the lookup's output size, written by numpy, FIRST_CALLS
        # times: what fresh memory costs this process, whatever writes it.
        lats, _ = np.load(points)
        dim = read_manifest(grid_dir).dim
        result = {"calls": [], "system": []}
        for _ in range(FIRST_CALLS):
            _, system = faults_and_system_seconds()
            result["calls"].append(best_of(1, lambda: np.empty((lats.size, dim), np.float32).fill(1.0)))
            result["system"].append(faults_and_system_seconds()[1] - system)
        return result
    if task == "copy":
        # The copies of the bound in a process that holds nothing else.
        return copy_bandwidth()()
    if task == "rows":
        # The rows alone: the embedding bytes of the grid's rows file, read into memory the
        # process already holds (fresh memory's first touch, which varies on this VM, not counted).
        manifest = read_manifest(grid_dir)
        entry = next(f for f in manifest.lookup.files if f.name == "values")
        path = Path(grid_dir) / entry.file
        data = np.ones(path.stat().st_size, dtype=np.uint8)
        start = time.perf_counter()
        read, view = 0, memoryview(data)
        with open(path, "rb", buffering=0) as handle:
            while read < data.size:   # one read(2) moves at most about 2 GB
                read += handle.readinto(view[read:])
        return {"seconds": time.perf_counter() - start, "bytes": read}
    start = time.perf_counter()
    # First calls follow the default open, as a user's do; "open" measures it without the checksum pass.
    grid = open_grid(grid_dir, verify_checksums=task != "open")
    # The current resident size, not getrusage's peak: a child's peak starts at its parent's size.
    result = {"seconds": time.perf_counter() - start, "rss": resident_bytes() - before}
    if task in ("first", "first-out"):
        lats, lons = np.load(points)
        # "first-out": into the caller's array, written once before (memory the process already holds).
        out = np.ones((lats.size, grid.dim), np.float32) if task == "first-out" else None
        result["calls"], result["faults"], result["system"] = [], [], []
        for _ in range(FIRST_CALLS):
            faults, system = faults_and_system_seconds()
            result["calls"].append(best_of(1, lambda: grid.lookup(lats, lons, on_miss="nan", out=out)))
            after = faults_and_system_seconds()
            result["faults"].append(after[0] - faults)
            result["system"].append(after[1] - system)
    return result


def median_seconds(runs: list[dict]) -> dict:
    """The run of median "seconds" among `runs`."""
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def in_fresh_process(task: str, grid_dir: Path, points: Path) -> dict:
    output = subprocess.run([sys.executable, __file__, "--child", task, str(grid_dir), str(points)], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=6, help="H3 resolution of the grid written (default 6)")
    parser.add_argument("--points", type=int, default=1_000_000, help="random land points looked up (default 1M)")
    parser.add_argument("--live-points", type=int, default=100_000, help="points for the live encoder (default 100k)")
    parser.add_argument("--grid", type=grid_path, default=None,
                        help="an existing grid to measure instead of writing one ('default': the default grid)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    from land_grid import add_model_options, model_and_points, write_grid_around

    add_model_options(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    import torch

    from satcle import open_grid
    from satcle._ext.grid_blend import gather_blend
    from satcle._ext.grid_locate import AMBIGUOUS
    from satcle.grid.lookup.grid import spatial_order

    encoder, rng, lats, lons = model_and_points(args)
    with tempfile.TemporaryDirectory() as tmp:
        built = None
        if args.grid is None:
            start = time.perf_counter()
            path = write_grid_around(Path(tmp) / "grid", encoder, lats, lons, args.res, dtype=args.dtype,
                                     error_bound=False)
            built = time.perf_counter() - start
        else:
            path = args.grid
        points = Path(tmp) / "points.npy"
        np.save(points, np.stack([lats, lons]))
        # Medians of fresh processes: a process's first touch of fresh memory varies on this VM.
        rows_alone, opened, verified = (median_seconds([in_fresh_process(task, path, points)
                                                        for _ in range(FRESH_PROCESSES)])
                                        for task in ("rows", "open", "open-verified"))
        firsts = [in_fresh_process("first", path, points) for _ in range(FRESH_PROCESSES)]
        firsts_out = [in_fresh_process("first-out", path, points) for _ in range(FRESH_PROCESSES)]
        fills = [in_fresh_process("fill", path, points) for _ in range(FRESH_PROCESSES)]
        grid = open_grid(path, encoder=encoder)
        # The bound is what the machine can do: the best copy before and after the lookups.
        copy_rates = copy_bandwidth()
        copies = copy_rates()
        for _ in range(FRESH_PROCESSES):
            for name, rate in in_fresh_process("copy", path, points).items():
                copies[name] = max(copies[name], rate)

        def best_copies() -> None:
            for name, rate in copy_rates().items():
                copies[name] = max(copies[name], rate)

        steady = measure_steady(grid, lats, lons, gather_blend, spatial_order, best_copies)
        best_copies()
        cell_rows, _, _ = grid.locate(lats, lons)
        ambiguous = int((cell_rows == AMBIGUOUS).sum())

    live_lats, live_lons = lats[: args.live_points], lons[: args.live_points]
    encoder.encode(live_lats[:1000], live_lons[:1000])
    live_rate = live_lats.size / best_of(2, lambda: encoder.encode(live_lats, live_lons))
    bandwidth = max(copies.values())   # the bound: the faster way to move the bytes

    d, item = grid.dim, grid.table.values.dtype.itemsize
    row_bytes = grid.table.values.nbytes
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"model {encoder.metadata.get('name')} sha256 {encoder.metadata.get('sha256')} "
          f"(trained: {encoder.metadata.get('trained', 'unknown')}), {encoder.summary()}")
    source = f"written by the builder in {built:.0f} s" if built is not None else f"at {args.grid}"
    print(f"grid: res {grid.resolution}, {grid.num_cells:,} cells ({source}), {args.dtype} rows "
          f"{row_bytes / 1e9:.3f} GB; {lats.size:,} random land points")
    print(f"index: {grid.index.nbytes / 1e9:.3f} GB = {grid.index.nbytes / row_bytes:.0%} of the row bytes "
          f"({grid.index.nbytes / grid.num_cells:.0f} bytes per cell)")
    print(f"open (fresh process, verify_checksums=False): {opened['seconds'] * 1e3:,.1f} ms; reading the rows "
          f"alone: {rows_alone['seconds'] * 1e3:,.1f} ms; ratio {opened['seconds'] / rows_alone['seconds']:.2f}x")
    print(f"open with every file's checksum verified (the default): {verified['seconds'] * 1e3:,.1f} ms; ratio to "
          f"the rows alone {verified['seconds'] / rows_alone['seconds']:.2f}x")
    print(f"resident memory added by open: {opened['rss'] / 1e6:,.1f} MB = {opened['rss'] / row_bytes:.1%} of the "
          f"row bytes")
    for runs, what in ((firsts, "interp into a new array each call, the previous one dropped"),
                       (firsts_out, "interp with out=, the caller's array written before the first call")):
        # The median over fresh processes of (first call, best later call), by the ratio of the two.
        first = sorted(runs, key=lambda r: min(r["calls"][1:]) / r["calls"][0])[len(runs) // 2]
        calls, faults, system = first["calls"], first["faults"], first["system"]
        print(f"first lookup in a fresh process after the default open: {lats.size / calls[0]:,.0f} points/s "
              f"({faults[0]:,} page faults, {system[0]:.2f} s in the kernel); best of the next {len(calls) - 1}: "
              f"{lats.size / min(calls[1:]):,.0f} points/s ({min(faults[1:]):,} page faults, {min(system[1:]):.2f} s "
              f"in the kernel); first = {min(calls[1:]) / calls[0]:.0%} of steady ({what}; median of "
              f"{len(runs)} processes)")
    fill = sorted(fills, key=lambda r: min(r["calls"][1:]) / r["calls"][0])[len(fills) // 2]
    print(f"the same output written by numpy alone (np.empty + fill) in a fresh process: first {fill['calls'][0]:.2f} s "
          f"({fill['system'][0]:.2f} s in the kernel), best of the next {len(fill['calls']) - 1}: "
          f"{min(fill['calls'][1:]):.2f} s ({min(fill['system'][1:]):.2f} s); first = "
          f"{min(fill['calls'][1:]) / fill['calls'][0]:.0%} of steady (median of {len(fills)} processes)")
    print(f"points resolved by h3 (within rounding of an edge): {ambiguous}")
    print(f"copy bandwidth (read + write): {bandwidth / 1e9:.1f} GB/s, the faster of " + ", ".join(
        f"{name} {rate / 1e9:.1f} GB/s" for name, rate in copies.items()))
    print(f"live encoder: {live_rate:,.0f} points/s")
    print(f"{'method':>18} {'points/s':>12} {'x live':>8} {'bytes/pt':>9} {'bound pts/s':>12} {'of bound':>9}")
    for name, seconds in steady.items():
        rows = 1 if name.startswith("cell") else 3
        out_item = 2 if "float16" in name else 4
        touched = rows * d * item + d * out_item
        rate = lats.size / seconds
        bound = bandwidth / touched
        if name == "locate":
            print("interp, each compiled pass alone (sorted points; the gather writes to the callers' order; "
                  "'in order': to the sorted order; 'writes alone': its rows all in cache):")
        print(f"{name:>18} {rate:>12,.0f} {rate / live_rate:>7.1f}x {touched:>9} {bound:>12,.0f} {rate / bound:>8.0%}")


def measure_steady(grid, lats, lons, gather_blend, spatial_order, between) -> dict[str, float]:
    """Seconds (best of 5) of each lookup variant and of the two compiled passes of interp;
    `between()` runs after each variant (it times the copies of the bound)."""
    buffer = grid.lookup(lats, lons, method="cell", on_miss="nan")   # reused as a caller would: 64-byte aligned
    half = grid.lookup(lats, lons, method="cell", on_miss="nan", dtype=np.float16)
    timings = {}
    for method in ("cell", "interp"):
        timings[method] = best_of(5, lambda: grid.lookup(lats, lons, method=method, on_miss="nan"))
        timings[f"{method} out="] = best_of(5, lambda: grid.lookup(lats, lons, method=method, on_miss="nan",
                                                                    out=buffer))
        between()
    timings["interp float16"] = best_of(5, lambda: grid.lookup(lats, lons, on_miss="nan", dtype=np.float16))
    timings["interp float16 out="] = best_of(5, lambda: grid.lookup(lats, lons, on_miss="nan", out=half))
    between()
    order, sorted_lats, sorted_lons = spatial_order(lats, lons)
    _, tri_rows, tri_weights = grid.locate(sorted_lats, sorted_lons, interp=True, exact_cell=False)
    timings["locate"] = best_of(3, lambda: grid.locate(sorted_lats, sorted_lons, interp=True, exact_cell=False))
    timings["gather"] = best_of(3, lambda: gather_blend(grid._values, grid._scale, grid._half_table, tri_rows,
                                                        tri_weights, buffer, order))
    between()
    # What the gather's time is made of: its output rows written in the sorted order
    # (no scatter), and its writes alone (every point blends row 0's copies, in cache).
    in_order = np.empty(0, dtype=np.int64)
    timings["gather in order"] = best_of(3, lambda: gather_blend(grid._values, grid._scale, grid._half_table,
                                                                 tri_rows, tri_weights, buffer, in_order))
    cached = np.zeros_like(tri_rows)
    timings["writes alone"] = best_of(3, lambda: gather_blend(grid._values, grid._scale, grid._half_table, cached,
                                                              tri_weights, buffer, order))
    return timings


if __name__ == "__main__":
    main()
