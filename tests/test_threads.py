"""Thread counts are checked in Python: libgomp aborts the process on a bad one."""

import numpy as np
import pytest

from satcle.core.errors import InvalidArgumentError
from satcle.core.threads import MAX_THREADS, check_num_threads


@pytest.mark.parametrize("value, kernel", [(0, 0), (-1, 0), (1, 1), (np.int64(3), 3), (MAX_THREADS, MAX_THREADS)])
def test_accepted_counts(value, kernel):
    assert check_num_threads(value) == kernel


@pytest.mark.parametrize("value", [-2, -(2**31), MAX_THREADS + 1, 100_000, 2**31 - 1, 2**70, 2.0, "4", None, True])
def test_refused_counts_name_the_option_and_the_range(value):
    with pytest.raises(InvalidArgumentError, match=rf"workers must be .*0 or -1 \(all cores\) or 1\.\.{MAX_THREADS}"):
        check_num_threads(value, "workers")
    assert issubclass(InvalidArgumentError, ValueError)


def test_cap_is_at_least_256():
    assert MAX_THREADS >= 256
