"""Validation of nephlab.md at the Lennard-Jones triple point (T*=0.722, rho*=0.8442, r_c=2.5).

Reference: eta* = 3.24 +- 0.04 (Ferrario, Ciccotti, Holian and Ryckaert, Phys. Rev. A 44, 6936
(1991), N = 2048). Prints a table: Green-Kubo (NVE), NEMD eta(rate) with block errors, the
zero-shear extrapolations, and whether eta decreases with rate (shear thinning).

    nice -n 5 python benchmarks/md_validation.py [--n 500] [--gk-steps 200000] [--nemd-steps 50000]
        [--rates 0.025 0.05 0.1 0.2 0.4 0.8 1.6] [--fit-max-rate 0.2] [--scale-steps] [--ascending]
        [--json OUT]
    python benchmarks/md_validation.py --refit OUT1.json [OUT2.json ...] [--fit-max-rate 0.2]

Protocol. The error of eta = -<P_xy>/rate at a fixed run length grows as 1/rate, so the runs at
low rates must be long. With ``--scale-steps`` a rate below 0.4 runs
``nemd_steps * (0.4/rate)`` production steps, at most ``--max-steps`` (so the low-rate errors
stay comparable to the high-rate ones instead of growing as 1/rate). The zero-shear viscosity is
extrapolated from the rates ``<= --fit-max-rate`` with two weighted least-squares forms, both
reported with their standard errors and chi^2 per degree of freedom:

- ``eta0 - A rate^(1/2)``: the low-rate form of a simple liquid's shear thinning found by NEMD at
  the LJ triple point and predicted by mode coupling (Evans, Phys. Rev. A 23, 2622 (1981);
  Kawasaki and Gunton, Phys. Rev. A 8, 2048 (1973); Evans and Morriss, Statistical Mechanics of
  Nonequilibrium Liquids, 2nd ed. (2008), ch. 6);
- ``eta0 + a rate^2``: the analytic (even) expansion (:func:`nephlab.md.zero_shear_fit`), valid
  only below the crossover out of the Newtonian plateau.

Each rate's result is printed (and, with ``--json``, written) as soon as it completes, and the
samples of the rate in progress are written every 60 s as a ``partial`` entry, so a run cut
short keeps the rates done and the part of the last one (``--refit`` uses and marks it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

import jax
import numpy as np

from nephlab.md import green_kubo_viscosity, lennard_jones, nemd_shear, zero_shear_fit

REF, REF_ERR = 3.24, 0.04


def sqrt_fit(rates, eta, err) -> tuple[float, float, float, float]:
    """Weighted fit ``eta = eta0 - A rate^(1/2)``; returns ``(eta0, eta0_stderr, A, chi2/dof)``.

    Example:
        >>> e0, se, A, c = sqrt_fit([0.04, 0.09, 0.16], [2.8, 2.7, 2.6], [0.01, 0.01, 0.01])
        >>> round(e0, 6), round(A, 6)
        (3.0, 1.0)
    """
    g, y, e = (np.asarray(x, dtype=np.float64) for x in (rates, eta, err))
    M = np.stack([np.ones_like(g), -np.sqrt(np.abs(g))], -1)
    w = 1.0 / e ** 2
    cov = np.linalg.inv(M.T @ (w[:, None] * M))
    coef = cov @ (M.T @ (w * y))
    dof = g.size - 2
    chi2 = float(np.sum(w * (y - M @ coef) ** 2)) / dof if dof else math.nan
    return float(coef[0]), float(math.sqrt(cov[0, 0])), float(coef[1]), chi2


def quad_chi2(rates, eta, err, eta0, a) -> float:
    """chi^2 per degree of freedom of ``eta0 + a rate^2`` on the points (NaN for two points)."""
    g, y, e = (np.asarray(x, dtype=np.float64) for x in (rates, eta, err))
    dof = g.size - 2
    return float(np.sum(((y - eta0 - a * g * g) / e) ** 2)) / dof if dof else math.nan


def entry(rate: float, steps: int, r, wall: float) -> dict:
    """The JSON record of one rate's run."""
    return {"rate": rate, "steps": steps, "eta": r.viscosity, "stderr": r.stderr, "n1": r.n1, "n2": r.n2,
            "T": float(r.temperature.mean()), "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--dt", type=float, default=0.004)
    ap.add_argument("--gk-steps", type=int, default=200_000)
    ap.add_argument("--nemd-steps", type=int, default=50_000)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2, 0.4, 0.8, 1.6])
    ap.add_argument("--fit-max-rate", type=float, default=0.4)
    ap.add_argument("--scale-steps", action="store_true",
                    help="below rate 0.4 run nemd_steps * 0.4/rate steps (at most --max-steps)")
    ap.add_argument("--max-steps", type=int, default=1_000_000)
    ap.add_argument("--equilibrate", type=int, default=5000)
    ap.add_argument("--skip-gk", action="store_true")
    ap.add_argument("--json", metavar="OUT", help="write the results (updated after every rate)")
    ap.add_argument("--refit", metavar="JSON", nargs="+",
                    help="no runs: the table and fits of the rates in --json files of runs of the same N and dt "
                         "(e.g. a run stopped before its last rate and a run of the rates it missed)")
    ap.add_argument("--ascending", action="store_true", help="run the rates from the lowest (default: highest first)")
    a = ap.parse_args()
    if a.refit:
        outs = []
        for path in a.refit:
            with open(path) as f:
                outs.append(json.load(f))
        out = outs[0]
        if any((o["n"], o["dt"]) != (out["n"], out["dt"]) for o in outs):
            ap.error(f"--refit files must share N and dt, got {[(o['n'], o['dt']) for o in outs]}")
        out = dict(out, rates=[d for o in outs for d in o["rates"] + ([o["partial"]] if "partial" in o else [])])
        print(f"# refit of {' '.join(a.refit)}: N={out['n']}, dt={out['dt']}; reference eta*={REF} +- {REF_ERR}")
        print(f"{'rate':>6} {'steps':>8} {'eta':>8} {'stderr':>7} {'N1':>7} {'N2':>7} {'T':>7} {'time/s':>7}")
        for d in sorted(out["rates"], key=lambda d: -d["rate"]):
            print(f"{d['rate']:6.3f} {d['steps']:8d} {d['eta']:8.3f} {d['stderr']:7.3f} {d['n1']:7.3f} {d['n2']:7.3f} "
                  f"{d['T']:7.4f} {d['wall_s']:7.0f}" + ("  (partial: the run was stopped)" if d.get("partial") else ""))
        report(out, a.fit_max_rate)
        return
    print(f"# machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"jax {jax.__version__}, device {jax.devices()[0].platform}, load average "
          f"{[round(x, 2) for x in os.getloadavg()]}")
    s = lennard_jones(a.n, 0.8442, 0.722, r_cut=2.5)
    print(f"# LJ triple point: N={s.n_particles}, L={s.box:.4f}, dt={a.dt}; reference eta*={REF} +- {REF_ERR}")
    out: dict = {"n": s.n_particles, "dt": a.dt, "reference": [REF, REF_ERR], "rates": []}

    def save() -> None:
        if a.json:
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)

    if not a.skip_gk:
        t0 = time.time()
        g = green_kubo_viscosity(s, a.gk_steps, a.dt, sample_every=5, equilibrate=5000, t_max=2.0, n_blocks=8)
        dev = (g.viscosity - REF) / REF
        print(f"Green-Kubo NVE  steps={a.gk_steps:>8}  eta={g.viscosity:.3f} +- {g.stderr:.3f}  "
              f"({dev:+.1%} vs ref)  T={g.temperature:.4f} drift={g.energy_drift:.1e}  [{time.time() - t0:.0f} s]",
              flush=True)
        out["green_kubo"] = {"eta": g.viscosity, "stderr": g.stderr, "wall_s": time.time() - t0}
        save()
    print(f"{'rate':>6} {'steps':>8} {'eta':>8} {'stderr':>7} {'N1':>7} {'N2':>7} {'T':>7} {'time/s':>7} {'load':>5}")
    for g_ in sorted(a.rates, reverse=not a.ascending):
        steps = a.nemd_steps
        if a.scale_steps and g_ < 0.4:
            steps = min(a.max_steps, int(round(a.nemd_steps * 0.4 / g_ / 10)) * 10)
        t0 = time.time()
        last = [t0]

        def partial(r, g_=g_, t0=t0, last=last) -> bool:
            """Every 60 s, the rate's samples so far go to the JSON as a partial entry (kept if the
            run is stopped before the rate completes)."""
            if a.json and time.time() - last[0] > 60:
                last[0] = time.time()
                d = entry(g_, 10 * len(r.times), r, time.time() - t0)
                out["partial"] = dict(d, partial=True)
                save()
            return False

        r = nemd_shear(s, g_, steps, a.dt, equilibrate=a.equilibrate, sample_every=10, on_sample=partial)
        wall = time.time() - t0
        out.pop("partial", None)
        print(f"{g_:6.3f} {steps:8d} {r.viscosity:8.3f} {r.stderr:7.3f} {r.n1:7.3f} {r.n2:7.3f} "
              f"{r.temperature.mean():7.4f} {wall:7.0f} {os.getloadavg()[0]:5.2f}", flush=True)
        out["rates"].append(entry(g_, steps, r, wall))
        save()
    report(out, a.fit_max_rate)
    out["load_end"] = list(os.getloadavg())
    save()


