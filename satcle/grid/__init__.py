"""The grid stage's reading side, in three layers, each importing only those below it:

* `satcle.grid.format` - the store format: `Manifest` (a grid's identity),
  partition schema, reader, verification, the DuckDB view;
* `satcle.grid.lookup` - `open_grid`, `Grid.lookup`, the cell index behind the
  compiled kernels, the precision contract (``interp_error``);
* `satcle.grid.sql` - `connect` and the SQL functions ``h3_latlng_to_cell``,
  ``satcle_embedding``.

Grids are written by the top-level `build_grid` package (``satcle-grid build``).
"""
