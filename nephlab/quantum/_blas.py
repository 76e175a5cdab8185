"""One host BLAS thread for the calling thread, for LAPACK work on small matrices.

OpenBLAS (NumPy's and SciPy's wheels each load their own copy) parallelises a 400 × 400 real
Schur decomposition badly: its many small level-2 steps synchronise the threads at every step,
so two threads did not help on the idle 2-core machine and were 3-30× slower when its cores were
taken by other processes (the threads spin while they wait; ``benchmarks/RESULTS.md``, issue 14).
``single_thread`` sets the number of threads of the *calling* thread only
(``openblas_set_num_threads_local`` of recent OpenBLAS, 0.3.31 in the NumPy and SciPy wheels
here) for the duration of a ``with`` block and sets it back after; other threads and other BLAS
builds are left alone (then it does nothing).
"""

from __future__ import annotations

import ctypes
import importlib
import threading
from contextlib import contextmanager
from typing import Any, Iterator

_setters: list[Any] | None = None  # found on first use
_lock = threading.Lock()


def _find_setters() -> list[Any]:
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded in this process (Linux)."""
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
    setters = []
    for path in paths:
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
