"""The map's base layer: land cells (fill) and the coastline, from the GLOBE land mask.

Inflating the mask takes seconds, so the layer ships as `LAND_FILE`;
``python -m satcle.serve --write-land`` regenerates it.
"""

from __future__ import annotations

import h3
import numpy as np

from satcle.geo import is_land
from satcle.geo.h3_cells import cell_centers, cells_at_resolution

from .cells import map_polygons
from .static import STATIC_DIR

LAND_FILE = STATIC_DIR / "land.json"
LAND_FILL_RES = 2
COAST_RES = 3


def land_cells(res: int) -> np.ndarray:
    """The cells of resolution `res` whose centres the GLOBE mask calls land, sorted (n,) uint64."""
    cells = cells_at_resolution(res)
    lats, lons = cell_centers(cells)
    return cells[is_land(lats, np.clip(lons, -180.0, 179.9999))]


def land_layer() -> dict:
    """Land cells of resolution LAND_FILL_RES (polygons) and the coastline: the edges between
    land and sea cells of resolution COAST_RES, land being the GLOBE mask at cell centres."""
    fill = map_polygons(land_cells(LAND_FILL_RES))
    land = {h3.int_to_str(c) for c in land_cells(COAST_RES).tolist()}
    coast = []
    for cell in sorted(land):  # sorted: the file is reproducible (set order is not)
        for neighbour in sorted(h3.grid_ring(cell, 1)):
            if neighbour not in land:
                # An edge is two vertices, more where it crosses an icosahedron face.
                points = h3.directed_edge_to_boundary(h3.cells_to_directed_edge(cell, neighbour))
                for (lat_a, lon_a), (lat_b, lon_b) in zip(points, points[1:]):
                    lon_b += 360.0 * round((lon_a - lon_b) / 360.0)
                    coast.append([[round(lat_a, 3), round(lon_a, 3)], [round(lat_b, 3), round(lon_b, 3)]])
    return {"fill": fill, "coast": coast, "source": "GLOBE land mask (global_land_mask)",
            "fill_res": LAND_FILL_RES, "coast_res": COAST_RES}
