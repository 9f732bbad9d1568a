"""The Python view of the kernels' records agrees with the C structs they read."""

import numpy as np

from satcle._ext.grid_locate import cell_record_layout
from satcle.grid.lookup.cell_index import (CELL_RECORD, RECORD_CENTRE, RECORD_NEIGHBOUR_COUNT, RECORD_NEIGHBOUR_XYZ,
                                           RECORD_NEIGHBOURS, RECORD_SLOTS)


def test_cell_record_dtype_matches_the_c_struct():
    fields, itemsize = cell_record_layout()
    assert CELL_RECORD.itemsize == itemsize == 128 == RECORD_SLOTS * 4
    assert set(fields) == set(CELL_RECORD.names)
    for name, (offset, size) in fields.items():
        dtype, python_offset = CELL_RECORD.fields[name][:2]
        assert (python_offset, dtype.itemsize) == (offset, size), name


def test_record_slots_address_the_fields():
    record = np.zeros(1, dtype=CELL_RECORD)
    record["centre"] = [1.0, 2.0, 3.0]
    record["neighbours"] = np.arange(6)
    record["neighbour_xyz"] = np.arange(18, dtype=np.float32).reshape(6, 3)
    record["neighbour_count"] = 5
    slots = record.view(np.float32)
    np.testing.assert_array_equal(slots[RECORD_CENTRE], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(slots.view(np.int32)[RECORD_NEIGHBOURS], np.arange(6))
    np.testing.assert_array_equal(slots[RECORD_NEIGHBOUR_XYZ], np.arange(18))
    assert slots.view(np.int32)[RECORD_NEIGHBOUR_COUNT] == 5
