"""mcsolve benchmark: 1000 quantum-jump trajectories of a driven damped cavity at n = 20.

nephlab.mcsolve, qutip.mcsolve and dynamiqs.jssesolve (Event method, Tsit5 no-click integration
with a Newton root finder for the click times) side by side, same tolerances (rtol 1e-6,
atol 1e-8), float64, CPU. Prints the first call in a fresh process (compile included; run twice:
a cold and a warm persistent compilation cache) and the median of warm calls, with ratios.

    nephlab bench lindblad --family mcsolve [--ntraj 1000] [--repeats 3]
    python benchmarks/mcsolve.py [--ntraj 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

N, DELTA, F, KAPPA, T_END, NT = 20, 1.0, 1.0, 1.0, 10.0, 101

_FRESH = r"""
import time, numpy as np
t0 = time.perf_counter()
import nephlab
from nephlab.quantum import destroy, basis
a = destroy({n}); ad = a.conj().T
H = {delta} * ad @ a + {f} * (a + ad)
t1 = time.perf_counter()
res = nephlab.mcsolve(H, basis({n}, {n} // 2), np.linspace(0, {t_end}, {nt}), [np.sqrt({kappa}) * a],
                      ntraj={ntraj}, seed=0, e_ops=[ad @ a])
print(time.perf_counter() - t1, t1 - t0)
"""


def problem():
    from nephlab.quantum import basis, destroy

    a = destroy(N)
    ad = a.conj().T
    H = DELTA * ad @ a + F * (a + ad)
    return H, basis(N, N // 2), np.linspace(0, T_END, NT), [np.sqrt(KAPPA) * a], ad @ a


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = fn()
        out.append(time.perf_counter() - t0)
    return out, r


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the benchmark; ``argv`` excludes the program name. Returns an exit status."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--ntraj", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    opts = p.parse_args(argv)
    ntraj, reps = opts.ntraj, opts.repeats

    import jax

    import nephlab

    H, psi0, tl, c_ops, num = problem()
    rows = {}

    # nephlab: first call in fresh processes (cold, then warm persistent cache), then warm calls
    code = _FRESH.format(n=N, delta=DELTA, f=F, kappa=KAPPA, t_end=T_END, nt=NT, ntraj=ntraj)
    fresh = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ))
        fresh.append(float(out.stdout.split()[0]))
    times, res = timed(lambda: nephlab.mcsolve(H, psi0, tl, c_ops, ntraj=ntraj, seed=1, e_ops=[num]), reps + 1)
    rows["nephlab"] = times[1:]
    n_neph = res.expect[0]
    print(f"nephlab.mcsolve  first call, fresh process: {fresh[0]:.2f} s (persistent cache as found), "
          f"{fresh[1]:.2f} s (cache warm); mean jumps/trajectory {res.n_jumps.mean():.2f}")

    import qutip

    qH, qpsi = qutip.Qobj(H), qutip.Qobj(np.asarray(psi0).reshape(-1, 1))
    qc = [qutip.Qobj(c) for c in c_ops]
    qopts = {"progress_bar": False, "rtol": 1e-6, "atol": 1e-8}
    times, qres = timed(lambda: qutip.mcsolve(qH, qpsi, tl, qc, e_ops=[qutip.Qobj(num)], ntraj=ntraj, seeds=1,
                                              options=qopts), reps)
    rows["qutip"] = times
    n_qutip = np.asarray(qres.expect[0]).real

    import dynamiqs as dq
    import optimistix as optx

    dq.set_precision("double")
    keys = jax.random.split(jax.random.key(2), ntraj)
    meth = dq.method.Event(noclick_method=dq.method.Tsit5(rtol=1e-6, atol=1e-8),
                           root_finder=optx.Newton(rtol=1e-8, atol=1e-8))

    def run_dq():
        r = dq.jssesolve(H, c_ops, psi0, tl, keys, exp_ops=[num], method=meth, save_states=False)
        return jax.block_until_ready(r.expects)

    t0 = time.perf_counter()
    run_dq()
    dq_first = time.perf_counter() - t0
    times, dres = timed(run_dq, reps)
    rows["dynamiqs"] = times
    n_dq = np.asarray(dres).real.mean(axis=0)[0]
    print(f"dynamiqs.jssesolve first call (in-process, compile included): {dq_first:.2f} s")

    med = {k: statistics.median(v) for k, v in rows.items()}
    faster = min(med["qutip"], med["dynamiqs"])
    print(f"\n{ntraj} trajectories, driven damped cavity n={N}, {NT} saved times, t in [0, {T_END}]")
    print(f"{'solver':<10} {'median s':>10} {'all runs':>28} {'nephlab/this':>13}")
    for k, v in rows.items():
        print(f"{k:<10} {med[k]:>10.3f} {', '.join(f'{x:.3f}' for x in v):>28} {med['nephlab'] / med[k]:>13.3f}")
    print(f"nephlab / faster peer: {med['nephlab'] / faster:.3f} (target <= 0.5)")
    se = res.stderr[0]
    print(f"<a†a>(T): nephlab {n_neph[-1]:.4f} ± {se[-1]:.4f}, qutip {n_qutip[-1]:.4f}, dynamiqs {n_dq[-1]:.4f}")
    print(f"versions: nephlab {nephlab.__version__}, qutip {qutip.__version__}, dynamiqs {dq.__version__}, "
          f"jax {jax.__version__}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
