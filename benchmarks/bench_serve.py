"""Start of `satcle-grid serve`: time to the first page and resident memory, as ratios
to `open_grid` alone, each measured in fresh processes, side by side.

Run:  python benchmarks/bench_serve.py [--res 5] [--dim 256] [--repeats 3]
      python benchmarks/bench_serve.py --grid DIR|default    (a grid `satcle-grid build` wrote)

Without --grid it writes, in a temporary directory, a land grid of --res with its
pyramid (a small random encoder of --dim outputs: values do not matter here, sizes
do). Then, alternating, --repeats times each (files in the page cache):

* open_grid alone: a fresh Python that imports satcle and opens the grid (checksums
  verified, as by default); timed from the process's start to the open's end;
* serve: ``satcle-grid serve DIR --port 0`` in a fresh process, timed from its start
  until it has answered everything the page asks for before its first draw: the
  page and its assets, /api/info, /api/land and the cells of the world view (the
  resolution the page picks for it).

Memory is each process's, read from /proc/PID/status once it is ready: VmRSS
(resident), its anonymous part (RssAnon: the process's own memory) and its file
part (RssFile: mapped files' pages, here the grid's lookup files, shared with the
page cache), and VmHWM (the peak). The row bytes are the stored embeddings' (cells x
dim x bytes per value). Last, on the last server: how long after the first page the
place names (loaded in the background once the first view is answered) answer a
search, then one click's requests, /api/similar (a full pass over the grid's rows)
and /api/cells with a reference point, and the memory after them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from land_grid import grid_path

REPO = Path(__file__).resolve().parents[1]
STARTUP_S = 600.0
# The page's first view (satcle.js): the world between +-85 degrees, the finest resolution with
# at most TARGET_CELLS cells in it, estimated from every cell of that resolution.
WORLD_BOX = (-180.0, -85.0, 180.0, 85.0)
TARGET_CELLS = 15_000
OPEN_ONLY = ("import sys, satcle; grid = satcle.open_grid(sys.argv[1]); print('ready', flush=True); sys.stdin.read()")
CLICK = (48.85, 2.35)


def memory(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon, RssFile, VmHWM of a process, bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = float(value.split()[0]) * 1024
    return fields


def run_open_grid(grid: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", OPEN_ONLY, str(grid)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = process.stdout.readline()
        seconds = time.perf_counter() - start
        if line.strip() != "ready":
            raise SystemExit(f"open_grid failed (exit {process.wait()})")
        return seconds, memory(process.pid)
    finally:
        process.stdin.close()
        process.wait(timeout=60)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=STARTUP_S) as response:
        return response.read()


def first_view_res(info: dict) -> int:
    """The resolution the page draws its first view at (satcle.js's chooseRes)."""
    west, south, east, north = WORLD_BOX
    share = (east - west) / 360 * (math.sin(math.radians(north)) - math.sin(math.radians(south))) / 2
    chosen = info["levels"][0]["res"]
    for level in info["levels"]:
        if level["all_cells"] * share <= TARGET_CELLS:
            chosen = level["res"]
    return chosen


def first_page(url: str) -> None:
    """Everything the page asks for before its first draw."""
    html = get(url).decode()
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        get(url + asset.lstrip("/"))
    info = json.loads(get(url + "api/info"))
    get(url + "api/land")
    bbox = ",".join(f"{v:.4f}" for v in WORLD_BOX)
    cells = json.loads(get(url + f"api/cells?res={first_view_res(info)}&bbox={bbox}"))
    assert cells["count"] > 0, cells


def run_serve(grid: Path, click: bool = False) -> tuple[float, dict, dict]:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "build_grid.cli", "serve", str(grid), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        line = process.stdout.readline()
        match = re.search(r"at (http://\S+/) ", line)
        if match is None:
            raise SystemExit(f"serve printed {line!r} (exit {process.poll()})")
        first_page(match.group(1))
        seconds = time.perf_counter() - start
        used = memory(process.pid)
        clicks = {}
        if click:
            clicks = click_times(match.group(1))
            clicks["memory"] = memory(process.pid)
        return seconds, used, clicks
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def click_times(url: str) -> dict[str, float]:
    """Seconds, on the server that has just answered the first page: until the place
    names (loading in the background since the first view) answer a search; then one
    click's requests: the top 10 (every row of the grid), and the view recoloured."""
    lat, lon = CLICK
    times = {}
    start = time.perf_counter()
    get(url + "api/places?q=paris&limit=1")
    times["places"] = time.perf_counter() - start
    start = time.perf_counter()
    get(url + f"api/similar?lat={lat}&lon={lon}&k=10")
    times["similar"] = time.perf_counter() - start
    info = json.loads(get(url + "api/info"))
    bbox = ",".join(f"{v:.4f}" for v in WORLD_BOX)
    start = time.perf_counter()
    get(url + f"api/cells?res={first_view_res(info)}&bbox={bbox}&ref={lat},{lon}")
    times["cells_ref"] = time.perf_counter() - start
    return times


def write_grid(directory: Path, res: int, dim: int) -> Path:
    """A land grid of resolution `res` with its pyramid, embedded by a small random encoder."""
    import torch

    from build_grid.coverage import coverage_mask
    from build_grid.engine import write_cells
    from satcle import EncoderConfig, LocationEncoder
    from satcle.geo.h3_cells import cells_at_resolution

    torch.manual_seed(0)
    encoder = LocationEncoder(EncoderConfig(legendre_degree=4, hidden_dim=32, output_dim=dim))
    cells = cells_at_resolution(res)
    cells = cells[coverage_mask(cells, "land")]
    return write_cells(directory, encoder, cells, coverage="land", error_bound=False, pyramid=True)


def compare(grid: Path, repeats: int) -> None:
    from satcle.grid.format.store import read_manifest

    manifest = read_manifest(grid)
    row_bytes = manifest.total_cells * manifest.dim * np.dtype(manifest.dtype).itemsize
    run_open_grid(grid)   # files into the page cache
    opens, serves = [], []
    clicks = {}
    for attempt in range(repeats):
        opens.append(run_open_grid(grid))
        seconds, used, times = run_serve(grid, click=attempt == repeats - 1)
        serves.append((seconds, used))
        clicks.update(times)
    print(f"grid: res {manifest.resolution}, {manifest.coverage}, {manifest.dtype}[{manifest.dim}], "
          f"{manifest.total_cells:,} cells, pyramid levels {[level.resolution for level in manifest.pyramid]}; "
          f"row bytes {row_bytes / 1e6:,.1f} MB")
    print(f"{'':<16}{'seconds':>9}{'VmRSS MB':>10}{'RssAnon MB':>12}{'RssFile MB':>12}{'VmHWM MB':>10}")
    rows = {}
    for name, runs in (("open_grid alone", opens), ("serve", serves)):
        seconds = statistics.median(s for s, _ in runs)
        used = {key: statistics.median(m[key] for _, m in runs) for key in runs[0][1]}
        rows[name] = (seconds, used)
        print(f"{name:<16}{seconds:>9.2f}{used['VmRSS'] / 1e6:>10.1f}{used['RssAnon'] / 1e6:>12.1f}"
              f"{used['RssFile'] / 1e6:>12.1f}{used['VmHWM'] / 1e6:>10.1f}")
    (open_s, open_m), (serve_s, serve_m) = rows["open_grid alone"], rows["serve"]
    print(f"serve / open_grid alone: time to first page {serve_s / open_s:.2f}x, resident memory "
          f"{serve_m['VmRSS'] / open_m['VmRSS']:.2f}x (anonymous {serve_m['RssAnon'] / open_m['RssAnon']:.2f}x, "
          f"peak {serve_m['VmHWM'] / open_m['VmHWM']:.2f}x); medians of {repeats}, fresh processes, alternating")
    print(f"serve's memory beyond open_grid's: {(serve_m['RssAnon'] - open_m['RssAnon']) / 1e6:,.1f} MB anonymous "
          f"= {(serve_m['RssAnon'] - open_m['RssAnon']) / row_bytes:.1%} of the row bytes; its whole anonymous "
          f"memory {serve_m['RssAnon'] / row_bytes:.1%} of them")
    after = clicks["memory"]
    print(f"then (last run): place names ready {clicks['places']:.2f} s later; one click: "
          f"/api/similar (k=10, every row) {clicks['similar']:.2f} s; "
          f"/api/cells of the first view with ref {clicks['cells_ref']:.2f} s; then VmRSS {after['VmRSS'] / 1e6:,.1f} "
          f"MB, RssAnon {after['RssAnon'] / 1e6:,.1f} MB ({after['RssAnon'] / row_bytes:.1%} of the row bytes; "
          f"place names loaded), VmHWM {after['VmHWM'] / 1e6:,.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=grid_path,
                        help="measure this grid instead of writing one ('default': the default grid)")
    parser.add_argument("--res", type=int, default=5, help="resolution of the grid written (default 5)")
    parser.add_argument("--dim", type=int, default=256, help="embedding size of the grid written (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind (default 3)")
    args = parser.parse_args()
    if args.grid is not None:
        compare(args.grid, args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        compare(write_grid(Path(tmp) / "grid", args.res, args.dim), args.repeats)


if __name__ == "__main__":
    main()
