"""In-process A/B of one captured ``mesolve`` (or ``mcsolve``) solve compiled with and without
nephlab's per-executable XLA options (``nephlab.quantum._jit.SOLVE_OPTIONS``), issue 15.

For every case, the warm call is run once to capture the arguments of its compiled program
(``_engine.solve``: st, dyn; for ``mc20``: ``mcsolve._run_chunk`` through the whole call); that
program is then compiled in each variant and timed round by round, interleaved, by the CPU time of
the process (``time.process_time``: all threads) and wall time. Variants:

* ``default``: ``jax.jit`` with XLA's defaults (the code before the options);
* ``tuned``: with ``SOLVE_OPTIONS`` (what ``_engine.solve`` now compiles);
* ``nopin``: defaults, and the stage inputs of ``_rk.rk_step`` not pinned (``_rk.materialize``
  replaced by the identity): the per-step trial of the issue, for the record;
* ``tuned+nopin``: both;
* other joins of ``PARTS`` (``avx2``, ``region``, ``noconc``, ``noynn``: XLA options tried and not
  kept), e.g. ``--variants tuned,tuned+avx2,tuned+noynn,region``.

Cases: ``adaptive``, ``rk4``, ``adaptive:drive`` (the nephlab-sparse rows of ``nephlab bench large
--sizes 4``, D = 81), ``n20``, ``n50``, ``n100`` (``nephlab bench lindblad`` rows, dense engine,
method auto; ``n20@expm`` etc. pick a method) and ``mc20`` (``benchmarks/mcsolve.py``'s model,
200 trajectories, the whole call; ``nopin`` variants not applicable there). ``micro``: pieces of
a step alone on a 2 × 81 × 81 state, µs per application in a 200-fold ``fori_loop``, compiled
with XLA's defaults and with the options: ``y + h k``, ``y * c``, a tsit5-like stage sum of six
stages, the same pinned by ``_rk.materialize``.

    python benchmarks/solve_options_ab.py --cases adaptive,rk4,adaptive:drive,n20,n50 --rounds 15
    python benchmarks/solve_options_ab.py --cases mc20 --rounds 7
    python benchmarks/solve_options_ab.py --cases micro
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

# the parts a variant name joins with "+": XLA options (tried and not kept, besides "tuned")
PARTS = {
    "default": {},
    "tuned": None,  # nephlab.quantum._jit.SOLVE_OPTIONS
    "nopin": {},  # handled by _pins
    "avx2": {"xla_cpu_max_isa": "AVX2"},
    "region": {"xla_cpu_copy_insertion_use_region_analysis": True},
    "noconc": {"xla_cpu_enable_concurrency_optimized_scheduler": False},
    "noynn": {"xla_cpu_experimental_ynn_fusion_type": ""},
}
VARIANTS = ("default", "tuned", "nopin", "tuned+nopin")


@contextlib.contextmanager
def _pins(on: bool):
    from nephlab.quantum import _rk

    saved = _rk.materialize
    if not on:
        _rk.materialize = lambda x: x
    try:
        yield
    finally:
        _rk.materialize = saved


def _options(variant: str) -> dict:
    from nephlab.quantum._jit import SOLVE_OPTIONS

    out: dict = {}
    for part in variant.split("+"):
        out.update(SOLVE_OPTIONS if PARTS[part] is None else PARTS[part])
    return out


def _capture_mesolve(case: str):
    """``(st, dyn, in_axes, batched)`` of the compiled solve of ``case``."""
    from nephlab.quantum import _engine

    if case.startswith("n"):
        from nephlab.bench import lindblad as L

        row, _, method = case[1:].partition("@")
        code = L.NephlabCode(method=method or None)
        code.setup()
        call = code.prepare(L.build_problem(L.parse_rows(row)[0]))
    else:
        from nephlab.bench.large import _call

        solve, _, drive = case.partition(":")
        inner = _call("nephlab-sparse", 4, solve, drive=bool(drive))
        call = lambda: inner()  # noqa: E731
    st, dyn, in_axes, batched = captured_solve(call)
    return st, jax.device_put(dyn), in_axes, batched, _engine.solve.__wrapped__


def captured_solve(call) -> tuple:
    """``(st, dyn, in_axes, batched)``: the arguments that ``call()`` gave the compiled mesolve
    program (``nephlab.quantum._engine.solve``), recorded while it runs (also used by
    ``rk_step_ab.py``)."""
    from nephlab.quantum import _engine

    seen: dict = {}
    solve_jit = _engine.solve

    def recording(st, dyn, in_axes=None, batched=False):
        seen["args"] = (st, dyn, in_axes, batched)
        return solve_jit(st, dyn, in_axes=in_axes, batched=batched)

    _engine.solve = recording
    try:
        call()
    finally:
        _engine.solve = solve_jit
    return seen["args"]


def _mesolve_programs(case: str, variants: list[str]):
    st, dyn, in_axes, batched, raw = _capture_mesolve(case)
    progs = {}
    for v in variants:
        with _pins("nopin" not in v):
            f = jax.jit(raw, static_argnames=("st", "in_axes", "batched"), compiler_options=_options(v) or None)
            exe = f.lower(st, dyn, in_axes=in_axes, batched=batched).compile()
        progs[v] = (lambda exe=exe: exe(dyn))
    summary = lambda out: (np.asarray(out[1]), {k: int(np.asarray(x)) for k, x in out[2].items()})  # noqa: E731
    return progs, summary


def _mcsolve_programs(case: str, variants: list[str]):
    mc = importlib.import_module("nephlab.quantum.mcsolve")
    import nephlab
    from nephlab.bench import mcsolve as B

    H, psi0, tl, c_ops, num = B.problem()
    raw = mc._run_chunk.__wrapped__
    progs = {}
    for v in variants:
        jitted = jax.jit(raw, static_argnames=("ms", "chunk"), compiler_options=_options(v) or None)

        def call(jitted=jitted):
            saved, mc._run_chunk = mc._run_chunk, jitted
            try:
                return nephlab.mcsolve(H, psi0, tl, c_ops, ntraj=200, seed=1, e_ops=[num])
            finally:
                mc._run_chunk = saved
        progs[v] = call
    summary = lambda res: (np.asarray(res.expect[0]), {})  # noqa: E731
    return progs, summary


def micro(rounds: int, n: int = 81, loops: int = 200) -> None:
    """µs per application of single step pieces, defaults against :data:`SOLVE_OPTIONS`."""
    import jax.numpy as jnp

    from nephlab.quantum import _rk

    rng = np.random.default_rng(0)
    ks = [jnp.asarray(rng.normal(size=(2, n, n))) for _ in range(7)]
    w = (0.1, 0.2, -0.3, 0.4, 0.5, -0.6)
    stage = lambda y, ks: y + 1e-3 * sum(wi * k for wi, k in zip(w, ks))  # noqa: E731
    pieces = {
        "y + h k": lambda y, ks: y + 1e-3 * ks[0],
        "y * c": lambda y, ks: y * 0.999,
        "stage sum (6 stages)": stage,
        "stage sum, pinned": lambda y, ks: _rk.materialize(stage(y, ks)),
    }
    print(f"\nmicro: 2 x {n} x {n} state, µs of CPU per application (median of {rounds} calls of a "
          f"{loops}-fold fori_loop), load average {os.getloadavg()[0]:.2f}")
    print("| piece | XLA defaults | with SOLVE_OPTIONS |\n|---|---|---|")
    for name, body in pieces.items():
        row = []
        for v in ("default", "tuned"):
            f = jax.jit(lambda y, ks, body=body: jax.lax.fori_loop(0, loops, lambda i, y: body(y, ks), y),
                        compiler_options=_options(v) or None)
            exe = f.lower(ks[6], ks).compile()
            jax.block_until_ready(exe(ks[6], ks))
            ts = []
            for _ in range(rounds):
                c0 = time.process_time()
                jax.block_until_ready(exe(ks[6], ks))
                ts.append(time.process_time() - c0)
            row.append(f"{1e6 * np.median(ts) / loops:.1f}")
        print(f"| {name} | {row[0]} | {row[1]} |")
    print()


def run(case: str, variants: list[str], rounds: int) -> None:
    if case == "micro":
        return micro(rounds)
    if case == "mc20":
        variants = [v for v in variants if "nopin" not in v]
        progs, summary = _mcsolve_programs(case, variants)
    else:
        progs, summary = _mesolve_programs(case, variants)
    ref = None
    for v, f in progs.items():
        y, stats = summary(jax.block_until_ready(f()))
        ref = y if ref is None else ref
        rel = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
        print(f"  {v}: max |Δ| / max |·| of the output against {variants[0]}: {rel:.1e}; stats {stats}")
    times: dict = {v: [] for v in progs}
    for _ in range(rounds):
        for v, f in progs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            jax.block_until_ready(f())
            times[v].append((time.process_time() - c0, time.perf_counter() - w0))
    base = float(np.median([c for c, _ in times[variants[0]]]))
    print(f"\n{case}: {rounds} interleaved rounds, load average {os.getloadavg()[0]:.2f} at end")
    print(f"| variant | CPU ms median | CPU ms best | wall ms median | CPU / {variants[0]} |\n|---|---|---|---|---|")
    for v, ts in times.items():
        c = [x for x, _ in ts]
        w = [x for _, x in ts]
        print(f"| {v} | {1e3 * np.median(c):.2f} | {1e3 * min(c):.2f} | {1e3 * np.median(w):.2f} | "
              f"{np.median(c) / base:.3f} |")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="adaptive,rk4,adaptive:drive,n20,n50",
                    help="comma-separated: adaptive, rk4, adaptive:drive, n<N>[@method], mc20, micro")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated variants, each parts joined by '+' out of {', '.join(PARTS)} "
                         f"(default {','.join(VARIANTS)}); the first is the reference")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved timed rounds (default 15)")
    a = ap.parse_args(argv)
    variants = [v for v in a.variants.split(",") if v]
    bad = [v for v in variants if any(p not in PARTS for p in v.split("+"))]
    if bad:
        ap.error(f"--variants: unknown {bad}; parts allowed: {', '.join(PARTS)}")
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    for case in [c for c in a.cases.split(",") if c]:
        run(case, variants, a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
