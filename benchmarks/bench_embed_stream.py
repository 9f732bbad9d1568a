"""Streaming bulk embedding: ``satcle embed --input points.csv --output out.parquet --grid DIR``.

Run:  python benchmarks/bench_embed_stream.py [--points 2000000] [--res 3]

Builds a global float16 grid of the shipped `default` model at --res in this process
(`build_grid.engine.write_cells`, no error bounds), writes --points random points on
the sphere as a CSV (id, lat, lon), and runs the command line in a child process.
It prints, measured side by side in this run: rows/s of the whole command (read
CSV, lookup, write Parquet with the input columns and FLOAT[256] embeddings), rows/s
of `Grid.lookup` alone on the same points held in memory (the ceiling the command
would reach if reading and writing were free), their ratio, and the command's peak
RSS (goal: <= 1.5 GB, independent of the file's size). It then reads the output
back in batches and checks: as many rows as the input, ids in input order, and
every 997th embedding equal to `Grid.lookup` of its point.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h3
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import satcle
from build_grid.engine import write_cells
from satcle.grid.lookup import open_grid

GOAL_RSS_BYTES = 1.5e9
# Runs `satcle ARGS` and prints its peak RSS (kB) last on stderr. VmHWM, not ru_maxrss: Linux carries
# ru_maxrss over exec from the forked copy of this (large) process, VmHWM is the new program's own.
PEAK_RSS_WRAPPER = """
import runpy, sys
sys.argv = ["satcle", *sys.argv[1:]]
try:
    runpy.run_module("satcle.cli", run_name="__main__")
finally:
    print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1], file=sys.stderr)
"""
SAMPLE_STEP = 997


def random_points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n,) lats, lons degrees, uniform on the sphere, rounded to 1e-6 degrees as in a CSV."""
    rng = np.random.default_rng(seed)
    lats = np.round(np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n))), 6)
    return lats, np.round(rng.uniform(-180.0, 180.0, n), 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--res", type=int, default=3, help="H3 resolution of the global grid (3: 41,162 cells)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-embed-stream-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        cells = np.array([h3.str_to_int(c) for c in h3.get_res0_cells()], dtype=np.uint64)
        cells = np.concatenate([np.array([h3.str_to_int(c) for c in h3.cell_to_children(h3.int_to_str(int(p)),
                                                                                      args.res)], dtype=np.uint64)
                                for p in cells])
        grid_dir = write_cells(root / "grid", satcle.load_encoder("default"), cells, error_bound=False)
        print(f"grid: {cells.size:,} cells, res {args.res}, global float16, built in {time.perf_counter() - started:.1f} s")

        lats, lons = random_points(args.points)
        source = root / "points.csv"
        pacsv.write_csv(pa.table({"id": np.arange(args.points, dtype=np.int64), "lat": lats, "lon": lons}), source)
        print(f"input: {args.points:,} points, {source.stat().st_size / 1e6:.0f} MB of CSV")

        grid = open_grid(grid_dir)
        grid.lookup(lats[:1000], lons[:1000])   # first-call costs (threads, kernels) out of the timing
        start = time.perf_counter()
        grid.lookup(lats, lons)
        lookup_rate = args.points / (time.perf_counter() - start)

        output = root / "out.parquet"
        command = [sys.executable, "-c", PEAK_RSS_WRAPPER, "embed", "--input", str(source), "--output", str(output),
                   "--grid", str(grid_dir), "--no-progress"]
        start = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"satcle embed failed: {done.stderr}")
        peak_rss = int(done.stderr.strip().splitlines()[-1]) * 1024
        stream_rate = args.points / seconds

        rows, sample_rows, sample_embeddings = 0, [], []
        for batch in pq.ParquetFile(output).iter_batches(batch_size=65_536, columns=["id", "embedding"]):
            ids = batch.column("id").to_numpy()
            if not np.array_equal(ids, np.arange(rows, rows + ids.size)):
                sys.exit(f"output rows {rows}..{rows + ids.size} are not the input's, in order")
            take = np.arange((-rows) % SAMPLE_STEP, ids.size, SAMPLE_STEP)
            sample_rows.append(rows + take)
            sample_embeddings.append(np.stack(batch.column("embedding").take(pa.array(take)).to_numpy(
                zero_copy_only=False)))
            rows += ids.size
        sample = np.concatenate(sample_rows)
        same = np.array_equal(np.concatenate(sample_embeddings), grid.lookup(lats[sample], lons[sample]))
        if rows != args.points or not same:
            sys.exit(f"output: {rows:,} rows (input {args.points:,}), sampled embeddings equal lookup: {same}")

        print(f"output: {output.stat().st_size / 1e9:.2f} GB of Parquet; {rows:,} rows, ids in input order, "
              f"{sample.size:,} sampled embeddings equal to Grid.lookup")
        print(f"{'':24} {'rows/s':>12}")
        print(f"{'satcle embed (stream)':24} {stream_rate:>12,.0f}   {seconds:.1f} s wall, whole command "
              f"(start-up included)")
        print(f"{'Grid.lookup alone':24} {lookup_rate:>12,.0f}   in memory, same points")
        print(f"stream / lookup: {stream_rate / lookup_rate:.0%}")
        verdict = "met" if peak_rss <= GOAL_RSS_BYTES else "NOT met"
        print(f"peak RSS of the command: {peak_rss / 1e9:.2f} GB (goal <= {GOAL_RSS_BYTES / 1e9:.1f} GB: {verdict})")


if __name__ == "__main__":
    main()
