"""The JSON API's routes and their parameters (GET query strings, already split by
`urllib.parse.parse_qs`): each route checks its parameters and asks the `GridMap`.

A bad parameter raises InvalidArgumentError (or CoordinateError) naming it: the
server answers HTTP 400 with that message.
"""

from __future__ import annotations

import math
from typing import Callable

from satcle.core.errors import InvalidArgumentError

MAX_K = 1000
MAX_PLACES = 50
MAX_QUERY_CHARACTERS = 100
MAX_EXCLUDE_KM = 20_100.0   # about half the Earth's circumference: every cell excluded


def _one(params: dict, name: str, default: str | None = None) -> str:
    values = params.get(name)
    if not values:
        if default is None:
            raise InvalidArgumentError(f"missing parameter {name!r}")
        return default
    if len(values) > 1:
        raise InvalidArgumentError(f"parameter {name!r} given more than once")
    return values[0]


def _float(params: dict, name: str, lo: float, hi: float, default: float | None = None) -> float:
    if default is not None and not params.get(name):
        return default
    text = _one(params, name)
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidArgumentError(f"{name} must be a finite number in [{lo:g}, {hi:g}], got {text!r}")
    return value


def _int(params: dict, name: str, lo: int, hi: int, default: int | None = None) -> int:
    text = _one(params, name, None if default is None else str(default))
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be an integer, got {text!r}") from None
    if not lo <= value <= hi:
        raise InvalidArgumentError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _latlon(params: dict) -> tuple[float, float]:
    return _float(params, "lat", -90.0, 90.0), _float(params, "lon", -180.0, 180.0)


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise InvalidArgumentError(f"bbox must be west,south,east,north (degrees), got {text!r}")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise InvalidArgumentError(f"bbox must be four numbers west,south,east,north, got {text!r}") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidArgumentError("bbox values must be finite")
    if not (-90.0 <= south < north <= 90.0):
        raise InvalidArgumentError(f"bbox needs -90 <= south < north <= 90, got south={south:g} north={north:g}")
    if not (-540.0 <= west < east <= 540.0):
        raise InvalidArgumentError(f"bbox needs west < east within [-540, 540], got west={west:g} east={east:g}")
    return west, south, east, north


def _ref(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise InvalidArgumentError(f"ref must be lat,lon, got {text!r}")
    return _latlon({"lat": [parts[0]], "lon": [parts[1]]})


def _cells(grid_map, params: dict) -> dict:
    res = _int(params, "res", 0, 15)
    bbox = _bbox(_one(params, "bbox", "-180,-90,180,90"))
    ref = _ref(_one(params, "ref")) if params.get("ref") else None
    return grid_map.cells(res, bbox, ref)


def _similar(grid_map, params: dict) -> dict:
    lat, lon = _latlon(params)
    return grid_map.similar(lat, lon, _int(params, "k", 1, MAX_K, default=10),
                            _float(params, "exclude_km", 0.0, MAX_EXCLUDE_KM, default=0.0))


def _places(grid_map, params: dict) -> dict:
    return grid_map.places(_one(params, "q")[:MAX_QUERY_CHARACTERS], _int(params, "limit", 1, MAX_PLACES, default=10))


# name -> (grid map, parameters) -> a JSON document, or bytes already encoded as JSON.
ROUTES: dict[str, Callable[[object, dict], dict | bytes]] = {
    "info": lambda grid_map, params: grid_map.info(),
    "embedding": lambda grid_map, params: grid_map.embedding(*_latlon(params)),
    "similar": _similar,
    "cells": _cells,
    "places": _places,
    "land": lambda grid_map, params: grid_map.land(),
}
