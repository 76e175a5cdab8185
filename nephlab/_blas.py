"""One host BLAS thread for the calling thread, for LAPACK work on small matrices.

OpenBLAS (NumPy's and SciPy's wheels each load their own copy) parallelises a 400 × 400 real
Schur decomposition badly: its many small level-2 steps synchronise the threads at every step,
so two threads did not help on the idle 2-core machine and were 3-30× slower when its cores were
taken by other processes (the threads spin while they wait; ``benchmarks/RESULTS.md``, issue 14).
``single_thread`` sets the number of threads of the *calling* thread only
(``openblas_set_num_threads_local`` of recent OpenBLAS, 0.3.31 in the NumPy and SciPy wheels
here) for the duration of a ``with`` block and sets it back after; other threads and other BLAS
builds are left alone (then it does nothing).

``process_single_thread`` sets the process-wide number of threads instead, for LAPACK that runs
on threads other than the caller's: jaxlib's CPU kernels (Cholesky, eigh, LU) call SciPy's
OpenBLAS from XLA's threads. Its worker threads spin-wait between such calls and compete with
XLA's; in the HJB PINN's Levenberg-Marquardt loop (a ~700 x 700 Cholesky per step) one thread
took 4.0 s of CPU against 45.7 s with the default pool, same result
(``benchmarks/hjb_lm_threads.py``, ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import ctypes
import importlib
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_setters: list[Any] | None = None  # found on first use
_lock = threading.Lock()


def _openblas_paths() -> list[str]:
    """Paths of every OpenBLAS loaded in this process, NumPy's and SciPy's included (Linux)."""
    for module in ("numpy", "scipy.linalg"):  # load NumPy's and SciPy's BLAS before looking
        importlib.import_module(module)

    paths: list[str] = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(None, 1)[-1]
                if "openblas" in path.lower() and path.startswith("/") and path not in paths:
                    paths.append(path)
    except OSError:  # not Linux
        return []
    return paths


def _find_setters() -> list[Any]:
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded in this process (Linux)."""
    setters = []
    for path in _openblas_paths():
        try:
            fn = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):  # an older OpenBLAS: no thread-local setting
            continue
        fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_int]
        setters.append(fn)
    return setters


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the ``with`` block's OpenBLAS calls on one thread (the calling thread's setting only).

    Example:
        >>> import numpy as np
        >>> with single_thread():
        ...     x = np.linalg.solve(np.eye(3), np.ones(3))
        >>> x.tolist()
        [1.0, 1.0, 1.0]
    """
    global _setters
    if _setters is None:
        with _lock:
            if _setters is None:
                _setters = _find_setters()
    previous = [fn(1) for fn in _setters]
    try:
        yield
    finally:
        for fn, k in zip(_setters, previous):
            fn(k)


_pools: list[tuple[Any, Any]] | None = None  # (get, set) of the process-wide thread count, found on first use


def _find_pools() -> list[tuple[Any, Any]]:
    """``(get_num_threads, set_num_threads)`` of every OpenBLAS loaded in this process (the
    wheels' symbol names: ``scipy_openblas_…`` with an optional ``64_`` suffix, or plain ``openblas_…``)."""
    pools = []
    for path in _openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("", "64_"):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    pools.append((get, put))
                    break
            else:
                continue
            break
    return pools


@contextmanager
def process_single_thread() -> Iterator[None]:
    """Run the ``with`` block with every loaded OpenBLAS on one thread, process-wide, and set the
    previous counts back after; for LAPACK called from other threads (jaxlib's CPU kernels). Other
    threads' BLAS calls inside the block also run on one thread. No-op where no OpenBLAS is found.

    Example:
        >>> import jax.numpy as jnp
        >>> with process_single_thread():
        ...     c = jnp.linalg.cholesky(4.0 * jnp.eye(2))
        >>> c.tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """
    global _pools
    if _pools is None:
        with _lock:
            if _pools is None:
                _pools = _find_pools()
    previous = [get() for get, _ in _pools]
    for _, put in _pools:
        put(1)
    try:
        yield
    finally:
        for (_, put), k in zip(_pools, previous):
            put(k)
