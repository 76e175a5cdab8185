"""nephlab._blas: one OpenBLAS thread inside a block (the calling thread's or the whole process's), the setting restored after."""

import sys

import numpy as np
import pytest

from nephlab import _blas


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the loaded OpenBLAS in /proc/self/maps")
def test_process_single_thread_sets_every_pool_to_one_and_restores_it():
    import jax.numpy as jnp

    with _blas.process_single_thread():
        pass
    pools = _blas._pools
    assert len(pools) >= 2, "NumPy's and SciPy's wheels each load an OpenBLAS with a thread pool"
    before = [get() for get, _ in pools]
    for _, put in pools:
        put(2)  # a known count for the test
    try:
        with _blas.process_single_thread():
            inside = [get() for get, _ in pools]
            c = jnp.linalg.cholesky(jnp.array([[4.0, 2.0], [2.0, 5.0]]))  # LAPACK from XLA's thread
        after = [get() for get, _ in pools]
    finally:
        for (_, put), k in zip(pools, before):
            put(k)
    assert inside == [1] * len(pools)
    assert after == [2] * len(pools)
    np.testing.assert_allclose(np.asarray(c), [[2.0, 0.0], [1.0, 2.0]], rtol=0, atol=1e-15)
