"""Where the time of the sparse Lindblad right-hand side goes (issue 15), component by component.

The problem of ``nephlab bench large`` (M coupled Kerr cavities, d = 3, D = 3^M, one ladder
jump operator per cavity) on the ``format="sparse"`` kernels of :mod:`nephlab.quantum._ops`.
Each row is one jitted function, timed warm (median of ``--repeat`` calls, each looping the
component 2000/D times inside the compiled program, so that dispatch does not count; the
component rows are timed in ``--rounds`` interleaved rounds and the best round is reported, as
the load of a shared machine drifts):

* ``H product``: ``A @ X`` (A = -i H_eff, the layout :func:`_ops.to_sparse` picks);
* ``z + z†``: the Hermitian completion ``A X + X A†`` from one product;
* ``jump 0``: ``L_0 X L_0†`` for one jump operator, and ``all jumps`` for the M of them as the
  right-hand side sums them; ``as gathers``: the same with the one-entry-per-row gather layout
  that these ladder operators had before they became slices (for comparison);
* ``RHS``: the whole right-hand side (:func:`_ops.sparse_lindblad`), and with the gathers;
* ``all parts``: the product, the jumps and the right-hand side with every real and imaginary
  part multiplied, as before 2026-12-06 22:30 UTC (:func:`_ops.without_parts`: no
  :class:`_ops.Parts` flags, so the zero real parts of -i H off the diagonal and the zero
  imaginary parts of the loss operators are multiplied too); ``by diagonals``: ``A @ X`` as
  static row slices of one padded copy (:func:`_ops._dia_lmul`, the ket layout), for comparison;
* ``n×n weights`` and ``jumps after the product``: the jumps and the right-hand side as they
  were computed before 2026-12-06 17:07 UTC (jump weights ``l_i conj(l_j)`` formed as outer
  products; the jumps summed in the loop that forms ``Z + Z†`` instead of into ``Z``);
* ``rk4 step``: one step of the engine's RK4 (4 RHS + stage sums), per RHS;
* ``tsit5 step``: one accepted tsit5 trial step (:func:`nephlab.quantum._rk.rk_step`: 6 RHS,
  stage sums, error norm, controller), per RHS;
* ``mesolve rk4`` / ``mesolve tsit5``: the public call as ``nephlab bench large`` runs it (100
  steps; rtol 1e-6, atol 1e-8), per RHS evaluation, and the whole call.

    python benchmarks/rhs_profile.py --sizes 4,6
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nephlab.bench.large import kerr_lattice  # noqa: E402
from nephlab.quantum import _engine, _ops, _rk  # noqa: E402


def _timed(f, args, inner: int, repeat: int) -> float:
    """Median seconds of one evaluation of ``f(*args)`` (``f`` loops it ``inner`` times)."""
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) / inner


def _looped(g, inner: int):
    """``y -> y + 1e-3 g(*ops, y)`` applied ``inner`` times in one compiled program."""
    def run(ops, y):
        return jax.lax.fori_loop(0, inner, lambda i, y: y + 1e-3 * g(ops, y), y)
    return jax.jit(run)


def _state(n: int) -> jnp.ndarray:
    """A full-rank density matrix (real-split), so no entry is exactly zero."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    rho = x @ x.conj().T
    return _ops.split(rho / np.trace(rho))


def _gather_layout(c) -> dict:
    """The one-entry-per-row gather layout (``{"p", "l"}``) of a jump operator, which every such
    operator had before single-diagonal ones became slices: for comparison."""
    csr = _ops._canonical(c)
    n = csr.shape[0]
    rows = np.repeat(np.arange(n), np.diff(csr.indptr))
    p = np.zeros(n, np.int32)
    p[rows] = csr.indices
    lv = np.zeros(n, np.complex128)
    lv[rows] = csr.data
    return {"p": jnp.asarray(p), "l": jnp.asarray(_ops._split(lv))}


