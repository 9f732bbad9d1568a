"""One loaded copy of a grid per process: `open_grid`, `satcle.connect` and
`satcle.lookup`, from any number of threads, share it."""

import shutil
import threading

import numpy as np
import pytest

import satcle
from support import write_document
from satcle.grid.lookup import grid as grid_module
from satcle.grid.lookup.shared_grids import clear_shared_grids


@pytest.fixture
def counted_loads(monkeypatch):
    """A cold process (nothing held) whose grid loads (lookup files mapped) are counted."""
    clear_shared_grids()
    loads = []

    def counted(original):
        def counting(*args, **kwargs):
            loads.append(args[0])
            return original(*args, **kwargs)
        return counting

    monkeypatch.setattr(grid_module, "_mapped_table_and_index", counted(grid_module._mapped_table_and_index))
    yield loads
    clear_shared_grids()


def test_three_ways_share_one_load(tiny_grid, tmp_path, counted_loads):
    path = shutil.copytree(tiny_grid[0], tmp_path / "grid")
    grid = satcle.open_grid(path)
    assert satcle.open_grid(str(path)) is grid
    con = satcle.connect(path, method="cell")
    cell = con.execute("SELECT satcle_embedding(10.0, 20.0)").fetchone()[0]
    emb = satcle.lookup([10.0], [20.0], grid=path, method="cell")
    np.testing.assert_array_equal(emb[0], np.asarray(cell, dtype=np.float32))
    assert len(counted_loads) == 1
    # With an encoder of its own: another Grid over the same arrays.
    other = satcle.open_grid(path, encoder=tiny_grid[1])
    assert other is not grid and other.table is grid.table and other.index is grid.index
    assert len(counted_loads) == 1


def test_eight_threads_on_a_cold_start_load_once(tiny_grid, tmp_path, counted_loads):
    path = shutil.copytree(tiny_grid[0], tmp_path / "grid")
    start = threading.Barrier(8)
    results = [None] * 8

    def work(i):
        start.wait()
        results[i] = satcle.lookup([1.0 * i], [2.0], grid=path, method="cell")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(counted_loads) == 1 and all(r is not None and r.shape == (1, 8) for r in results)


def test_a_changed_grid_is_loaded_again_and_a_dropped_one_freed(tiny_grid, tmp_path, counted_loads):
    import gc
    import json

    from satcle.grid.format.store import MANIFEST_FILE

    path = shutil.copytree(tiny_grid[0], tmp_path / "grid")
    first = satcle.open_grid(path)
    document = json.loads((path / MANIFEST_FILE).read_text())
    document["build_finished"] = "2000-01-01T00:00:00Z"   # another manifest: another grid
    write_document(path, document)   # its checksum recomputed: a rebuilt manifest
    second = satcle.open_grid(path)
    assert second is not first and len(counted_loads) == 2
    assert satcle.lookup([1.0], [2.0], grid=path).shape == (1, 8)   # satcle.lookup shares the held load
    assert len(counted_loads) == 2
    del first, second
    clear_shared_grids()   # satcle.lookup's cache keeps the last grids it was given alive: let them go too
    gc.collect()
    satcle.open_grid(path)
    assert len(counted_loads) == 3   # nobody held it: freed, then loaded again
