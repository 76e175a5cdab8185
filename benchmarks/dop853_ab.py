"""DOP853 (and Vern7) against Tsit5 in nephlab, interleaved A/B in one process (issue 15's lever: fewer RHS).

Two problems, each at the tolerance pairs (rtol, atol) of ``--tols`` (default (1e-6, 1e-8) and
(1e-8, 1e-10)):

* ``D81``: the large benchmark's M = 4 Kerr lattice (D = 81, ``nephlab.bench.large.kerr_lattice``),
  sparse format, t ∈ [0, 10] with 11 saved times, e_op n_0 (``nephlab bench large --sizes 4``);
* ``n20``: the Lindblad benchmark's driven Kerr oscillator with n = 20 (banded engine),
  t ∈ [0, 10] with 101 saved times, e_op a†a (``nephlab bench lindblad --rows 20``).

For every (problem, tolerance) both methods are compiled first (their first call's time is
printed; tsit5's program is already compiled by the reference solve, rtol being data), then called alternately ``--pairs`` times (A B A B ...), so both see the same load; the
table gives the median warm time of each, the ratio to the first method (tsit5) of the medians
and the median of the per-pair ratios, the steps and right-hand-side evaluations (exact counts from
``Result.stats``) and the error of ⟨n⟩(10) against a tsit5 solve at rtol 1e-12, atol 1e-14.
The machine is shared: the load average is printed before and after every case.

    python benchmarks/dop853_ab.py --pairs 15
    python benchmarks/dop853_ab.py --methods tsit5,dop853,vern7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np



def problems() -> dict:
    """name -> (args, kwargs) of ``nephlab.mesolve``."""
    from nephlab.bench.large import kerr_lattice
    from nephlab.bench.lindblad import Row, build_problem

    H, c_ops, n0, rho0 = kerr_lattice(4)
    d81 = ((H, rho0.toarray(), np.linspace(0.0, 10.0, 11), c_ops), dict(e_ops=[n0], format="sparse"))
    p = build_problem(Row(20))
    n20 = ((p.H, p.rho0, p.tlist, [p.L]), dict(e_ops=[p.num]))
    return {"D81": d81, "n20": n20}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=15, help="A/B pairs of warm calls per case (default 15)")
    ap.add_argument("--problems", default="D81,n20", help="comma-separated subset of D81, n20")
    ap.add_argument("--tols", default="1e-6/1e-8,1e-8/1e-10", help="comma-separated rtol/atol pairs")
    ap.add_argument("--methods", default="tsit5,dop853", help="comma-separated methods, the first is the baseline "
                                                              "(default tsit5,dop853; vern7 too)")
    a = ap.parse_args(argv)
    import nephlab as nl

    probs = problems()
    methods = tuple(m.strip() for m in a.methods.split(",") if m.strip())
    base = methods[0]
    rows = []
    for name in a.problems.split(","):
        args, kw = probs[name]
        ref = nl.mesolve(*args, method="tsit5", rtol=1e-12, atol=1e-14, store_states=False, **kw)
        x_ref = float(np.real(ref.expect[0][-1]))
        for rtol, atol in [tuple(float(x) for x in t.split("/")) for t in a.tols.split(",")]:
            load0 = os.getloadavg()[0]

            def call(m):
                t0 = time.perf_counter()
                res = nl.mesolve(*args, method=m, rtol=rtol, atol=atol, store_states=False, **kw)
                return time.perf_counter() - t0, res

            first, res = {}, {}
            for m in methods:
                first[m], res[m] = call(m)
            times = {m: [] for m in methods}
            for i in range(a.pairs):
                for m in (methods if i % 2 == 0 else methods[::-1]):
                    times[m].append(call(m)[0])
            med = {m: statistics.median(times[m]) for m in methods}
            for m in methods:
                st = res[m].stats
                err = abs(float(np.real(res[m].expect[0][-1])) - x_ref)
                rows.append((name, f"{rtol:g}/{atol:g}", m, first[m], med[m], st["steps"], st["rejected"],
                             st["rhs_evals"], err))
            for m in methods[1:]:
                pair = statistics.median(b / t for t, b in zip(times[base], times[m]))
                rows.append((name, f"{rtol:g}/{atol:g}", f"{m}/{base}", None, med[m] / med[base], pair,
                             None, res[m].stats["rhs_evals"] / res[base].stats["rhs_evals"], None))
            print(f"{name} {rtol:g}/{atol:g}: load {load0:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
    print("| problem | rtol/atol | method | first call s | warm median s | steps | rejected | RHS evals | error of ⟨n⟩(10) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "/" in r[2]:
            print(f"| {r[0]} | {r[1]} | **{r[2]}** | | {r[4]:.2f} (per-pair median {r[5]:.2f}) | | | {r[7]:.2f} | |")
        else:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} | {r[4]:.4f} | {r[5]} | {r[6]} | {r[7]} | {r[8]:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
