"""Sphere geometry and land: the one owner of unit vectors, the Earth radius,
uniform sampling on the sphere and over land, the land mask, and vectorised H3.

Coordinates are degrees everywhere (latitude first); vectors are float64 unit
vectors with x towards (0, 0), z towards the north pole.
"""

from .land import LandMask, is_land, land_mask, sample_land
from .sphere import EARTH_RADIUS_KM, sample_sphere, unit_vectors

__all__ = ["EARTH_RADIUS_KM", "LandMask", "is_land", "land_mask", "sample_land", "sample_sphere", "unit_vectors"]
