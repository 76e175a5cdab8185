"""Per-step overhead of the adaptive Runge–Kutta loop (issue 15), with and without the XLA flag
``--xla_cpu_experimental_ynn_fusion_type=-reduce``, for two nephlab trees, interleaved.

Cases (the core calls of the commands named, each in a fresh process per variant):

- ``large``: ``nephlab bench large --sizes 4 --codes nephlab-sparse --solves adaptive``
  (M = 4 Kerr cavities, D = 81, sparse ``mesolve``, tsit5, rtol 1e-6 / atol 1e-8, to t = 10);
- ``n20``: the n = 20 row of ``nephlab bench lindblad`` (driven Kerr oscillator, method auto);
- ``mc12`` / ``mc14``: ``benchmarks/mcsolve_sparse.py --sizes 12 14`` (sparse ``mcsolve`` of
  the XX qubit chain, D = 4096 / 16384, ``--ntraj`` trajectories, nephlab side only).

Per variant and case: the first call (compile + run; the persistent compilation cache is off in
the workers), the median of ``--repeats`` warm calls, the step and right-hand-side counts from
``stats``, and the cost of a bare right-hand side: for ``mesolve`` the fixed-step ``rk4`` solve
of the same problem (``dt = 0.1``, 4 evaluations per step, its time divided by the number of
evaluations: an upper bound, it includes the stage sums), for ``mcsolve`` one sparse
``H_eff ψ`` product timed in a ``fori_loop`` (``benchmarks/ket_product.py``). The overhead per
step is ``(warm - evaluations x bare RHS) / steps``: the error norm, the stage sums, the step
control and the loop (for ``mesolve`` it can come out negative: an rk4 evaluation, with its
stage sums and its saves, cost more than a tsit5 one in the 2026-12-06 runs). The error norm of
the tree, timed alone in a ``fori_loop`` on the state's shape, times the number of steps gives
the "norm share" of the warm solve.

Variants: ``main`` = the tree given by ``--main`` (e.g. ``git archive d3954dc nephlab | tar -x -C
/tmp/main``; put on ``PYTHONPATH``), ``this`` = the nephlab that ``python`` imports; each with
``XLA_FLAGS`` = the base flags (``$XLA_FLAGS`` or ``--xla_cpu_multi_thread_eigen=false``) and with
the YNN flag appended. The variants run one after another for each case, ``--rounds`` times
(interleaved A/B), and ratios are taken against ``main`` without the flag, round by round.

``--cases micro`` times the step's pieces instead (µs per application in a ``fori_loop``, this
tree, each flag setting in its own process): the error norm written as a reduce (``_rk._err_norm``) and as a dot, and the
stage pin ``_rk.materialize`` against ``lax.optimization_barrier``; it interleaves the two norm
variants twice in one process and keeps the faster time of each.

Run:  nice -n 5 python benchmarks/rk_overhead.py --main /tmp/main [--cases micro large n20 mc12 mc14]
      [--repeats 3] [--rounds 2] [--ntraj 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-reduce"
BASE_FLAGS = os.environ.get("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")


def _timed(f, repeats: int):
    """``(first output, first call s, median of repeats warm calls s)``."""
    from nephlab.bench.spectrum import first_and_median

    return first_and_median(f, repeats)


def _norm_time(shape: tuple, reps: int = 200) -> float:
    """Seconds per error norm ``_rk._err_norm`` of the tree under test on a real array of
    ``shape`` (the real-split state), inside a ``fori_loop`` (no dispatch in the number)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from nephlab.quantum import _rk

    rng = np.random.default_rng(0)
    e, y, yn = (jnp.asarray(rng.normal(size=shape)) for _ in range(3))

    def loop(e):
        return jax.lax.fori_loop(0, reps, lambda i, c: c + _rk._err_norm(e + 1e-12 * c, y, yn, 1e-6, 1e-8), 0.0)

    return _call_time(jax.jit(loop), e, reps=1) / reps


