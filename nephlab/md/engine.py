"""The JAX engine of :mod:`nephlab.md`: forces, neighbour lists and SLLOD integrators.

Geometry. A deforming triclinic box (equivalent to Lees–Edwards boundary conditions) with
matrix ``h = [[L, xy, 0], [0, L, 0], [0, 0, L]]``; positions are kept in fractional
coordinates ``s`` in ``[0, 1)³`` with ``r = h s``. Planar Couette flow ``u_x = γ̇ y`` is the
tilt rate ``d(xy)/dt = γ̇ L``; when ``|xy|`` exceeds ``L/2`` the box flips (``xy -> xy ∓ L``),
the same lattice, as LAMMPS does. Minimum images are found by rounding in fractional
coordinates, which is exact for pairs within ``r_c + skin`` when the smallest plane spacing
``L/sqrt(1 + (xy/L)²) >= L/sqrt(1.25)`` exceeds ``2 (r_c + skin)``; the public functions refuse
systems that do not satisfy it.

Neighbour lists (:mod:`nephlab.md.neighbours`): dense full lists ``(K, N)`` (each pair in both
rows) built with gathers only from cells in fractional coordinates, sized for the flip-point box
(for the cubic box in runs at zero shear; or from all pairs where the box holds fewer than 4
cells, :func:`use_cell_list`); ``K`` and the cell capacity are fixed by (N, L, cut-off) and the
fullest cell of the starting configuration, so one system compiles once, and an overflow at any
rebuild of a compiled run is flagged (sticky) and grows them. The skin is 0.3 σ, or thinner
(down to 0.2 σ) where that adds a layer of cells (``neighbours.grid_skin``: N = 4000 at
ρ = 0.8442 gets 6³ cells with a 0.2993 σ skin instead of 5³ with 0.3 σ). The cut-and-shifted LJ pair force is computed inline on the list: one evaluation per list
entry and one variadic reduction per particle (forces, energy, virial), no scatter. The rebuild
decision: the list built with cut-off ``r_c + skin`` stays valid while
``2M + |γ̇| t (r_c + 4M) < skin``, where ``M`` is the largest peculiar displacement of any particle
since the rebuild and ``t`` the time since it (a bound on how far a pair can approach, streaming
included); it is also rebuilt at every flip. ``State.n_rebuild`` counts the rebuilds.

Cost (CPU, LJ at ρ = 0.8442, T = 1.44, r_c = 2.5, skin 0.3, a rebuild every ~8 steps): see
``benchmarks/RESULTS.md`` (``nephlab bench md``); one compilation per
(N, box, r_c, skin, thermostat, n_bins, dtype) (shear rate, dt and T are traced).

Equations of motion (SLLOD; peculiar momenta ``p``, m = 1)::

    dr/dt = p + γ̇ y e_x,    dp/dt = F - γ̇ p_y e_x - α p

Integrators (all symmetric compositions of exact sub-flows, hence time reversible):

- ``"isokinetic"`` (Gaussian thermostat on p, Pan, Ely, McCabe and Isbister, J. Chem. Phys.
  122, 094114 (2005)): ``e^{B dt/2} e^{A dt/2} e^{C dt} e^{A dt/2} e^{B dt/2}`` with B the
  isokinetic shear flow, A the isokinetic force flow (Zhang, J. Chem. Phys. 106, 6102 (1997))
  and C the exact streaming drift. ``sum p²`` is constant to rounding (and reset to its target
  every step).
- ``"nose-hoover"``: ζ half step, p scaled by ``exp(-ζ dt/2)``, shear half step, kick, drift,
  kick, shear half step, scaling, ζ half step; ``dζ/dt = (sum p² / (d_f T) - 1)/τ²``.
- ``"nve"``: velocity Verlet (with the unthermostatted shear half steps when γ̇ ≠ 0).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _config  # noqa: F401  (float64)
from . import neighbours as _nb
from .neighbours import min_plane_spacing, use_cell_list

__all__ = ["THERMOSTATS", "NOSE_HOOVER_TAU", "SKIN", "forces_and_virial", "min_plane_spacing", "use_cell_list"]

THERMOSTATS = ("isokinetic", "nose-hoover", "nve")
NOSE_HOOVER_TAU = 0.5
"""Relaxation time τ_T of the Nosé–Hoover thermostat (τ); LAMMPS's ``Tdamp``."""
SKIN = 0.3
"""Verlet skin (σ) of the neighbour lists (LAMMPS's default in LJ units)."""
SKIN_MIN = 0.2
"""Thinnest skin (σ) the runs choose where it adds a layer of cells (:func:`neighbours.grid_skin`)."""
CHUNK = 256
"""Samples per compiled call (the host checks overflow and blow-ups between calls)."""
N_OBS = 11
# columns of a sample: pxx pyy pzz pxy pxz pyz T pe/N ke/N H/N xy


