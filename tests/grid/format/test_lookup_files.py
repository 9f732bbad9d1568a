import mmap
import resource

import numpy as np
import pytest

from satcle.grid.format.lookup_files import _mapped, _populated


def _faults_reading(array: np.ndarray) -> int:
    """Minor page faults this process takes while reading every byte of `array`."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    int(np.bitwise_xor.reduce(array))
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_populated_mapping_is_read_without_page_faults(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, np.arange(8 << 20, dtype=np.uint32))     # 32 MB
    path.read_bytes()                                       # in the page cache, as after the checksum pass
    with open(path, "rb") as handle:
        if not _populated(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)):
            pytest.skip("this kernel cannot populate a mapping (Linux < 5.14)")
    lazy, populated = _mapped(path), _mapped(path, populate=True)
    lazy_faults, populated_faults = _faults_reading(lazy), _faults_reading(populated)
    assert lazy_faults > 0 and populated_faults < lazy_faults / 4, (lazy_faults, populated_faults)
    assert np.array_equal(lazy, populated)
