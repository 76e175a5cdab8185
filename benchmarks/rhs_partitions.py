"""The D = 81 sparse right-hand side and XLA's CPU partitioning of its loops (issue 15).

XLA's CPU compiler splits loop fusions into one task per core (``outer_dimension_partitions``
in the optimised HLO); at D = 81 each loop of the right-hand side is a few microseconds of work.
This script compiles the Hermitian right-hand side of ``nephlab bench large``'s Kerr lattice
(:func:`nephlab.quantum._ops.sparse_lindblad`) in several forms, prints for each the number of
loop fusions and of partitioned ones in its optimised HLO and its relative error against the
dense right-hand side, then times them in one process, interleaved (each timed call loops the
right-hand side ``--inner`` times inside the compiled program), and prints the best and the
median round of wall and CPU time (``time.process_time``: all threads) per evaluation:

* ``in-place update``: as the solves compute it for n ≤ ``_ops.UNPARTITIONED_MAX_N``
  (Z = A ρ + J/2 written as an in-place update of a buffer, unpartitioned);
* ``partitioned``: the same with ``UNPARTITIONED_MAX_N = 0`` (main before 2026-12-07);
* ``--variants``: forms tried and not kept: ρ A† by column shifts (no transpose), both products
  by diagonals, A ρ by diagonals then Z + Z†, the jumps after the product (pads of slices, or
  the padded copy) and the jumps as pads of slices summed into Z.

Compiled with the solves' options (:data:`nephlab.quantum._jit.SOLVE_OPTIONS`, the classic
emitter) unless ``--default-emitters``. Run it under ``taskset -c 0`` to see the loops without
partitions (XLA then makes none).

    python benchmarks/rhs_partitions.py --rounds 7
    taskset -c 0 python benchmarks/rhs_partitions.py --variants
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from nephlab.bench.large import kerr_lattice  # noqa: E402
from nephlab.quantum import _ops  # noqa: E402
from nephlab.quantum._jit import SOLVE_OPTIONS  # noqa: E402

bar = jax.lax.optimization_barrier


def _with_flag(value: int):
    def rhs(ops, y):
        old = _ops.UNPARTITIONED_MAX_N
        _ops.UNPARTITIONED_MAX_N = value
        try:
            return _ops.sparse_lindblad(ops["a"], ops["jumps"], y, True)
        finally:
            _ops.UNPARTITIONED_MAX_N = old
    return rhs


def _row_shifts(d, offs, parts, y, acc):
    """acc + A y by static row slices of a padded copy (A by diagonals ``d`` (2, n_off, n))."""
    n = y.shape[-1]
    lo, hi = max(0, -offs[0]), max(0, offs[-1])
    yp = jnp.pad(y, [(0, 0), (lo, hi), (0, 0)])
    zr, zi = acc
    for k, off in enumerate(offs):
        s = yp[:, lo + off: lo + off + n]
        if parts[k][0]:
            v = d[0, k][:, None]
            zr, zi = zr + v * s[0], zi + v * s[1]
        if parts[k][1]:
            v = d[1, k][:, None]
            zr, zi = zr - v * s[1], zi + v * s[0]
    return zr, zi


def _col_shifts_adj(d, offs, parts, y, acc):
    """acc + y A† by static column slices: out[i, j] = Σ_k y[i, j + o_k] conj(d_k[j])."""
    n = y.shape[-1]
    lo, hi = max(0, -offs[0]), max(0, offs[-1])
    yp = jnp.pad(y, [(0, 0), (0, 0), (lo, hi)])
    zr, zi = acc
    for k, off in enumerate(offs):
        s = yp[:, :, lo + off: lo + off + n]
        if parts[k][0]:
            v = d[0, k][None, :]
            zr, zi = zr + v * s[0], zi + v * s[1]
        if parts[k][1]:
            v = d[1, k][None, :]
            zr, zi = zr + v * s[1], zi - v * s[0]
    return zr, zi


def _jumps_padded(Ls, y, acc, scale):
    """acc + scale Σ_k l_i l_j y[i + o, j + o] (real l) from one padded copy of y."""
    n = y.shape[-1]
    offs = [L.offsets[0] for L in Ls]
    lo, hi = max(0, -min(offs)), max(0, max(offs))
    yp = jnp.pad(y, [(0, 0), (lo, hi), (lo, hi)])
    zr, zi = acc
    for L, off in zip(Ls, offs):
        s = yp[:, lo + off: lo + off + n, lo + off: lo + off + n]
        lv = L.data[0, 0]
        zr = zr + (scale * lv)[:, None] * (s[0] * lv[None, :])
        zi = zi + (scale * lv)[:, None] * (s[1] * lv[None, :])
    return zr, zi


def _jumps_sliced(Ls, y, acc, scale):
    """The same as pads of the slices y[:, o:, o:] (no padded copy)."""
    zr, zi = acc
    for L in Ls:
        o, lv = L.offsets[0], L.data[0, 0]
        s = jnp.pad(y[:, o:, o:], [(0, 0), (0, o), (0, o)])
        zr = zr + (scale * lv)[:, None] * (s[0] * lv[None, :])
        zi = zi + (scale * lv)[:, None] * (s[1] * lv[None, :])
    return zr, zi


def _variants(offs, parts) -> dict:
    def col_shifts(ops, y):
        y = bar(y)
        z = bar(_ops._ell_lmul(ops["a"], y))
        acc = _col_shifts_adj(ops["d"], offs, parts, y, (z[0], z[1]))
        return jnp.stack(_jumps_padded(ops["jumps"], y, acc, 1.0))

    def dia_both(ops, y):
        y = bar(y)
        acc = _row_shifts(ops["d"], offs, parts, y, (0.0, 0.0))
        acc = _col_shifts_adj(ops["d"], offs, parts, y, acc)
        return jnp.stack(_jumps_padded(ops["jumps"], y, acc, 1.0))

    def dia_rows(ops, y):
        y = bar(y)
        acc = _jumps_padded(ops["jumps"], y, _row_shifts(ops["d"], offs, parts, y, (0.0, 0.0)), 0.5)
        z = bar(jnp.stack(acc))
        return z + _ops.adjoint(z)

    def after_sliced(ops, y):
        y = bar(y)
        z = bar(_ops._ell_lmul(ops["a"], y))
        jr, ji = _jumps_sliced(ops["jumps"], y, (0.0, 0.0), 1.0)
        return jnp.stack([z[0] + z[0].T + jr, z[1] - z[1].T + ji])

    def after_padded(ops, y):
        y = bar(y)
        z = bar(_ops._ell_lmul(ops["a"], y))
        return z + _ops.adjoint(z) + _ops.jump_terms(ops["jumps"], y)

    def into_sliced(ops, y):
        y = bar(y)
        z = _ops._ell_lmul(ops["a"], y)
        z = bar(jnp.stack(_jumps_sliced(ops["jumps"], y, (z[0], z[1]), 0.5)))
        return z + _ops.adjoint(z)

    return {"ρ A† by column shifts, one loop": col_shifts, "both products by diagonals, one loop": dia_both,
            "A ρ by diagonals, then Z + Z†": dia_rows, "jumps after the product, pads of slices": after_sliced,
            "jumps after the product, padded copy": after_padded, "jumps into Z as pads of slices": into_sliced}


def _timed(f, args, inner: int, repeat: int) -> tuple[float, float]:
    jax.block_until_ready(f(*args))
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(f(*args))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)) / inner, float(np.median(cpus)) / inner


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="4", help="numbers of cavities M (D = 3^M), comma-separated; default 4")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per round (median); default 5")
    p.add_argument("--inner", type=int, default=300, help="evaluations per timed call at D = 81 (default 300)")
    p.add_argument("--variants", action="store_true", help="also the forms tried and not kept")
    p.add_argument("--default-emitters", action="store_true", help="XLA's default compile options")
    a = p.parse_args(argv)
    opts = {} if a.default_emitters else dict(SOLVE_OPTIONS)
    print(f"jax {jax.__version__}, {len(os.sched_getaffinity(0))} schedulable CPUs, compile options {opts}, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    for M in (int(s) for s in a.sizes.split(",")):
        H, c_ops, _, _ = kerr_lattice(M)
        n = H.shape[0]
        inner = max(2, a.inner * 81 * 81 // (n * n))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
        rho = x @ x.conj().T
        rho = 0.5 * (rho + rho.conj().T) / np.trace(rho).real
        Aeff = (-1j * H - 0.5 * sum(c.conj().T @ c for c in c_ops)).tocsr()
        dia = _ops.to_sparse(Aeff, ket=True)
        dd = np.asarray(dia.data)
        parts = [(bool(np.any(dd[0, k])), bool(np.any(dd[1, k]))) for k in range(len(dia.offsets))]
        ops = {"a": _ops.to_sparse(Aeff), "jumps": [_ops.to_sparse_jump(c) for c in c_ops], "d": jnp.asarray(dd)}
        ops = jax.tree_util.tree_map(jnp.asarray, ops)
        y = _ops.split(rho)
        Hd = H.toarray()
        ref = -1j * (Hd @ rho - rho @ Hd)
        for c in (c.toarray() for c in c_ops):
            cdc = c.conj().T @ c
            ref = ref + c @ rho @ c.conj().T - 0.5 * (cdc @ rho + rho @ cdc)
        forms = {"in-place update (this)": _with_flag(10**9), "partitioned (main before 2026-12-07)": _with_flag(0)}
        if a.variants:
            forms.update(_variants(dia.offsets, parts))
        print(f"\nM = {M} (D = {n}), {inner} evaluations per timed call, {a.rounds} rounds of {a.repeat} calls:")
        print("| form | loops (partitioned) | rel. error | best wall / CPU ms | median wall / CPU ms |\n|---|---|---|---|---|")
        fs, info = {}, {}
        for name, g in forms.items():
            txt = jax.jit(g, compiler_options=opts).lower(ops, y).compile().as_text()
            entry = txt[txt.index("ENTRY"):]
            info[name] = (entry.count(" fusion("), len(re.findall(r'outer_dimension_partitions":\["[2-9]', txt)))
            out = np.asarray(jax.jit(g)(ops, y))
            info[name] += (np.abs(out[0] + 1j * out[1] - ref).max() / np.abs(ref).max(),)

            def run(ops, y, g=g):
                return jax.lax.fori_loop(0, inner, lambda i, y: y + 1e-3 * g(ops, y), y)
            fs[name] = jax.jit(run, compiler_options=opts)
        times = {name: [] for name in fs}
        for _ in range(a.rounds):
            for name, f in fs.items():
                times[name].append(_timed(f, (ops, y), inner, a.repeat))
        for name, ts in times.items():
            w, c = np.array(ts).T * 1e3
            nf, npart, err = info[name]
            print(f"| {name} | {nf} ({npart}) | {err:.1e} | {w.min():.4f} / {c.min():.4f} | "
                  f"{np.median(w):.4f} / {np.median(c):.4f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