class State(NamedTuple):
    s: Any        # (N, 3) fractional positions in [0, 1)
    p: Any        # (N, 3) peculiar momenta
    f: Any        # (N, 3) forces
    pe: Any       # potential energy (total)
    w: Any        # (3, 3) virial sum_{i<j} r_a F_b
    xy: Any       # tilt
    zeta: Any     # Nose-Hoover friction
    xi: Any       # integral of zeta (for the extended energy)
    disp: Any     # (N, 3) peculiar displacement since the last rebuild
    dmax: Any     # running max of |disp|
    tsince: Any   # time since the last rebuild
    nbrs: Any     # neighbours.Neighbours (dense full list)
    n_rebuild: Any


class Params(NamedTuple):
    dt: Any
    rate: Any
    T: Any
    tau: Any


def box_matrix(L, xy, dtype=jnp.float64):
    """The upper-triangular box matrix ``[[L, xy, 0], [0, L, 0], [0, 0, L]]``."""
    return jnp.array([[L, xy, 0.0], [0.0, L, 0.0], [0.0, 0.0, L]], dtype=dtype)


@functools.lru_cache(maxsize=32)
def _engine(n: int, L: float, r_cut: float, skin: float, thermostat: str, n_bins: int, dtype: str,
            sheared: bool = True):
    """Compiled pieces for one (N, L, r_c, skin, thermostat, n_bins, dtype, sheared).

    ``sheared=False`` is for runs whose box never tilts (shear rate 0 and tilt 0): the cells are
    then sized for the cubic box (:func:`~nephlab.md.neighbours.cell_grid`).

    The neighbour list is a dense full list (:mod:`nephlab.md.neighbours`: ``idx`` ``(K, N)``,
    each pair in both rows) with a configuration-independent row length, so forces are one
    evaluation per list entry and a reduction per particle (no scatter), and repeated runs of one
    system reuse one compiled program.
    """
    dt_ = jnp.dtype(dtype)
    cutoff = r_cut + skin
    u_cut = float(4.0 * (r_cut ** -12 - r_cut ** -6))
    rc2 = r_cut * r_cut
    d_f = 3 * n - 3
    vol = L ** 3
    half = L / 2
    cache: dict = {"grow": 0}

    def forces(s, idx, xy):
        j = jnp.minimum(idx, n - 1)                                # (K, N) neighbours of column i
        sx, sy, sz = s[:, 0], s[:, 1], s[:, 2]
        dsx, dsy, dsz = sx - sx[j], sy - sy[j], sz - sz[j]
        dsx, dsy, dsz = dsx - jnp.round(dsx), dsy - jnp.round(dsy), dsz - jnp.round(dsz)  # minimum image
        dx, dy, dz = L * dsx + xy * dsy, L * dsy, L * dsz          # r_i - r_j
        r2 = dx * dx + dy * dy + dz * dz
        mask = (idx < n) & (r2 < rc2)
        ir2 = jnp.where(mask, 1.0 / jnp.where(mask, r2, 1.0), 0.0)
        ir6 = ir2 * ir2 * ir2
        u = jnp.where(mask, 4.0 * ir6 * (ir6 - 1.0) - u_cut, 0.0)
        g = 24.0 * ir2 * ir6 * (2.0 * ir6 - 1.0)                   # force on i: g (r_i - r_j)
        fx, fy, fz = g * dx, g * dy, g * dz
        # one variadic reduction over the neighbours: XLA then evaluates the pairs once (separate
        # sums would each recompute the fused pair terms)
        terms = (fx, fy, fz, u, fx * dx, fx * dy, fx * dz, fy * dy, fy * dz, fz * dz)
        zero = jnp.zeros((), dx.dtype)
        out = lax.reduce(terms, (zero,) * len(terms), lambda p, q: tuple(x + y for x, y in zip(p, q)), (0,))
        f = jnp.stack(out[:3], -1)
        wxx, wxy, wxz, wyy, wyz, wzz = (0.5 * jnp.sum(x) for x in out[4:])   # each pair twice
        w = jnp.stack([jnp.stack([wxx, wxy, wxz]), jnp.stack([wxy, wyy, wyz]), jnp.stack([wxz, wyz, wzz])])
        return f, 0.5 * jnp.sum(out[3]), w

    def update_nbrs(s, nbrs, xy):
        return _nb.build(s, xy, nbrs, L, cutoff, sheared)

    update_jit = jax.jit(update_nbrs)

    grid = _nb.cell_grid(L, cutoff, sheared)

    def allocate(s, xy, grow=0):
        """A list built at (s, xy) with the engine's capacities, grown by 1.25**grow (kept for later
        runs), and cells that hold at least the fullest cell of ``s``; its cells are sized for the
        worst-case (flip-point) box (the cubic one if not ``sheared``). An overflow grows it."""
        cache["grow"] += grow
        for _ in range(16):    # K and the cell capacity reach N - 1 and N (no overflow) well before
            nb = _nb.empty(n, L, cutoff, cache["grow"], sheared)
            if grid is not None:
                c = min(n, max(nb.slots.shape[0], _nb.max_occupancy(s, grid)))
                nb = nb._replace(slots=jnp.arange(c, dtype=jnp.int32))
            nb = update_jit(s, nb, xy)
            if not bool(nb.did_buffer_overflow):
                break
            cache["grow"] += 1     # a configuration denser than the estimate
        return nb

    def init_state(s, p, xy, nbrs):
        f, pe, w = forces(s, nbrs.idx, xy)
        z = jnp.zeros((), dt_)
        return State(s, p, f, pe, w, jnp.asarray(xy, dt_), z, z, jnp.zeros_like(s), z, z, nbrs,
                     jnp.zeros((), jnp.int32))

    # --- sub-flows --------------------------------------------------------------------------
    def shear_iso(p, rate, h, target):
        q = p.at[:, 0].add(-rate * h * p[:, 1])
        return q * jnp.sqrt(target / jnp.sum(q * q))

    def force_iso(p, f, h):
        k = jnp.sum(p * p)
        a = jnp.sum(f * p) / k
        b = jnp.sum(f * f) / k
        x = jnp.sqrt(b) * h
        x2 = x * x
        small = x < 1e-4
        xs = jnp.where(small, 1.0, x)
        sinhc = jnp.where(small, 1.0 + x2 / 6.0, jnp.sinh(xs) / xs)
        coshc = jnp.where(small, 0.5 + x2 / 24.0, (jnp.cosh(xs) - 1.0) / (xs * xs))
        sf = a * h * h * coshc + h * sinhc
        sd = a * h * sinhc + jnp.cosh(x)
        return (p + sf * f) / sd

    def drift(st, dt, rate):
        p = st.p
        sx = st.s[:, 0] + p[:, 0] * (dt / L) - p[:, 1] * (st.xy * dt + 0.5 * rate * L * dt * dt) / (L * L)
        sy = st.s[:, 1] + p[:, 1] * (dt / L)
        sz = st.s[:, 2] + p[:, 2] * (dt / L)
        xy = st.xy + rate * L * dt
        flip = jnp.where(xy > half, -1.0, jnp.where(xy < -half, 1.0, 0.0)).astype(dt_)
        xy = xy + flip * L
        sx = sx - flip * sy
        s = jnp.mod(jnp.stack([sx, sy, sz], -1), 1.0)
        s = jnp.where(s >= 1.0, 0.0, s)                     # mod can round up to exactly 1
        disp = st.disp + p * dt
        dmax = jnp.maximum(st.dmax, jnp.sqrt(jnp.max(jnp.sum(disp * disp, -1))))
        tsince = st.tsince + dt
        need = (flip != 0) | (2 * dmax + jnp.abs(rate) * tsince * (r_cut + 4 * dmax) >= skin)
        nbrs = lax.cond(need, lambda: update_nbrs(s, st.nbrs, xy), lambda: st.nbrs)
        nbrs = nbrs._replace(overflow=nbrs.overflow | st.nbrs.overflow)   # sticky: any rebuild in a run
        z = jnp.zeros((), dt_)
        disp = jnp.where(need, 0.0, disp)
        dmax = jnp.where(need, z, dmax)
        tsince = jnp.where(need, z, tsince)
        f, pe, w = forces(s, nbrs.idx, xy)
        return st._replace(s=s, xy=xy, disp=disp, dmax=dmax, tsince=tsince, nbrs=nbrs, f=f, pe=pe, w=w,
                           n_rebuild=st.n_rebuild + need.astype(jnp.int32))

    def step(st, prm):
        dt, rate, T = prm.dt, prm.rate, prm.T
        h = 0.5 * dt
        if thermostat == "isokinetic":
            target = d_f * T
            p = shear_iso(st.p, rate, h, target)
            p = force_iso(p, st.f, h)
            st = drift(st._replace(p=p), dt, rate)
            p = force_iso(st.p, st.f, h)
            p = shear_iso(p, rate, h, target)
            return st._replace(p=p)
        if thermostat == "nose-hoover":
            q = d_f * T * prm.tau ** 2
            zeta = st.zeta + h * (jnp.sum(st.p * st.p) - d_f * T) / q
            xi = st.xi + h * zeta
            p = st.p * jnp.exp(-zeta * h)
            p = p.at[:, 0].add(-rate * h * p[:, 1])
            p = p + h * st.f
            st = drift(st._replace(p=p, zeta=zeta, xi=xi), dt, rate)
            p = st.p + h * st.f
            p = p.at[:, 0].add(-rate * h * p[:, 1])
            p = p * jnp.exp(-st.zeta * h)
            xi = st.xi + h * st.zeta
            zeta = st.zeta + h * (jnp.sum(p * p) - d_f * T) / q
            return st._replace(p=p, zeta=zeta, xi=xi)
        # nve
        p = st.p.at[:, 0].add(-rate * h * st.p[:, 1])
        p = p + h * st.f
        st = drift(st._replace(p=p), dt, rate)
        p = st.p + h * st.f
        p = p.at[:, 0].add(-rate * h * p[:, 1])
        return st._replace(p=p)

    def observe(st, prm):
        kin = st.p.T @ st.p
        P = (kin + st.w) / vol
        k2 = jnp.trace(kin)
        ke = 0.5 * k2
        H = ke + st.pe
        if thermostat == "nose-hoover":
            H = H + 0.5 * d_f * prm.T * prm.tau ** 2 * st.zeta ** 2 + d_f * prm.T * st.xi
        return jnp.stack([P[0, 0], P[1, 1], P[2, 2], 0.5 * (P[0, 1] + P[1, 0]), 0.5 * (P[0, 2] + P[2, 0]),
                          0.5 * (P[1, 2] + P[2, 1]), k2 / d_f, st.pe / n, ke / n, H / n, st.xy])

    @jax.jit
    def run(st, n_samples, every, prm):
        """``n_samples`` samples, one every ``every`` steps (both traced)."""
        buf = jnp.zeros((CHUNK, N_OBS), dt_)
        psum = jnp.zeros((n_bins,), dt_)
        pcnt = jnp.zeros((n_bins,), dt_)

        def sample(i, c):
            st, buf, psum, pcnt = c
            st = lax.fori_loop(0, every, lambda _, x: step(x, prm), st)
            buf = buf.at[i].set(observe(st, prm))
            b = jnp.clip(jnp.floor(st.s[:, 1] * n_bins).astype(jnp.int32), 0, n_bins - 1)
            vx = st.p[:, 0] + prm.rate * L * st.s[:, 1]
            psum = psum + jax.ops.segment_sum(vx, b, n_bins)
            pcnt = pcnt + jax.ops.segment_sum(jnp.ones_like(vx), b, n_bins)
            return st, buf, psum, pcnt

        return lax.fori_loop(0, n_samples, sample, (st, buf, psum, pcnt))

    init_state_jit = jax.jit(init_state)
    return {"allocate": allocate, "init": init_state_jit, "run": run, "forces": jax.jit(forces),
            "update": update_jit, "u_cut": u_cut}


