"""The map's cells: which lie in a view, their outlines for an equirectangular map,
and the similarity colour scale. Arrays in, arrays (or JSON-ready lists) out."""

from __future__ import annotations

import math

import h3
import numpy as np

from satcle.geo.h3_cells import cell_boundaries, cell_centers, latlng_to_cells

# A perceptually ordered colour map (viridis, 10 stops) for similarity.
_VIRIDIS = np.array([
    [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
], dtype=np.float64)
_KM_PER_DEGREE = 111.2


def rows_in_box(lat: np.ndarray, lon: np.ndarray, res: int, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """Rows (n,) int64 of the cells of resolution `res` whose centres lat, lon ((M,)
    degrees) lie in the box (west, south, east, north degrees; west may be below -180
    and east above 180: a box across the antimeridian) or near enough to reach into
    it (within two mean edge lengths)."""
    west, south, east, north = bbox
    margin = 2.0 * h3.average_hexagon_edge_length(res, unit="km") / _KM_PER_DEGREE
    lon_margin = margin / max(math.cos(math.radians(min(max(abs(south), abs(north)) + margin, 89.0))), 0.02)
    inside = (lat >= south - margin) & (lat <= north + margin)
    west, east = west - lon_margin, east + lon_margin
    if east - west < 360.0:
        # The box may reach past the antimeridian: compare in the box's own frame.
        inside &= (lon - west) % 360.0 <= (east - west)
    return np.flatnonzero(inside)


def map_polygons(cells: np.ndarray) -> list[list[list[float]]]:
    """Outlines of H3 cells (N,) uint64 of one resolution as [[lat, lon], ...] (4 decimals) for an
    equirectangular map: longitudes unwrapped around each centre (cells on the
    antimeridian reach past +-180), the two polar cells closed along the pole's edge
    of the map."""
    cells = np.asarray(cells, dtype=np.uint64)
    if cells.size == 0:
        return []
    offsets, vertices = cell_boundaries(cells)
    _, centre_lon = cell_centers(cells)
    owner = np.repeat(np.arange(cells.size), np.diff(offsets))
    lons = vertices[:, 1] + 360.0 * np.round((centre_lon[owner] - vertices[:, 1]) / 360.0)
    pairs = np.round(np.stack([vertices[:, 0], lons], axis=1), 4).tolist()
    north, south = latlng_to_cells(np.array([90.0, -90.0]), np.zeros(2), _resolution(cells[0])).tolist()
    poles = {north: 90.0, south: -90.0}
    bounds = offsets.tolist()
    out = []
    for i, cell in enumerate(cells.tolist()):
        if cell in poles:
            out.append(_polar_ring(vertices[bounds[i]:bounds[i + 1]], poles[cell]))
        else:
            out.append(pairs[bounds[i]:bounds[i + 1]])
    return out


def _polar_ring(vertices: np.ndarray, pole: float) -> list[list[float]]:
    """The cell around a pole: its vertices by longitude, closed along the map's edge at the pole."""
    ring = sorted(((lat, (lon + 180.0) % 360.0 - 180.0) for lat, lon in vertices.tolist()), key=lambda v: v[1])
    (lat_a, lon_a), (lat_b, lon_b) = ring[-1], ring[0]
    gap = (lon_b + 360.0) - lon_a
    edge = lat_a + (lat_b - lat_a) * ((180.0 - lon_a) / gap if gap > 0 else 0.5)
    ring = [(edge, -180.0), *ring, (edge, 180.0), (pole, 180.0), (pole, -180.0)]
    return np.round(np.array(ring), 4).tolist()


def _resolution(cell: np.uint64) -> int:
    return h3.get_resolution(h3.int_to_str(int(cell)))


def viridis(t: np.ndarray) -> np.ndarray:
    """(N,) values in [0, 1] (clipped; NaN as 0) -> (N, 3) uint8 colours of viridis."""
    t = np.clip(np.nan_to_num(np.asarray(t, dtype=np.float64), nan=0.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    frac = (t - lo)[:, None]
    return (_VIRIDIS[lo] * (1 - frac) + _VIRIDIS[lo + 1] * frac + 0.5).astype(np.uint8)


def hex_colours(rgb: np.ndarray) -> list[str]:
    """(N, 3) uint8 -> N CSS colours ``#rrggbb``."""
    return ["#%02x%02x%02x" % tuple(c) for c in rgb.tolist()]
