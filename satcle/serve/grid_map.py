"""`GridMap`: what the map asks of a grid, answered from the mapped grid (`satcle.open_grid`).

Nothing is copied or derived up front: the grid's own cells are its mapped lookup
files, coarser zoom levels its stored pyramid (`Grid.level`, read on first use),
colours `PcaColours` fitted once on a sample of its rows (the same colouring as
`satcle plot`), rankings `satcle.grid.similar_cells`. Every row the map shows is
dequantised when a request asks for it.
"""

from __future__ import annotations

import functools
import threading

import h3
import numpy as np

from satcle.core.embedding_space import PcaColours, unit_rows
from satcle.core.errors import InvalidArgumentError
from satcle.grid.lookup import Grid, open_grid
from satcle.grid.lookup.grid import Source
from satcle.grid.similar_cells import level_similarity, most_similar, row_similarity

from .cells import hex_colours, map_polygons, rows_in_box, viridis
from .land import LAND_FILE
from .places import Places

MAX_CELLS_PER_REQUEST = 30_000  # /api/cells answering more: 400 (the page asks for fewer)
PCA_SAMPLE = 10_000             # rows of the grid's own resolution the colours are fitted on
SIMILARITY_FLOOR_PERCENTILE = 2  # the similarity colour scale runs from this percentile of a level to its max


def h3_ids(cell: int) -> dict:
    """An H3 cell in both forms users meet: ``h3`` the hex string (h3-py, the page),
    ``h3_int`` the integer (SQL's UBIGINT; exact in JSON, though not in JavaScript's numbers)."""
    return {"h3": format(int(cell), "x"), "h3_int": int(cell)}


