"""Gridded real-world data for the benchmark: elevation, population density, climate.

A `Raster` is a regular latitude/longitude grid (cell edges given, rows from north
to south, columns from west to east, longitude periodic) holding float64 values,
NaN where the source has no data. `sample` reads it at points, nearest-cell or
bilinear between cell centres. The loaders read the files documented in each
`SOURCE.txt` of the data folder (`../shared/data` in this repository); a missing
file or package raises `DataUnavailableError`, which the benchmark reports as a
skipped task. Nothing here is needed by the embedding product itself.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core._optional import require
from ..core.errors import DataUnavailableError, EvaluationConfigError

NEAREST = "nearest"
BILINEAR = "bilinear"

ETOPO_FILES = ("etopo20/etopo20data.gz", "etopo20/etopo20lats.gz", "etopo20/etopo20lons.gz")
GPW_FILE = "gpw-popdensity/gpw_v4_population_density_rev11_2020_30_min.asc"
BIOME4_FILE = "biome4-climate/BIOME4_inputdata.nc"


@dataclass(frozen=True)
class Raster:
    """values: (rows, cols) float64, NaN = no data; row 0 is the northernmost.

    north: latitude of the top edge of row 0, degrees; west: longitude of the
    left edge of column 0, degrees; cell: cell side in degrees (square cells;
    cols * cell = 360, the grid wraps in longitude).
    """

    values: np.ndarray
    north: float
    west: float
    cell: float

    def __post_init__(self) -> None:
        rows, cols = self.values.shape
        if abs(cols * self.cell - 360.0) > 1e-6:
            raise EvaluationConfigError(f"a raster must span 360 degrees of longitude, got {cols} x {self.cell}")


def sample(raster: Raster, lats: np.ndarray, lons: np.ndarray, method: str = NEAREST) -> np.ndarray:
    """Values of `raster` at points (degrees), (N,) float64; NaN where the source has none.

    nearest: the value of the cell containing the point. bilinear: interpolated
    between the four surrounding cell centres (wrapping in longitude, clamped at
    the first and last row); NaN if any of the four is NaN, so a coastal point
    never mixes in a missing value.
    """
    lats = np.asarray(lats, dtype=np.float64)
    lons = np.asarray(lons, dtype=np.float64)
    rows, cols = raster.values.shape
    # Fractional cell coordinates: row r, column c cover [r, r+1) x [c, c+1).
    fr = (raster.north - lats) / raster.cell
    fc = np.mod(lons - raster.west, 360.0) / raster.cell
    if method == NEAREST:
        r = np.clip(np.floor(fr).astype(np.int64), 0, rows - 1)
        c = np.floor(fc).astype(np.int64) % cols
        return raster.values[r, c]
    if method != BILINEAR:
        raise EvaluationConfigError(f"method must be {NEAREST!r} or {BILINEAR!r}, got {method!r}")
    # Between centres: centre of row r sits at fr = r + 0.5.
    y, x = fr - 0.5, fc - 0.5
    r0, c0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    wy, wx = y - r0, x - c0
    r1 = np.clip(r0 + 1, 0, rows - 1)
    r0 = np.clip(r0, 0, rows - 1)
    c1, c0 = (c0 + 1) % cols, c0 % cols
    v = raster.values
    return ((1 - wy) * ((1 - wx) * v[r0, c0] + wx * v[r0, c1])
            + wy * ((1 - wx) * v[r1, c0] + wx * v[r1, c1]))


def etopo_elevation(data_dir: Path) -> Raster:
    """ETOPO 20' relief in metres (bathymetry negative), 540 x 1080 cells of 1/3 degree."""
    data, lat_path, lon_path = (_require(data_dir, name) for name in ETOPO_FILES)
    try:
        values = np.loadtxt(data, dtype=np.float64)
        lats = np.loadtxt(lat_path, dtype=np.float64)
        lons = np.loadtxt(lon_path, dtype=np.float64)
    except (OSError, ValueError, EOFError, gzip.BadGzipFile) as exc:
        raise DataUnavailableError(f"ETOPO 20' files under {data_dir} cannot be read: {exc}") from None
    cell = 1.0 / 3.0
    if values.shape != (lats.size, lons.size) or lons.size != 1081:
        raise DataUnavailableError(f"ETOPO 20' has shape {values.shape}, expected (540, 1081) with its axes")
    # Stored south to north with centres at lats, and 1081 wrapped columns whose last
    # repeats the first: flip to north-first and drop the repeat.
    order = np.argsort(lats)[::-1]
    values = values[order, :1080]
    return Raster(values, north=float(lats[order[0]] + cell / 2), west=float(lons[0] - cell / 2), cell=cell)


def gpw_population_density(data_dir: Path) -> Raster:
    """GPWv4.11 2020 population density, persons per km^2, 0.5 degree cells; NaN over water."""
    path = _require(data_dir, GPW_FILE)
    try:
        with open(path) as f:
            header = {}
            for _ in range(6):
                key, value = f.readline().split()
                header[key.lower()] = float(value)
            values = np.loadtxt(f, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DataUnavailableError(f"{path} cannot be read as an ESRI ASCII grid: {exc}") from None
    values[values == header["nodata_value"]] = np.nan
    cell = header["cellsize"]
    north = header["yllcorner"] + values.shape[0] * cell
    return Raster(values, north=north, west=header["xllcorner"], cell=cell)


def biome4_climate(data_dir: Path) -> tuple[Raster, Raster]:
    """BIOME4 driver climatology, 0.5 degree: (annual mean temperature in degC, annual precipitation in mm).

    NaN where the source has no land value. The file's coordinate axes hold the
    south-west corner of each cell (lat 89.5 .. -90, lon -180 .. 179.5).
    """
    path = _require(data_dir, BIOME4_FILE)
    h5py = require("h5py", "h5py", "eval")
    try:
        with h5py.File(path, "r") as f:
            lats = f["lat"][:].astype(np.float64)
            lons = f["lon"][:].astype(np.float64)
            temp = f["temp"][:].astype(np.float64)
            prec = f["prec"][:].astype(np.float64)
    except (OSError, KeyError) as exc:
        raise DataUnavailableError(f"{path} cannot be read: {exc}") from None
    cell = 0.5
    for monthly in (temp, prec):
        monthly[monthly == -9999] = np.nan
    # A cell is valid only where all 12 months are (the mean of fewer months is biased).
    temperature = temp.mean(axis=0) / 10.0  # stored in 0.1 degC
    precipitation = prec.sum(axis=0)
    if lats[0] < lats[-1]:
        temperature, precipitation, lats = temperature[::-1], precipitation[::-1], lats[::-1]
    north, west = float(lats[0] + cell), float(lons[0])
    return (Raster(temperature, north=north, west=west, cell=cell),
            Raster(precipitation, north=north, west=west, cell=cell))


def _require(data_dir: Path, relative: str) -> Path:
    path = Path(data_dir) / relative
    if not path.is_file():
        raise DataUnavailableError(f"{path} not found (give --data-dir, the folder holding {relative.split('/')[0]}/)")
    return path