def forces_and_virial(positions, box: float, r_cut: float, *, tilt: float = 0.0, dtype: str = "float64"):
    """Cut-and-shifted LJ potential energy, forces and virial through the engine's neighbour list.

    Args:
        positions: ``(N, 3)`` laboratory positions (σ) in the box ``h = [[L, tilt, 0], [0, L, 0],
            [0, 0, L]]`` (any periodic image). box: L (σ). r_cut: cut-off (σ). tilt: xy (σ),
            ``|tilt| <= L/2``.

    Returns:
        ``(U, F, W)``: total potential energy (ε), ``(N, 3)`` forces (ε/σ), and the ``(3, 3)``
        virial ``sum_{i<j} r_ij,a F_ij,b`` (ε), as NumPy float64 arrays.

    Example:
        >>> from nephlab.md import lennard_jones
        >>> s = lennard_jones(256, 0.8442, 0.722)
        >>> U, F, W = forces_and_virial(s.positions, s.box, s.r_cut)
        >>> F.shape, round(U / 256, 3)
        ((256, 3), -6.333)
    """
    pos = np.asarray(positions, dtype=np.float64)
    L = float(box)
    n = pos.shape[0]
    hinv = np.linalg.inv(np.asarray(box_matrix(L, tilt)))
    s = np.mod(pos @ hinv.T, 1.0)
    eng = _engine(n, L, float(r_cut), SKIN, "nve", 1, dtype)
    sj = jnp.asarray(s, dtype=dtype)
    nbrs = eng["allocate"](sj, jnp.asarray(tilt, dtype=dtype))
    if bool(nbrs.did_buffer_overflow):  # pragma: no cover - allocate sizes it
        raise RuntimeError("neighbour list overflow")
    f, u, w = eng["forces"](sj, nbrs.idx, jnp.asarray(tilt, dtype=dtype))
    return float(u), np.asarray(f, dtype=np.float64), np.asarray(w, dtype=np.float64)
