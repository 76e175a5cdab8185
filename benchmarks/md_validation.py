"""Validation of nephlab.md at the Lennard-Jones triple point (T*=0.722, rho*=0.8442, r_c=2.5).

Reference: eta* = 3.24 +- 0.04 (Ferrario, Ciccotti, Holian and Ryckaert, Phys. Rev. A 44, 6936
(1991), N = 2048). Prints a table: Green-Kubo (NVE), NEMD eta(rate) with block errors, the
quadratic zero-shear extrapolation, and whether eta decreases with rate (shear thinning).

    nice -n 5 python benchmarks/md_validation.py [--n 500] [--gk-steps 200000] [--nemd-steps 50000]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

from nephlab.md import FlowCurveResult, green_kubo_viscosity, lennard_jones, nemd_shear

REF, REF_ERR = 3.24, 0.04


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--dt", type=float, default=0.004)
    ap.add_argument("--gk-steps", type=int, default=200_000)
    ap.add_argument("--nemd-steps", type=int, default=50_000)
    ap.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2, 0.4, 0.8, 1.6])
    ap.add_argument("--fit-max-rate", type=float, default=0.4)
    ap.add_argument("--skip-gk", action="store_true")
    a = ap.parse_args()
    print(f"# machine: {platform.node()} {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"device {jax.devices()[0].platform}")
    s = lennard_jones(a.n, 0.8442, 0.722, r_cut=2.5)
    print(f"# LJ triple point: N={s.n_particles}, L={s.box:.4f}, dt={a.dt}; reference eta*={REF} +- {REF_ERR}")
    if not a.skip_gk:
        t0 = time.time()
        g = green_kubo_viscosity(s, a.gk_steps, a.dt, sample_every=5, equilibrate=5000, t_max=2.0, n_blocks=8)
        dev = (g.viscosity - REF) / REF
        print(f"Green-Kubo NVE  steps={a.gk_steps:>8}  eta={g.viscosity:.3f} +- {g.stderr:.3f}  "
              f"({dev:+.1%} vs ref)  T={g.temperature:.4f} drift={g.energy_drift:.1e}  [{time.time() - t0:.0f} s]",
              flush=True)
    results = []
    print(f"{'rate':>6} {'eta':>8} {'stderr':>7} {'N1':>7} {'N2':>7} {'T':>7} {'time/s':>7}")
    for g_ in sorted(a.rates, reverse=True):
        t0 = time.time()
        r = nemd_shear(s, g_, a.nemd_steps, a.dt, equilibrate=5000, sample_every=10)
        results.append(r)
        print(f"{g_:6.3f} {r.viscosity:8.3f} {r.stderr:7.3f} {r.n1:7.3f} {r.n2:7.3f} {r.temperature.mean():7.4f} "
              f"{time.time() - t0:7.0f}", flush=True)
    fc = FlowCurveResult.from_results(results, fit_max_rate=a.fit_max_rate)
    dev = (fc.zero_shear_viscosity - REF) / REF
    print(f"NEMD zero-shear (eta0 + a rate^2, rates <= {a.fit_max_rate}): eta0={fc.zero_shear_viscosity:.3f} +- "
          f"{fc.zero_shear_stderr:.3f} ({dev:+.1%} vs ref)")
    thin = all(x > y for x, y in zip(fc.viscosity[:-1], fc.viscosity[1:]))
    print(f"shear thinning (eta decreasing with rate): {thin}")


if __name__ == "__main__":
    main()