def _outer_weight_jumps(Ls: list, y):
    """``Σ_k L_k X L_k†`` for single-diagonal ``Ls`` as :func:`_ops._slice_sandwiches` computed it
    before 2026-12-06 17:07 UTC: weights ``l_i conj(l_j)`` formed as n×n outer products, one
    stacked term per operator (for comparison)."""
    n = y.shape[-1]
    offs = [L.offsets[0] for L in Ls]
    lo, hi = max(0, -min(offs)), max(0, max(offs))
    yp = jnp.pad(y, [(0, 0), (lo, hi), (lo, hi)])
    out = 0.0
    for L, off in zip(Ls, offs):
        s = yp[:, lo + off: lo + off + n, lo + off: lo + off + n]
        lr, li = L.data[0, 0], L.data[1, 0]
        wr = lr[:, None] * lr[None, :] + li[:, None] * li[None, :]
        wi = li[:, None] * lr[None, :] - lr[:, None] * li[None, :]
        out = out + jnp.stack([wr * s[0] - wi * s[1], wr * s[1] + wi * s[0]])
    return out


def _rhs_jumps_after(a, Ls: list, y, jumps=_ops.jump_terms):
    """The Hermitian right-hand side as :func:`_ops.sparse_lindblad` computed it before
    2026-12-06 17:09 UTC: ``Z = A X`` (its own barrier), then ``Z + Z† + J`` in one loop."""
    y = jax.lax.optimization_barrier(y)
    z = _ops.sparse_lmul(a, y)
    return z + _ops.adjoint(z) + jumps(Ls, y)


