"""Reuse of dropped lookup results' memory (satcle.grid.lookup.result_memory)."""

import gc

import numpy as np
from satcle.grid.lookup.result_memory import MIN_REUSED_BYTES, ResultMemory


def test_a_dropped_result_serves_the_next_one():
    memory = ResultMemory(min_bytes=0)
    first = memory.empty((100, 16), np.float32)
    address = first.ctypes.data
    assert address % 64 == 0 and first.flags.c_contiguous and first.flags.writeable
    del first
    assert memory.nbytes >= 100 * 16 * 4
    second = memory.empty((90, 16), np.float16)        # 2.9 kB: under half the 6.5 kB buffer, not served by it
    assert second.ctypes.data != address
    del second
    third = memory.empty((60, 16), np.float32)          # 3.8 kB: served by it
    assert third.ctypes.data == address and third.shape == (60, 16) and third.dtype == np.float32


def test_memory_of_a_live_result_or_view_is_never_handed_out():
    memory = ResultMemory(min_bytes=0)
    first = memory.empty((1000, 8), np.float32)
    first[:] = 1.0
    view = first[500:]
    del first                                            # the view keeps the buffer
    second = memory.empty((1000, 8), np.float32)
    second[:] = 2.0
    assert not np.shares_memory(view, second)
    assert (view == 1.0).all()
    del view
    gc.collect()
    third = memory.empty((1000, 8), np.float32)
    assert not np.shares_memory(third, second)


def test_at_most_keep_buffers_are_kept_and_release_lets_go():
    memory = ResultMemory(keep=2, min_bytes=0)
    results = [memory.empty((1000, 8), np.float32) for _ in range(4)]
    del results
    assert memory.nbytes <= 2 * (1000 * 8 * 4 + 64)
    memory.release()
    assert memory.nbytes == 0


def test_small_results_are_plain_arrays():
    memory = ResultMemory()
    small = memory.empty((10, 8), np.float32)
    del small
    assert memory.nbytes == 0
    assert MIN_REUSED_BYTES >= 1 << 20


def test_grid_lookup_reuses_a_dropped_result_and_gives_the_same_values(tiny_grid, rng):
    from satcle import open_grid

    grid = open_grid(tiny_grid[0], encoder=tiny_grid[1])
    n = MIN_REUSED_BYTES // (grid.dim * 4) + 1
    lats, lons = rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)
    expected = grid.lookup(lats, lons)
    held = grid.lookup(lats[::-1].copy(), lons[::-1].copy())   # a result the caller keeps
    address = held.ctypes.data
    np.testing.assert_array_equal(held, expected[::-1])
    del held
    again = grid.lookup(lats, lons)
    assert again.ctypes.data == address                  # the dropped result's memory
    assert not np.shares_memory(again, expected)
    np.testing.assert_array_equal(again, expected)
    del again
    grid.release_memory()
    assert grid._result_memory.nbytes == 0


def test_keep_zero_keeps_nothing():
    memory = ResultMemory(keep=0, min_bytes=0)
    result = memory.empty((100, 4), np.float32)
    del result
    assert memory.nbytes == 0


def test_threads_never_share_a_live_buffer():
    """Many threads taking and dropping results at once: each result keeps its own values."""
    import threading

    memory = ResultMemory(keep=2, min_bytes=0)
    failures = []
    barrier = threading.Barrier(8)

    def work(tag: int) -> None:
        barrier.wait()
        held = []
        for step in range(300):
            result = memory.empty((64, 16), np.float32)
            result.fill(tag * 1000 + step)
            held.append((result, tag * 1000 + step))
            if len(held) > 3:                      # drop the oldest: its buffer goes back to the pool
                old, value = held.pop(0)
                if not (old == value).all():
                    failures.append((tag, step))
        for result, value in held:
            if not (result == value).all():
                failures.append((tag, -1))

    threads = [threading.Thread(target=work, args=(tag,)) for tag in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert memory.nbytes <= 2 * (64 * 16 * 4 + 64)
