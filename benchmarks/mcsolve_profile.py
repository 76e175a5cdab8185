"""Where a warm sparse ``nephlab.mcsolve`` call spends its time (issue 15): a breakdown.

Model and call of benchmarks/mcsolve_sparse.py (qubit chain, D = 2^M, 5 saved times, one e_op,
rtol 1e-6, atol 1e-8, format="sparse"). For each M:

1. warm calls of ``mcsolve`` against its compiled trajectory programs alone (``_run_chunk`` on
   every chunk, the arguments of the call captured): the difference is host set-up, transfers
   and post-processing;
2. the same number of steps of the bare RK step (``_rk.rk_step`` of the same RHS in a
   ``fori_loop``: six products, stage sums, pins, error norm; no jump search, saves or
   trajectory bookkeeping) and of bare ``H_eff ψ`` products (6 per step); all four
   interleaved, median of ``--repeats`` rounds (the first call, compilation included, printed);
3. a ``jax.profiler`` trace of the first chunk's program: the thunks of the body of the
   trajectory's step loop summed by what they are, from the optimized HLO's op names (summed
   over threads; a partitioned fusion counts once per part): the sparse products, the
   ``_rk.materialize`` pins, the norms (reductions), the nested while loops (jump-time root
   search, saves, the jump), the rest (stage sums, selects, controller, copies).

Run:  nice -n 5 python benchmarks/mcsolve_profile.py [--sizes 12 14] [--ntraj 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import importlib
import json
import os
import re
import statistics
import sys
import tempfile
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax  # noqa: E402
from jax import lax  # noqa: E402

import nephlab  # noqa: E402
from mcsolve_sparse import model  # noqa: E402
from nephlab.quantum import _rk  # noqa: E402

mc = importlib.import_module("nephlab.quantum.mcsolve")


def _categories(hlo: str) -> tuple[str, dict]:
    """(name of the trajectory's step loop, {instruction name in its body: category})."""
    comps, cur = {}, None
    for line in hlo.splitlines():
        m = re.match(r"^(?:ENTRY )?%(\S+) .*\{$", line)
        if m:
            cur = comps.setdefault(m.group(1), [])
        elif cur is not None:
            cur.append(line)
    best = None  # the step loop: the while whose body holds the most product fusions
    for lines in comps.values():
        for line in lines:
            m = re.search(r"%(while\.\d+) = .* while\(.*body=%(\S+?),", line)
            if m and m.group(2) in comps:
                n = sum("_ket_rhs_at" in x for x in comps[m.group(2)])
                if best is None or n > best[0]:
                    best = (n, m.group(1), m.group(2))
    cat = {}
    for line in comps[best[2]]:
        m = re.match(r"\s*(?:ROOT )?%(\S+) = (.*)", line)
        if not m:
            continue
        name, rest = m.groups()
        op = re.search(r'op_name="([^"]*)"', rest)
        op = op.group(1) if op else ""
        if " while(" in rest:
            c = ("nested loop: save" if "c128" in rest.split("while(")[0] else
                 "nested loop: jump" if rest.startswith("(pred[]") else "nested loop: jump-time root")
        elif "_ket_rhs_at" in op and "dot_general" not in op:
            c = "sparse products (pad + diagonals)"
        elif "dot_general" in op:
            c = "materialize pins (dot with eye(2))"
        elif "reduce" in op:
            c = "norms (reductions)"
        elif " copy(" in rest:
            c = "copies"
        else:
            c = "other (stage sums, selects, controller)"
        cat[name] = c
    return best[1], cat


def _profile(ms, dyn, seed, chunk):
    run = lambda: mc._run_chunk(ms, dyn, seed, 0, chunk)  # noqa: E731
    jax.block_until_ready(run())
    _, cat = _categories(mc._run_chunk.lower(ms, dyn, seed, 0, chunk).compile().as_text())
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            t = time.perf_counter()
            jax.block_until_ready(run())
            wall = time.perf_counter() - t
        ev = json.load(gzip.open(glob.glob(f"{d}/**/*.trace.json.gz", recursive=True)[0]))
    ev = [e for e in (ev["traceEvents"] if isinstance(ev, dict) else ev) if e.get("ph") == "X"]
    agg, threads = collections.Counter(), collections.Counter()
    for e in ev:  # the loop body's thunks run on the executor's threads (partitioned fusions on several)
        if e["name"] in cat:
            agg[cat[e["name"]]] += e["dur"] * 1e-6
            threads[e["tid"]] += 1
    return wall, agg, len(threads)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 14])
    ap.add_argument("--ntraj", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"# mcsolve breakdown; jax {jax.__version__}, {os.cpu_count()} cores, load {os.getloadavg()}")
    tl = np.linspace(0.0, 2.0, 5)
    orig = mc._run_chunk
    for M in a.sizes:
        H, c_ops, e_op, psi0, _ = model(M)
        cap = {}

        def spy(ms, dyn, seed, first, chunk):  # captures the compiled program's arguments
            cap.update(ms=ms, dyn=dyn, seed=seed, chunk=chunk)
            return orig(ms, dyn, seed, first, chunk)

        mc._run_chunk = spy
        call = lambda: nephlab.mcsolve(H, psi0, tl, c_ops, ntraj=a.ntraj, seed=2,  # noqa: E731
                                       e_ops=[e_op], format="sparse")
        t = time.perf_counter()
        r = call()
        first = time.perf_counter() - t
        mc._run_chunk = orig
        ms, dyn, seed, chunk = cap["ms"], cap["dyn"], cap["seed"], cap["chunk"]
        steps = int(np.sum(r.stats["steps"]))
        tb = ms.method.tableau()
        y0 = jax.numpy.asarray(dyn["psi0"])

        def bare(dyn, y, n_rhs):  # the RK steps alone (n_rhs = 0) or 6 bare products per step
            f = mc._ket_rhs(ms.st, dyn)
            if n_rhs:
                return lax.fori_loop(0, n_rhs * steps, lambda i, y: 0.5 * (f(0.0, y) + y), y)

            def body(i, c):
                yn, ks, *_ = _rk.rk_step(f, tb, 0.0, c[0], c[1], 1e-3, 1.0, 1e-6, 1e-8)
                return yn / jax.numpy.sqrt(mc._norm2(yn)), ks[-1]
            return lax.fori_loop(0, steps, body, (y, f(0.0, y)))

        bare = jax.jit(bare, static_argnames="n_rhs")
        pieces = {  # dyn is an argument everywhere, as in mcsolve's program
            "warm mcsolve wall": call,
            "trajectory programs only": lambda: [orig(ms, dyn, seed, i, chunk) for i in range(0, a.ntraj, chunk)],
            "bare rk_step loop, same steps": lambda: bare(dyn, y0, 0),
            "bare H_eff psi (+ an axpy), 6/step": lambda: bare(dyn, y0, 6),
        }
        times = {k: [] for k in pieces}
        for fn in pieces.values():
            jax.block_until_ready(fn())
        for _ in range(a.repeats):  # interleaved: the load of the machine hits all pieces alike
            for k, fn in pieces.items():
                t = time.perf_counter()
                jax.block_until_ready(fn())
                times[k].append(time.perf_counter() - t)
        print(f"\nM = {M} (D = {2**M}), ntraj = {a.ntraj}, chunk = {chunk}, steps = {steps} "
              f"(jumps {int(np.sum(r.n_jumps))}), load {os.getloadavg()[0]:.1f}; first call {first:.2f} s")
        wall = statistics.median(times["warm mcsolve wall"])
        for k, v in times.items():
            m = statistics.median(v)
            print(f"  {k:32s} {m:8.3f} s  {m / steps * 1e3:7.3f} ms/step  ({m / wall:4.0%} of the wall; "
                  f"min {min(v):.3f} s)")
        loop_s, agg, nth = _profile(ms, dyn, seed, chunk)
        traj_steps = int(np.sum(r.stats["steps"][:chunk]))
        print(f"  profile of the first chunk ({traj_steps} steps): wall {loop_s * 1e3:.2f} ms "
              f"({loop_s / traj_steps * 1e3:.3f} ms/step, profiler on); step-loop thunks on {nth} threads:")
        for k, v in agg.most_common():
            print(f"    {k:40s} {v * 1e3:8.2f} ms  {v / loop_s:5.1%}  {v / traj_steps * 1e3:7.3f} ms/step")
        rest = loop_s - sum(agg.values())
        print(f"    {'wall minus these (set-up, executor, waits)':40s} {rest * 1e3:8.2f} ms  {rest / loop_s:5.1%}")


if __name__ == "__main__":
    main()
