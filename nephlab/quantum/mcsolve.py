"""``mcsolve``: quantum-jump (Monte Carlo wave-function) trajectories, QuTiP's call order, JAX underneath.

Each trajectory evolves a ket under the effective Hamiltonian ``H_eff = H - (i/2) Σ_k L_k†L_k``
(waiting-time method of Dalibard, Castin & Mølmer and Dum, Zoller & Ritsch): a uniform number
``r`` is drawn, ``ψ`` is integrated (unnormalised) until ``‖ψ‖²`` falls to ``r``, then a jump
``ψ → L_k ψ / ‖L_k ψ‖`` happens through channel ``k`` with probability ``‖L_k ψ‖² / Σ_j ‖L_j ψ‖²``
and a new ``r`` is drawn. The integrator is nephlab's adaptive explicit Runge–Kutta pair
(Tsitouras, Dormand–Prince, DOP853 or Verner 7, ``_rk.rk_step``); the jump time is the root of ``‖ψ(t)‖² = r``
inside the step where the norm crosses ``r``, found by the Illinois method on the pair's
dense output (4th order; DOP853, Verner 7: 7th) to ``|‖ψ‖² - r| ≤ 1e-13`` (so the jump-time error is that of the
integrator, ~rtol, not the step size). The step then restarts from the jump.

Trajectories are one ``jax.vmap`` of a pure, jitted per-trajectory kernel; trajectory ``i``
draws from ``jax.random.fold_in(jax.random.key(seed), i)`` only, so the results do not depend
on how the trajectories are cut into chunks (``chunk``), and a fixed ``seed`` reproduces them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import _config, _validate
from .._result import ResultBase, attr, coord, var
from .._validate import args_dict, time_grid
from . import _engine, _ops, _rk
from . import sparse as _sparse
from ._convert import as_density_matrix, check_dims, check_finite, is_qobj, to_numpy
from .mesolve import (
    _assemble_ode, _assemble_sparse, _check_coefficients, _check_format, _check_hamiltonian_hermitian,
    _eval_callable_h, _expect_values, _hermitian_flags, _parse_eops, _sparse_eops, _use_sparse,
)
from .methods import Dop853, Dopri5, Method, Tsit5, Vern7, check_keywords, get_method
from .timedep import CallableOperator, parse_operator

__all__ = ["McResult", "jump_heat", "mcsolve"]

MC_METHODS = {"tsit5": Tsit5, "dopri5": Dopri5, "dop853": Dop853, "vern7": Vern7}
MAX_JUMPS_START = 16  # smallest size of the per-trajectory jump record; grown (and the chunk rerun) when exceeded
MAX_JUMPS_CAP = 4096  # largest first guess of that size
CHUNK_BYTES = 256 * 2**20  # default chunk: the per-trajectory buffers of one chunk stay below this
CHUNK_CPU = 64  # default chunk on CPU: larger vmapped batches fall out of cache (measured: 64 is ~3x faster than 256)
# Default chunk on CPU for the sparse format: at most this many ket entries per chunk, and one
# trajectory per chunk from SPARSE_CHUNK_CPU_SINGLE entries on. Vmapped row gathers of kets run
# ~3x slower per trajectory than one trajectory's (measured, D = 4096 qubit chain, 16
# trajectories, 2-core CPU: chunk 1: 4.0 s, 4: 6.1 s, 16: 10.6 s, warm), and so do vmapped
# diagonal products down to D = 256 (16 trajectories, warm: D = 1024 chunk 4 0.43 s, chunk 1
# 0.18 s; D = 512 chunk 8/2/1 0.18/0.17/0.06 s; D = 256 chunk 16/4/1 0.06/0.08/0.05 s), while
# at D = 64 the per-chunk dispatch wins (chunk 16 0.036 s, chunk 1 0.053 s). RESULTS.md, section
# of benchmarks/mcsolve_profile.py.
SPARSE_CHUNK_CPU_ELEMS = 4096
SPARSE_CHUNK_CPU_SINGLE = 256
_ROOT_TOL = 1e-13  # |‖ψ‖² - r| at the located jump
_ROOT_ITERS = 60
_INIT_STREAM = 0x1D  # fold_in tag of the draw of a mixed initial state's component (apart from the jumps' keys)
_INIT_CUTOFF = 1e-14  # eigenvalues of a mixed initial state below this (relative to the largest) are not sampled


@dataclass(frozen=True)
class _KetMethod:
    """Stands in for the method in the operator structure (mcsolve integrates without a frame)."""

    uses_frame: bool = False


@dataclass(frozen=True)
class _McStructure:
    """What fixes the compiled trajectory program (hashable)."""

    st: _engine.Structure
    method: Method  # Tsit5/Dopri5 without dynamic options
    n_c: int
    n_eops: int
    store_states: bool
    max_jumps: int
    max_steps: int
    n_init: int = 1  # pure states the initial state is drawn from (1: a ket)


# ---------------------------------------------------------------------------------------------
# the per-trajectory kernel
# ---------------------------------------------------------------------------------------------


def _norm2(y):
    return jnp.sum(y * y)


def _flat(st: _engine.Structure) -> bool:
    """Whether kets are carried as (2, n) rather than as the (2, n, 1) columns the operator
    kernels take: on the sparse format (large n), where XLA's CPU backend (jax 0.10) hands
    reductions such as the step's error norm to YNNPACK fusions, which ran an order of magnitude
    slower on a unit minor dimension (at n = 4096 the error norm cost more than the step's six
    sparse products); the column is then only formed inside the products. The small vmapped kets
    of the banded and dense formats keep the columns: on the problem of benchmarks/mcsolve.py
    (n = 20, 64 vmapped trajectories) carrying them as (2, n) was not faster."""
    return st.fmt == "sparse"


def _col(st: _engine.Structure, y):
    return y[..., None] if _flat(st) else y


def _uncol(st: _engine.Structure, y):
    return y[..., 0] if _flat(st) else y


def _ket_rhs(st: _engine.Structure, dyn):
    """``f(t, y) = -i H_eff(t) ψ`` for the real-split ket ``y`` ((2, n) or (2, n, 1), see
    :func:`_flat`), traced once per program. End to end see benchmarks/mcsolve_sparse.py in RESULTS.md.
    """
    part = _engine.rhs_arguments(dyn)
    return lambda t, y: _ket_rhs_once(st, part, t, y)


def _ket_rhs_at(st: _engine.Structure, dyn, t, y):
    A = _engine.operator_at(st, st.a_coeffs, dyn["a"], t, dyn)
    col = _col(st, y)
    out = _ops.lmul(st.fmt, st.a_offsets, A, col)
    if st.h_callable is not None:
        Hm = jnp.asarray(st.h_callable(t, dyn["args"]), dtype=jnp.complex128)
        out = out + _ops.lmul("dense", (), _ops.split(-1j * Hm), col)
    # sparse: computed once, not fused into (and redone by) each consumer; the small banded and
    # dense products of vmapped trajectories are better left to fuse
    return _rk.materialize(_uncol(st, out)) if _flat(st) else out


_ket_rhs_once = _engine.traced_once(_ket_rhs_at)


def _apply_jumps(st: _engine.Structure, dyn, t, y):
    """``L_k(t) ψ`` for every channel and the ket ``y``, stacked (n_c,) + ``y.shape``."""
    out = []
    for offs, specs, datas in zip(st.jump_offsets, st.jump_coeffs, dyn["jumps"]):
        L = _engine.operator_at(st, specs, datas, t, dyn)
        out.append(_uncol(st, _ops.lmul(st.fmt, offs, L, _col(st, y))))
    return jnp.stack(out)


def _save(ms: _McStructure, dyn, y):
    """Saved values of the (unnormalised) ket: normalised expectations and, if asked, the state."""
    psi = (y[0] + 1j * y[1]).reshape(-1)
    p = _norm2(y)
    out = {}
    if ms.n_eops and isinstance(dyn["eops"], dict):  # sparse e_ops: Σ E_k[r, c] conj(ψ_r) ψ_c per k
        e = dyn["eops"]
        out["expect"] = jax.ops.segment_sum(e["w"] * jnp.conj(psi[e["r"]]) * psi[e["c"]], e["k"],
                                            num_segments=ms.n_eops) / p
    elif ms.n_eops:
        out["expect"] = jnp.einsum("i,kij,j->k", jnp.conj(psi), dyn["eops"], psi) / p
    if ms.store_states:
        out["state"] = psi / jnp.sqrt(p)
    return out


def _trajectory(ms: _McStructure, dyn, key):
    st = ms.st
    tb = ms.method.tableau()
    f = _ket_rhs(st, dyn)
    tlist = dyn["tlist"]
    T = tlist.shape[0]
    t_end = tlist[-1]
    rtol, atol = dyn["rtol"], dyn["atol"]
    save = partial(_save, ms, dyn)
    if ms.n_init > 1:  # a mixed initial state: draw its eigenvector from a stream of its own
        u0 = jax.random.uniform(jax.random.fold_in(key, _INIT_STREAM), dtype=jnp.float64)
        cum = dyn["p0_cum"]
        comp = jnp.minimum(jnp.sum(cum <= u0 * cum[-1]), ms.n_init - 1).astype(jnp.int32)
        psi0 = dyn["psi0"][comp]
    else:
        comp, psi0 = jnp.asarray(0, jnp.int32), dyn["psi0"]
    key, sub = jax.random.split(key)
    r = jax.random.uniform(sub, dtype=jnp.float64)
    s, first = _rk.adaptive_start(f, psi0, tlist, lambda t, y: save(y), tableau=tb, rtol=rtol, atol=atol)
    buf = jax.tree_util.tree_map(lambda x: jnp.zeros((T,) + x.shape, x.dtype).at[0].set(x), first)
    M = ms.max_jumps
    rec = {"times": jnp.full((M,), jnp.nan), "channels": jnp.full((M,), -1, jnp.int32),
           "count": jnp.asarray(0, jnp.int32)}

    def cond(c):
        s = c[0]
        return (s["idx"] < T) & (s["steps"] < ms.max_steps) & (s["h"] > 0)

    def body(c):
        s, buf, r, key, rec = c
        t, y = s["t"], s["y"]
        h = jnp.minimum(s["h"], t_end - t)
        y_new, ks, en, accept, fac = _rk.rk_step(f, tb, t, y, s["k1"], h, s["en_prev"], rtol, atol)
        t_new = jnp.where(t + h >= t_end, t_end, t + h)

        def dense(theta):
            return y + h * _rk._lincomb(tb.dense(theta, tb.b), ks)

        # -- locate the jump: ‖ψ(t + θh)‖² = r on the dense output (Illinois) ------------------
        jumped = accept & (_norm2(y_new) < r) if ms.n_c else jnp.asarray(False)
        g0 = _norm2(y) - r
        if tb.a_extra:  # DOP853's dense output: its extra stages, when a jump or a saved time needs them
            s_dense = s["dense"]
            inside = accept & (jumped | ((s["idx"] < T) & (tlist[jnp.minimum(s["idx"], T - 1)] < t_new)))
            ks = lax.cond(inside, lambda ks: _rk.dense_stages(f, tb, t, y, h, ks),
                          lambda ks: ks + [jnp.zeros_like(y)] * len(tb.a_extra), ks)

        def root_cond(rc):
            lo, hi, glo, ghi, x, gx, side, it = rc
            return jumped & (it < _ROOT_ITERS) & (jnp.abs(gx) > _ROOT_TOL) & (hi - lo > 1e-15)

        def root_body(rc):
            lo, hi, glo, ghi, x, gx, side, it = rc
            x = jnp.clip((lo * ghi - hi * glo) / (ghi - glo), lo, hi)
            gx = _norm2(dense(x)) - r
            right = gx < 0  # the root lies left of x: x becomes the new hi
            glo_n = jnp.where(right & (side == -1), 0.5 * glo, glo)
            ghi_n = jnp.where(~right & (side == 1), 0.5 * ghi, ghi)
            lo, glo = jnp.where(right, lo, x), jnp.where(right, glo_n, gx)
            hi, ghi = jnp.where(right, x, hi), jnp.where(right, gx, ghi_n)
            return lo, hi, glo, ghi, x, gx, jnp.where(right, -1, 1), it + 1

        g1 = _norm2(y_new) - r
        rc0 = (jnp.asarray(0.0), jnp.asarray(1.0), g0, g1, jnp.asarray(1.0), g1, jnp.asarray(0), jnp.asarray(0))
        theta = lax.while_loop(root_cond, root_body, rc0)[4]
        t_jump = jnp.where(jumped, t + theta * h, t_new)

        # -- saved times up to the jump (or to the end of the step) ---------------------------
        def save_cond(sc):
            idx, _ = sc
            return accept & (idx < T) & (tlist[jnp.minimum(idx, T - 1)] <= t_jump)

        def save_one(sc):
            idx, buf = sc
            ts = tlist[idx]
            ys = jnp.where((ts >= t_new) & ~jumped, y_new, dense((ts - t) / h))
            buf = jax.tree_util.tree_map(lambda b, o: lax.dynamic_update_index_in_dim(b, o, idx, 0), buf, save(ys))
            return idx + 1, buf

        idx, buf = lax.while_loop(save_cond, save_one, (s["idx"], buf))

        # -- the jump (a loop of at most one pass: it costs nothing when no trajectory jumps) -
        # The loop carries the state at the jump time (y_new when there is none) and the body
        # reads it from the carry: computed from loop-invariant values instead, the n_c jump
        # products were hoisted out of the loop by XLA and ran at every step, jump or not (in a
        # profile of the D = 4096 qubit chain, more than half of each step).
        def jump_cond(jc):
            return jc[0]

        def jump_body(jc):
            _, yj, k1, r, key, rec = jc
            key, kc, kr = jax.random.split(key, 3)
            Ly = _apply_jumps(st, dyn, t_jump, yj)  # (n_c,) + the ket's shape
            w = jnp.sum(Ly * Ly, axis=tuple(range(1, Ly.ndim)))
            cum = jnp.cumsum(w)
            u = jax.random.uniform(kc, dtype=jnp.float64) * cum[-1]
            ch = jnp.minimum(jnp.sum(cum <= u), ms.n_c - 1).astype(jnp.int32)
            y = Ly[ch] / jnp.sqrt(w[ch])
            slot = jnp.minimum(rec["count"], M - 1)
            keep = rec["count"] < M
            rec = {"times": rec["times"].at[slot].set(jnp.where(keep, t_jump, rec["times"][slot])),
                   "channels": rec["channels"].at[slot].set(jnp.where(keep, ch, rec["channels"][slot])),
                   "count": rec["count"] + 1}
            return jnp.asarray(False), y, f(t_jump, y), jax.random.uniform(kr, dtype=jnp.float64), key, rec

        y_at = jnp.where(jumped, dense(theta), y_new)
        _, y_j, k1_j, r, key, rec = lax.while_loop(jump_cond, jump_body, (jumped, y_at, ks[len(tb.a)], r, key, rec))

        s = {
            "t": jnp.where(accept, t_jump, t),
            "y": jnp.where(accept, y_j, y),
            "k1": jnp.where(accept, k1_j, s["k1"]),
            "h": jnp.where(jumped, h, h * fac),
            "en_prev": jnp.where(accept, jnp.maximum(en, 1e-4), s["en_prev"]),
            "idx": idx,
            "steps": s["steps"] + 1,
            "accepted": s["accepted"] + accept.astype(jnp.int32),
        }
        if tb.a_extra:
            s["dense"] = s_dense + inside.astype(jnp.int32)
        return s, buf, r, key, rec

    # Every leaf of the carry depends on the trajectory's key from the start (selecting between two
    # equal values keeps each bit): vmap then batches the loop in one pass instead of two, and the
    # loops nested in it with it (tracing measured 0.6 s instead of 0.6-1.0 s at load average 6).
    same = r >= 0.0
    s, buf, r, key, rec = lax.while_loop(cond, body, jax.tree_util.tree_map(
        lambda x: jnp.where(same, x, x) if x.dtype != key.dtype else x, (s, buf, r, key, rec)))
    y = s["y"]
    final = (y[0] + 1j * y[1]).reshape(-1) / jnp.sqrt(_norm2(y))
    stats = {"steps": s["steps"], "accepted": s["accepted"], "success": s["idx"] >= T, "initial": comp}
    return buf, final, rec, stats


@partial(jax.jit, static_argnames=("ms", "chunk"))
def _run_chunk(ms: _McStructure, dyn, seed, first, chunk: int):
    """Trajectories ``first .. first+chunk-1``, vmapped; trajectory ``i`` draws from
    ``fold_in(key(seed), i)`` only. ``seed`` (an int64 scalar, as ``jax.random.key`` converts a
    Python int) and ``first`` are data: one compiled program serves every chunk and seed, and
    making the key in here spares a fresh process the compilation of a seeding program."""
    seed_key = jax.random.key(seed)
    keys = jax.vmap(lambda i: jax.random.fold_in(seed_key, i))(first + jnp.arange(chunk))
    return jax.vmap(lambda k: _trajectory(ms, dyn, k))(keys)


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class McResult(ResultBase):
    """Quantum-jump trajectories of :func:`mcsolve`.

    Attributes:
        times: (T,) saved times.
        expect: trajectory averages ``(1/N) Σ_i <ψ_i(t)|O|ψ_i(t)>`` (kets normalised), one (T,)
            array per e_op (real for Hermitian e_ops), a dict when e_ops was a dict, None without.
        stderr: their standard errors ``std_i / sqrt(N)`` (sample standard deviation, ddof=1),
            same form as ``expect``, real (for a non-Hermitian e_op the modulus
            ``sqrt(se_re² + se_im²)``).
        runs_expect: per-trajectory expectations in the form of ``expect`` with a leading
            trajectory axis (N, T), or None (``keep_runs=False``).
        states: (N, T, n) normalised kets, or None (``store_states=False``).
        final_states: (N, n) normalised kets at ``times[-1]``.
        jump_times: (N, M) times of each trajectory's jumps in order, NaN-padded past ``n_jumps``.
        jump_channels: (N, M) index into ``c_ops`` of each jump, -1-padded.
        n_jumps: (N,) number of jumps of each trajectory (M = max of n_jumps, at least 1).
        initial_kets: (m, n) the pure states trajectories start from: ``psi0`` itself (m = 1), or
            the eigenvectors of a density-matrix ``psi0`` with weight above 1e-14 of the largest.
        initial_weights: (m,) their probabilities (the eigenvalues, summing to 1).
        initial_component: (N,) index into ``initial_kets`` of each trajectory's initial state.
        ntraj, seed, method: what ran; stats: ``steps``, ``accepted`` (per trajectory),
            ``wall_time`` (s, compile included on a first call), ``chunk``, ``device``,
            ``format`` (operator storage that ran: ``"sparse"``, ``"dia"`` or ``"dense"``).

    ``to_xarray()`` gives dims ``trajectory``, ``jump`` and ``time`` with variables
    ``expect_<key>``, ``stderr_<key>`` (and ``runs_expect_<key>``), ``jump_times``,
    ``jump_channels``, ``n_jumps``.

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import destroy, basis
        >>> a = destroy(2)
        >>> res = nephlab.mcsolve(a.T @ a, basis(2, 1), np.linspace(0, 1, 5), [a], ntraj=20, seed=1,
        ...                       e_ops=[a.T @ a])
        >>> res.expect[0].shape, res.jump_times.shape[0], sorted(set(res.n_jumps.tolist())) <= [0, 1]
        ((5,), 20, True)
        >>> t, ch = res.jumps(0)  # one trajectory's record
    """

    times: np.ndarray = coord("time", units="1/energy")
    jump_times: np.ndarray = var("trajectory", "jump", units="1/energy", long_name="jump times (NaN: none)")
    jump_channels: np.ndarray = var("trajectory", "jump", long_name="jump channel (index into c_ops; -1: none)")
    n_jumps: np.ndarray = var("trajectory", long_name="number of jumps")
    initial_component: np.ndarray = var("trajectory", long_name="index into initial_kets of the trajectory's initial state",
                                        default=None)
    expect: Any = None
    stderr: Any = None
    runs_expect: Any = None
    states: Any = field(default=None, repr=False)
    final_states: Any = field(default=None, repr=False)
    ntraj: int = attr(default=0)
    seed: int = attr(default=0)
    method: str = attr(default="")
    stats: dict = field(default_factory=dict)
    e_keys: Any = field(default=None, repr=False)
    initial_kets: Any = field(default=None, repr=False)
    initial_weights: Any = field(default=None, repr=False)

    def jumps(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(times, channels)`` of trajectory ``i``'s jumps (unpadded, in time order).

        Example:
            >>> # t, ch = res.jumps(0)
        """
        m = int(self.n_jumps[i])
        return self.jump_times[i, :m], self.jump_channels[i, :m]

    @property
    def col_times(self) -> list[np.ndarray]:
        """QuTiP's name: one array of jump times per trajectory."""
        return [self.jumps(i)[0] for i in range(len(self.n_jumps))]

    @property
    def col_which(self) -> list[np.ndarray]:
        """QuTiP's name: one array of jump channels per trajectory."""
        return [self.jumps(i)[1] for i in range(len(self.n_jumps))]

    def jump_counts(self, n_channels: int | None = None) -> np.ndarray:
        """(N, n_channels) number of jumps of each trajectory through each channel.

        Example:
            >>> # res.jump_counts().mean(axis=0)  # mean number of jumps per channel
        """
        k = int(self.jump_channels.max(initial=-1)) + 1 if n_channels is None else int(n_channels)
        ch = self.jump_channels
        return np.stack([(ch == j).sum(axis=1) for j in range(k)], axis=1) if k else np.zeros((len(ch), 0), int)

    def _xarray_extra(self, ds):
        for name in ("expect", "stderr", "runs_expect"):
            val = getattr(self, name)
            if val is None:
                continue
            items = val.items() if isinstance(val, dict) else enumerate(val)
            dims = ("trajectory", "time") if name == "runs_expect" else ("time",)
            for key, arr in items:
                ds[f"{name}_{key}"] = (dims, np.asarray(arr))
        return ds

    def __str__(self) -> str:
        mean = float(np.mean(self.n_jumps)) if len(self.n_jumps) else 0.0
        return (f"McResult(method={self.method!r}, ntraj={self.ntraj}, seed={self.seed})\n"
                f"  times: {len(self.times)} points in [{self.times[0]:g}, {self.times[-1]:g}]\n"
                f"  jumps per trajectory: mean {mean:.4g}, max {int(np.max(self.n_jumps, initial=0))}")


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------


