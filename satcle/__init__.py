"""satcle: global location embeddings (SatCLE), precomputed and queryable.

Public API (coordinates always in degrees):

* `add_embeddings(df)` - a pandas or GeoPandas DataFrame with an ``embedding``
  column added: points from its lat/lon columns (found by name) or its point
  geometry (any CRS); polygons as the mean of the grid cells they cover.

* `spherical_harmonics(lats, lons, L)` - real orthonormal SH basis, (N, L**2).
* `load_encoder(name_or_path)` - a `LocationEncoder`; `.encode(lats, lons)`
  gives (N, D) float32 embeddings.
* `connect(grid_dir, **lookup_options)` - a DuckDB connection to a precomputed
  grid: view ``satcle(h3, lat, lon, embedding)``, SQL functions
  ``h3_latlng_to_cell`` and ``satcle_embedding`` (the grid's `lookup`).
* `open_grid(path)` - a precomputed `Grid`; `lookup(lats, lons)` (or
  `lookup(points)`: (N, 2) array, two-column frame) - (N, D) float32 embeddings from a grid (default: `default_grid_dir()`, what
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
from .frames import add_embeddings
from .grid.lookup import Grid, Source, default_grid_dir, lookup, open_grid
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
    "Source",
    "__version__",
    "add_embeddings",
    "available_models",
    "connect",
    "default_grid_dir",
    "load_encoder",
    "lookup",
    "open_grid",
    "save_encoder",
    "spherical_harmonics",
]
