"""The one sample type every data source yields."""

from __future__ import annotations

from typing import NamedTuple

import torch


class GeoSample(NamedTuple):
    """One geo-tagged image.

    image : float32 tensor (C, H, W), values scaled to about [0, 1]
    lat, lon : float, degrees (EPSG:4326 centre of the image)
    """

    image: torch.Tensor
    lat: float
    lon: float
