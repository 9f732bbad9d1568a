"""Model layer: spherical harmonics, Siren, the location encoder and its files."""

from .checkpoint import available_models, load_encoder, resolve_model, save_encoder
from .location_encoder import EncoderConfig, LocationEncoder
from .siren import Siren, SirenLayer
from .spherical_harmonics import spherical_harmonics, spherical_harmonics_torch

__all__ = [
    "EncoderConfig",
    "LocationEncoder",
    "Siren",
    "SirenLayer",
    "available_models",
    "load_encoder",
    "resolve_model",
    "save_encoder",
    "spherical_harmonics",
    "spherical_harmonics_torch",
]
