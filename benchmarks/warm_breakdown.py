"""Where a warm ``nephlab bench large`` call goes (issue 15): host set-up, compiled solve, RHS, step overhead.

For the nephlab-sparse rows of ``nephlab bench large --sizes M`` (constant, or ``--drive``), in
one process, after a first call (compilation), every piece timed by the CPU time of the process
(``time.process_time``: all threads, less inflated by a loaded machine than wall time; XLA's
worker threads count too), best and median of ``--repeat`` interleaved rounds:

* ``whole call``: ``nephlab.mesolve`` as the benchmark calls it;
* ``host set-up``: the same call with the compiled solve replaced by its stored output (argument
  checks, operator parsing and preparation, assembly, result), i.e. the call minus the solve;
* ``compiled solve``: the jitted ``_engine.solve`` alone on the call's data (already on the device);
* ``RHS x evals``: the right-hand side alone, applied as many times as the solve evaluates it
  (``y + 1e-3 f(t, y)`` in a ``fori_loop``, from a full-rank state);
* ``steps, trivial RHS``: the solver's steps (tsit5: ``_rk.rk_step``, its stage sums, pins, error
  norm and controller; rk4: ``_engine.rk4_step``) with ``f(t, y) = -0.1 y``, as many as the
  solve takes: the per-step overhead outside the right-hand side.

    python benchmarks/warm_breakdown.py --sizes 4 --solves adaptive,rk4
    python benchmarks/warm_breakdown.py --sizes 4 --solves adaptive --drive
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def _cpu(f, *args) -> float:
    c0 = time.process_time()
    jax.block_until_ready(f(*args))
    return time.process_time() - c0


def breakdown(M: int, solve: str, drive: bool, repeat: int) -> list[tuple[str, float, float]]:
    """``[(piece, best ms, median ms)]`` for one row."""
    from nephlab.bench.large import _call
    from nephlab.quantum import _engine, _jit, _ops, _rk

    call = _call("nephlab-sparse", M, solve, drive=drive)
    seen: dict = {}
    solve_jit = _engine.solve

    def recording(st, dyn, in_axes=None, batched=False):
        seen["args"] = (st, dyn, in_axes, batched)
        seen["out"] = jax.block_until_ready(solve_jit(st, dyn, in_axes=in_axes, batched=batched))
        return seen["out"]

    _engine.solve = recording
    try:
        _, counts = call()
    finally:
        _engine.solve = solve_jit
    st, dyn, in_axes, batched = seen["args"]
    dev = jax.device_put(dyn)
    steps, evals = counts["steps"], counts["rhs_evals"]
    part = _engine.rhs_arguments(dev)
    rng = np.random.default_rng(0)
    n = 3 ** M
    x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    rho = x @ x.conj().T
    y = jnp.asarray(_ops.split(rho / np.trace(rho)))

    def host_only():
        _engine.solve = lambda *a, **k: seen["out"]
        try:
            return call()
        finally:
            _engine.solve = solve_jit

    # the pieces compile with the options of the solve's own executable (_jit.TunedJit)
    opts = dict(_jit.SOLVE_OPTIONS) if st.method.tuned_compile and not _engine.solve.fell_back else {}
    rhs_loop = jax.jit(lambda p, y: jax.lax.fori_loop(
        0, evals, lambda i, y: y + 1e-3 * _engine.make_rhs(st, p)(0.0, y), y), compiler_options=opts)
    trivial = lambda t, y: -0.1 * y  # noqa: E731
    if solve == "rk4":
        saved = _engine.make_rhs
        _engine.make_rhs = lambda st, dyn: trivial  # rk4_step looks it up when traced
        try:
            steps_exe = jax.jit(lambda y: jax.lax.fori_loop(
                0, steps, lambda i, y: _engine.rk4_step(st, {})(y, 0.1 * i, 0.1), y),
                compiler_options=opts).lower(y).compile()
        finally:
            _engine.make_rhs = saved
    else:
        tb = st.method.tableau()

        def run(y):
            def body(i, c):
                y, k1 = c
                y_new, ks, en, accept, fac = _rk.rk_step(trivial, tb, i * 1e-3, y, k1, 1e-3, 1.0, 1e-6, 1e-8)
                return jnp.where(accept, y_new, y), jnp.where(accept, ks[-1], k1)
            return jax.lax.fori_loop(0, steps, body, (y, trivial(0.0, y)))[0]
        steps_exe = _jit.TunedJit(run, opts).lower(y).compile()  # traced as the solve is (classic_emitter())
    pieces = {
        "whole call": (call, ()),
        "host set-up": (host_only, ()),
        "compiled solve": (lambda d: solve_jit(st, d, in_axes=in_axes, batched=batched), (dev,)),
        f"RHS x {evals} evals": (rhs_loop, (part, y)),
        f"{steps} steps, trivial RHS": (steps_exe, (y,)),
    }
    for f, a in pieces.values():
        _cpu(f, *a)
    times: dict = {k: [] for k in pieces}
    for _ in range(repeat):
        for k, (f, a) in pieces.items():
            times[k].append(_cpu(f, *a))
    return [(k, 1e3 * min(v), 1e3 * float(np.median(v))) for k, v in times.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="4", help="comma-separated M (D = 3^M); default 4")
    ap.add_argument("--solves", default="adaptive,rk4", help="adaptive, rk4 or both")
    ap.add_argument("--drive", action="store_true", help="the driven lattice (time-dependent H)")
    ap.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7)")
    a = ap.parse_args(argv)
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
          + (", driven lattice" if a.drive else ""))
    for M in [int(s) for s in a.sizes.split(",") if s]:
        for solve in [s for s in a.solves.split(",") if s]:
            print(f"\nM = {M} (D = {3 ** M}), {solve}: CPU ms per call, best / median of {a.repeat}")
            print("| piece | best ms | median ms |\n|---|---|---|")
            for name, best, med in breakdown(M, solve, a.drive, a.repeat):
                print(f"| {name} | {best:.2f} | {med:.2f} |")
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