def mcsolve(
    H: Any,
    psi0: Any,
    tlist: Any,
    c_ops: Any = None,
    *,
    ntraj: int,
    seed: int,
    e_ops: Any = None,
    args: dict | None = None,
    method: str | Method = "tsit5",
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
    chunk: int | None = None,
    keep_runs: bool = False,
    store_states: bool = False,
    normalize: bool = False,
    format: str | None = None,
) -> McResult:
    """Quantum-jump (Monte Carlo wave-function) trajectories of the Lindblad equation.

    Units: ħ = 1; ``H`` in energy units, times in inverse energy, collapse operators
    ``L_k = sqrt(rate) * O`` in sqrt(energy). Precision float64/complex128. The trajectory
    average of ``|ψ><ψ|`` converges to the solution of :func:`nephlab.mesolve` with the same
    ``H`` and ``c_ops``; ``stderr`` says how closely.

    Args:
        H: Hamiltonian (n, n) (array or ``Qobj``), QuTiP's list format ``[H0, [H1, f1], ...]``
            (coefficients ``f(t)``/``f(t, args)`` in ``jax.numpy`` or arrays sampled on tlist) or
            a callable ``H(t)``/``H(t, args)``, as for :func:`nephlab.mesolve`. No batch axes.
        psi0: initial ket (n,), (n, 1) or ``Qobj`` ket, of norm 1 (``normalize=True`` rescales);
            or a density matrix (n, n) / ``Qobj`` oper (Hermitian, trace 1, positive
            semidefinite): each trajectory then starts in one of its eigenvectors, drawn with
            the eigenvalue as probability (from a stream of its own, so the jump draws do not
            change), and the averages converge to ``mesolve`` from that density matrix. The
            eigenvectors, their weights and each trajectory's draw are in the result
            (``initial_kets``, ``initial_weights``, ``initial_component``).
        tlist: strictly increasing, finite times (T,) at which averages are saved; the
            trajectories start at ``tlist[0]``.
        c_ops: list of collapse operators (n, n), constant or in the list format.
        ntraj: number of trajectories (positive int).
        seed: int; trajectory ``i`` uses ``fold_in(key(seed), i)``: a fixed seed reproduces
            every trajectory, whatever ``chunk`` is.
        e_ops: list (or dict) of operators (n, n) whose expectation values are averaged.
        args: dict for coefficient functions ``f(t, args)``.
        method: ``"tsit5"`` (default), ``"dopri5"``, ``"dop853"`` or ``"vern7"``, or the method objects.
        rtol, atol: tolerances of the adaptive integrator on the ket's entries (default 1e-6,
            1e-8); the jump times are located to the same accuracy.
        max_steps: step limit per trajectory (default 100000); a trajectory that hits it is a
            RuntimeError.
        chunk: trajectories vmapped together (the chunks run one after another in the same
            compiled program, ``lax.map``); default 64 on CPU (cache-friendly; on the sparse
            format 1 from n = 256 on, at most ``4096 // n`` below), all on an accelerator,
            fewer when a chunk's buffers would exceed 256 MB. The results do not depend on it.
        keep_runs: keep every trajectory's expectation values (``McResult.runs_expect``).
        store_states: keep every trajectory's normalised ket at every saved time.
        normalize: rescale a ``psi0`` whose norm is not 1 instead of raising.
        format: operator storage, as for :func:`nephlab.mesolve`. ``None``/``"auto"``:
            ``"sparse"`` for H and c_ops given as single operators (array, ``scipy.sparse``
            matrix or ``Qobj``) or in the list format of such operators (time-dependent
            ``H0 + Σ f_j(t) H_j``, ``c(t) = Σ g_j(t) C_j``) when the inputs are sparse
            (scipy.sparse, ``Qobj`` with CSR/Dia data) and n >= 4096, or n >= 64 with more
            than 8 occupied diagonals and at most 5 % nonzeros; else ``"dense"`` (banded or
            dense matrices). ``"sparse"``: H_eff(t), the c_ops and the e_ops stay sparse end to
            end (never an (n, n) dense array), each ``H_eff(t) ψ`` costs O(nnz) (the terms'
            values combined on their union pattern, then one product); with a ket of n numbers
            per trajectory this is the way to n ~ 10^4-10^5. A callable ``H(t, args)`` with
            ``"sparse"`` is a ValueError. ``stats["format"]`` names what ran (``"sparse"``,
            ``"dia"`` or ``"dense"``).

    Returns:
        :class:`McResult` with ``expect``, ``stderr``, jump records and ``final_states``.

    Raises:
        ValueError: bad input (``ntraj``, ``seed``, ``tlist``, ``psi0``, ``method``, operators); the
            message names the argument.
        TypeError: an input of the wrong type; the message names the argument.
        RuntimeError: a trajectory does not reach ``tlist[-1]``.

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import destroy, basis
        >>> a = destroy(2)
        >>> res = nephlab.mcsolve(a.T @ a, basis(2, 1), np.linspace(0, 2, 5), [np.sqrt(0.5) * a],
        ...                       ntraj=400, seed=0, e_ops=[a.T @ a])
        >>> bool(abs(res.expect[0][-1] - np.exp(-1.0)) < 4 * res.stderr[0][-1])
        True

        Sparse operators (a chain of 12 qubits, D = 4096, built without a dense matrix):

        >>> from nephlab.quantum.sparse import embed
        >>> sm, sx = np.array([[0, 0], [1, 0]]), np.array([[0, 1], [1, 0]])
        >>> dims = [2] * 12
        >>> H = sum(0.5 * embed(sx, k, dims) for k in range(12))
        >>> c_ops = [np.sqrt(0.2) * embed(sm, k, dims) for k in range(12)]
        >>> psi = np.zeros(4096); psi[0] = 1.0
        >>> res = nephlab.mcsolve(H, psi, np.linspace(0, 1, 3), c_ops, ntraj=2, seed=0,
        ...                       e_ops=[embed(sm.T @ sm, 0, dims)], format="sparse")  # doctest: +SKIP
        >>> res.stats["format"], res.final_states.shape  # doctest: +SKIP
        ('sparse', (2, 4096))

        A time-dependent drive on the sparse format (QuTiP's list format, sparse terms):

        >>> import jax.numpy as jnp
        >>> small = [2] * 6
        >>> Hs = sum(0.5 * embed(sx, k, small) for k in range(1, 6))
        >>> drive = [Hs, [embed(sx, 0, small), lambda t: 0.5 * jnp.cos(1.3 * t)]]
        >>> psi6 = np.zeros(64); psi6[-1] = 1.0
        >>> res = nephlab.mcsolve(drive, psi6, np.linspace(0, 1, 3), [np.sqrt(0.2) * embed(sm, 0, small)],
        ...                       ntraj=2, seed=0, format="sparse")
        >>> res.stats["format"]
        'sparse'
    """
    t_start = time.perf_counter()
    N = _positive_int(ntraj, "ntraj")
    seed_i = _validate.int_seed(seed, "seed")
    tl = time_grid(tlist, "tlist")
    args = args_dict(args)
    meth = _mc_method(method)
    meth = meth.configure(**check_keywords(rtol=rtol, atol=atol, max_steps=max_steps))
    kets, weights = _initial_states(psi0, bool(normalize))
    psi = kets[0]
    n = psi.shape[0]
    if chunk is not None:
        chunk = _positive_int(chunk, "chunk")

    c_list = _c_op_list(c_ops)
    use_sparse = _use_sparse(_check_format(format), H, c_list, meth, n)
    # sparse: every operator CSR from here on (never densified); dense: NumPy arrays
    h_parsed = parse_operator(H, "H", tl, sparse=use_sparse)
    c_parsed = [parse_operator(c, f"c_ops[{i}]", tl, allow_callable=False, sparse=use_sparse)
                for i, c in enumerate(c_list)]
    h_callable = None
    if isinstance(h_parsed, CallableOperator):
        h_callable = h_parsed.func
        check_dims(_eval_callable_h(h_callable, tl[0], args), n, "H(t0, args)", "psi0")
        h_terms: tuple = ()
    else:
        h_terms = h_parsed
        for i, term in enumerate(h_terms):
            _no_batch(term.op, "H" if len(h_terms) == 1 else f"H[{i}]", n)
    for i, terms in enumerate(c_parsed):
        for j, term in enumerate(terms):
            _no_batch(term.op, f"c_ops[{i}]" if len(terms) == 1 else f"c_ops[{i}][{j}]", n)
    _check_coefficients(h_terms, c_parsed, tl, args)
    _check_hamiltonian_hermitian(h_terms, h_callable, tl, args)
    e_list, e_keys = _parse_eops(e_ops, n, sparse=use_sparse)
    herm = _hermitian_flags(e_list)

    splines: list = []
    assemble = partial(_assemble_sparse, ket=True) if use_sparse else _assemble_ode
    st, dyn = assemble(_KetMethod(), n, h_terms, h_callable, c_parsed, psi[:, None], splines)
    st = dataclasses.replace(st, n_eops=0, store_states=False)
    dyn["psi0"] = dyn.pop("rho0")  # (2, n, 1)
    if len(kets) > 1:  # a mixed state: a table of its eigenvectors (m, 2, n, 1) and their cumulative weights
        dyn["psi0"] = np.stack([np.stack([k.real, k.imag])[:, :, None] for k in kets])
        dyn["p0_cum"] = np.cumsum(weights)
    if _flat(st):
        dyn["psi0"] = dyn["psi0"][..., 0]
    dyn["splines"] = [(np.asarray(k), np.asarray(c)) for k, c in splines]
    dyn["tlist"] = tl
    dyn["eops"] = (_sparse_eops(e_list) if use_sparse else
                   np.stack(e_list) if e_list else np.zeros((0, n, n), np.complex128))
    dyn["args"] = args
    dyn["rtol"], dyn["atol"] = np.float64(meth.rtol), np.float64(meth.atol)
    device = _config.device()
    dyn = jax.device_put(dyn, device)

    T = len(tl)
    if chunk is None:
        per_traj = 16 * T * (len(e_list) + (n if store_states else 0)) + 16 * n * 40
        fit = max(1, CHUNK_BYTES // per_traj)
        chunk = min(fit, CHUNK_CPU if device.platform == "cpu" else N)
        if use_sparse and device.platform == "cpu":  # large kets: vmapped gathers cost more than they share
            chunk = 1 if n >= SPARSE_CHUNK_CPU_SINGLE else min(chunk, max(1, SPARSE_CHUNK_CPU_ELEMS // n))
        chunk = min(chunk, 1 << (N - 1).bit_length())  # small runs: the next power of 2 (few programs)
    seed_arr = np.int64(seed_i)  # what jax.random.key(seed_i) makes of the int (OverflowError beyond int64)
    max_jumps = _initial_max_jumps(c_parsed, tl)
    pieces = []
    for first in range(0, N, chunk):  # the last chunk is padded: one compiled program for all
        while True:
            ms = _McStructure(st=st, method=meth.static(), n_c=len(c_parsed), n_eops=len(e_list),
                              store_states=bool(store_states), max_jumps=max_jumps, max_steps=int(meth.max_steps),
                              n_init=len(kets))
            out = jax.device_get(_run_chunk(ms, dyn, seed_arr, first, chunk))
            most = int(out[2]["count"].max(initial=0))
            if most <= max_jumps:
                break
            max_jumps = 1 << (most - 1).bit_length()  # rerun with room for every jump (same keys, same jumps)
        pieces.append(jax.tree_util.tree_map(lambda x: x[: min(chunk, N - first)], out))
    buf, final, rec, stats = (_concat([p[i] for p in pieces]) for i in range(4))
    M = max(1, int(rec["count"].max(initial=0)))
    counts = rec["count"]
    jt = np.full((N, M), np.nan)
    jc = np.full((N, M), -1, np.int32)
    row = 0
    for p in pieces:
        r = p[2]
        m = min(M, r["times"].shape[1])
        jt[row:row + len(r["count"]), :m] = r["times"][:, :m]
        jc[row:row + len(r["count"]), :m] = r["channels"][:, :m]
        row += len(r["count"])
    if not bool(np.all(stats["success"])):
        bad = int(np.argmin(stats["success"]))
        raise RuntimeError(
            f"mcsolve: trajectory {bad} did not reach t={tl[-1]} within max_steps={meth.max_steps} steps; "
            "raise max_steps or loosen rtol/atol"
        )

    expect = stderr = runs = None
    if e_list:
        ex = np.asarray(buf["expect"])  # (N, T, n_e) complex
        mean = ex.mean(axis=0)
        if N > 1:
            se = np.sqrt(ex.real.var(axis=0, ddof=1) + ex.imag.var(axis=0, ddof=1) * (~np.array(herm))) / math.sqrt(N)
        else:
            se = np.full(mean.shape, np.nan)
        expect = _expect_values(mean, herm, e_keys)
        stderr = _expect_values(se, [True] * len(herm), e_keys)
        if keep_runs:
            runs = _expect_values(ex, herm, e_keys)
    wall = time.perf_counter() - t_start
    return McResult(
        times=tl, jump_times=jt, jump_channels=jc, n_jumps=counts.astype(np.int64),
        initial_component=np.asarray(stats["initial"], np.int64), initial_kets=kets, initial_weights=weights,
        expect=expect, stderr=stderr,
        runs_expect=runs, states=np.asarray(buf["state"]) if store_states else None, final_states=final,
        ntraj=N, seed=seed_i, method=meth.name,
        stats={"steps": stats["steps"], "accepted": stats["accepted"], "wall_time": wall, "chunk": chunk,
               "device": _config.device_name(), "format": st.fmt},
        e_keys=e_keys,
    )


# ---------------------------------------------------------------------------------------------
# checks and helpers
# ---------------------------------------------------------------------------------------------


def _positive_int(x: Any, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {x!r} ({type(x).__name__})")
    if x < 1:
        raise ValueError(f"{name} must be a positive int, got {x!r}")
    return int(x)


def _mc_method(method: Any) -> Method:
    if isinstance(method, str) and method.lower() in MC_METHODS:
        return MC_METHODS[method.lower()]()
    if isinstance(method, tuple(MC_METHODS.values())):
        return method
    allowed = ", ".join(repr(k) for k in MC_METHODS)
    if isinstance(method, (str, Method)):
        raise ValueError(f"method={method!r} is not available for mcsolve; use one of {allowed} "
                         "(or Tsit5(...)/Dopri5(...))")
    raise TypeError(f"method must be a name ({allowed}) or a Tsit5/Dopri5 object, got {type(method).__name__}")


def _as_ket(x: Any, normalize: bool) -> np.ndarray:
    if is_qobj(x) and not getattr(x, "isket", False):
        raise ValueError(f"psi0 must be a ket or a density matrix (a Qobj of type 'ket' or 'oper'), got a Qobj "
                         f"of type {getattr(x, 'type', '?')!r}")
    arr = to_numpy(x, "psi0")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"psi0 must be a ket of shape (n,) or (n, 1), got shape {arr.shape}; "
                         "or a density matrix (n, n)")
    check_finite(arr, "psi0")
    norm = float(np.linalg.norm(arr))
    if norm == 0.0:
        raise ValueError("psi0 has norm 0; it cannot be normalised to a state")
    if abs(norm - 1.0) > 1e-9:
        if not normalize:
            raise ValueError(f"psi0 is a ket of norm {norm:.6g}, not 1; pass normalize=True to rescale it")
        arr = arr / norm
    return arr.astype(np.complex128)


def _initial_states(x: Any, normalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(kets (m, n), weights (m,))`` the trajectories start from: a ket is itself (weight 1); a
    density matrix (n, n), n >= 2, is its eigenvectors with eigenvalue above ``_INIT_CUTOFF`` of
    the largest, heaviest first, weights renormalised to sum 1 (what is dropped is < 1e-14 each)."""
    dm = (getattr(x, "isoper", False) if is_qobj(x)
          else np.ndim(x) >= 2 and np.shape(x)[-1] == np.shape(x)[-2] and np.shape(x)[-1] > 1)
    if not dm:
        return _as_ket(x, normalize)[None, :], np.ones(1)
    if np.ndim(to_numpy(x, "psi0")) != 2:
        raise ValueError(f"psi0 must be one ket or one density matrix (n, n), got shape {np.shape(to_numpy(x, 'psi0'))}; "
                         "mcsolve does not batch initial states")
    rho = as_density_matrix(x, "psi0", normalize=normalize)  # Hermitian, trace 1, positive semidefinite
    lam, vec = np.linalg.eigh(rho)
    order = np.argsort(lam)[::-1]
    lam, vec = lam[order], vec[:, order]
    keep = lam > _INIT_CUTOFF * lam[0]
    w = lam[keep] / lam[keep].sum()
    return np.ascontiguousarray(vec[:, keep].T).astype(np.complex128), w


def _c_op_list(c_ops: Any) -> list:
    if c_ops is None:
        return []
    if isinstance(c_ops, (np.ndarray, jax.Array)) or is_qobj(c_ops):
        return [c_ops]
    if isinstance(c_ops, (list, tuple)):
        return list(c_ops)
    raise TypeError(f"c_ops must be a list of collapse operators, got {type(c_ops).__name__}")


def _no_batch(op: np.ndarray, name: str, n: int) -> None:
    if op.ndim != 2:
        raise ValueError(f"{name} has shape {op.shape}; mcsolve takes single (n, n) operators (no batch axes), "
                         "call it once per parameter set")
    check_dims(op, n, name, "psi0")


def _initial_max_jumps(c_parsed: list, tl: np.ndarray) -> int:
    """Room in the jump record for the likely number of jumps, so that the first compiled program
    usually suffices: the expected count is at most ``λ_max(Σ L†L) (t_end - t0)`` (constant parts
    of the collapse operators; a record that turns out too small is grown and the chunk rerun)."""
    ops = [sum(t.op for t in terms if t.coeff is None) for terms in c_parsed]
    ops = [o for o in ops if not isinstance(o, int)]
    if not ops:
        return MAX_JUMPS_START
    G = sum(o.conj().T @ o for o in ops)
    if _sparse.sp.issparse(G):  # Gershgorin: λ_max(G) <= max row sum of |G| (no dense copy)
        lam = float(abs(G).sum(axis=1).max())
    else:
        lam = float(np.linalg.eigvalsh(0.5 * (G + G.conj().T))[-1])
    bound = lam * float(tl[-1] - tl[0])
    want = bound + 4.0 * math.sqrt(bound) + 8.0
    return int(min(MAX_JUMPS_CAP, max(MAX_JUMPS_START, 1 << (int(math.ceil(want)) - 1).bit_length())))


def _concat(trees: list):
    """Concatenate the chunks' pytrees of arrays along the trajectory axis; records of different
    lengths are handled by the caller."""
    if isinstance(trees[0], dict) and "times" in trees[0]:
        return {"count": np.concatenate([t["count"] for t in trees])}
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *trees)


# ---------------------------------------------------------------------------------------------
# stochastic thermodynamics along trajectories
# ---------------------------------------------------------------------------------------------


def jump_heat(result: McResult, H: Any, c_ops_per_bath: Any) -> np.ndarray:
    """Heat from each bath into the system along each trajectory, from its jump record.

    Each collapse operator must be an eigenoperator of the (time-independent) ``H``,
    ``[H, L] = -ω L``: a jump through it changes the system's energy by ``-ω`` exactly, and that
    energy is exchanged with the jump's bath. ``c_ops_per_bath`` lists the collapse operators
    bath by bath in the form of :func:`nephlab.quantum.heat_currents`; flattened, they must be the
    ``c_ops`` given to :func:`mcsolve`, in the same order. Sign convention of ``heat_currents``:
    positive means energy flows from the bath into the system, so the mean of the result over
    trajectories divided by the duration is the mean heat current ``J_k``.

    The stochastic entropy production of a trajectory that starts in energy eigenstate ``m``
    (drawn with probability ``p_0(m)``) and ends in ``m'`` is
    ``Σ = ln p_0(m) - ln p_T(m') - Σ_k β_k Q_k`` (nats), with ``Q_k`` from this function and
    ``p_T`` the populations of the mesolve state at the end; ``<e^{-Σ}> = 1`` (integral
    fluctuation theorem).

    Args:
        result: an :class:`McResult` of mcsolve.
        H: the (n, n) Hermitian Hamiltonian of the run (energy units).
        c_ops_per_bath: list over baths of lists of collapse operators (n, n).

    Returns:
        float64 array (ntraj, n_baths): heat from bath k into the system (energy units).

    Example:
        >>> import numpy as np, nephlab
        >>> from nephlab.quantum import destroy, basis
        >>> a = destroy(2)
        >>> res = nephlab.mcsolve(a.T @ a, basis(2, 1), np.linspace(0, 30, 3), [a], ntraj=8, seed=0)
        >>> jump_heat(res, a.T @ a, [[a]])[:, 0].tolist() == [-1.0] * 8  # every atom emits ω = 1
        True
    """
    from .thermo import _baths

    if not isinstance(result, McResult):
        raise TypeError(f"result must be the McResult of mcsolve, got {type(result).__name__}")
    from ._convert import as_operator

    Hn = as_operator(H, "H", batch=False, hermitian=True, kind="Hamiltonian")
    baths = _baths(c_ops_per_bath, Hn.shape[-1])
    omegas, bath_of = [], []
    for b, bath in enumerate(baths):
        for j, L in enumerate(bath):
            if L.ndim != 2:
                raise ValueError(f"c_ops_per_bath[{b}][{j}] must be a single (n, n) operator, got shape {L.shape}")
            comm = Hn @ L - L @ Hn
            norm2 = float(np.real(np.vdot(L, L)))
            w = -complex(np.vdot(L, comm)) / norm2 if norm2 else 0.0
            resid = np.linalg.norm(comm + w * L) / max(np.linalg.norm(comm), np.sqrt(norm2) * np.linalg.norm(Hn), 1e-300)
            if norm2 and (resid > 1e-8 or abs(w.imag) > 1e-8 * max(1.0, abs(w))):
                raise ValueError(
                    f"c_ops_per_bath[{b}][{j}] is not an eigenoperator of H ([H, L] = -ω L fails by {resid:.3g} "
                    "relative); the energy a jump carries is then not fixed"
                )
            omegas.append(w.real)
            bath_of.append(b)
    ch = result.jump_channels
    if ch.size and int(ch.max()) >= len(omegas):
        raise ValueError(f"c_ops_per_bath holds {len(omegas)} collapse operators, but the run has jumps through "
                         f"channel {int(ch.max())}; give the baths of all of mcsolve's c_ops, in order")
    de = np.where(ch >= 0, -np.asarray(omegas + [0.0])[ch], 0.0)  # energy into the system per jump
    bath_idx = np.asarray(bath_of + [-1])[ch]
    return np.stack([np.sum(np.where(bath_idx == b, de, 0.0), axis=1) for b in range(len(baths))], axis=1)
