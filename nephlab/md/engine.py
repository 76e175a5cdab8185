"""The JAX engine of :mod:`nephlab.md`: forces, neighbour lists and SLLOD integrators.

Geometry. A deforming triclinic box (equivalent to Lees–Edwards boundary conditions) with
matrix ``h = [[L, xy, 0], [0, L, 0], [0, 0, L]]``; positions are kept in fractional
coordinates ``s`` in ``[0, 1)³`` with ``r = h s``. Planar Couette flow ``u_x = γ̇ y`` is the
tilt rate ``d(xy)/dt = γ̇ L``; when ``|xy|`` exceeds ``L/2`` the box flips (``xy -> xy ∓ L``),
the same lattice, as LAMMPS does. Minimum images are found by rounding in fractional
coordinates, which is exact for pairs within ``r_c + skin`` when the smallest plane spacing
``L/sqrt(1 + (xy/L)²) >= L/sqrt(1.25)`` exceeds ``2 (r_c + skin)``; the public functions refuse
systems that do not satisfy it.

jax-md underneath: :func:`jax_md.space.periodic_general` (fractional displacements under the
current box), :func:`jax_md.partition.neighbor_list` (``OrderedSparse`` half lists from cell
lists in fractional coordinates, rebuilt with the current box); the cut-and-shifted LJ pair
force is computed inline on the list. Each pair i<j is stored once (forces by two segment
sums), with a capacity fixed by (N, L, cut-off) (:func:`pair_capacity`), so one system compiles
once; boxes with fewer than 4 cells per side (:func:`use_cell_list`) build the same half list
from all pairs with gathers only (jax-md's scatter-based pruning is ~5x slower on CPU there).
The rebuild decision is ours (jax-md's own test ignores the box deformation): the list built with
cut-off ``r_c + skin`` stays valid while ``2M + |γ̇| t (r_c + 4M) < skin``, where ``M`` is the
largest peculiar displacement of any particle since the rebuild and ``t`` the time since it (a
bound on how far a pair can approach, streaming included); it is also rebuilt at every flip.

Cost (CPU, float64, LJ triple point, r_c = 2.5, skin 0.3): about 2.5-3 µs of CPU time per
particle-step for N = 500-864, most of it the pair forces; one compilation per
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

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax_md import partition, space

from .. import _config  # noqa: F401  (float64)

__all__ = ["THERMOSTATS", "NOSE_HOOVER_TAU", "SKIN", "forces_and_virial", "pair_capacity", "use_cell_list"]

THERMOSTATS = ("isokinetic", "nose-hoover", "nve")
NOSE_HOOVER_TAU = 0.5
"""Relaxation time τ_T of the Nosé–Hoover thermostat (τ); LAMMPS's ``Tdamp``."""
SKIN = 0.3
"""Verlet skin (σ) of the neighbour lists."""
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
    nbrs: Any     # jax-md NeighborList
    n_rebuild: Any


class Params(NamedTuple):
    dt: Any
    rate: Any
    T: Any
    tau: Any


class Pairs(NamedTuple):
    """All-pairs half list of a small box (no cell list): ``idx`` ``(2, capacity)`` as jax-md's
    ``OrderedSparse`` (receiver, sender; padding = N), ``overflow`` (bool), and ``tri``
    ``(2, N(N-1)/2)`` the candidate pairs (a loop-invariant buffer, carried so it is no
    compile-time constant)."""
    idx: Any
    overflow: Any
    tri: Any

    @property
    def did_buffer_overflow(self):
        return self.overflow

    @property
    def cell_size_too_small(self):
        return jnp.zeros((), bool)


def box_matrix(L, xy, dtype=jnp.float64):
    """The upper-triangular box matrix ``[[L, xy, 0], [0, L, 0], [0, 0, L]]``."""
    return jnp.array([[L, xy, 0.0], [0.0, L, 0.0], [0.0, 0.0, L]], dtype=dtype)


