"""First call in a fresh process: nephlab vs QuTiP vs dynamiqs, cold and warm compilation cache.

Every measurement is its own Python process, started from here. For each problem and code the
harness gives a new, empty folder as the JAX persistent compilation cache, runs one process
(**cold**: everything compiles) and then another with the same folder (**warm**: what a user's
second notebook kernel, CLI run or served app pays). The child reports

- ``import``: importing the code (``import nephlab`` / ``qutip`` / ``dynamiqs``, JAX included);
- ``call``: the first solve, from inputs built in NumPy to the result on the host;
- ``total``: wall time from the launch of the process to the result (interpreter start-up,
  imports, the call);
- for the JAX codes, where the call's time went, from JAX's monitoring events: tracing to a
  jaxpr, lowering to StableHLO, XLA compilation (or cache retrieval), and the persistent
  cache's hits and writes (``misses``).

Problems: the Lindblad row of :mod:`nephlab.bench.lindblad` (driven Kerr oscillator, F = 0.5,
κ = 0.1, ρ0 = |0⟩⟨0|, 101 times in [0, 10], rtol 1e-6, atol 1e-8, e_ops = [a†a], no states;
nephlab ``method="auto"``, QuTiP's default with Dia operators, dynamiqs Tsit5) at n = 20, 50,
100, and the quantum-jump problem of :mod:`nephlab.bench.mcsolve` (driven damped cavity n = 20,
1000 trajectories; nephlab vs QuTiP). All codes get the same cache policy (the folder, entries
compiled in >= 0.1 s, any size); QuTiP compiles nothing, its two runs show the spread.

    python benchmarks/first_call.py                       # all rows, all codes
    python benchmarks/first_call.py --rows me20,mc20 --codes nephlab --repeats 3
    nephlab bench lindblad --family first_call --help     # the same
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROWS = ("me20", "me50", "me100", "mc20")
CODES = ("nephlab", "qutip", "dynamiqs")
NTRAJ = 1000

# The child: builds the problem in NumPy, imports the code, solves once, prints one JSON line.
_CHILD = r"""
import time
t_start = time.time()
import json, sys
import numpy as np

kind, n, code, ntraj = {kind!r}, {n}, {code!r}, {ntraj}
a = np.diag(np.sqrt(np.arange(1, n, dtype=np.float64)), 1).astype(np.complex128)
ad = a.conj().T
num = ad @ a
tlist = np.linspace(0.0, 10.0, 101)
if kind == "me":
    H = num + 0.5 * (a + ad) + 0.05 * (ad @ ad @ a @ a)
    L = np.sqrt(0.1) * a
    rho0 = np.zeros((n, n), np.complex128)
    rho0[0, 0] = 1.0
