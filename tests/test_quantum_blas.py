"""nephlab.quantum._blas.single_thread: one OpenBLAS thread inside the block, the setting restored after."""

import sys

import numpy as np
import pytest

from nephlab.quantum import _blas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the loaded OpenBLAS in /proc/self/maps")
def test_single_thread_sets_and_restores_the_thread_count():
    with _blas.single_thread():
        pass
    setters = _blas._setters
    assert setters, "NumPy's and SciPy's wheels load OpenBLAS with openblas_set_num_threads_local"
    before = [fn(3) for fn in setters]  # 3 threads for this thread, for the test
    try:
        with _blas.single_thread():
            inside = [fn(1) for fn in setters]  # the value set by single_thread
            x = np.linalg.solve(np.eye(4) * 2.0, np.ones(4))
        after = [fn(3) for fn in setters]
    finally:
        for fn, k in zip(setters, before):
            fn(k)
    assert inside == [1] * len(setters)
    assert after == [3] * len(setters)
    np.testing.assert_array_equal(x, 0.5)