class GridMap:
    """A grid as the map shows it: levels, PCA colours, similarity, places, land."""

    def __init__(self, grid_dir):
        self.grid: Grid = open_grid(grid_dir)
        self.path = self.grid.path
        self.manifest = self.grid.manifest
        self.resolution = self.grid.resolution
        self.colours = PcaColours.fit(_sample_rows(self.grid, PCA_SAMPLE))
        self._places = Places()
        self._land: bytes | None = None
        self._land_lock = threading.Lock()
        # Per map, not per process: the page asks again for each pan with the same reference.
        self._query = functools.lru_cache(maxsize=64)(self._query_uncached)
        self._similarity_range = functools.lru_cache(maxsize=64)(self._similarity_range_uncached)

    @property
    def cells_by_resolution(self) -> dict[int, int]:
        """res -> stored cells, for every resolution the map can show (the grid's and its pyramid's)."""
        counts = {level.resolution: level.rows for level in self.manifest.pyramid}
        counts[self.resolution] = self.grid.num_cells
        return dict(sorted(counts.items()))

    def info(self) -> dict:
        m = self.manifest
        levels = [{"res": res, "cells": cells, "edge_km": h3.average_hexagon_edge_length(res, unit="km"),
                   "all_cells": h3.get_num_cells(res)} for res, cells in self.cells_by_resolution.items()]
        return {
            "grid": str(self.path), "model": m.model_name, "resolution": self.resolution, "coverage": m.coverage,
            "dtype": m.dtype, "dim": self.grid.dim, "cells": self.grid.num_cells, "levels": levels,
            "pyramid": bool(m.pyramid), "pca_explained_variance": self.colours.explained.tolist(),
            "max_cells_per_request": MAX_CELLS_PER_REQUEST, "places": self._places.available,
        }

    # --- queries ------------------------------------------------------------------------
    def _query_uncached(self, lat: float, lon: float) -> tuple[np.ndarray, Source]:
        """The grid's lookup at a point (interpolated; live outside coverage), read-only."""
        values, source = self.grid.lookup([lat], [lon], return_source=True)
        vector = values[0].copy()
        vector.flags.writeable = False
        return vector, Source(int(source[0]))

    def _point(self, lat: float, lon: float) -> dict:
        _, source = self._query(lat, lon)
        return {"lat": lat, "lon": lon, **h3_ids(h3.str_to_int(h3.latlng_to_cell(lat, lon, self.resolution))),
                "source": source.name.lower()}

    def embedding(self, lat: float, lon: float) -> dict:
        vector, _ = self._query(lat, lon)
        return {**self._point(lat, lon), "dim": int(vector.size), "embedding": vector.tolist()}

    def similar(self, lat: float, lon: float, k: int, exclude_km: float = 0.0) -> dict:
        """The k cells of the grid's resolution most similar to the point; with exclude_km,
        only cells whose centres are farther than that from it (the far look-alikes)."""
        vector, _ = self._query(lat, lon)
        ranked = most_similar(self.grid, vector, k, point=(lat, lon), exclude_km=exclude_km)
        cells = [{**h3_ids(cell), "lat": cell_lat, "lon": cell_lon, "similarity": similarity,
                  "distance_km": round(km, 3), "place": self._places.nearest(cell_lat, cell_lon)}
                 for cell, cell_lat, cell_lon, similarity, km in zip(
                     ranked.h3.tolist(), ranked.lat.tolist(), ranked.lon.tolist(), ranked.similarity.tolist(),
                     ranked.distance_km.tolist())]
        return {"query": self._point(lat, lon), "k": len(cells), "exclude_km": exclude_km, "cells": cells}

    def cells(self, res: int, bbox: tuple[float, float, float, float], ref: tuple[float, float] | None) -> dict:
        """The cells of resolution `res` in (or near) the box, with outline and colour:
        PCA -> RGB, or with `ref` (lat, lon) cosine similarity to that point."""
        level = self._level(res)
        table = level.table
        rows = rows_in_box(table.lat, table.lon, res, bbox)
        if rows.size > MAX_CELLS_PER_REQUEST:
            coarser = [r for r in self.cells_by_resolution if r < res]
            hint = ("ask for a coarser res or a smaller bbox" if coarser else
                    "zoom in: this grid stores no coarser resolution (`satcle-grid build` stores them by default)")
            raise InvalidArgumentError(f"{rows.size} cells of resolution {res} in that box, more than "
                                       f"{MAX_CELLS_PER_REQUEST}: {hint}")
        if ref is None:
            projected = self.colours.project(unit_rows(level.stored_rows(rows)))
            mode, value_range = "pca", None
            rgb = (self.colours.scale(projected) * 255.0 + 0.5).astype(np.uint8)
            values = np.round(projected.astype(np.float64), 4).tolist()
        else:
            mode = "similarity"
            similarity = row_similarity(level, self._query(*ref)[0], rows)
            lo, hi = self._similarity_range(res, ref)
            value_range = [lo, hi]
            rgb = viridis((similarity - lo) / max(hi - lo, 1e-9))
            values = np.round(similarity.astype(np.float64), 4).tolist()
        cells = table.h3[rows]
        self._places.start()   # the first view is answered: the place names can load now
        return {
            "res": res, "mode": mode, "count": int(rows.size), "range": value_range, "ref": list(ref) if ref else None,
            "cells": [{**h3_ids(cell), "color": colour, "value": value, "boundary": boundary}
                      for cell, colour, value, boundary in zip(cells.tolist(), hex_colours(rgb), values,
                                                               map_polygons(cells))],
        }

    def _level(self, res: int) -> Grid:
        if res not in self.cells_by_resolution:
            raise InvalidArgumentError(f"res must be one of {list(self.cells_by_resolution)} "
                                       f"(the grid is resolution {self.resolution})")
        return self.grid.level(res)

    def _similarity_range_uncached(self, res: int, ref: tuple[float, float]) -> tuple[float, float]:
        """The similarity colour scale of a level for a reference point: from the
        level's SIMILARITY_FLOOR_PERCENTILE to its most similar cell, so that the
        contrast does not depend on where the map is panned."""
        similarity = level_similarity(self._level(res), self._query(*ref)[0])
        return float(np.percentile(similarity, SIMILARITY_FLOOR_PERCENTILE)), float(similarity.max())

    def places(self, query: str, limit: int) -> dict:
        return {"available": self._places.available, "query": query, "places": self._places.search(query, limit)}

    def land(self) -> bytes:
        """The base layer (land cells and coastline) as shipped: JSON bytes, read once."""
        with self._land_lock:
            if self._land is None:
                self._land = LAND_FILE.read_bytes()
            return self._land


def _sample_rows(grid: Grid, size: int) -> np.ndarray:
    """Unit rows (n, D) float32 of up to `size` cells of the grid's own resolution,
    drawn at random (seeded: the colours are the same every start), read in order."""
    n = grid.num_cells
    rows = np.arange(n) if n <= size else np.sort(np.random.default_rng(0).choice(n, size, replace=False))
    return unit_rows(grid.stored_rows(rows))
