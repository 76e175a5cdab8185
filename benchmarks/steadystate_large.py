"""Large steady states (issue 15): nephlab's sparse matrix-free ``steadystate(method="iterative")``
against QuTiP 5's ``steadystate`` ("direct" with the sparse LU ``spsolve``, and "direct" with the
iterative solvers ``gmres`` and ``lgmres``) on the driven Kerr chain (d = 3, D = 3^M).

Each (code, M) runs in its own subprocess with a wall-clock limit, so a peer that does not finish
is reported as "> limit" instead of stopping the run. The states are compared by Frobenius
distance to the first QuTiP method that finished (the issue's bar: 1e-8).

    python benchmarks/steadystate_large.py --sizes 5 6 --limit 300 [--markdown] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

CODES = {
    "nephlab iterative (sparse, Sylvester-preconditioned GMRES)": "nephlab",
    "QuTiP direct (spsolve)": "qutip:spsolve",
    "QuTiP direct + gmres": "qutip:gmres",
    "QuTiP direct + lgmres": "qutip:lgmres",
}


def _child(code: str, M: int, out: str) -> None:
    from nephlab.quantum.xp import kerr_chain

    H, c_ops, _ = kerr_chain(M)
    if code == "nephlab":
        from nephlab.quantum import steadystate

        t0 = time.perf_counter()
        rho = np.asarray(steadystate(H, c_ops, method="iterative"))
        wall = time.perf_counter() - t0
    else:
        import qutip

        dims = [[3] * M, [3] * M]
        Hq, cq = qutip.Qobj(H, dims=dims), [qutip.Qobj(c, dims=dims) for c in c_ops]
        solver = code.split(":")[1]
        t0 = time.perf_counter()
        rho = qutip.steadystate(Hq, cq, method="direct", solver=solver).full()
        wall = time.perf_counter() - t0
    np.save(out, rho)
    print(json.dumps({"wall": wall}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[5, 6])
    p.add_argument("--limit", type=float, default=300.0, help="seconds per (code, M)")
    p.add_argument("--codes", nargs="+", default=list(CODES.values()))
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        _child(a.child[0], int(a.child[1]), a.child[2])
        return
    import qutip
    import scipy

    import nephlab

    rows = []
    tmp = tempfile.mkdtemp()
    for M in a.sizes:
        states = {}
        for label, code in CODES.items():
            if code not in a.codes:
                continue
            out = os.path.join(tmp, f"{code.replace(':', '_')}_{M}.npy")
            try:
                r = subprocess.run([sys.executable, __file__, "--child", code, str(M), out], capture_output=True,
                                   text=True, timeout=a.limit)
                if r.returncode == 0:
                    wall = json.loads(r.stdout.strip().splitlines()[-1])["wall"]
                    states[code] = np.load(out)
                    status = f"{wall:.3g}"
                else:
                    wall, status = None, "failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:80]
            except subprocess.TimeoutExpired:
                wall, status = None, f"> {a.limit:g}"
            rows.append({"M": M, "D": 3**M, "code": label, "wall_s": wall, "status": status})
            print(rows[-1], flush=True)
        ref_code = next((c for c in ("qutip:spsolve", "qutip:lgmres", "qutip:gmres") if c in states), None)
        for row in rows:
            code = CODES[row["code"]]
            if row["M"] == M and code in states and ref_code is not None:
                row["vs_ref"] = f"{np.linalg.norm(states[code] - states[ref_code]):.2g} (vs {ref_code})"
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "nephlab": nephlab.__version__, "qutip": qutip.__version__, "scipy": scipy.__version__, "numpy": np.__version__}
    print(meta)
    if a.markdown:
        print("| M | D | code | wall time (s) | ‖ρ - ρ_ref‖_F |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['M']} | {r['D']} | {r['code']} | {r['status']} | {r.get('vs_ref', 'n/a')} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