def _mesolve_case(case: str, repeats: int) -> dict:
    import numpy as np

    import nephlab as nl

    if case == "large":
        from nephlab.bench.large import ATOL, RTOL, kerr_lattice

        H, c_ops, n0, rho0 = kerr_lattice(4)
        args, tl = (H, rho0.toarray(), np.linspace(0.0, 10.0, 11), c_ops), None
        kw = dict(method="tsit5", rtol=RTOL, atol=ATOL, format="sparse", e_ops=[n0])
    else:
        from nephlab.bench.lindblad import ATOL, RTOL, build_problem, parse_rows

        p = build_problem(parse_rows("20")[0])
        args = (p.H, p.rho0, p.tlist, [p.L])
        kw = dict(method="auto", rtol=RTOL, atol=ATOL, e_ops=[p.num])
    tl = args[2]

    def solve(**over):
        res = nl.mesolve(*args, store_states=False, **{**kw, **over})
        return float(np.real(res.expect[0][-1])), res

    (value, res), first, warm = _timed(solve, repeats)
    n_rk4 = int(round((tl[-1] - tl[0]) / 0.1))
    rk4_kw = dict(method="rk4", dt=0.1)
    t_rk4 = _timed(lambda: solve(**rk4_kw), max(repeats, 3))[2]
    return {"value": value, "first": first, "warm": warm, "steps": int(res.stats["steps"]),
            "rhs": int(res.stats["rhs_evals"]), "t_rhs": t_rk4 / (4 * n_rk4),
            "t_norm": _norm_time((2,) + np.shape(args[1])), "method": str(res.stats.get("method", kw["method"]))}


