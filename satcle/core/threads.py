"""Validation of thread counts wherever they enter the library.

Every public function that hands a thread count to an OpenMP kernel calls
`check_num_threads` first: libgomp aborts the whole process on a negative or
huge team size (``num_threads=-1`` is a common "all cores" habit), so a bad
value must be refused in Python, before any kernel runs.

Accepted values:

* 0 (the default everywhere) or -1 (joblib's "all cores"): all cores, as
  OpenMP counts them (``OMP_NUM_THREADS`` if set);
* 1 .. `MAX_THREADS`: that many threads.
"""

from __future__ import annotations

import operator
import os

from .errors import InvalidArgumentError

# A documented cap, the same on every machine with up to 64 cores: far above any
# useful team (more threads than cores only adds contention), far below what
# makes libgomp fail to create its threads.
MAX_THREADS = max(256, 4 * (os.cpu_count() or 1))
ALL_CORES = (0, -1)


def check_num_threads(num_threads, name: str = "num_threads") -> int:
    """The kernels' thread count for `num_threads`: 0 for all cores (0 or -1), else 1..MAX_THREADS.

    Raises InvalidArgumentError (a ValueError) naming `name` and the accepted
    range for anything else: other negatives, counts above `MAX_THREADS`,
    non-integers (floats, bools, strings).
    """
    accepted = f"0 or -1 (all cores) or 1..{MAX_THREADS}"
    if isinstance(num_threads, bool):
        raise InvalidArgumentError(f"{name} must be an integer, {accepted}; got {num_threads!r}")
    try:
        count = operator.index(num_threads)
    except TypeError:
        raise InvalidArgumentError(f"{name} must be an integer, {accepted}; got {num_threads!r}") from None
    if count in ALL_CORES:
        return 0
    if not 1 <= count <= MAX_THREADS:
        raise InvalidArgumentError(f"{name} must be {accepted}; got {count}")
    return count
