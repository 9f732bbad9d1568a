"""Memory for a grid's lookup results, reused once the caller has dropped them.

A large result is fresh memory: the process maps it, the kernel zeroes each page
on first touch, and when the array dies the allocator hands the pages straight
back (glibc unmaps any block above its mmap threshold). A pipeline that looks up
batch after batch without `out=` paid that for every batch: 1M points at D = 256
are 1 GB, and faulting them in cost more than the lookup itself (docs/LOOKUP.md).
`ResultMemory` keeps the buffers of dropped results instead, as PyTorch's caching
allocator keeps freed blocks, and hands them to the next results that fit.

A result never shares memory with a live array: a buffer comes back only when
the last reference to its result (views included) is gone.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from .cell_index import CACHE_LINE, empty_aligned

# Results smaller than this come from numpy as usual: the allocator keeps small
# blocks in its heap, so they are not fresh memory.
MIN_REUSED_BYTES = 1 << 24


class _Lease:
    """The owner (numpy `base`) of one result array: it exposes the buffer through
    `__array_interface__` and returns the buffer to its pool when it dies."""

    def __init__(self, buffer: np.ndarray, shape: tuple[int, ...], dtype: np.dtype, returned: collections.deque):
        self._buffer = buffer
        self._returned = returned
        start = -buffer.ctypes.data % CACHE_LINE
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "version": 3,
                                    "data": (buffer.ctypes.data + start, False)}

    def __del__(self):
        # Runs on whichever thread drops the last reference, maybe inside the
        # pool's own code: an append to a bounded deque needs no lock.
        self._returned.append(self._buffer)


class ResultMemory:
    """Buffers of a grid's dropped results, handed to its next ones.

    keep: how many dropped buffers are kept at most (the most recently dropped;
    two cover a caller who holds the previous result while asking for the next).
    min_bytes: smaller results are plain numpy arrays, never kept. A buffer
    serves a result of at least half its size.
    """

    def __init__(self, keep: int = 2, min_bytes: int = MIN_REUSED_BYTES):
        self._returned: collections.deque = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self.min_bytes = min_bytes

    def empty(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of `shape` and `dtype` starting on a
        64-byte boundary, in the memory of a dropped result where one fits."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes < self.min_bytes:
            return empty_aligned(shape, dtype)
        buffer = self._take(nbytes + CACHE_LINE)
        if buffer is None:
            buffer = np.empty(nbytes + CACHE_LINE, dtype=np.uint8)
        return np.asarray(_Lease(buffer, tuple(shape), dtype, self._returned))

    def _take(self, size: int) -> np.ndarray | None:
        """A kept buffer of size..2 * size bytes, removed from the pool, or None."""
        found, others = None, []
        with self._lock:
            while self._returned:
                buffer = self._returned.popleft()
                if found is None and size <= buffer.size <= 2 * size:
                    found = buffer
                else:
                    others.append(buffer)
            self._returned.extend(others)
        return found

    @property
    def nbytes(self) -> int:
        """Bytes kept now for later results."""
        return sum(buffer.size for buffer in list(self._returned))

    def release(self) -> None:
        """Let go of every kept buffer (their memory goes back to the system)."""
        self._returned.clear()
