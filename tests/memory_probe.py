"""Measure the peak memory of ``nephlab.mesolve`` calls and compare it with the methods' estimates.

Run as a script in a fresh process (``tests/test_mesolve_memory.py`` does this), with JAX on CPU
and ``MALLOC_MMAP_THRESHOLD_=65536`` so that every buffer above 64 KiB is its own mapping, given
back to the system when freed: resident memory then follows what is allocated. For each case
(a JSON list on the command line) it

1. compiles the call's program ahead of time (so compilation does not count),
2. runs the real ``mesolve`` call while a thread samples the resident set size every 0.5 ms,
3. prints one JSON line: the method's estimate (what ``mesolve`` itself computed), the measured
   peak growth over the resident size just before the call, and XLA's own buffer plan
   (arguments + outputs + temporaries) for reference.

A case: ``{"method", "n", "batch", "n_c_ops", "n_times", "store_states", "uniform",
"batch_c_ops", "dt"}``; H is batched when ``batch > 1``, the collapse operators too when
``batch_c_ops``.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time

import numpy as np
import psutil


def _problem(case: dict):
    from nephlab.quantum import destroy

    n, B, K = case["n"], case["batch"], case["n_c_ops"]
    a = destroy(n)
    num = a.T @ a
    H0 = num + 0.3 * (a + a.T) + 0.01 * num @ num
    H = np.stack([H0 * (1.0 + 0.1 * k) for k in range(B)]) if B > 1 else H0
    c_ops = [np.sqrt(0.1 * (k + 1)) * (a if k % 2 == 0 else num) for k in range(K)]
    if case.get("batch_c_ops") and B > 1:
        c_ops = [np.stack([c * (1.0 + 0.1 * j) for j in range(B)]) for c in c_ops]
    rho0 = np.zeros((n, n), complex)
    rho0[0, 0] = 1.0
    t = np.linspace(0.0, 1.0, case["n_times"])
    tlist = t if case.get("uniform", True) else t**1.5
    kw = {"dt": case["dt"]} if case.get("dt") else {}
    return (H, rho0, tlist, c_ops), dict(e_ops=[num], method=case["method"], store_states=case["store_states"], **kw)


def measure(case: dict) -> dict:
    import nephlab
    from nephlab.quantum import _engine

    mesolve_module = sys.modules["nephlab.quantum.mesolve"]
    args, kw = _problem(case)

    # 1. compile ahead of time: capture the engine call, abort it, compile it (jit's cache keeps it)
    class _Captured(Exception):
        pass

    solve = _engine.solve
    captured: dict = {}

    def capture(st, dyn, in_axes=None, batched=False):
        captured.update(st=st, dyn=dyn, in_axes=in_axes, batched=batched)
        raise _Captured

    _engine.solve = capture
    try:
        nephlab.mesolve(*args, **kw)
    except _Captured:
        pass
    finally:
        _engine.solve = solve
    ma = solve.lower(captured["st"], captured["dyn"], in_axes=captured["in_axes"],
                     batched=captured["batched"]).compile().memory_analysis()
    plan = ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes - ma.alias_size_in_bytes
    captured.clear()

    # 2. the real call (mesolve's own memory check runs; record the estimate it computed)
    estimates: list[int] = []
    check = mesolve_module._check_memory

    def recording_check(meth, problem):
        estimates.append(int(meth.memory_bytes(problem)))
        return check(meth, problem)

    mesolve_module._check_memory = recording_check
    try:
        res, growth = peak_growth(lambda: nephlab.mesolve(*args, **kw))
    finally:
        mesolve_module._check_memory = check
    out = {"case": case, "estimate": estimates[0], "measured": growth, "plan": plan, "method": res.method}
    del res
    gc.collect()
    return out


def peak_growth(fn) -> tuple:
    """``(fn(), bytes)``: run ``fn`` while a thread samples the resident set size every 0.5 ms;
    the bytes are the peak over the resident size just before the call."""
    proc = psutil.Process()
    gc.collect()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        res = fn()
    finally:
        done.set()
        sampler.join()
    return res, max(peak[0], proc.memory_info().rss) - base


if __name__ == "__main__":
    for c in json.loads(sys.argv[1]):
        print(json.dumps(measure(c)), flush=True)
