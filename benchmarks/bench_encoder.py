"""Throughput of `LocationEncoder.encode` against a naive float64 baseline.

Run:  python benchmarks/bench_encoder.py [--points 1000000]

For L = 10 and L = 40 (width 512, 2 sine layers, 256 out) it prints, measured
side by side in this run:
* satcle `encode` (compiled float32 SH + float32 MLP) points/s on --points points;
* the naive baseline: every harmonic evaluated separately from its closed form
  (scipy `lpmv` per (l, m), factorial normalisation) in float64, then a float64
  MLP, on a subset (it is slow);
* the ratio between them, and the ratio to the machine's float32 matmul bound
  (the same products timed alone, without SH or sines).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch

from satcle import EncoderConfig, LocationEncoder


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


def matmul_bound(config: EncoderConfig, batch: int = 16384, repeats: int = 10) -> float:
    """Points/s of the network's matrix products alone (no SH, no sine): a ceiling."""
    widths = [config.legendre_degree**2] + [config.hidden_dim] * config.num_layers + [config.output_dim]
    inputs = [torch.randn(batch, w) for w in widths[:-1]]
    weights = [torch.randn(a, b) for a, b in zip(widths[:-1], widths[1:])]
    for x, w in zip(inputs, weights):
        x @ w
    start = time.perf_counter()
    for _ in range(repeats):
        for x, w in zip(inputs, weights):
            x @ w
    return repeats * batch / (time.perf_counter() - start)


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--baseline-points", type=int, default=20_000)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, args.points)))
    lons = rng.uniform(-180, 180, args.points)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'L':>3} {'satcle pts/s':>14} {'naive f64 pts/s':>16} {'speed-up':>9} {'matmul bound pts/s':>19} {'of bound':>9}")
    for degree in (10, 40):
        torch.manual_seed(0)
        encoder = LocationEncoder(EncoderConfig(legendre_degree=degree)).eval()
        encoder.encode(lats[:20000], lons[:20000])  # warm-up
        seconds, fast = timed(encoder.encode, lats, lons)
        n_base = min(args.baseline_points, args.points)
        base_seconds, slow = timed(naive_encode, encoder, lats[:n_base], lons[:n_base])
        err = np.abs(fast[:n_base] - slow).max()
        assert err < 1e-3, f"paths disagree by {err}"
        ours, base, bound = args.points / seconds, n_base / base_seconds, matmul_bound(encoder.config)
        print(f"{degree:>3} {ours:>14,.0f} {base:>16,.0f} {ours / base:>8.1f}x {bound:>19,.0f} {ours / bound:>8.0%}")


if __name__ == "__main__":
    main()
