"""The process's grid cache: one loaded copy of each grid, and the last few kept.

Everything that opens grids goes through here: `open_grid` (and through it
`satcle.connect`, ``satcle-grid`` commands) by `shared_grid`, `satcle.lookup`,
`satcle.add_embeddings` and each Dask worker (`satcle.dask`) by `recent_grid`.

* `shared_grid(key, load)`: a grid already held by anyone in the process (same
  key: resolved directory and manifest) is handed out again instead of being
  loaded a second time; threads that open the same grid at once wait for one
  load. Entries are weak references: a grid nobody holds any more is freed.
* `recent_grid(key, load)`: the same, and the grid is also held by the cache,
  the `RECENT` most recently asked-for ones, so that calls that open a grid by
  its path (`satcle.lookup(..., grid=DIR)` in a loop, a Dask worker's
  partitions) pay for the load once.
"""

from __future__ import annotations

import collections
import threading
import weakref
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

#: Grids `recent_grid` keeps alive after their last user lets go.
RECENT = 2

_lock = threading.Lock()
_loaded: "weakref.WeakValueDictionary[Hashable, object]" = weakref.WeakValueDictionary()
_loading: dict[Hashable, threading.Lock] = {}
_recent: "collections.OrderedDict[Hashable, object]" = collections.OrderedDict()


def shared_grid(key: Hashable, load: Callable[[], T]) -> T:
    """The object held under `key`, else `load()`'s, kept (weakly) under `key`.

    Thread-safe: concurrent callers with one key call `load` once (a failed load
    raises in the caller that ran it; the next caller tries again)."""
    with _lock:
        held = _loaded.get(key)
        if held is not None:
            return held
        key_lock = _loading.setdefault(key, threading.Lock())
    with key_lock:
        with _lock:
            held = _loaded.get(key)
        if held is None:
            held = load()
            with _lock:
                _loaded[key] = held
    with _lock:
        _loading.pop(key, None)
    return held


def recent_grid(key: Hashable, load: Callable[[], T]) -> T:
    """`load()`'s object, kept under `key` (held strongly, with the `RECENT` most
    recently used keys) and handed out again while kept. `load` is called at
    most once at a time per key; it may itself go through `shared_grid`."""
    with _lock:
        held = _recent.get(key)
        if held is not None:
            _recent.move_to_end(key)
            return held
    held = shared_grid(("recent", key), load)
    with _lock:
        _recent[key] = held
        _recent.move_to_end(key)
        while len(_recent) > RECENT:
            _recent.popitem(last=False)
    return held


def clear_shared_grids() -> None:
    """Forget every held grid (the objects live on while someone else holds them)."""
    with _lock:
        _loaded.clear()
        _recent.clear()
