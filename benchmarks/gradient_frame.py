"""Where the gradient benchmark's time goes: nephlab's interaction frame against the lab frame, one process.

The problem of ``benchmarks/gradient.py`` (Kerr cavity n = 20, Tsit5, rtol 1e-6, atol 1e-8,
∂⟨a†a⟩(10)/∂(F, κ), checkpointed reverse mode), solved twice by ``nephlab.quantum.jax.mesolve``:
with ``H`` constant (integrated in the interaction frame of its diagonal) and with the same ``H``
as ``[[H, 1]]`` (a time-dependent term with coefficient 1: no constant diagonal, so the lab
frame). Prints the number of Tsit5 steps of each (read from diffrax's ``sol.stats`` through a
wrapper of ``diffrax.diffeqsolve``), the first call, and the median wall and CPU time of the warm
calls of ``jax.jit(jax.value_and_grad(loss))``, alternating the two so that both see the same load.

    python benchmarks/gradient_frame.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
_STEPS: list[int] = []
_solve = diffrax.diffeqsolve


def _counting_solve(*args, **kwargs):
    sol = _solve(*args, **kwargs)
    jax.debug.callback(lambda s: _STEPS.append(int(s)), sol.stats["num_steps"])
    return sol


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    diffrax.diffeqsolve = _counting_solve  # nephlab imports diffrax lazily, inside the solve
    from nephlab.quantum import jax as nqj

    from nephlab.bench.gradient import operators

    a, num, drive, kerr, rho0 = operators(20)

    def one(t, args):
        return 1.0

    def make(frame: bool):
        def loss(F, kappa):
            H = num + F * drive + 0.05 * kerr
            r = nqj.mesolve(H if frame else [[H, one]], rho0, np.array([0.0, 10.0]), [jnp.sqrt(kappa) * a],
                            e_ops=[num], rtol=1e-6, atol=1e-8)
            return r.expect[0, -1].real
        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))

    fns = {"frame": make(True), "lab": make(False)}
    first, out, steps = {}, {}, {}
    for k, f in fns.items():
        _STEPS.clear()
        t0 = time.perf_counter()
        out[k] = jax.block_until_ready(f(0.5, 0.1))
        first[k] = time.perf_counter() - t0
        steps[k] = _STEPS[:]
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for i in range(args.repeats):
        for k, f in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(0.5 + 1e-3 * (i + 1), 0.1))
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    print(f"load average {os.getloadavg()}")
    print(f"{'path':<7}{'steps':>8}{'first s':>10}{'warm ms':>10}{'CPU ms':>10}{'dL/dF':>14}{'dL/dkappa':>14}")
    for k in fns:
        g = out[k][1]
        print(f"{k:<7}{str(steps[k][:1][0] if steps[k] else '?'):>8}{first[k]:>10.2f}"
              f"{1e3 * statistics.median(wall[k]):>10.1f}{1e3 * statistics.median(cpu[k]):>10.1f}"
              f"{float(g[0]):>14.8f}{float(g[1]):>14.8f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
