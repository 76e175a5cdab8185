"""Where the time of the JAX MD engine goes: neighbour-list rebuilds against forces and integration.

Run: ``python benchmarks/md_profile.py [--sizes 864 4000] [--dtype float64] [--repeat 3]``.
System and protocol of ``nephlab bench md`` (LJ, ρ* = 0.8442, T* = 1.44, r_c = 2.5, dt = 0.005,
NVE, 500 steps; the skin and cell grid that ``nemd_shear`` chooses at zero shear: 0.3 σ, or
thinner down to 0.2 σ where that adds a layer of cells). For each N it prints, best of ``--repeat`` warm calls:

- ``run``: 500 steps of the engine's compiled loop, and the rebuilds in them (``State.n_rebuild``);
- ``run, no rebuild``: the same loop compiled with the rebuild replaced by keeping the list
  (forces and integration only; the list stays valid for timing purposes, not for physics);
- hence the rebuilds' share, ``(run - run no rebuild) / rebuilds`` per rebuild;
- ``build`` and ``forces``: one call of each compiled on its own. XLA on the CPU spreads a
  top-level computation over its threads but runs the loop body of ``run`` on one, so these are
  faster than their share of ``run`` on a multi-core machine.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from nephlab.md import engine, lennard_jones, neighbours
from nephlab.md.shear import _skin
from nephlab.md.system import _maxwell_boltzmann

RHO, T, R_CUT, DT, STEPS = 0.8442, 1.44, 2.5, 0.005, 500


def _best(fn, repeat: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times)


def profile(n: int, dtype: str, repeat: int) -> dict:
    """Timings (s) for one N; see the module docstring."""
    system = lennard_jones(n, RHO, T, r_cut=R_CUT, seed=0, dtype=dtype)
    L = float(system.box)
    skin = _skin(system, False)
    eng = engine._engine(n, L, R_CUT, skin, "nve", 1, dtype, False)
    s = jnp.asarray(np.mod(system.positions / L, 1.0), dtype=dtype)
    v = jnp.asarray(_maxwell_boltzmann(n, T, np.random.default_rng(0)), dtype=dtype)
    xy = jnp.zeros((), dtype)
    prm = engine.Params(*(jnp.asarray(x, dtype=dtype) for x in (DT, 0.0, T, engine.NOSE_HOOVER_TAU)))
    st = eng["init"](s, v, xy, eng["allocate"](s, xy))
    st = eng["run"](st, jnp.int32(10), jnp.int32(10), prm)[0]         # a liquid, not the lattice
    run = lambda e: e["run"](st, jnp.int32(STEPS // 10), jnp.int32(10), prm)[0]  # noqa: E731
    out = run(eng)
    rebuilds = int(out.n_rebuild - st.n_rebuild)
    t_run = _best(lambda: run(eng).s, repeat)
    real = neighbours.build
    neighbours.build = lambda s, xy, nbrs, L, cutoff, sheared=True: nbrs   # the loop without rebuilds
    try:
        eng_nb = engine._engine.__wrapped__(n, L, R_CUT, skin, "nve", 1, dtype, False)
        t_nb = _best(lambda: run(eng_nb).s, repeat)
    finally:
        neighbours.build = real
    t_build = _best(lambda: eng["update"](out.s, out.nbrs, out.xy).idx, repeat)
    t_forces = _best(lambda: eng["forces"](out.s, out.nbrs.idx, out.xy)[0], repeat)
    return {"n": n, "run": t_run, "rebuilds": rebuilds, "run_no_rebuild": t_nb,
            "per_rebuild": (t_run - t_nb) / max(rebuilds, 1), "build": t_build, "forces": t_forces,
            "K": out.nbrs.idx.shape[0], "max_row": int((np.asarray(out.nbrs.idx) < n).sum(0).max()),
            "cell_capacity": out.nbrs.slots.shape[0], "skin": skin,
            "grid": neighbours.cell_grid(L, R_CUT + skin, False)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[864, 4000])
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args(argv)
    print(f"md profile: {STEPS} NVE steps, {a.dtype}, best of {a.repeat}; jax {jax.__version__}, "
          f"{os.cpu_count()} cores, load average {[round(x, 2) for x in os.getloadavg()]}")
    print("| N | run (s) | rebuilds | run, no rebuild (s) | per rebuild in run (ms) | build alone (ms) | "
          "forces alone (ms) | K (max used) | skin, cells, capacity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in a.sizes:
        r = profile(n, a.dtype, a.repeat)
        print(f"| {n} | {r['run']:.3g} | {r['rebuilds']} | {r['run_no_rebuild']:.3g} | {1e3 * r['per_rebuild']:.3g} | "
              f"{1e3 * r['build']:.3g} | {1e3 * r['forces']:.3g} | {r['K']} ({r['max_row']}) | "
              f"{r['skin']:.4g}, {r['grid'] or 'all pairs'}, {r['cell_capacity']} |")
    print(f"load average at the end {[round(x, 2) for x in os.getloadavg()]}")


if __name__ == "__main__":
    main()