def profile(M: int, inner: int, repeat: int, call_repeat: int, rounds: int) -> list[tuple[str, float]]:
    from nephlab.quantum.mesolve import _assemble_sparse
    from nephlab.quantum.methods import get_method
    from nephlab.quantum.timedep import Term

    import nephlab as nl

    H, c_ops, n0, rho0 = kerr_lattice(M)
    n = H.shape[0]
    y = _state(n)
    st, dyn = _assemble_sparse(get_method("tsit5").static(), n, (Term(H),), None, [(Term(c),) for c in c_ops],
                               rho0.toarray(), [])
    part = jax.tree_util.tree_map(jnp.asarray, _engine.rhs_arguments(dyn))
    A = _ops.with_values(part["a"], _ops.term_values(part["a"])[0], keep_parts=True)
    Ls = [_ops.with_values(L, _ops.term_values(L)[0], keep_parts=True) for L in part["jumps"]]
    Lg = [_gather_layout(c) for c in c_ops]
    Af = _ops.without_parts(A)
    Lf = [_ops.without_parts(L) for L in Ls]
    Ad = _ops.to_sparse(-1j * H - 0.5 * sum(c.conj().T @ c for c in c_ops), ket=True)
    comps = [
        ("H product", lambda a, y: _ops.sparse_lmul(a, y), A),
        ("H product, all parts (before 22:30)", lambda a, y: _ops.sparse_lmul(a, y), Af),
        (f"H product by diagonals ({type(Ad).__name__}, static row slices)",
         lambda a, y: jax.lax.optimization_barrier(_ops._dia_lmul(a, y)), Ad),
        ("z + z† (incl. product)", lambda a, y: (lambda z: z + _ops.adjoint(z))(_ops.sparse_lmul(a, y)), A),
        (f"jump 0 ({type(Ls[0]).__name__})", lambda L, y: _ops.sandwich(L, y), Ls[0]),
        ("jump 0 as gathers", lambda L, y: _ops.sandwich(L, y), Lg[0]),
        (f"all {len(Ls)} jumps", lambda Ls, y: _ops.jump_terms(Ls, y), Ls),
        (f"all {len(Ls)} jumps as gathers", lambda Ls, y: _ops.jump_terms(Ls, y), Lg),
        (f"all {len(Ls)} jumps, all parts (before 22:30)", lambda Ls, y: _ops.jump_terms(Ls, y), Lf),
        ("RHS", lambda ops, y: _ops.sparse_lindblad(ops[0], ops[1], y, True), (A, Ls)),
        ("RHS, all parts (main before 22:30)", lambda ops, y: _ops.sparse_lindblad(ops[0], ops[1], y, True),
         (Af, Lf)),
        ("RHS, jumps as gathers", lambda ops, y: _ops.sparse_lindblad(ops[0], ops[1], y, True), (A, Lg)),
        (f"all {len(Ls)} jumps, n×n weights (before 17:07)", _outer_weight_jumps, Ls),
        ("RHS, jumps after the product", lambda ops, y: _rhs_jumps_after(ops[0], ops[1], y), (A, Ls)),
        ("RHS, jumps after the product, n×n weights (main before 17:07)",
         lambda ops, y: _rhs_jumps_after(ops[0], ops[1], y, _outer_weight_jumps), (A, Ls)),
    ]
    fs = [(name, _looped(g, inner), ops) for name, g, ops in comps]
    best = {name: np.inf for name, _, _ in fs}
    for _ in range(rounds):  # interleaved: each round times every component once (load drifts)
        for name, f, ops in fs:
            best[name] = min(best[name], _timed(f, (ops, y), inner, repeat))
    rows = list(best.items())

    rhs = _engine.make_rhs(st, part)
    h = 0.1

    def rk4(p, y):
        step = _engine.rk4_step(st, p)
        return jax.lax.fori_loop(0, inner, lambda i, y: step(y, i * h, h), y)
    rows.append(("rk4 step, per RHS", _timed(jax.jit(rk4), (part, y), inner * 4, repeat)))

    tb = _rk.tsit5_tableau()

    def tsit5(p, y):
        f = _engine.make_rhs(st, p)

        def body(i, c):
            y, k1 = c
            y_new, ks, en, accept, fac = _rk.rk_step(f, tb, i * 1e-3, y, k1, 1e-3, 1.0, 1e-6, 1e-8)
            return (jnp.where(accept, y_new, y), jnp.where(accept, ks[-1], k1))
        return jax.lax.fori_loop(0, inner, body, (y, f(0.0, y)))[0]
    rows.append((f"tsit5 step, per RHS ({len(tb.a) } RHS/step)", _timed(jax.jit(tsit5), (part, y), inner * len(tb.a),
                                                                       repeat)))
    del rhs

    tl = np.linspace(0.0, 10.0, 11)
    for name, kw in (("rk4", dict(method="rk4", dt=0.1)), ("tsit5", dict(method="tsit5", rtol=1e-6, atol=1e-8))):
        def call():
            return nl.mesolve(H, rho0.toarray(), tl, c_ops, e_ops=[n0], store_states=False, format="sparse", **kw)
        res = call()
        ts = []
        for _ in range(call_repeat):
            t0 = time.perf_counter()
            call()
            ts.append(time.perf_counter() - t0)
        total = float(np.median(ts))
        ev = int(res.stats["rhs_evals"])
        rows.append((f"mesolve {name}, per RHS ({ev} RHS, whole call {total * 1e3:.1f} ms)", total / ev))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="4,6", help="comma-separated numbers of cavities M (D = 3^M); default 4,6")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per row (median); default 5")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds of the component rows (best round reported); default 3")
    p.add_argument("--call-repeat", type=int, default=3, help="warm mesolve calls per row (median); default 3")
    a = p.parse_args(argv)
    print(f"jax {jax.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    for M in (int(s) for s in a.sizes.split(",")):
        inner = max(2, 2000 // 3 ** M)  # ~20 ms per timed call at D = 81, 2 products at D = 729
        print(f"\nM = {M} (D = {3 ** M}), {inner} evaluations per timed call, median of {a.repeat}:")
        print("| component | ms |\n|---|---|")
        for name, t in profile(M, inner, a.repeat, a.call_repeat, a.rounds):
            print(f"| {name} | {t * 1e3:.3f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
