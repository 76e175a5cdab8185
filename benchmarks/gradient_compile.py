"""Where the first call of a sparse-format gradient spends its time: tracing, lowering, XLA compilation.

For the driven Kerr lattice of ``benchmarks/gradient.py --lattice M`` (D = 3**M, F and κ in
``args``, loss Re⟨a₀†a₀⟩(10)), each row is a fresh Python process (persistent compilation cache
off) that times ``jax.jit(f).trace(...)``, ``.lower()``, ``.compile()`` and the first run of
``f`` = the value and gradient (``grad``) or the value alone (``forward``), and counts what the
compiled program holds: fusions (each one a kernel that LLVM compiles), gathers and HLO instructions.

    python benchmarks/gradient_compile.py [--lattice 3 4] [--methods rk4 tsit5] [--what grad forward]

2026-12-06, 2-core CPU, load 3.5: D = 81 tsit5 grad, 26.7 s compilation and 5720 fusions before the
looped step transpose of ``_rk_adjoint``, 8.9 s and 409 fusions after; the forward solve 3.5 s and
101 fusions (benchmarks/RESULTS.md, issue 15).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _worker(M: int, method: str, what: str) -> dict:
    import re

    import jax
    import jax.numpy as jnp
    import numpy as np

    from nephlab.bench.gradient import lattice_operators
    from nephlab.quantum import jax as nqj

    H0, drive, num0, a, rho0 = lattice_operators(M)
    D = H0.shape[0]
    opts = dict(dt=0.05) if method == "rk4" else dict(rtol=1e-6, atol=1e-8)

    def loss(F, kappa):
        H = [H0, [drive, lambda t, args: args["F"]]]
        c_ops = [[x, lambda t, args: jnp.sqrt(args["kappa"])] for x in a]
        r = nqj.mesolve(H, rho0, np.array([0.0, 10.0]), c_ops, e_ops=[num0], args={"F": F, "kappa": kappa},
                        method=method, gradient="checkpoint", format="sparse", **opts)
        return r.expect[0, -1].real

    fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)) if what == "grad" else loss)
    t0 = time.perf_counter()
    traced = fn.trace(0.5, 0.1)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    jax.block_until_ready(compiled(0.5, 0.1))
    t4 = time.perf_counter()
    text = compiled.as_text()
    return {"D": D, "method": method, "what": what, "trace_s": t1 - t0, "lower_s": t2 - t1, "compile_s": t3 - t2,
            "run_s": t4 - t3, "fusions": len(re.findall(r"= \S+ fusion\(", text)), "gathers": text.count(" gather("),
            "instructions": sum(1 for line in text.split("\n") if " = " in line)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lattice", type=int, nargs="+", default=[3, 4], metavar="M")
    p.add_argument("--methods", nargs="+", default=["rk4", "tsit5"])
    p.add_argument("--what", nargs="+", default=["grad", "forward"], choices=["grad", "forward"])
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(int(args.worker[0]), args.worker[1], args.worker[2])))
        return 0
    env = {**os.environ, "NEPHLAB_JAX_CACHE": "off"}
    print(f"load average {os.getloadavg()}")
    print(f"{'D':>4} {'method':<7}{'what':<8}{'trace s':>9}{'lower s':>9}{'compile s':>11}{'run s':>8}{'fusions':>9}"
          f"{'gathers':>9}{'instr':>8}")
    for M in args.lattice:
        for method in args.methods:
            for what in args.what:
                res = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(M), method, what],
                                     capture_output=True, text=True, env=env, check=False)
                if res.returncode:
                    print(f"{3 ** M:>4} {method:<7}{what:<8} failed: {res.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{r['D']:>4} {method:<7}{what:<8}{r['trace_s']:>9.2f}{r['lower_s']:>9.2f}{r['compile_s']:>11.2f}"
                      f"{r['run_s']:>8.2f}{r['fusions']:>9}{r['gathers']:>9}{r['instructions']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