def min_plane_spacing(L: float) -> float:
    """Smallest plane spacing of the box over tilts |xy| <= L/2: ``L/sqrt(1.25)``."""
    return L / math.sqrt(1.25)


def pair_capacity(n: int, L: float, cutoff: float) -> int:
    """Fixed capacity of the half (i<j) pair list: ``1.2 x`` the ideal-gas count within ``cutoff``
    plus a fluctuation margin, rounded up to a multiple of 256 (at most ``N(N-1)/2``).

    It depends on (N, L, cutoff) only, not on the configuration, so every run of one system
    compiles to the same shapes; an overflow (a denser configuration) grows it.

    Example:
        >>> pair_capacity(500, 8.3975, 2.8)     # ~19400 pairs within 2.8 sigma at rho = 0.8442
        24576
    """
    mean = 0.5 * n * (n / L ** 3) * (4.0 / 3.0) * math.pi * cutoff ** 3
    cap = 256 * math.ceil((1.2 * mean + 8.0 * math.sqrt(mean) + 64.0) / 256)
    return int(min(cap, n * (n - 1) // 2))


def cell_capacity(n: int, cell_size: Any, grow: int = 0) -> int:
    """Particles a cell of a cell list can hold: the mean occupancy ``n · (cell volume)`` (cell
    sides ``cell_size`` as fractions of the box) plus 6 standard deviations of a Poisson count,
    times 1.25 per re-allocation ``grow``.

    Example:
        >>> cell_capacity(256, 0.25)    # 64 cells, 4 particles each on average
        17
    """
    frac = float(np.prod(np.broadcast_to(np.asarray(cell_size, dtype=float), (3,))))
    mean = n * frac
    return int(math.ceil((mean + 6.0 * math.sqrt(mean) + 1.0) * 1.25 ** grow))


def use_cell_list(L: float, cutoff: float) -> bool:
    """Cell lists pay only with >= 4 cells per side (27 cells of candidates < N); the cells are
    sized for the flip-point box, whose narrowest plane spacing is ``L/sqrt(1.25)``.

    Example:
        >>> use_cell_list(8.3975, 2.8), use_cell_list(16.0, 2.8)   # L (sigma), r_c + skin (sigma)
        (False, True)
    """
    return min_plane_spacing(L) / cutoff >= 4.0


@functools.lru_cache(maxsize=32)
def _engine(n: int, L: float, r_cut: float, skin: float, thermostat: str, n_bins: int, dtype: str):
    """Compiled pieces for one (N, L, r_c, skin, thermostat, n_bins, dtype).

    The neighbour list is jax-md's ``OrderedSparse`` half list (each pair i<j once, as
    ``idx = (receiver, sender)`` with the senders ascending) with a configuration-independent
    capacity (:func:`pair_capacity`), so forces cost one evaluation per pair plus two segment
    sums, and repeated runs of one system reuse one compiled program.
    """
    dt_ = jnp.dtype(dtype)
    h0 = box_matrix(L, 0.0, dt_)
    disp, _ = space.periodic_general(h0, fractional_coordinates=True)
    cutoff = r_cut + skin
    nbr_fn = partition.neighbor_list(disp, h0, cutoff, dr_threshold=0.0, fractional_coordinates=True,
                                     format=partition.OrderedSparse, capacity_multiplier=1.25,
                                     disable_cell_list=not use_cell_list(L, cutoff))
    u_cut = float(4.0 * (r_cut ** -12 - r_cut ** -6))
    rc2 = r_cut * r_cut
    d_f = 3 * n - 3
    vol = L ** 3
    half = L / 2
    cache: dict = {"capacity": pair_capacity(n, L, cutoff), "template": None}

    def forces(s, idx, xy):
        a, b = idx[0], idx[1]                                      # receiver, sender (ascending)
        ac, bc = jnp.minimum(a, n - 1), jnp.minimum(b, n - 1)
        ds = s[ac] - s[bc]
        ds = ds - jnp.round(ds)                                    # minimum image, fractional
        d = jnp.stack([L * ds[:, 0] + xy * ds[:, 1], L * ds[:, 1], L * ds[:, 2]], -1)   # r_a - r_b
        r2 = jnp.sum(d * d, -1)
        mask = (a < n) & (r2 < rc2)
        ir2 = jnp.where(mask, 1.0 / jnp.where(mask, r2, 1.0), 0.0)
        ir6 = ir2 * ir2 * ir2
        u = jnp.where(mask, 4.0 * ir6 * (ir6 - 1.0) - u_cut, 0.0)
        fv = (24.0 * ir2 * ir6 * (2.0 * ir6 - 1.0))[:, None] * d  # force on a: -u'(r) d/r
        f = (jax.ops.segment_sum(fv, ac, n)
             - jax.ops.segment_sum(fv, bc, n, indices_are_sorted=True))
        return f, jnp.sum(u), d.T @ fv

    cells = use_cell_list(L, cutoff)

    def update_nbrs(s, nbrs, xy):
        if cells:
            return nbr_fn.update(s, nbrs, box=box_matrix(L, xy, dt_))
        # all pairs i<j, compacted by a cumulative count and a binary search (gathers only: XLA's
        # scatter-based compaction, as in jax-md's prune, costs ~5x more on CPU)
        i, j = nbrs.tri[0], nbrs.tri[1]
        ds = s[i] - s[j]
        ds = ds - jnp.round(ds)
        dx, dy, dz = L * ds[:, 0] + xy * ds[:, 1], L * ds[:, 1], L * ds[:, 2]
        inside = (dx * dx + dy * dy + dz * dz) < cutoff * cutoff
        count = jnp.cumsum(inside.astype(jnp.int32))
        cap = nbrs.idx.shape[1]
        k = jnp.searchsorted(count, jnp.arange(1, cap + 1, dtype=jnp.int32), method="scan")
        ok = k < count.shape[0]
        kc = jnp.minimum(k, count.shape[0] - 1)
        idx = jnp.stack([jnp.where(ok, j[kc], n), jnp.where(ok, i[kc], n)]).astype(jnp.int32)
        return Pairs(idx, nbrs.overflow | (count[-1] > cap), nbrs.tri)

    update_jit = jax.jit(update_nbrs)

    def allocate(s, xy, grow=0):
        """A list with the engine's capacity (x 1.25**grow, kept for later runs), its cells sized
        for the worst-case (flip-point) box, built at xy."""
        if grow:
            cache["capacity"] = min(n * (n - 1) // 2, 256 * math.ceil(cache["capacity"] * 1.25 ** grow / 256))
            cache["template"] = None
        if not cells:
            tri = jnp.asarray(np.stack(np.triu_indices(n, 1)).astype(np.int32))
            nb = Pairs(jnp.full((2, cache["capacity"]), n, jnp.int32), jnp.zeros((), bool), tri)
        elif cache["template"] is None:
            nb = nbr_fn.allocate(s, box=box_matrix(L, half, dt_), extra_capacity=2 * grow)
            if nb.cell_size is not None:  # a static field: keep it a concrete NumPy value, not a jax.Array
                nb = dataclasses.replace(nb, cell_size=np.asarray(nb.cell_size))
            if nb.cell_list_capacity is not None:
                # jax-md sizes the cells from the configuration it is given (a lattice holds exactly
                # N/cells per cell), and a liquid soon overflows them: size them for the density
                nb = dataclasses.replace(nb, cell_list_capacity=cell_capacity(n, nb.cell_size, grow))
            cache["template"] = dataclasses.replace(nb, max_occupancy=cache["capacity"])
        nb = update_jit(s, cache["template"] if cells else nb, xy)
        if bool(nb.did_buffer_overflow) and cache["capacity"] < n * (n - 1) // 2 and grow < 8:
            return allocate(s, xy, grow + 1)     # a configuration denser than the estimate
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
            "u_cut": u_cut, "nbr_fn": nbr_fn}


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
