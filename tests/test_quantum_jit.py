"""The engine's per-executable XLA options (``nephlab.quantum._jit``): which methods compile with
them, the fallback for a jaxlib that rejects an option, and that the options do not change a
solve beyond rounding.

Tolerance: the same tsit5 solve compiled by XLA's two CPU emitters differs only in the order of
floating-point operations inside fused loops (measured ≤ 7e-15 relative on n ≤ 100,
``benchmarks/RESULTS.md``); 1e-12 relative leaves room for other machines' vector widths, and the
adaptive step counts must be equal.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import nephlab
from nephlab.quantum import _engine, _jit, destroy, fock_dm


def _cavity(n=8):
    a = destroy(n)
    H = a.conj().T @ a + 0.3 * (a + a.conj().T)
    return H, fock_dm(n, 2), np.linspace(0.0, 2.0, 5), [np.sqrt(0.4) * a], [a.conj().T @ a]


@pytest.mark.parametrize("method,tuned", [("tsit5", True), ("rk4", True), ("expm", False)])
def test_methods_pick_their_compile_options(method, tuned):
    H, rho0, tl, c_ops, e_ops = _cavity()
    _engine.solve.clear_cache()  # an earlier test may have compiled this very problem
    before = (_engine.solve._tuned._cache_size(), _engine.solve._plain._cache_size())
    kw = {"dt": 0.01} if method == "rk4" else {}
    nephlab.mesolve(H, rho0, tl, c_ops, e_ops=e_ops, method=method, **kw)
    after = (_engine.solve._tuned._cache_size(), _engine.solve._plain._cache_size())
    grew = (after[0] > before[0], after[1] > before[1])
    assert grew == ((True, False) if tuned else (False, True))


def test_tuned_and_default_compiles_agree():
    H, rho0, tl, c_ops, e_ops = _cavity()
    seen = {}
    solve = _engine.solve

    def capture(st, dyn, in_axes=None, batched=False):
        seen.update(st=st, dyn=dyn, in_axes=in_axes, batched=batched)
        return solve(st, dyn, in_axes=in_axes, batched=batched)

    _engine.solve = capture
    try:
        nephlab.mesolve(H, rho0, tl, c_ops, e_ops=e_ops, method="tsit5")
    finally:
        _engine.solve = solve
    st, dyn = seen["st"], seen["dyn"]
    assert st.method.tuned_compile
    plain = jax.jit(solve.__wrapped__, static_argnames=("st", "in_axes", "batched"))
    _, y_tuned, stats_tuned = solve(st, dyn, in_axes=seen["in_axes"], batched=seen["batched"])
    _, y_plain, stats_plain = plain(st, dyn, in_axes=seen["in_axes"], batched=seen["batched"])
    assert int(stats_tuned["steps"]) == int(stats_plain["steps"]) > 0
    y_tuned, y_plain = np.asarray(y_tuned), np.asarray(y_plain)
    assert np.max(np.abs(y_tuned - y_plain)) <= 1e-12 * np.max(np.abs(y_plain))


def test_rejected_option_falls_back_to_the_plain_jit():
    f = _jit.TunedJit(lambda x: 3.0 * x, {"xla_cpu_option_that_does_not_exist": True})
    assert float(f(np.float64(2.0))) == 6.0
    assert f.fell_back
    assert float(f(np.float64(1.0))) == 3.0  # later calls go straight to the plain jit

