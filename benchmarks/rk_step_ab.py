"""In-process A/B of the adaptive Runge–Kutta loop (``nephlab/quantum/_rk.py``) of two trees, and
where its step goes, thunk by thunk (issue 15: the tsit5 step overhead at D = 81).

Both loops run in one process: this tree's ``_rk`` as imported, and the baseline's ``_rk.py``
(``--main DIR``, a directory holding ``nephlab/``, e.g. ``git archive main nephlab | tar -x -C
/tmp/main``) loaded as a separate module. Every executable is compiled as the solve's own
(``_jit.TunedJit``: ``_jit.SOLVE_OPTIONS``, traced with ``classic_emitter()``), and the variants
run interleaved, ``--rounds`` times; CPU time of the process (``time.process_time``, all
threads), median and best.

* ``--cases steps``: ``_rk.adaptive_solve`` with a trivial elementwise right-hand side (a damped
  rotation on a random 2 × 81 × 81 state, to t = 10, rtol 1e-6, atol 1e-8), 11 and 101 saved
  times: the loop's own cost per step (stage sums, pins, error norm, controller, saving, commit).
* ``--cases solve``: the captured solve of ``nephlab bench large --sizes 4 --codes nephlab-sparse
  --solves adaptive`` (D = 81, sparse), its ``_engine`` program with either tree's
  ``adaptive_solve`` patched in; ``--methods`` picks the tableaus (tsit5, dopri5, dop853, vern7).
  Step counts and the largest difference of the outputs (relative to the largest entry) are printed.
* ``--cases dense20`` / ``dense20x8``: the captured tsit5 solve (or ``--methods``) of ``nephlab
  bench lindblad --rows 20`` (n = 20, dense format), one system or eight drives in one vmapped
  solve (steps summed over the batch).
* ``--cases norm``: the error norm alone (with tsit5's error sum of seven stages), 100 times in a
  ``fori_loop``, at 2 × 20², 2 × 81², 2 × 4096, 2 × 16384 and 2 × 729², compiled as the solves
  (``TunedJit``) and with XLA's defaults (as mcsolve): "µs per step" is then µs per norm.
* ``--profile``: instead of timing, per-thunk wall time per step from ``jax.profiler`` (XLA's CPU
  thunk runtime records each kernel), with each thunk's kind from the optimised HLO; on a loaded
  2-core machine run it under ``taskset -c 0`` (XLA's intra-op threads and other processes
  otherwise inflate single thunks).

    python benchmarks/rk_step_ab.py --main /tmp/main --cases steps,solve --rounds 15
    taskset -c 0 python benchmarks/rk_step_ab.py --main /tmp/main --cases steps --profile
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import importlib.util
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def _load_rk(tree: str):
    path = os.path.join(tree, "nephlab", "quantum", "_rk.py")
    # in this tree's package, so that its relative imports (``._jit``) resolve to this tree's
    # modules (classic_emitter's trace flag is then the one TunedJit sets)
    name = "nephlab.quantum._rk_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _rel_diff(a, b) -> float:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    out = 0.0
    for x, y in zip(la, lb):
        x, y = np.asarray(x, complex), np.asarray(y, complex)
        out = max(out, float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(x))), 1e-300)))
    return out


def steps_cases(mods: dict) -> list[tuple[str, dict]]:
    """``[(case, {variant: (compiled, args, steps)})]`` for the trivial-RHS loop."""
    from nephlab.quantum._jit import TunedJit

    rng = np.random.default_rng(0)
    y0 = jnp.asarray(rng.normal(size=(2, 81, 81)))
    w = jnp.asarray(rng.uniform(1, 3, size=(81, 81)))

    def f(t, y):
        return jnp.stack([w * y[1] - 0.1 * y[0], -w * y[0] - 0.1 * y[1]])

    cases = []
    for T in (11, 101):
        tlist = jnp.linspace(0.0, 10.0, T)
        row = {}
        for name, mod in mods.items():
            tb = mod.tsit5_tableau()

            def run(y0, tl, mod=mod, tb=tb):
                return mod.adaptive_solve(f, y0, tl, lambda t, y: y, tableau=tb, rtol=1e-6, atol=1e-8,
                                          max_steps=100_000)
            exe = TunedJit(run).lower(y0, tlist).compile()  # as _engine.solve compiles
            row[name] = (exe, (y0, tlist))
        cases.append((f"steps, trivial RHS, {T} saved times", row))
    return cases


def norm_cases(mods: dict) -> list[tuple[str, dict]]:
    """The error norm with tsit5's seven-stage error sum, 100 times in a ``fori_loop`` (its cost is
    the program's CPU time / 100, printed as "per step"), under both compilations: the solves'
    (``TunedJit``, classic emitter) and XLA's defaults (``jax.jit``, as mcsolve compiles)."""
    from nephlab.quantum._jit import TunedJit

    cases = []
    for shape in ((2, 20, 20), (2, 81, 81), (2, 4096), (2, 16384), (2, 729, 729)):
        rng = np.random.default_rng(0)
        ks = [jnp.asarray(rng.normal(size=shape)) for _ in range(7)]
        y, yn = 2.0 * ks[0], 3.0 * ks[1]
        for mode in ("solve options", "XLA defaults"):
            row = {}
            for name, mod in mods.items():
                tb = mod.tsit5_tableau()

                def loop(ks, y, yn, mod=mod, tb=tb):
                    def body(i, c):
                        e = 1e-3 * (1.0 + 1e-9 * c) * mod._lincomb(tb.e, ks)
                        return c + mod._err_norm(e, y, yn, 1e-6, 1e-8)
                    out = jax.lax.fori_loop(0, 100, body, 0.0)
                    return out, out, {"steps": jnp.asarray(100), "accepted": jnp.asarray(100)}
                jit = TunedJit(loop) if mode == "solve options" else jax.jit(loop)
                row[name] = (jit.lower(ks, y, yn).compile(), (ks, y, yn))
            cases.append((f"error norm alone, {shape}, {mode}", row))
    return cases


