"""Which H3 cells a grid holds: all of them, or land plus one ring around coasts.

A cell is *land* when its centre is land in the 1 km GLOBE mask of
`global-land-mask`. `land` coverage keeps the land cells and every cell that
touches one (its grid disk of radius 1 contains a land cell), so that points
just off a coast still fall in a stored cell. The decision for a cell depends
only on its own disk, never on the partition it is evaluated in, which keeps
partitions independent and builds reproducible.
"""

from __future__ import annotations

import h3.api.basic_int
import numpy as np

from satcle.core.errors import InvalidArgumentError
from satcle.geo.h3_cells import cell_centers, cell_children, neighbor_disks
from satcle.geo.land import LandMask
from satcle.grid.format.store import COVERAGES

__all__ = ["LandMask", "coverage_mask", "covered_cells", "covered_cells_and_centres", "stored_neighbors"]


def covered_cells(parent: int, res: int, coverage: str, land_mask: LandMask | None = None) -> np.ndarray:
    """The cells of resolution `res` under `parent` that a grid of `coverage` holds.

    parent: H3 cell id (int) of a coarser resolution; coverage: "land" or
    "global"; land_mask: reused across calls when given. Returns sorted (M,)
    uint64 cell ids (possibly empty).
    """
    return covered_cells_and_centres(parent, res, coverage, land_mask)[0]


def covered_cells_and_centres(parent: int, res: int, coverage: str, land_mask: LandMask | None = None
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`covered_cells` with the cells' centres (lats, lons (M,) float64 degrees, as
    `cell_centers`), which land coverage computes anyway."""
    cells = cell_children(np.array([parent], dtype=np.uint64), res)
    keep, centres = _coverage_mask(cells, coverage, land_mask)
    cells = cells[keep]
    if centres is None:
        return (cells, *cell_centers(cells))
    return cells, centres[0][keep], centres[1][keep]


def stored_neighbors(cells: np.ndarray, coverage: str, land_mask: LandMask | None = None) -> np.ndarray:
    """The neighbours of `cells` (grid disk of radius 1) outside `cells` that a grid
    of `coverage` holds: what an interpolated lookup inside `cells` may read.

    cells: sorted (N,) uint64 of one resolution. Returns sorted (K,) uint64.
    """
    cells = np.ascontiguousarray(cells, dtype=np.uint64)
    members, _ = neighbor_disks(cells)
    around = np.setdiff1d(members, cells)  # sorted, unique
    return around[coverage_mask(around, coverage, land_mask)]


def coverage_mask(cells: np.ndarray, coverage: str, land_mask: LandMask | None = None) -> np.ndarray:
    """Whether a grid of `coverage` holds each cell: sorted (N,) uint64 of one
    resolution -> (N,) bool.

    The rule depends on each cell's own disk only, so any subset of cells
    (a partition, or its neighbours in other partitions) is decided alike.
    """
    return _coverage_mask(cells, coverage, land_mask)[0]


def _coverage_mask(cells: np.ndarray, coverage: str, land_mask: LandMask | None
                   ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """`coverage_mask` and the cells' centres where it computed them (else None)."""
    if coverage not in COVERAGES:
        raise InvalidArgumentError(f"coverage must be one of {COVERAGES}, got {coverage!r}")
    cells = np.ascontiguousarray(cells, dtype=np.uint64)
    if coverage == "global" or cells.size == 0:
        return np.ones(cells.size, dtype=bool), None
    land_mask = land_mask or LandMask()
    centres = cell_centers(cells)
    land = land_mask.contains(*centres)
    # Only ocean cells with land within a neighbour's distance can touch land:
    # the others are dropped without computing their grid disks.
    res = h3.api.basic_int.get_resolution(int(cells[0]))
    ocean = np.flatnonzero(~land & land_mask.near_land(*centres, res))
    members, owner = neighbor_disks(cells[ocean])
    # Most neighbours are among `cells`, whose land flags are known; only the
    # others need their centres evaluated.
    pos = np.minimum(np.searchsorted(cells, members), cells.size - 1)
    inside = cells[pos] == members
    member_land = np.zeros(members.size, dtype=bool)
    member_land[inside] = land[pos[inside]]
    across = np.unique(members[~inside])
    across_land = land_mask.contains(*cell_centers(across))
    member_land[~inside] = across_land[np.searchsorted(across, members[~inside])]
    near_land = np.bincount(owner, weights=member_land, minlength=ocean.size) > 0
    keep = land.copy()
    keep[ocean[near_land]] = True
    return keep, centres
