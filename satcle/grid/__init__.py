"""Grid layer: the on-disk format of precomputed H3 embedding grids."""