def _dense20(batch: int | None) -> None:
    """``nephlab bench lindblad``'s driven Kerr oscillator at n = 20 (dense, tsit5), one system or
    a batch of ``batch`` drives (a vmapped solve)."""
    from nephlab.bench.lindblad import Row, build_problem
    from nephlab.quantum import mesolve

    p = build_problem(Row(20, batch))
    mesolve(p.H, p.rho0, p.tlist, [p.L], e_ops=[p.num], rtol=1e-6, atol=1e-8, method="tsit5", store_states=False)


def _accepting(fn):
    """``fn`` (a tree's ``adaptive_solve``), called with this tree's keywords: one it does not
    take (``unsplit``, new on 2026-12-07) is left out for an older tree."""
    import inspect

    known = inspect.signature(fn).parameters
    return lambda *a, **kw: fn(*a, **{k: v for k, v in kw.items() if k in known})


def solve_cases(mods: dict, methods: list[str], problem: str = "large") -> list[tuple[str, dict]]:
    """The captured solve (``problem``: ``large``, the D = 81 sparse one; ``dense20``, the n = 20
    dense one; ``dense20x8``, eight of them vmapped) with each tree's ``adaptive_solve``."""
    import dataclasses

    from nephlab.bench.large import _call
    from nephlab.quantum import _engine, _rk
    from nephlab.quantum import methods as qm
    from nephlab.quantum._jit import TunedJit

    from solve_options_ab import captured_solve  # this folder: the script's own

    if problem == "large":
        st0, dyn, in_axes, batched = captured_solve(_call("nephlab-sparse", 4, "adaptive", drive=False))
    else:
        st0, dyn, in_axes, batched = captured_solve(lambda: _dense20(8 if problem == "dense20x8" else None))
    title = {"large": "D = 81 sparse solve", "dense20": "n = 20 dense solve",
             "dense20x8": "8 vmapped n = 20 dense solves"}[problem]
    dev = jax.device_put(dyn)
    classes = {"tsit5": qm.Tsit5, "dopri5": qm.Dopri5, "dop853": qm.Dop853, "vern7": qm.Vern7}
    own = _rk.adaptive_solve
    cases = []
    for m in methods:
        old = st0.method
        st = dataclasses.replace(st0, method=classes[m](rtol=old.rtol, atol=old.atol, max_steps=old.max_steps))
        row = {}
        for name, mod in mods.items():
            _rk.adaptive_solve = _accepting(mod.adaptive_solve)  # solve_explicit_rk imports it when traced
            try:
                exe = TunedJit(lambda d, st=st: _engine.solve.__wrapped__(st, d, in_axes, batched))
                row[name] = (exe.lower(dev).compile(), (dev,))
            finally:
                _rk.adaptive_solve = own
        cases.append((f"{title}, {m}", row))
    return cases


def _steps_of(out, key: str = "steps") -> int:
    """Steps of a solve (summed over a batch's systems)."""
    return int(np.sum(out[2][key]))


