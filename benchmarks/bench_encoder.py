"""Throughput of `LocationEncoder.encode` against a naive float64 baseline.

Run:  python benchmarks/bench_encoder.py [--points 1000000]

For L = 10 and L = 40 (width 512, 2 sine layers, 256 out) it prints, measured
side by side in this run:
* satcle `encode` (compiled float32 SH + float32 MLP) points/s on --points points;
* the naive baseline: every harmonic evaluated separately from its closed form
  (scipy `lpmv` per (l, m), factorial normalisation) in float64, then a float64
  MLP, on a subset (it is slow);
* the ratio between them, and the ratio to the machine's float32 matmul bound
  (the same products timed alone, without SH, bias or sines; see `matmul_bound`).

The encoder and the bound alternate in rounds of --slice points (the encoder's
next slice of the points, then the bound on as many rows), so both see the same
machine load; "of bound" is the best encoder round over the best bound round,
and the last column each round's own ratio (median, min-max) over all rounds.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time

import numpy as np
import torch

from satcle import EncoderConfig, LocationEncoder
from satcle.model.location_encoder import CPU_CHUNK


def naive_features(lats: np.ndarray, lons: np.ndarray, degree: int) -> np.ndarray:
    """Each real harmonic from its own closed form, float64 (the reference style)."""
    from scipy.special import lpmv

    x = np.sin(np.radians(lats))
    phi = np.radians(lons)
    columns = []
    for l in range(degree):
        for m in range(-l, l + 1):
            k = abs(m)
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - k) / math.factorial(l + k))
            p = (-1) ** k * lpmv(k, l, x) * norm  # cancel Condon-Shortley
            if m == 0:
                columns.append(p)
            elif m > 0:
                columns.append(math.sqrt(2) * p * np.cos(k * phi))
            else:
                columns.append(math.sqrt(2) * p * np.sin(k * phi))
    return np.stack(columns, axis=-1)


def naive_encode(encoder: LocationEncoder, lats, lons, batch_size=8192) -> np.ndarray:
    net = encoder.siren.double()
    out = []
    with torch.no_grad():
        for s in range(0, lats.size, batch_size):
            f = torch.from_numpy(naive_features(lats[s : s + batch_size], lons[s : s + batch_size],
                                                encoder.config.legendre_degree))
            out.append(net(f).float().numpy())
    encoder.siren.float()
    return np.concatenate(out)


def _products(inputs, weights, outputs, chunk, rows):
    for s in range(0, rows, chunk):
        for x, w, y in zip(inputs, weights, outputs):
            torch.mm(x[: min(chunk, rows - s)], w, out=y[: min(chunk, rows - s)])


def _products_in_workers(inputs, weights, outputs, chunk, rows, threads):
    """encode's layout: `threads` workers, one torch thread each, taking chunks in turn."""
    if threads == 1:
        return _products(inputs[0], weights, outputs[0], chunk, rows)
    todo = iter(range(0, rows, chunk))
    lock = threading.Lock()

    def work(k):
        torch.set_num_threads(1)
        while True:
            with lock:
                s = next(todo, None)
            if s is None:
                return
            _products(inputs[k], weights, outputs[k], chunk, min(chunk, rows - s))

    before = torch.get_num_threads()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    torch.set_num_threads(before)


def matmul_bound(config: EncoderConfig, points: int = 32_768):
    """The network's matrix products alone (no SH, bias, sine) on `points` rows: a ceiling.

    Returns a function that times, once each, three ways to run the same three
    products and returns {way: points/s}:
    * "batch16k": batches of 16384 rows with torch's threads, fresh outputs (x @ w);
    * "prealloc": encode's chunk size (CPU_CHUNK), torch's threads, preallocated outputs;
    * "workers": encode's thread layout, torch.get_num_threads() workers of one thread
      each taking CPU_CHUNK-row chunks, preallocated outputs.
    The bound is the fastest of them.
    """
    widths = [config.legendre_degree**2] + [config.hidden_dim] * config.num_layers + [config.output_dim]
    weights = [torch.randn(a, b) for a, b in zip(widths[:-1], widths[1:])]
    threads = torch.get_num_threads()
    big = [torch.randn(16384, w) for w in widths[:-1]]
    chunk = CPU_CHUNK
    inputs = [[torch.randn(chunk, w) for w in widths[:-1]] for _ in range(threads)]
    outputs = [[torch.empty(chunk, w) for w in widths[1:]] for _ in range(threads)]

    def batch16k():
        for s in range(0, points, 16384):
            for x, w in zip(big, weights):
                x[: min(16384, points - s)] @ w

    ways = {
        "batch16k": batch16k,
        "prealloc": lambda: _products(inputs[0], weights, outputs[0], chunk, points),
        "workers": lambda: _products_in_workers(inputs, weights, outputs, chunk, points, threads),
    }
    for fn in ways.values():  # warm-up
        fn()

    def measure() -> dict[str, float]:
        return {name: points / timed(fn)[0] for name, fn in ways.items()}

    return measure


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--baseline-points", type=int, default=20_000)
    parser.add_argument("--slice", type=int, default=32_768,
                        help="points per round: each round encodes the next slice, then times the bound "
                             "on as many rows")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, args.points)))
    lons = rng.uniform(-180, 180, args.points)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'L':>3} {'satcle pts/s':>14} {'naive f64 pts/s':>16} {'speed-up':>9} {'matmul bound pts/s':>19} "
          f"{'(fastest way)':>14} {'of bound':>9} {'rounds: median (min-max)':>25}")
    for degree in (10, 40):
        torch.manual_seed(0)
        encoder = LocationEncoder(EncoderConfig(legendre_degree=degree)).eval()
        encoder.encode(lats[:20000], lons[:20000])  # warm-up
        bound_round = matmul_bound(encoder.config, args.slice)
        fast = np.empty((args.points, encoder.output_dim), dtype=np.float32)
        ours, bound, way, ratios = 0.0, 0.0, "", []
        for s in range(0, args.points, args.slice):
            e = min(s + args.slice, args.points)
            seconds, fast[s:e] = timed(encoder.encode, lats[s:e], lons[s:e])
            rates = bound_round()
            best_way = max(rates, key=rates.get)
            ours = max(ours, (e - s) / seconds)
            if rates[best_way] > bound:
                bound, way = rates[best_way], best_way
            ratios.append((e - s) / seconds / rates[best_way])
        n_base = min(args.baseline_points, args.points)
        base_seconds, slow = timed(naive_encode, encoder, lats[:n_base], lons[:n_base])
        err = np.abs(fast[:n_base] - slow).max()
        assert err < 1e-3, f"paths disagree by {err}"
        base = n_base / base_seconds
        spread = f"{np.median(ratios):.0%} ({min(ratios):.0%}-{max(ratios):.0%})"
        print(f"{degree:>3} {ours:>14,.0f} {base:>16,.0f} {ours / base:>8.1f}x {bound:>19,.0f} {way:>14} "
              f"{ours / bound:>8.0%} {spread:>25}", flush=True)


if __name__ == "__main__":
    main()