def _mcsolve_case(M: int, ntraj: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import nephlab as nl

    sys.path.insert(0, HERE)
    from ket_product import _time_jax
    from mcsolve_sparse import model

    from nephlab.quantum import _ops

    H, c_ops, e_op, psi0, _ = model(M)
    tl = np.linspace(0.0, 2.0, 5)

    def solve():
        r = nl.mcsolve(H, psi0, tl, c_ops, ntraj=ntraj, seed=1, e_ops=[e_op], format="sparse")
        return float(np.real(r.expect[0][-1])), r

    (value, r), first, warm = _timed(solve, repeats)
    steps = int(np.sum(r.stats["steps"]))
    A = (-1j * (H - 0.5j * sum(c.conj().T @ c for c in c_ops))).tocsr()
    y = jnp.asarray(np.stack([psi0.real, psi0.imag])[:, :, None])
    t_rhs = _time_jax(jax.device_put(_ops.to_sparse(A, ket=True)), y)[0]
    return {"value": value, "first": first, "warm": warm, "steps": steps, "rhs": 6 * steps, "t_rhs": t_rhs,
            "t_norm": _norm_time((2, psi0.shape[0])), "method": "tsit5"}


MICRO_SHAPES = [(2, 20, 20), (2, 81, 81), (2, 4096), (2, 16384)]


def _loop_time(body, x0, reps: int = 200) -> float:
    """Seconds per ``body`` application inside a jitted ``fori_loop`` (median of 7)."""
    import jax

    g = jax.jit(lambda x: jax.lax.fori_loop(0, reps, lambda i, c: body(c, x), x))
    return _call_time(g, x0, reps=1) / reps


def _call_time(g, *args, reps: int = 200) -> float:
    """Seconds per call of the jitted ``g`` from Python (dispatch included; median of 7)."""
    import jax

    jax.block_until_ready(g(*args))
    ts = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(reps):
            out = g(*args)
        jax.block_until_ready(out)
        ts.append((time.perf_counter() - t) / reps)
    return statistics.median(ts)


def micro() -> dict:
    """In-process A/B of the step's pieces on real-split states of ``MICRO_SHAPES``: the error
    norm as ``_rk._err_norm`` writes it (``sqrt(mean(w ** 2))``, a reduce) and with the squares
    summed by a product with ones (a dot; tried for issue 15, not adopted), and pinning a stage (``_rk.materialize``, a contraction with
    the 2x2 identity) against ``lax.optimization_barrier`` and nothing. µs per application; the
"alone" entries call the jitted norm from Python instead (dispatch included)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    from nephlab.quantum import _rk

    def weights(e, y, yn):
        return e / (1e-8 + 1e-6 * jnp.maximum(jnp.abs(y), jnp.abs(yn)))

    def norm_reduce(e, y, yn):  # _rk._err_norm at d3954dc: a reduce (a YNNPACK fusion on XLA:CPU)
        return jnp.sqrt(jnp.mean(weights(e, y, yn) ** 2))

    def norm_dot(e, y, yn):  # the squares summed by a product with ones (a dot, no reduce fusion)
        w2 = (weights(e, y, yn) ** 2).reshape(2, -1)
        return jnp.sqrt(jnp.sum(w2 @ jnp.ones(w2.shape[1], w2.dtype)) / w2.size)

    out = {}
    for shape in MICRO_SHAPES:
        rng = np.random.default_rng(0)
        x0, y, yn = (jnp.asarray(rng.normal(size=shape)) for _ in range(3))
        row = {}
        for name, f in [("norm reduce", norm_reduce), ("norm dot", norm_dot)] * 2:
            row[name] = min(row.get(name, 1.0), _loop_time(lambda c, x: c + 1e-12 * f(c, y, yn), x0))
        for name, f in [("norm reduce alone", norm_reduce), ("norm dot alone", norm_dot)]:
            row[name] = _call_time(jax.jit(f), x0, y, yn)
        for name, m in [("pin none", lambda v: v), ("pin materialize", _rk.materialize),
                        ("pin barrier", lax.optimization_barrier)]:
            row[name] = _loop_time(lambda c, x: m(c * 0.999 + x) * 1.0001, x0)
        out["x".join(map(str, shape))] = {k: v * 1e6 for k, v in row.items()}
    return out


def worker(case: str, repeats: int, ntraj: int) -> dict:
    if case == "micro":
        return {"micro": micro()}
    import nephlab

    out = _mesolve_case(case, repeats) if case in ("large", "n20") else _mcsolve_case(int(case[2:]), ntraj, repeats)
    return dict(out, tree=os.path.dirname(os.path.dirname(os.path.abspath(nephlab.__file__))))


def run_variant(case: str, tree: str | None, flag: bool, a: argparse.Namespace) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", NEPHLAB_JAX_CACHE="0", OMP_NUM_THREADS="1",
               XLA_FLAGS=BASE_FLAGS + (" " + YNN_FLAG if flag else ""))
    if tree:
        env["PYTHONPATH"] = os.pathsep.join([tree] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--_worker", json.dumps([case, a.repeats, a.ntraj])],
                          capture_output=True, text=True, env=env, timeout=a.timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(lines[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--main", help="folder holding the reference tree's nephlab package")
    ap.add_argument("--cases", nargs="+", default=["large", "n20", "mc12", "mc14"],
                    choices=["micro", "large", "n20", "mc12", "mc14"],
                    help="micro: in-process A/B of the error norm and of the stage pin (this tree only)")
    ap.add_argument("--repeats", type=int, default=3, help="warm calls per process (median)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the four variants")
    ap.add_argument("--ntraj", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._worker:
        case, repeats, ntraj = json.loads(a._worker)
        print(json.dumps(worker(case, repeats, ntraj)), flush=True)
        return 0
    if not a.main:
        ap.error("--main FOLDER (the reference tree's parent folder of nephlab/) is required")
    variants = [("main", a.main, False), ("main+flag", a.main, True), ("this", None, False), ("this+flag", None, True)]
    print(f"# main = {os.path.abspath(a.main)}; base XLA_FLAGS {BASE_FLAGS!r}; flag {YNN_FLAG}; repeats {a.repeats}; rounds {a.rounds}; "
          f"ntraj {a.ntraj}; python {sys.version.split()[0]}")
    print("| case | round | variant | load | first s | warm s | steps | RHS evals | bare RHS µs | RHS share | "
          "overhead µs/step | norm µs | norm share | warm / main | value |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in a.cases:
        if case == "micro":
            for rnd in range(a.rounds):
                for flag in (False, True):
                    load = os.getloadavg()[0]
                    r = run_variant(case, None, flag, a)
                    for shape, row in r.get("micro", {"error": {"?": r.get("error")}}).items():
                        print(f"| micro | {rnd + 1} | {'flag' if flag else 'no flag'} | {load:.1f} | {shape} | "
                              + " | ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
                              + " |", flush=True)
            continue
        for rnd in range(a.rounds):
            ref = None
            for name, tree, flag in variants:
                load = os.getloadavg()[0]
                r = run_variant(case, tree, flag, a)
                if "error" in r:
                    print(f"| {case} | {rnd + 1} | {name} | {load:.1f} | error: {r['error']} |", flush=True)
                    continue
                if (tree is None) == (os.path.abspath(r["tree"]) == os.path.abspath(a.main)):
                    raise SystemExit(f"variant {name} imported nephlab from {r['tree']}")
                ref = r["warm"] if name == "main" else ref
                rhs_s = r["rhs"] * r["t_rhs"]
                over = (r["warm"] - rhs_s) / r["steps"] * 1e6
                ratio = f"{r['warm'] / ref:.2f}" if ref else "n/a"
                print(f"| {case} | {rnd + 1} | {name} | {load:.1f} | {r['first']:.2f} | {r['warm']:.4f} | {r['steps']} | "
                      f"{r['rhs']} | {r['t_rhs'] * 1e6:.1f} | {rhs_s / r['warm']:.2f} | {over:.1f} | {r['t_norm'] * 1e6:.1f} | "
                      f"{r['steps'] * r['t_norm'] / r['warm']:.2f} | {ratio} | "
                      f"{r['value']:.10f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
