"""Large Hilbert spaces (issue 15): M coupled Kerr cavities (d = 3, D = 3^M) side by side.

Model: H = Σ_k[-0.5 n_k + 0.5 a_k†a_k†a_k a_k + 0.3 (a_k + a_k†)] + 0.2 Σ_k (a_k† a_{k+1} + h.c.),
c_k = sqrt(0.1) a_k, ρ0 = vacuum, e_op n_0, tlist = linspace(0, 10, 11). Two solves:

* ``rk4``: 100 RK4 steps (dt = 0.1). QuTiP 5 and dynamiqs 0.3 have no fixed-step RK4 for
  mesolve, so only nephlab runs this row;
* ``adaptive``: to t = 10 at rtol 1e-6, atol 1e-8 (``--tol`` sets others): nephlab tsit5 (dense =
  its banded "dia" engine, sparse = the "sparse" format), QuTiP 5 adams with CSR and with Dia
  data, dynamiqs Tsit5 with ``layout=dia`` (x64). A code name with a method suffix runs that
  method instead (:data:`HIGH_ORDER`): ``nephlab-sparse-dop853``, ``nephlab-sparse-vern7``, ``qutip-csr-vern7``,
  ``qutip-csr-vern9``, ``dynamiqs-dia-dopri8``; nephlab's rows also give its step and
  right-hand-side counts, dynamiqs' its steps.

With ``--drive`` the lattice is driven (time-dependent operators): a Gaussian pulse on site 0
and a cosine drive on site 1,
H(t) = H + 0.8 exp(-(t - 5)²/2) (a_0 + a_0†) + 0.5 cos(1.3 t) (a_1 + a_1†): nephlab in QuTiP's
list format (sparse terms with ``format="sparse"``, dense ones on the banded engine), QuTiP 5
with a ``QobjEvo`` of CSR (or Dia) operators and NumPy coefficients, dynamiqs with
``dq.modulated`` terms of ``layout=dia`` qarrays.

Every (code, M, solve) runs in its own fresh process: the first call (compilation included)
and ``--repeat`` warm calls (median). Ratios are to the fastest peer of the same M and solve.

    nephlab bench large                       # M = 4 and 6, every code, repeat 2
    nephlab bench large --sizes 4 --repeat 3 --codes nephlab-sparse,qutip-csr
    nephlab bench large --drive --sizes 4     # the driven lattice
    nephlab bench large --sizes 4 --solves adaptive --tol 1e-8,1e-10 \
        --codes nephlab-sparse,nephlab-sparse-dop853,dynamiqs-dia-dopri8,qutip-csr-vern9
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

CODES = ("nephlab-dense", "nephlab-sparse", "qutip-csr", "qutip-dia", "dynamiqs-dia")
PEERS = ("qutip-csr", "qutip-dia", "dynamiqs-dia")
SOLVES = ("rk4", "adaptive")
RTOL, ATOL = 1e-6, 1e-8
PULSE = (0.8, 5.0, 1.0)  # --drive: amplitude, centre, width of the Gaussian pulse on site 0
COSINE = (0.5, 1.3)  # --drive: amplitude, frequency of the cosine drive on site 1
# high-order adaptive methods, as a suffix of the code name (nephlab-sparse-dop853, qutip-csr-vern9)
HIGH_ORDER = {"nephlab": ("dop853", "vern7"), "qutip": ("vern7", "vern9", "dop853"), "dynamiqs": ("dopri8",)}


def parse_code(code: str) -> tuple[str, str | None]:
    """``(base, method)``: a code of :data:`CODES` and a method of :data:`HIGH_ORDER` (None: the default).

    Raises ValueError for an unknown name.

    Example:
        >>> parse_code("qutip-csr-vern9"), parse_code("nephlab-sparse")
        (('qutip-csr', 'vern9'), ('nephlab-sparse', None))
    """
    for base in CODES:
        if code == base:
            return base, None
        suffix = code[len(base) + 1:] if code.startswith(base + "-") else None
        if suffix in HIGH_ORDER[base.split("-")[0]]:
            return base, suffix
    allowed = list(CODES) + [f"{b}-{m}" for b in CODES for m in HIGH_ORDER[b.split("-")[0]]]
    raise ValueError(f"code {code!r} is not known; allowed: {', '.join(allowed)}")


def kerr_lattice(M: int):
    """(H, c_ops, n_0, rho0) as scipy.sparse CSR built with :mod:`nephlab.quantum.sparse`."""
    import numpy as np
    import scipy.sparse as sp

    from nephlab.quantum.sparse import embed

    d = 3
    a_loc = np.diag(np.sqrt(np.arange(1, d)), 1)
    a = [embed(a_loc, k, [d] * M) for k in range(M)]
    H = sp.csr_matrix((d**M, d**M), dtype=complex)
    for k in range(M):
        ad = a[k].conj().T
        H = H - 0.5 * ad @ a[k] + 0.5 * ad @ ad @ a[k] @ a[k] + 0.3 * (a[k] + ad)
    for k in range(M - 1):
        H = H + 0.2 * (a[k].conj().T @ a[k + 1] + a[k + 1].conj().T @ a[k])
    rho0 = sp.csr_matrix(([1.0 + 0j], ([0], [0])), shape=(d**M, d**M))
    return H.tocsr(), [np.sqrt(0.1) * x for x in a], (a[0].conj().T @ a[0]).tocsr(), rho0


def drive_terms(M: int) -> list:
    """``[(X_0, f_0), (X_1, f_1)]`` of ``--drive``: ``X_k = a_k + a_k†`` (scipy CSR) and the
    coefficient of each as a function ``f(t, xp)`` of the array module ``xp`` (jax.numpy for
    nephlab and dynamiqs, NumPy for QuTiP)."""
    import numpy as np

    from nephlab.quantum.sparse import embed

    a_loc = np.diag(np.sqrt(np.arange(1, 3)), 1)
    X = [embed(a_loc + a_loc.T, k, [3] * M) for k in range(2)]
    amp, t0, sig = PULSE
    eps, w = COSINE
    return [(X[0], lambda t, xp: amp * xp.exp(-((t - t0) ** 2) / (2 * sig**2))),
            (X[1], lambda t, xp: eps * xp.cos(w * t))]


def _of_t(f, xp):
    """``t -> f(t, xp)``: a one-argument coefficient, as every code accepts it."""
    return lambda t: f(t, xp)


def _call(code: str, M: int, solve: str, rtol: float = RTOL, atol: float = ATOL, drive: bool = False):
    """A zero-argument function running one solve; it returns ``(⟨n_0⟩(t = 10), counts)``
    (``counts``: steps and right-hand-side evaluations where the code reports them)."""
    import jax.numpy as jnp
    import numpy as np

    H, c_ops, n0, rho0 = kerr_lattice(M)
    terms = drive_terms(M) if drive else []
    tl = np.linspace(0.0, 10.0, 11)
    code, method = parse_code(code)
    if code.startswith("nephlab"):
        import nephlab as nl

        kw = dict(method="rk4", dt=0.1) if solve == "rk4" else dict(method=method or "tsit5", rtol=rtol, atol=atol)
        dense = code == "nephlab-dense"
        op = (lambda m: m.toarray()) if dense else (lambda m: m)  # noqa: E731
        h = [op(H)] + [[op(x), _of_t(f, jnp)] for x, f in terms] if terms else op(H)
        args = (h, rho0.toarray(), tl, [op(c) for c in c_ops])
        kw["format"] = "dense" if dense else "sparse"

        def run():
            res = nl.mesolve(*args, e_ops=[n0], store_states=False, **kw)
            return float(np.real(res.expect[0][-1])), {k: int(res.stats[k]) for k in ("steps", "rhs_evals")}

        return run
    if code.startswith("qutip"):
        import qutip

        dtype = "csr" if code == "qutip-csr" else "dia"
        q = lambda m: qutip.Qobj(m, dims=[[3] * M, [3] * M]).to(dtype)  # noqa: E731
        Hq, cq, eq, r0 = q(H), [q(c) for c in c_ops], q(n0), qutip.Qobj(rho0.toarray(), dims=[[3] * M, [3] * M])
        if terms:
            Hq = qutip.QobjEvo([Hq] + [[q(x), _of_t(f, np)] for x, f in terms])
        opts = {"method": method or "adams", "rtol": rtol, "atol": atol, "nsteps": 100_000, "store_states": False}
        return lambda: (float(np.real(qutip.mesolve(Hq, r0, tl, cq, e_ops=[eq], options=opts).expect[0][-1])), {})
    import dynamiqs as dq
    import jax

    jax.config.update("jax_enable_x64", True)
    dq.set_precision("double")
    dq.set_layout("dia")
    Hd = dq.asqarray(H.toarray(), layout=dq.dia)
    for x, f in terms:
        Hd = Hd + dq.modulated(_of_t(f, jnp), dq.asqarray(x.toarray(), layout=dq.dia))
    cd = [dq.asqarray(c.toarray(), layout=dq.dia) for c in c_ops]
    ed = dq.asqarray(n0.toarray(), layout=dq.dia)
    r0 = rho0.toarray()
    meth = {None: dq.method.Tsit5, "dopri8": dq.method.Dopri8}[method](rtol=rtol, atol=atol, max_steps=1_000_000)

    def run():
        res = dq.mesolve(Hd, cd, r0, tl, exp_ops=[ed], method=meth, save_states=False)
        steps = getattr(res.infos, "nsteps", None)
        return float(np.real(np.asarray(res.expects[0][-1]))), ({} if steps is None else {"steps": int(steps)})

    return run


def _worker(code: str, M: int, solve: str, repeat: int, rtol: float = RTOL, atol: float = ATOL,
            drive: bool = False) -> dict:
    import numpy as np

    f = _call(code, M, solve, rtol, atol, drive)
    t0 = time.perf_counter()
    value, counts = f()
    first = time.perf_counter() - t0
    warm = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        warm.append(time.perf_counter() - t0)
    return {"code": code, "M": M, "solve": solve, "drive": drive, "first_s": first, "warm_s": float(np.median(warm)) if warm else None,
            "n0_final": value, **counts}


def run_case(code: str, M: int, solve: str, repeat: int, timeout: float, rtol: float = RTOL,
             atol: float = ATOL, drive: bool = False) -> dict:
    """One case in a fresh process (first call = compile + run)."""
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    case = {"code": code, "M": M, "solve": solve, "drive": drive}
    try:
        proc = subprocess.run([sys.executable, "-m", "nephlab.bench.large", "--_worker",
                               json.dumps([code, M, solve, repeat, rtol, atol, drive])], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return dict(case, status=f"timeout {timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return dict(case, status="error: " + proc.stderr.strip().splitlines()[-1][:200])
    return dict(json.loads(lines[-1]), status="ok")


def _versions() -> dict:
    out = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for mod in ("nephlab", "jax", "qutip", "dynamiqs", "scipy"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            out[mod] = None
    return out


def markdown(rows: list[dict], facts: dict) -> str:
    """The results as a Markdown table (time of the best warm call, or the first call)."""
    lines = ["| M (D) | solve | code | first call s | warm median s | ratio to fastest peer | ⟨n_0⟩(10) | steps | RHS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r.get("warm_s") or r.get("first_s")
        peers = [p.get("warm_s") or p.get("first_s") for p in rows
                 if p["M"] == r["M"] and parse_code(p["code"])[0] in PEERS and p.get("status") == "ok"
                 and p.get("drive") == r.get("drive") and (p["solve"] == r["solve"] or r["solve"] == "rk4")]
        best = min(peers) if peers else None
        ratio = f"{t / best:.2f}" if (best and r.get("status") == "ok") else "-"
        solve = r["solve"] + (", driven" if r.get("drive") else "")
        if r.get("status") != "ok":
            lines.append(f"| {r['M']} ({3 ** r['M']}) | {solve} | {r['code']} | {r.get('status')} | - | - | - | - | - |")
            continue
        warm = f"{r['warm_s']:.3f}" if r.get("warm_s") is not None else "-"
        lines.append(f"| {r['M']} ({3 ** r['M']}) | {solve} | {r['code']} | {r['first_s']:.3f} | {warm} | {ratio} | "
                     f"{r['n0_final']:.8f} | {r.get('steps', '-')} | {r.get('rhs_evals', '-')} |")
    lines.append("")
    lines.append("Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    return "\n".join(lines)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="4,6", help="comma-separated numbers of cavities M (D = 3^M); default 4,6")
    p.add_argument("--codes", default=",".join(CODES),
                   help=f"comma-separated subset of {', '.join(CODES)}, each optionally with a method suffix: "
                        + "; ".join(f"{k}: {', '.join(v)}" for k, v in HIGH_ORDER.items()))
    p.add_argument("--tol", default=f"{RTOL:g},{ATOL:g}", help="rtol,atol of the adaptive solves; default 1e-06,1e-08")
    p.add_argument("--solves", default=",".join(SOLVES), help="rk4, adaptive or both")
    p.add_argument("--repeat", type=int, default=2, help="warm calls after the first (median reported); default 2")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per case (fresh process); default 1800")
    p.add_argument("--json", default=None, help="write the rows and machine facts to this JSON file")
    p.add_argument("--drive", action="store_true",
                   help="drive the lattice: a Gaussian pulse on site 0 and a cosine drive on site 1 (time-dependent H)")
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    a = build_parser(prog or "nephlab bench large").parse_args(argv)
    if a._worker:
        print(json.dumps(_worker(*json.loads(a._worker))), flush=True)
        return 0
    sizes = [int(s) for s in a.sizes.split(",") if s]
    codes = [c.strip() for c in a.codes.split(",") if c.strip()]
    solves = [s.strip() for s in a.solves.split(",") if s.strip()]
    bad = [v for v in solves if v not in SOLVES]
    if bad:
        raise SystemExit(f"--solves: unknown {bad}; allowed: {', '.join(SOLVES)}")
    try:
        for c in codes:
            parse_code(c)
        rtol, atol = (float(x) for x in a.tol.split(","))
    except ValueError as err:
        raise SystemExit(f"--codes/--tol: {err}") from None
    if not (rtol > 0 and atol > 0):
        raise SystemExit(f"--tol must be two positive numbers rtol,atol, got {a.tol!r}")
    if any(m < 1 or m > 8 for m in sizes) or a.repeat < 0:
        raise SystemExit(f"--sizes must be in 1..8 and --repeat >= 0, got {sizes}, {a.repeat}")
    rows = []
    for M in sizes:
        for solve in solves:
            for code in codes:
                if solve == "rk4" and (parse_code(code)[0] in PEERS or parse_code(code)[1]):
                    continue  # no fixed-step RK4 in the peers' mesolve: their adaptive row is the reference
                load = os.getloadavg()[0]
                r = run_case(code, M, solve, a.repeat, a.timeout, rtol, atol, a.drive)
                r["load_before"] = round(load, 2)
                rows.append(r)
                print(json.dumps(r), flush=True)
    facts = dict(_versions(), rtol=rtol, atol=atol, load_1min_end=round(os.getloadavg()[0], 2))
    print(markdown(rows, facts))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"rows": rows, "facts": facts}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
