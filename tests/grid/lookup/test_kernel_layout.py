"""The Python view of the cell index agrees with what the kernels read: the
sentinels of its tables, and the dtypes and shapes of its arrays."""

import h3
import numpy as np
import pytest

from satcle._ext import grid_locate
from satcle.geo.h3_cells import cell_centers
from satcle.grid.format.index_layout import ABSENT, INDEX_LAYOUT, NOT_STORED
from satcle.grid.lookup.cell_index import build_cell_index


def test_sentinels_match_the_kernels():
    assert (NOT_STORED, ABSENT) == (grid_locate.NOT_STORED, grid_locate.ABSENT)


def test_built_arrays_have_the_layout_the_kernels_read():
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(10.0, 20.0, 4), 2)),
                     dtype=np.uint64)
    index = build_cell_index(cells, *cell_centers(cells))
    for name, (dtype, tail) in INDEX_LAYOUT.items():
        array = getattr(index, name)
        assert array.dtype == np.dtype(dtype) and array.shape[1:] == tail and array.flags.c_contiguous, name
    grid_locate.CellIndexView(index, 1e-7, 1e-6)   # accepted as it is


def test_the_view_refuses_arrays_of_another_layout():
    """A `CellIndex` cannot hold such arrays (it is checked when made); the view checks the
    shapes it relies on again, for any object with the index's fields."""
    import dataclasses
    import types

    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(10.0, 20.0, 4), 1)),
                     dtype=np.uint64)
    index = build_cell_index(cells, *cell_centers(cells))
    fields = {field.name: getattr(index, field.name) for field in dataclasses.fields(index)}
    with pytest.raises(ValueError):
        grid_locate.CellIndexView(types.SimpleNamespace(**{**fields, "centres": index.centres.astype(np.float64)}),
                                  1e-7, 1e-6)
    with pytest.raises(ValueError, match="CellIndex layout"):
        grid_locate.CellIndexView(types.SimpleNamespace(**{**fields, "bucket_offsets": index.bucket_offsets[:-1]}),
                                  1e-7, 1e-6)