def time_case(row: dict, rounds: int) -> None:
    outs = {k: jax.block_until_ready(exe(*args)) for k, (exe, args) in row.items()}
    base = next(iter(outs))
    for k, out in outs.items():
        print(f"  {k}: {_steps_of(out)} steps, {_steps_of(out, 'accepted')} accepted, "
              f"largest difference to {base} {_rel_diff(outs[base], out):.2e}")
    cpu = {k: [] for k in row}
    for _ in range(rounds):
        for k, (exe, args) in row.items():
            c0 = time.process_time()
            jax.block_until_ready(exe(*args))
            cpu[k].append(time.process_time() - c0)
    print("  | variant | CPU ms median | best | µs per step, median | ratio to " + base + " |")
    print("  |---|---|---|---|---|")
    for k, v in cpu.items():
        n = _steps_of(outs[k])
        print(f"  | {k} | {1e3 * statistics.median(v):.2f} | {1e3 * min(v):.2f} | "
              f"{1e6 * statistics.median(v) / n:.1f} | {statistics.median(v) / statistics.median(cpu[base]):.3f} |")


def profile_case(row: dict, top: int) -> None:
    for k, (exe, args) in row.items():
        out = jax.block_until_ready(exe(*args))
        n_steps = _steps_of(out)
        for _ in range(3):
            jax.block_until_ready(exe(*args))
        d = tempfile.mkdtemp(prefix="rk_step_ab_")
        reps = 5
        jax.profiler.start_trace(d)
        for _ in range(reps):
            jax.block_until_ready(exe(*args))
        jax.profiler.stop_trace()
        trace = json.load(gzip.open(glob.glob(os.path.join(d, "**", "*.trace.json.gz"), recursive=True)[0]))
        agg: dict = collections.defaultdict(lambda: [0, 0.0])
        for ev in trace["traceEvents"]:
            if ev.get("ph") == "X":
                agg[ev["name"]][0] += 1
                agg[ev["name"]][1] += ev["dur"]
        kinds = {}
        for line in exe.as_text().splitlines():
            m = re.match(r"\s*(?:ROOT )?%(\S+) = (.+?) ([\w-]+)\(", line)
            if m and m.group(1) not in kinds:
                kinds[m.group(1)] = ("YNNPACK " if "__ynn" in line else "") + f"{m.group(3)} {m.group(2)[:24]}"
        print(f"  {k}: {n_steps} steps; thunks that ran at least once per step, µs per step (wall, profiled)")
        print("  | thunk | kind | runs per step | µs per step |\n  |---|---|---|---|")
        rows = [(name, c / reps / n_steps, dur / reps / n_steps) for name, (c, dur) in agg.items()
                if name in kinds and c / reps / n_steps >= 0.99]
        for name, per, us in sorted(rows, key=lambda r: -r[2])[:top]:
            print(f"  | {name} | {kinds[name]} | {per:.2f} | {us:.1f} |")
        print(f"  sum of these thunks: {sum(r[2] for r in rows):.1f} µs per step")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--main", required=True, help="directory holding the baseline tree's nephlab/")
    ap.add_argument("--cases", default="steps,solve",
                    help="comma-separated: steps, solve, norm, dense20, dense20x8 (solve cases at n = 20)")
    ap.add_argument("--methods", default="tsit5", help="tableaus of the solve case (tsit5,dopri5,dop853,vern7)")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    ap.add_argument("--profile", action="store_true", help="per-thunk profile instead of timing")
    ap.add_argument("--top", type=int, default=40, help="thunks listed per profile (default 40)")
    a = ap.parse_args(argv)
    from nephlab.quantum import _rk

    mods = {"main": _load_rk(a.main), "this": _rk}
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs (usable {len(os.sched_getaffinity(0))}), "
          f"load average {os.getloadavg()[0]:.2f} at start")
    cases = []
    kinds = [c for c in a.cases.split(",") if c]
    if "steps" in kinds:
        cases += steps_cases(mods)
    if "norm" in kinds:
        cases += norm_cases(mods)
    if "solve" in kinds:
        cases += solve_cases(mods, [m for m in a.methods.split(",") if m])
    for problem in ("dense20", "dense20x8"):
        if problem in kinds:
            cases += solve_cases(mods, [m for m in a.methods.split(",") if m], problem)
    for title, row in cases:
        print(f"\n{title}")
        (profile_case(row, a.top) if a.profile else time_case(row, a.rounds))
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