else:
    H = num + (a + ad)
    L = a
    psi0 = np.zeros(n, np.complex128)
    psi0[n // 2] = 1.0

t_import = time.time()
if code == "nephlab":
    import nephlab
elif code == "qutip":
    import qutip
else:
    import dynamiqs as dq
    dq.set_precision("double")
t_imported = time.time()

events = {{}}
if code != "qutip":
    import jax.monitoring

    names = {{"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses",
              "/jax/core/compile/jaxpr_trace_duration": "trace", "/jax/core/compile/jaxpr_to_mlir_module_duration":
              "lower", "/jax/core/compile/backend_compile_duration": "compile",
              "/jax/compilation_cache/cache_retrieval_time_sec": "cache_read"}}

    def count(event, **kw):
        if event in names:
            events[names[event]] = events.get(names[event], 0) + 1

    def add(event, secs, **kw):
        if event in names:
            events[names[event]] = events.get(names[event], 0.0) + secs

    jax.monitoring.register_event_listener(count)
    jax.monitoring.register_event_duration_secs_listener(add)

t_call = time.time()
if code == "nephlab" and kind == "me":
    r = nephlab.mesolve(H, rho0, tlist, [L], e_ops=[num], rtol=1e-6, atol=1e-8, store_states=False)
    value, method = float(r.expect[0][-1]), r.method
elif code == "nephlab":
    r = nephlab.mcsolve(H, psi0, tlist, [L], ntraj=ntraj, seed=0, e_ops=[num])
    value, method = float(r.expect[0][-1]), r.method
elif code == "qutip" and kind == "me":
    Q = lambda x: qutip.Qobj(x).to("Dia")
    r = qutip.mesolve(Q(H), Q(rho0), tlist, [Q(L)], e_ops=[Q(num)],
                      options={{"store_states": False, "atol": 1e-8, "rtol": 1e-6}})
    value, method = float(np.real(r.expect[0][-1])), "adams"
elif code == "qutip":
    Q = lambda x: qutip.Qobj(x).to("Dia")
    r = qutip.mcsolve(Q(H), qutip.Qobj(psi0.reshape(-1, 1)), tlist, [Q(L)], e_ops=[Q(num)], ntraj=ntraj, seeds=1,
                      options={{"progress_bar": False, "rtol": 1e-6, "atol": 1e-8}})
    value, method = float(np.real(r.expect[0][-1])), "adams"
else:
    r = dq.mesolve(H, [L], rho0, tlist, exp_ops=[num], method=dq.method.Tsit5(rtol=1e-6, atol=1e-8),
                   save_states=False, progress_meter=False)
    value, method = float(np.real(np.asarray(r.expects)[0, -1])), "tsit5"
t_done = time.time()
print(json.dumps(dict(start=t_start, import_s=t_imported - t_import, call_s=t_done - t_call, done=t_done,
                      value=value, method=method, events=events)))
"""


def _loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def parse_rows(spec: str) -> list[tuple[str, int]]:
    """``"me20,me50,mc20"`` -> ``[("me", 20), ("me", 50), ("mc", 20)]`` (me: mesolve, mc: mcsolve)."""
    out = []
    for tok in (t.strip().lower() for t in spec.split(",")):
        if not tok:
            continue
        if tok[:2] not in ("me", "mc") or not tok[2:].isdigit() or int(tok[2:]) < 2:
            raise ValueError(f"bad row {tok!r}: use me<n> (mesolve) or mc<n> (mcsolve) with n >= 2, e.g. me50")
        out.append((tok[:2], int(tok[2:])))
    if not out:
        raise ValueError("no rows given")
    return out


def run_child(kind: str, n: int, code: str, cache: str, ntraj: int = NTRAJ, timeout: float = 1800) -> dict:
    """One fresh process; returns the child's report with ``total_s`` (launch to result) added."""
    env = {k: v for k, v in os.environ.items() if k not in ("NEPHLAB_JAX_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    # the same cache policy for every JAX code: nephlab's folder and thresholds, set for JAX itself too
    env.update(NEPHLAB_JAX_CACHE=cache, JAX_COMPILATION_CACHE_DIR=cache,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0.1", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    src = _CHILD.format(kind=kind, n=n, code=code, ntraj=ntraj)
    launched = time.time()
    # run in the cache folder, so that a checkout in the current folder cannot shadow the nephlab
    # that is installed (or named by PYTHONPATH)
    out = subprocess.run([sys.executable, "-c", src], env=env, capture_output=True, text=True, timeout=timeout,
                         cwd=cache)
    if out.returncode != 0:
        raise RuntimeError(f"{code} {kind}{n} failed:\n{out.stderr[-2000:]}")
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    rep["total_s"] = rep["done"] - launched
    rep["startup_s"] = rep["start"] - launched
    rep["loadavg"] = _loadavg()
    return rep


def measure(kind: str, n: int, code: str, repeats: int, ntraj: int = NTRAJ) -> dict:
    """A cold process on an empty cache folder, then ``repeats`` warm ones on the same folder."""
    with tempfile.TemporaryDirectory(prefix="nephlab-first-call-") as cache:
        cold = run_child(kind, n, code, cache, ntraj)
        warm = [run_child(kind, n, code, cache, ntraj) for _ in range(repeats)]
    return {"row": f"{kind}{n}", "code": code, "cold": cold, "warm": warm}


def _med(reps: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in reps)


def _ev(rep: dict) -> str:
    e = rep.get("events") or {}
    if not e:
        return ""
    parts = [f"{k} {e[k]:.2f}" for k in ("trace", "lower", "compile") if k in e]
    if "cache_read" in e:  # XLA's "compile" of a cache hit is mostly this read
        parts[-1] += f" (cache read {e['cache_read']:.2f})"
    return ", ".join(parts) + f"; hits {e.get('hits', 0)}, writes {e.get('misses', 0)}"


def table(results: list[dict]) -> list[str]:
    """Markdown table: one line per row and code."""
    lines = ["| problem | code | cold: total / import / call (s) | warm: total / import / call (s) | "
             "warm call: where the time went (s) | value |",
             "|---|---|---|---|---|---|"]
    for r in results:
        c, w = r["cold"], r["warm"]
        warm = f"{_med(w, 'total_s'):.2f} / {_med(w, 'import_s'):.2f} / {_med(w, 'call_s'):.2f}"
        if len(w) > 1:
            warm += f" (median of {len(w)})"
        label = {"me": "mesolve", "mc": "mcsolve"}[r["row"][:2]] + f" n={r['row'][2:]}"
        lines.append(f"| {label} | {r['code']} | {c['total_s']:.2f} / {c['import_s']:.2f} / {c['call_s']:.2f} | "
                     f"{warm} | {_ev(w[-1])} | {w[-1]['value']:.8f} ({w[-1]['method']}) |")
    return lines


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the benchmark; ``argv`` excludes the program name. Returns an exit status."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--rows", default=",".join(ROWS), help=f"problems (default {','.join(ROWS)})")
    p.add_argument("--codes", default=",".join(CODES), help=f"codes (default {','.join(CODES)}; "
                   "dynamiqs runs the mesolve rows only)")
    p.add_argument("--repeats", type=int, default=1, help="warm processes per cell (median reported)")
    p.add_argument("--ntraj", type=int, default=NTRAJ, help="trajectories of the mcsolve rows")
    p.add_argument("--json", metavar="PATH", default=None, help="write the raw reports to PATH")
    opts = p.parse_args(argv)
    try:
        rows = parse_rows(opts.rows)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    codes = [c.strip().lower() for c in opts.codes.split(",") if c.strip()]
    if not codes or set(codes) - set(CODES) or opts.repeats < 1:
        print(f"--codes must name some of {', '.join(CODES)}; --repeats >= 1", file=sys.stderr)
        return 2
    print(f"start {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average {_loadavg()}, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    results = []
    for kind, n in rows:
        for code in codes:
            if code == "dynamiqs" and kind == "mc":
                continue  # dynamiqs' jump solver takes minutes here (see benchmarks/mcsolve.py)
            r = measure(kind, n, code, opts.repeats, opts.ntraj)
            results.append(r)
            c, w = r["cold"], r["warm"][-1]
            print(f"{kind}{n:<4} {code:<9} cold total {c['total_s']:.2f} s (import {c['import_s']:.2f}, call "
                  f"{c['call_s']:.2f}) | warm total {w['total_s']:.2f} s (import {w['import_s']:.2f}, call "
                  f"{w['call_s']:.2f}) {_ev(w)} | load {w['loadavg']}", flush=True)
    print(f"end {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average {_loadavg()}")
    print()
    print("\n".join(table(results)))
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