def report(out: dict, fit_max_rate: float) -> None:
    """Print the zero-shear fits of the rates <= fit_max_rate in ``out`` and whether eta decreases
    with the rate; adds ``fits`` and ``shear_thinning`` to ``out``."""
    pts = sorted(out["rates"], key=lambda d: d["rate"])
    eta = [d["eta"] for d in pts]
    thin = all(x > y for x, y in zip(eta[:-1], eta[1:]))
    sel = [d for d in pts if d["rate"] <= fit_max_rate]
    g_, y, e = ([d[k] for d in sel] for k in ("rate", "eta", "stderr"))
    if len(sel) >= 2:
        e0, se0, A, c2 = sqrt_fit(g_, y, e)
        print(f"NEMD zero-shear, eta0 - A rate^(1/2), rates <= {fit_max_rate}: eta0={e0:.3f} +- {se0:.3f} "
              f"({(e0 - REF) / REF:+.1%} vs ref), A={A:.3f}, chi2/dof={c2:.2f}")
        q0, sq0, qa = zero_shear_fit(g_, y, e)
        qc2 = quad_chi2(g_, y, e, q0, qa)
        print(f"NEMD zero-shear, eta0 + a rate^2,     rates <= {fit_max_rate}: eta0={q0:.3f} +- {sq0:.3f} "
              f"({(q0 - REF) / REF:+.1%} vs ref), a={qa:.3f}, chi2/dof={qc2:.2f}")
        out["fits"] = {"fit_max_rate": fit_max_rate,
                       "sqrt": {"eta0": e0, "stderr": se0, "A": A, "chi2_dof": c2},
                       "quadratic": {"eta0": q0, "stderr": sq0, "a": qa, "chi2_dof": qc2}}
    else:
        print(f"NEMD zero-shear: fewer than 2 rates <= {fit_max_rate}, no fit")
    print(f"shear thinning (eta decreasing with rate): {thin}")
    out["shear_thinning"] = thin


if __name__ == "__main__":
    main()
