"""Where embeddings come from: a precomputed grid or the live encoder (`choose_embedder`).

One rule for ``satcle embed`` and `satcle.add_embeddings`: the grid given; else,
with `live`, the encoder; else the default grid (`default_grid_dir()`) when it
exists and was built with the asked-for model, else the live encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.errors import InvalidArgumentError
from ..core.paths import default_grid_dir


@dataclass(frozen=True)
class Embedder:
    """Where embeddings come from. embed: (n,) lats, (n,) lons in degrees (valid,
    longitudes wrapped) -> (n, dim) float32. description: one line for the user.
    grid: the opened grid, None for the live encoder. resolution: the H3
    resolution of the grid (the default grid's for the live encoder)."""

    embed: Callable[[np.ndarray, np.ndarray], np.ndarray]
    dim: int
    description: str
    grid: object | None = None


def choose_embedder(grid=None, live: bool = False, model: str | None = None,
                    batch_size: int = 16384, **lookup_options) -> Embedder:
    """The grid `grid` (a directory or an opened `Grid`); with `live`, the encoder
    `model`; with neither, the default grid (`default_grid_dir()`) when it exists
    and was built with `model` (default: "default"), else the live encoder.
    lookup_options go to `Grid.lookup` (method, tolerance, exact, on_miss, num_threads).
    Raises InvalidArgumentError for `grid` with `live`, or `grid` with another
    `model` than the grid's; GridNotFoundError or GridFormatError for a `grid`
    that is not a complete grid."""
    from ..grid.format.store import MANIFEST_FILE, read_manifest
    from ..grid.lookup import Grid, no_grid_advice, open_grid

    if grid is not None and live:
        raise InvalidArgumentError("give a grid or live, not both")
    name = model or "default"
    if grid is None and not live:
        candidate = default_grid_dir()
        if (candidate / MANIFEST_FILE).is_file() and read_manifest(candidate).model_name == name:
            grid = candidate
    if grid is None:
        from ..model import load_encoder

        encoder = load_encoder(name)
        why = "" if live else f" ({no_grid_advice(default_grid_dir(), model=name)})"
        untrained = "" if encoder.metadata.get("trained", True) else " - UNTRAINED placeholder weights"
        return Embedder(lambda lats, lons: encoder.encode(lats, lons, batch_size=batch_size),
                        encoder.config.output_dim, f"the live encoder, model {name!r}{untrained}{why}")
    opened = grid if isinstance(grid, Grid) else open_grid(grid)
    manifest = opened.manifest
    if model is not None and manifest is not None and model != manifest.model_name:
        raise InvalidArgumentError(f"model {model!r}, but the grid {opened.path} was built with "
                                   f"{manifest.model_name!r}")
    opened.lookup(np.empty(0), np.empty(0), **lookup_options)   # bad options fail now
    where = f"the grid {opened.path if isinstance(grid, Grid) else grid}"
    if manifest is not None:
        how = "the stored cell rows" if lookup_options.get("method") == "cell" else "interpolated"
        miss = lookup_options.get("on_miss", "live")
        outside = "computed live" if miss == "live" else f"on_miss={miss!r}"
        where += f" (model {manifest.model_name!r}, H3 res {manifest.resolution}, {how}; points outside its coverage {outside})"
    return Embedder(lambda lats, lons: opened.lookup(lats, lons, **lookup_options), opened.dim, where, opened)


def embeddings_column(embeddings: np.ndarray, null: np.ndarray | None = None):
    """(n, D) float32 -> Arrow FIXED_SIZE_LIST<float32>[D], null where `null` (n,) bool:
    the embedding column of every output (files, DataFrames, Dask partitions)."""
    import pyarrow as pa

    values = pa.array(np.ascontiguousarray(embeddings, dtype=np.float32).reshape(-1))
    mask = pa.array(null) if null is not None and null.any() else None
    return pa.FixedSizeListArray.from_arrays(values, embeddings.shape[1], mask=mask)
