"""Gradient benchmark: d⟨a†a⟩(T)/d(F, κ) for a driven damped Kerr cavity, nephlab vs dynamiqs.

The problem is the n = 20 row of ``benchmarks/lindblad.py``::

    H = a†a + F (a + a†) + 0.05 a†a†aa,  F = 0.5;   L = sqrt(κ) a,  κ = 0.1
    rho0 = |0><0|,  T = 10,  loss = Re ⟨a†a⟩(T),  Tsit5 with rtol = 1e-6, atol = 1e-8

Both codes are differentiated by reverse mode with checkpointing (nephlab
``nephlab.quantum.jax.mesolve(..., gradient="checkpoint")``, dynamiqs
``gradient=dq.gradient.BackwardCheckpointed()``), and, with ``--direct``, also by plain
autodiff through the steps (``"direct"`` / ``dq.gradient.Direct()``). Each code runs in a fresh
Python process: the first call of ``jax.jit(jax.value_and_grad(loss))`` (tracing + compilation
+ run, imports excluded) and the median of the warm calls are reported (wall time, and the
process's CPU time, the steadier number on a loaded machine), with the ratios nephlab / dynamiqs
and the agreement of the gradients.

With ``--lattice M`` the problem is instead the driven Kerr lattice of
:func:`nephlab.quantum.xp.kerr_chain` (M cavities, d = 3, D = 3**M; ``F`` the drive amplitude on
every site, ``κ`` the loss rate of every site, loss ``Re ⟨a₀†a₀⟩(T)``) on the sparse formats:
nephlab ``nqj.mesolve(..., format="sparse")`` with F and κ in ``args`` (``[C, sqrt(args["kappa"])]``),
nephlab's dense ``nqj.mesolve`` as a second row, and dynamiqs with ``layout=dq.dia``.

    nephlab bench lindblad --family gradient [--n 20] [--repeats 20] [--direct] [--lattice 4]
    python benchmarks/gradient.py [--n 20] [--repeats 20] [--direct] [--lattice 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

F0, KAPPA0, OMEGA, KERR, T_END, RTOL, ATOL = 0.5, 0.1, 1.0, 0.05, 10.0, 1e-6, 1e-8


def operators(n: int):
    """``(a, a†a, a + a†, a†a†aa, |0⟩⟨0|)`` of the benchmark's cavity, complex128 (n, n) NumPy arrays.

    Example:
        >>> a, num, drive, kerr, rho0 = operators(3)
        >>> [round(float(x), 12) for x in num.diagonal().real], float(rho0.trace().real)
        ([0.0, 1.0, 2.0], 1.0)
    """
    import numpy as np

    a = np.diag(np.sqrt(np.arange(1, n, dtype=np.float64)), 1).astype(np.complex128)
    rho0 = np.zeros((n, n), np.complex128)
    rho0[0, 0] = 1.0
    return a, a.conj().T @ a, a + a.conj().T, a.conj().T @ a.conj().T @ a @ a, rho0


def lattice_operators(M: int) -> tuple:
    """``(H0, drive, num0, a, rho0)`` of the Kerr lattice (module docstring): ``kerr_chain(M, F=0)``'s
    H (CSR), ``Σ_k (a_k + a_k†)``, ``a₀†a₀``, the ladder operators and the vacuum (D, D) complex128.

    Example:
        >>> H0, drive, num0, a, rho0 = lattice_operators(2)
        >>> H0.shape, len(a), float(rho0[0, 0].real)
        ((9, 9), 2, 1.0)
    """
    import numpy as np

    from nephlab.quantum.xp import kerr_chain

    H0, _, a = kerr_chain(M, F=0.0)
    drive = sum(x + x.conj().T for x in a).tocsr()
    num0 = (a[0].conj().T @ a[0]).tocsr()
    D = H0.shape[0]
    rho0 = np.zeros((D, D), np.complex128)
    rho0[0, 0] = 1.0
    return H0, drive, num0, a, rho0


def _lattice_loss(code: str, mode: str, M: int):
    """``loss(F, κ)`` of the Kerr lattice (module docstring) for ``code`` in nephlab-sparse,
    nephlab (dense) and dynamiqs (dia layout)."""
    import jax.numpy as jnp
    import numpy as np

    H0, drive, num0, a, rho0 = lattice_operators(M)
    tlist = np.array([0.0, T_END])
    if code.startswith("nephlab"):
        from nephlab.quantum import jax as nqj

        sparse = code == "nephlab-sparse"
        conv = (lambda m: m) if sparse else (lambda m: m.toarray())

        def loss(F, kappa):
            H = [conv(H0), [conv(drive), lambda t, args: args["F"]]]
            c_ops = [[conv(x), lambda t, args: jnp.sqrt(args["kappa"])] for x in a]
            r = nqj.mesolve(H, rho0, tlist, c_ops, e_ops=[conv(num0)], args={"F": F, "kappa": kappa}, method="tsit5",
                            rtol=RTOL, atol=ATOL, gradient=mode, format="sparse" if sparse else "dense")
            return r.expect[0, -1].real

        return loss
    import dynamiqs as dq

    dq.set_precision("double")
    grad = dq.gradient.BackwardCheckpointed() if mode == "checkpoint" else dq.gradient.Direct()
    method = dq.method.Tsit5(rtol=RTOL, atol=ATOL)
    dia = (lambda m: dq.asqarray(m.toarray(), layout=dq.dia))
    H0q, driveq, num0q, aq = dia(H0), dia(drive), dia(num0), [dia(x) for x in a]

    def loss(F, kappa):
        r = dq.mesolve(H0q + F * driveq, [jnp.sqrt(kappa) * x for x in aq], rho0, tlist, exp_ops=[num0q],
                       method=method, gradient=grad, save_states=False, progress_meter=False)
        return r.expects[0, -1].real

    return loss


def _worker(code: str, mode: str, n: int, repeats: int, lattice: int = 0) -> dict:
    t_import = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    a, num, drive, kerr, rho0 = operators(n)
    tlist = np.array([0.0, T_END])

    if lattice:
        loss = _lattice_loss(code, mode, lattice)
    elif code == "nephlab":
        from nephlab.quantum import jax as nqj

        def loss(F, kappa):
            r = nqj.mesolve(OMEGA * num + F * drive + KERR * kerr, rho0, tlist, [jnp.sqrt(kappa) * a], e_ops=[num],
                            method="tsit5", rtol=RTOL, atol=ATOL, gradient=mode)
            return r.expect[0, -1].real
    else:
        import dynamiqs as dq

        dq.set_precision("double")
        grad = dq.gradient.BackwardCheckpointed() if mode == "checkpoint" else dq.gradient.Direct()
        method = dq.method.Tsit5(rtol=RTOL, atol=ATOL)

        def loss(F, kappa):
            r = dq.mesolve(OMEGA * num + F * drive + KERR * kerr, [jnp.sqrt(kappa) * a], rho0, tlist, exp_ops=[num],
                           method=method, gradient=grad, save_states=False, progress_meter=False)
            return r.expects[0, -1].real

    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    t_import = time.perf_counter() - t_import
    t0 = time.perf_counter()
    out = jax.block_until_ready(vg(F0, KAPPA0))
    first = time.perf_counter() - t0
    times, cpu = [], []
    for i in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(vg(F0 + 1e-3 * (i + 1), KAPPA0))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"code": code, "mode": mode, "import_s": t_import, "first_s": first, "warm_median_s": statistics.median(times),
            "warm_cpu_median_s": statistics.median(cpu),
            "value": float(out[0]), "grad": [float(g) for g in out[1]],
            "versions": {"jax": jax.__version__, **({"dynamiqs": __import__("dynamiqs").__version__} if code == "dynamiqs" else {})}}


def _run(code: str, mode: str, n: int, repeats: int, lattice: int = 0) -> dict:
    cmd = [sys.executable, "-m", "nephlab.bench.gradient", "--worker", code, mode, "--n", str(n), "--repeats", str(repeats),
           "--lattice", str(lattice)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        return {"code": code, "mode": mode, "error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the benchmark; ``argv`` excludes the program name. Returns an exit status."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--direct", action="store_true", help="also time plain autodiff through the steps")
    p.add_argument("--lattice", type=int, default=0, metavar="M",
                   help="the Kerr lattice of M cavities (D = 3**M) on the sparse formats instead of the cavity")
    p.add_argument("--worker", nargs=2, metavar=("CODE", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker[0], args.worker[1], args.n, args.repeats, args.lattice)))
        return 0
    what = f"<a0†a0>(T={T_END}), Kerr lattice D = {3 ** args.lattice}" if args.lattice else f"<a†a>(T={T_END}), n = {args.n}"
    print(f"gradient of {what} w.r.t. (F, kappa), tsit5 rtol={RTOL} atol={ATOL}; load average {os.getloadavg()}")
    codes = ("nephlab-sparse", "nephlab", "dynamiqs") if args.lattice else ("nephlab", "dynamiqs")
    print(f"{'mode':<11}{'code':<16}{'first call s':>14}{'warm median ms':>16}{'warm CPU ms':>13}{'dL/dF':>14}{'dL/dkappa':>14}")
    for mode in ("checkpoint",) + (("direct",) if args.direct else ()):
        rows = {c: _run(c, mode, args.n, args.repeats, args.lattice) for c in codes}
        for c, r in rows.items():
            if "error" in r:
                print(f"{mode:<11}{c:<16} failed: {r['error']}")
                continue
            print(f"{mode:<11}{c:<16}{r['first_s']:>14.2f}{1e3 * r['warm_median_s']:>16.2f}{1e3 * r['warm_cpu_median_s']:>13.2f}"
                  f"{r['grad'][0]:>14.8f}{r['grad'][1]:>14.8f}")
        ne, dq = rows[codes[0]], rows["dynamiqs"]
        if "error" not in ne and "error" not in dq:
            dg = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(ne["grad"], dq["grad"]))
            print(f"{mode:<11}ratio {codes[0]}/dynamiqs: first {ne['first_s'] / dq['first_s']:.2f}, "
                  f"warm {ne['warm_median_s'] / dq['warm_median_s']:.2f}, warm CPU time "
                  f"{ne['warm_cpu_median_s'] / dq['warm_cpu_median_s']:.2f}; gradients agree to {dg:.1e} relative "
                  f"(versions {dq['versions']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
