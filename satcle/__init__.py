"""satcle: global location embeddings (SatCLE), precomputed and queryable.

Public API (arrays in, arrays out; coordinates always in degrees):

* `spherical_harmonics(lats, lons, L)` - real orthonormal SH basis, (N, L**2).
* `load_encoder(name_or_path)` - a `LocationEncoder`; `.encode(lats, lons)`
  gives (N, D) float32 embeddings.
* `connect(grid_dir, **lookup_options)` - a DuckDB connection to a precomputed
  grid: view ``satcle(h3, lat, lon, embedding)``, SQL functions
  ``h3_latlng_to_cell`` and ``satcle_embedding`` (the grid's `lookup`).
* `open_grid(path)` - a precomputed `Grid`; `lookup(lats, lons)` - (N, D)
  float32 embeddings from a grid (default: `default_grid_dir()`, what
  ``satcle-grid build`` writes with its defaults).
"""

from .core.errors import (
    CoordinateError,
    GridBuildError,
    GridFormatError,
    GridNotFoundError,
    ModelFormatError,
    ModelNotFoundError,
    OutsideCoverageError,
    SatcleError,
)
from .grid.lookup import Grid, default_grid_dir, lookup, open_grid
from .grid.sql import connect
from .model import (
    EncoderConfig,
    LocationEncoder,
    available_models,
    load_encoder,
    save_encoder,
    spherical_harmonics,
)

from .core.version import __version__

__all__ = [
    "CoordinateError",
    "EncoderConfig",
    "Grid",
    "GridBuildError",
    "GridFormatError",
    "GridNotFoundError",
    "LocationEncoder",
    "ModelFormatError",
    "ModelNotFoundError",
    "OutsideCoverageError",
    "SatcleError",
    "__version__",
    "available_models",
    "connect",
    "default_grid_dir",
    "load_encoder",
    "lookup",
    "open_grid",
    "save_encoder",
    "spherical_harmonics",
]
