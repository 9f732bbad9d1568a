"""Model layer: spherical harmonics, Siren, the location encoders (Siren(SH), GeoCLIP-RFF) and their files."""

from .encoder_files import KINDS, available_models, load_encoder, resolve_model, save_encoder
from .geoclip_encoder import GeoClipConfig, GeoClipEncoder
from .location_encoder import EncoderConfig, LocationEncoder
from .siren import Siren, SirenLayer
from .spherical_harmonics import spherical_harmonics, spherical_harmonics_torch

__all__ = [
    "EncoderConfig",
    "GeoClipConfig",
    "GeoClipEncoder",
    "KINDS",
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
