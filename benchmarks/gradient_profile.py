"""Where the gradient benchmark's time goes: forward pass, backward pass, steps, one process.

The problem of ``benchmarks/gradient.py`` (Kerr cavity n = 20, Tsit5, rtol 1e-6, atol 1e-8,
loss ⟨a†a⟩(10), parameters (F, κ), ``nephlab.quantum.jax.mesolve(gradient="checkpoint")``).
The reverse mode is split with ``jax.vjp``: the forward pass (the solve that records its
residuals: checkpoints, step sizes) and the backward pass (``vjp(1.0)``) are jitted separately
and timed alternately; the forward solve without reverse mode (``gradient=None``) is timed too.
Prints the accepted Tsit5 steps of nephlab's loop on this problem, and the median wall and
process CPU time of each part (the CPU time is the steadier number on a loaded machine).

    python benchmarks/gradient_profile.py [--repeats 20]

Run it against another revision of nephlab with ``PYTHONPATH=<that checkout>`` from a folder
outside this checkout (the script then imports that revision).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    import nephlab
    from nephlab.quantum import _autodiff, _ops, _rk
    from nephlab.quantum import jax as nqj

    from nephlab.bench.gradient import operators

    a, num, drive, kerr, rho0 = operators(20)
    tl = np.array([0.0, 10.0])

    def loss(x, gradient="checkpoint"):
        r = nqj.mesolve(num + x[0] * drive + 0.05 * kerr, rho0, tl, [jnp.sqrt(x[1]) * a], e_ops=[num],
                        method="tsit5", rtol=1e-6, atol=1e-8, gradient=gradient)
        return r.expect[0, -1].real

    # accepted steps of nephlab's loop on this problem (the forward pass of both gradient paths
    # since the discrete adjoint; diffrax's own count is in benchmarks/gradient_frame.py)
    st = _autodiff._Structure("tsit5", None, (None,), (None,), 100000, True, True)
    dyn = {"H": [jnp.asarray(num + 0.5 * drive + 0.05 * kerr)], "C": [jnp.asarray(np.sqrt(0.1) * a)],
           "rho0": jnp.asarray(rho0), "args": {}, "tlist": jnp.asarray(tl)}
    _, _, stats = _rk.adaptive_solve(_autodiff._vector_field(st, dyn), _ops.split(dyn["rho0"]), dyn["tlist"],
                                     lambda t, y: y, tableau=_rk.tsit5_tableau(), rtol=1e-6, atol=1e-8,
                                     max_steps=100000)

    forward_only = jax.jit(lambda x: loss(x, None))
    forward = jax.jit(lambda x: jax.vjp(loss, x))
    backward = jax.jit(lambda vjp: vjp(1.0))
    x0 = jnp.array([0.5, 0.1])
    t0 = time.perf_counter()
    _, vjp = jax.block_until_ready(forward(x0))
    grad = jax.block_until_ready(backward(vjp))
    first = time.perf_counter() - t0
    jax.block_until_ready(forward_only(x0))
    parts = {"forward, no reverse mode": [], "forward pass (vjp)": [], "backward pass": []}
    for i in range(args.repeats):
        x = x0 + jnp.array([1e-3 * (i + 1), 0.0])
        for name in parts:
            w0, c0 = time.perf_counter(), time.process_time()
            if name == "forward, no reverse mode":
                jax.block_until_ready(forward_only(x))
            elif name == "forward pass (vjp)":
                _, vjp = jax.block_until_ready(forward(x))
            else:
                jax.block_until_ready(backward(vjp))
            parts[name].append((time.perf_counter() - w0, time.process_time() - c0))
    print(f"nephlab {nephlab.__file__}; load average {os.getloadavg()}")
    print(f"accepted steps {int(stats['accepted'])}, rejected {int(stats['rejected'])}; first call (vjp + backward) "
          f"{first:.2f} s; gradient {[float(g) for g in grad[0]]}")
    print(f"{'part':<28}{'wall ms':>10}{'CPU ms':>10}")
    for name, v in parts.items():
        print(f"{name:<28}{1e3 * statistics.median(w for w, _ in v):>10.2f}{1e3 * statistics.median(c for _, c in v):>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
