"""One loaded copy of each grid per process.

`open_grid`, `satcle.connect` and `satcle.lookup` all open grids through
`shared_grid`: a grid already held by anyone in the process (same resolved
directory, same manifest) is handed out again instead of being loaded a second
time, and threads that open the same grid at once wait for one load. Entries are
weak references: a grid nobody holds any more is freed.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable, Hashable, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loaded: "weakref.WeakValueDictionary[Hashable, object]" = weakref.WeakValueDictionary()
_loading: dict[Hashable, threading.Lock] = {}


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


def clear_shared_grids() -> None:
    """Forget every held grid (the objects live on while someone holds them)."""
    with _lock:
        _loaded.clear()
