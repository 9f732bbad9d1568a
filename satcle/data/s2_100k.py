"""S2-100K layout: `index.csv` (columns fn, lon, lat) plus `images/<fn>` GeoTIFFs.

Each image is 256 x 256 Sentinel-2 L2A (12 bands) or L1C (13 bands) uint16
reflectance x 10,000, LZW-compressed; read with tifffile (+ imagecodecs).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..core._optional import require
from ..core.coordinates import describe_invalid, invalid_coordinates
from ..core.errors import DataError
from .sample import GeoSample

#: Sentinel-2 products store reflectance x 10,000 in uint16.
REFLECTANCE_SCALE = 10000.0


def read_geotiff(path: str | Path) -> np.ndarray:
    """Read a GeoTIFF as (bands, H, W) in its stored dtype.

    Accepts band-last (H, W, B) files (S2-100K's layout) and band-first ones.
    Raises DataError naming the file when it is missing, truncated or not a TIFF,
    MissingPackageError without tifffile (``satcle[train]``).
    """
    tifffile = require("tifffile", "tifffile", "train")
    try:
        array = tifffile.imread(str(path))
    except Exception as exc:  # tifffile raises many types for damaged files
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc} (truncated or not a GeoTIFF?)") from None
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[-1] < array.shape[0]:
        array = np.moveaxis(array, -1, 0)
    if array.ndim != 3:
        raise DataError(f"{path} has shape {array.shape}; expected (H, W, bands)")
    return array


class S2Tiles(Dataset):
    """Dataset over an S2-100K-layout folder: `GeoSample(image (B, H, W) float32, lat, lon)`.

    Images are scaled to reflectance (value / 10,000, clipped to [0, 1]).

    Parameters
    ----------
    root : folder holding index.csv and images/
    check_files : read every image once now and skip those that cannot be read
        (truncated downloads), with a warning naming them; `skipped` lists
        (file name, reason). Without it a bad file raises DataError when reached.
    """

    def __init__(self, root: str | Path, *, check_files: bool = True, progress: bool = True) -> None:
        self.root = Path(root)
        index = self.root / "index.csv"
        if not index.is_file():
            raise DataError(f"{self.root} is not an S2-100K folder: {index} is missing")
        with open(index, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"fn", "lat", "lon"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{index} lacks column(s) {sorted(missing)}; it has {reader.fieldnames}")
            rows = list(reader)
        try:
            self.files = [row["fn"] for row in rows]
            self.lats = np.array([float(row["lat"]) for row in rows])
            self.lons = np.array([float(row["lon"]) for row in rows])
        except ValueError as exc:
            raise DataError(f"{index} has a non-numeric lat/lon: {exc}") from None
        bad = invalid_coordinates(self.lats, self.lons)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{index} row {i + 1}: {describe_invalid(self.lats[i], self.lons[i])}")
        self.skipped: list[tuple[str, str]] = []
        if check_files:
            self._drop_unreadable(progress)
        if not self.files:
            raise DataError(f"{self.root} holds no readable images")

    def _drop_unreadable(self, progress: bool) -> None:
        keep, bands = [], set()
        for i, name in enumerate(tqdm(self.files, desc="checking S2 tiles", disable=not progress)):
            try:
                bands.add(read_geotiff(self.root / "images" / name).shape[0])
                keep.append(i)
            except DataError as exc:
                self.skipped.append((name, str(exc)))
        if self.skipped:
            warnings.warn(
                f"skipped {len(self.skipped)} unreadable image(s) in {self.root}: "
                + "; ".join(reason for _, reason in self.skipped[:5]),
                stacklevel=3,
            )
        if len(bands) > 1:
            raise DataError(f"{self.root} mixes images with {sorted(bands)} bands; use one product level")
        self.files = [self.files[i] for i in keep]
        self.lats, self.lons = self.lats[keep], self.lons[keep]

    @property
    def channels(self) -> int:
        """Bands per image (12 for L2A, 13 for L1C), read from the first file."""
        return int(read_geotiff(self.root / "images" / self.files[0]).shape[0])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> GeoSample:
        array = read_geotiff(self.root / "images" / self.files[index]).astype(np.float32)
        image = torch.from_numpy(np.clip(array / REFLECTANCE_SCALE, 0.0, 1.0))
        return GeoSample(image, float(self.lats[index]), float(self.lons[index]))
