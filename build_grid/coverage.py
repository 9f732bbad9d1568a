"""Which H3 cells a grid holds: all of them, or land plus one ring around coasts.

A cell is *land* when its centre is land in the 1 km GLOBE mask of
`global-land-mask`. `land` coverage keeps the land cells and every cell that
touches one (its grid disk of radius 1 contains a land cell), so that points
just off a coast still fall in a stored cell. The decision for a cell depends
only on its own disk, never on the partition it is evaluated in, which keeps
partitions independent and builds reproducible.
"""

from __future__ import annotations

import numpy as np

from satcle.grid.h3_cells import cell_centers, cell_children, neighbor_disks
from satcle.grid.store_format import COVERAGES


def is_land(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Land flag of points (N,) degrees -> (N,) bool, from the GLOBE 1 km mask.

    The mask (~1 GB unpacked) is loaded on first use, once per process.
    """
    from global_land_mask import globe  # imported lazily: loading the mask takes seconds

    lats = np.asarray(lats, dtype=np.float64)
    if lats.size == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(globe.is_land(lats.copy(), np.asarray(lons, dtype=np.float64).copy()), dtype=bool)


def covered_cells(parent: int, res: int, coverage: str) -> np.ndarray:
    """The cells of resolution `res` under `parent` that a grid of `coverage` holds.

    parent: H3 cell id (int) of a coarser resolution; coverage: "land" or
    "global". Returns sorted (M,) uint64 cell ids (possibly empty).
    """
    if coverage not in COVERAGES:
        raise ValueError(f"coverage must be one of {COVERAGES}, got {coverage!r}")
    cells = cell_children(np.array([parent], dtype=np.uint64), res)
    if coverage == "global" or cells.size == 0:
        return cells
    land = is_land(*cell_centers(cells))
    ocean = np.flatnonzero(~land)
    members, owner = neighbor_disks(cells[ocean])
    # Most neighbours are in this partition, whose land flags are known; only the
    # few across its border need their centres evaluated.
    pos = np.minimum(np.searchsorted(cells, members), cells.size - 1)
    inside = cells[pos] == members
    member_land = np.zeros(members.size, dtype=bool)
    member_land[inside] = land[pos[inside]]
    across = np.unique(members[~inside])
    across_land = is_land(*cell_centers(across))
    member_land[~inside] = across_land[np.searchsorted(across, members[~inside])]
    near_land = np.bincount(owner, weights=member_land, minlength=ocean.size) > 0
    keep = land.copy()
    keep[ocean[near_land]] = True
    return cells[keep]
