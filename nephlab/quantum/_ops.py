"""Real-split operator kernels for the Lindblad right-hand side.

The adaptive integrators evolve a density matrix as a real array ``y`` of shape (2, n, n)
(real and imaginary parts). XLA's CPU code for elementwise complex arithmetic is several times
slower than for real arithmetic, and diffrax is most at home with real states, so every kernel
here works on real/imaginary pairs.

Operators come in two formats, chosen once per problem from its structure:

* ``dia``: a banded operator stored by diagonals. ``data[:, k, i] = A[i, i + offsets[k]]``
  (zero where ``i + offsets[k]`` falls outside), ``data`` of shape (2, n_off, n). A product
  ``A @ X`` is then a sum of shifted, scaled copies of ``X``: O(n_off n²) instead of O(n³).
  Ladder operators, number operators, Kerr terms and spin chains in the computational basis
  all fall in this format.
* ``dense``: ``data`` of shape (2, n, n); products are matrix products.

The functions are written for one system; batches are vectorised with ``jax.vmap``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

DIA_MAX_FRACTION = 0.25  # use the banded format when at most this fraction of diagonals is occupied


def occupied_offsets(mats: list[np.ndarray], tol: float = 0.0) -> tuple[int, ...]:
    """Offsets of the diagonals that hold a nonzero entry in any of ``mats`` (..., n, n)."""
    n = mats[0].shape[-1]
    offs = set()
    for m in mats:
        nz = np.abs(m).reshape(-1, n, n).max(axis=0) > tol
        i, j = np.nonzero(nz)
        offs.update((j - i).tolist())
    return tuple(sorted(offs)) if offs else (0,)


def choose_format(mats: list[np.ndarray]) -> tuple[str, tuple[int, ...]]:
    """``("dia", offsets)`` for banded operators, ``("dense", ())`` otherwise."""
    n = mats[0].shape[-1]
    offs = occupied_offsets(mats)
    if len(offs) <= max(3, int(DIA_MAX_FRACTION * (2 * n - 1))):
        return "dia", offs
    return "dense", ()


def to_dia(m: np.ndarray, offsets: tuple[int, ...]) -> np.ndarray:
    """Diagonals of ``m`` (..., n, n) as a real-split array (..., 2, n_off, n)."""
    n = m.shape[-1]
    out = np.zeros(m.shape[:-2] + (len(offsets), n), dtype=np.complex128)
    for k, off in enumerate(offsets):
        i = np.arange(max(0, -off), min(n, n - off))
        out[..., k, i] = m[..., i, i + off]
    return np.stack([out.real, out.imag], axis=-3)


def to_dense(m: np.ndarray) -> np.ndarray:
    """Real-split (..., 2, n, n) copy of ``m`` (..., n, n)."""
    return np.stack([m.real, m.imag], axis=-3)


def split(x) -> jnp.ndarray:
    """Complex (..., n, n) -> real (..., 2, n, n)."""
    x = jnp.asarray(x)
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-3)


def merge(y) -> jnp.ndarray:
    """Real (..., 2, n, n) -> complex (..., n, n)."""
    return y[..., 0, :, :] + 1j * y[..., 1, :, :]


def _shift_rows(x, k: int):
    """``out[i, :] = x[i + k, :]`` (zero outside)."""
    if k == 0:
        return x
    n = x.shape[-2]
    if k > 0:
        return jnp.pad(x[..., k:, :], [(0, 0)] * (x.ndim - 2) + [(0, k), (0, 0)])
    return jnp.pad(x[..., : n + k, :], [(0, 0)] * (x.ndim - 2) + [(-k, 0), (0, 0)])


def _shift_cols(x, k: int):
    """``out[:, j] = x[:, j + k]`` (zero outside)."""
    if k == 0:
        return x
    n = x.shape[-1]
    if k > 0:
        return jnp.pad(x[..., k:], [(0, 0)] * (x.ndim - 1) + [(0, k)])
    return jnp.pad(x[..., : n + k], [(0, 0)] * (x.ndim - 1) + [(-k, 0)])


def lmul(fmt: str, offsets: tuple[int, ...], a, y):
    """``A @ X`` for real-split ``a`` and ``y`` (2, n, m) (m = n for density matrices, 1 for kets).

    ``fmt="sparse"``: ``a`` is what :func:`to_sparse` or :func:`to_sparse_jump` return."""
    if fmt == "sparse":
        if isinstance(a, Diagonals):
            return _dia_lmul(a, y)
        if "p" in a:  # one nonzero per row: L X = l_i X[p_i, :]
            g = y[:, a["p"], :]
            lr, li = a["l"][0][:, None], a["l"][1][:, None]
            return jnp.stack([lr * g[0] - li * g[1], lr * g[1] + li * g[0]])
        return sparse_lmul(a, y)
    xr, xi = y[0], y[1]
    if fmt == "dense":
        ar, ai = a[0], a[1]
        return jnp.stack([ar @ xr - ai @ xi, ar @ xi + ai @ xr])
    outr = 0.0
    outi = 0.0
    for k, off in enumerate(offsets):
        dr, di = a[0, k][:, None], a[1, k][:, None]
        sh = _shift_rows(y, off)  # one shifted copy of both parts: half the kernels of two
        sr, si = sh[0], sh[1]
        outr = outr + dr * sr - di * si
        outi = outi + dr * si + di * sr
    return jnp.stack([outr, outi])


def rmul_adj(fmt: str, offsets: tuple[int, ...], a, y):
    """``X @ A†`` for real-split ``a`` and ``y`` (2, n, n)."""
    xr, xi = y[0], y[1]
    if fmt == "dense":
        ar, ai = a[0], a[1]
        # X A† = (xr + i xi)(arᵀ - i aiᵀ)
        return jnp.stack([xr @ ar.T + xi @ ai.T, xi @ ar.T - xr @ ai.T])
    outr = 0.0
    outi = 0.0
    for k, off in enumerate(offsets):
        dr, di = a[0, k][None, :], a[1, k][None, :]
        sh = _shift_cols(y, off)
        sr, si = sh[0], sh[1]
        # x[i, j+off] * conj(d[j])
        outr = outr + sr * dr + si * di
        outi = outi + si * dr - sr * di
    return jnp.stack([outr, outi])


def offset_phases(offsets, cos_e, sin_e) -> dict:
    """Phase factors e^{i(E_i - E_{i+k}) t} (real, imaginary parts, each (n,)) per offset k ≠ 0.

    ``cos_e``, ``sin_e`` are cos(E t), sin(E t) of the frame energies E (n,). Computed once per
    right-hand side and shared by every banded operator.
    """
    n = cos_e.shape[0]
    out = {}
    for off in sorted(set(offsets) - {0}):
        cj = _shift_vec(cos_e, off, n)
        sj = _shift_vec(sin_e, off, n)
        out[off] = (cos_e * cj + sin_e * sj, sin_e * cj - cos_e * sj)
    return out


def rotate(fmt: str, offsets: tuple[int, ...], a, cos_e, sin_e, phases: dict | None = None):
    """Interaction-picture transform ``Ã = e^{iEt} A e^{-iEt}`` of a real-split operator.

    ``cos_e``, ``sin_e`` are cos(E t), sin(E t) for the frame energies E (n,). Entry (i, j)
    picks up the phase e^{i(E_i - E_j) t}; the diagonal is unchanged. For banded operators,
    ``phases`` (from :func:`offset_phases`) may supply the per-offset factors.
    """
    if fmt == "dense":
        # phase_ij = (c_i + i s_i)(c_j - i s_j)
        pr = cos_e[:, None] * cos_e[None, :] + sin_e[:, None] * sin_e[None, :]
        pi = sin_e[:, None] * cos_e[None, :] - cos_e[:, None] * sin_e[None, :]
        return jnp.stack([a[0] * pr - a[1] * pi, a[0] * pi + a[1] * pr])
    if phases is None:
        phases = offset_phases(offsets, cos_e, sin_e)
    rows_r, rows_i = [], []
    for k, off in enumerate(offsets):
        if off == 0:
            rows_r.append(a[0, k])
            rows_i.append(a[1, k])
            continue
        pr, pi = phases[off]
        rows_r.append(a[0, k] * pr - a[1, k] * pi)
        rows_i.append(a[0, k] * pi + a[1, k] * pr)
    return jnp.stack([jnp.stack(rows_r), jnp.stack(rows_i)])


def _shift_vec(v, k: int, n: int):
    if k == 0:
        return v
    if k > 0:
        return jnp.pad(v[k:], (0, k))
    return jnp.pad(v[: n + k], (-k, 0))


# ---------------------------------------------------------------------------------------------
# "sparse": coordinate format, applied matrix-free
# ---------------------------------------------------------------------------------------------
#
# An operator is stored in one of two layouts, chosen per operator by :func:`to_sparse`:
#
# * ELL (rows padded to the longest row, ``w`` entries each): ``{"ev": (2, w, n) real-split
#   values, "ec": (w, n) columns}`` (padding: value 0, column 0). ``A @ X`` is a sum of ``w``
#   row gathers ``X[ec[k], :]`` scaled by ``ev[:, k]``: O(w n²) work, no temporary beyond one
#   gathered copy of X (in the compiled program, jax 0.10 CPU: each gather is written as an
#   (n, 2, 1, n) array, copied transposed, then fused into the multiply-add). This is the layout of
#   lattice operators, whose rows hold about the same number of entries. Measured at D = 729 (the
#   6-cavity Kerr lattice, nnz = 9800, w = 23, 2-core CPU): 11 ms per product, against 113 ms for
#   the coordinate layout below and 8 ms for SciPy's CSR product (5.1-6.2 ms in the loops of
#   benchmarks/rhs_profile.py, 2026-12-06, load 2-5).
# * COO (``{"v": (2, nnz) values, "r": (nnz,) rows, "c": (nnz,) columns}`` in row order), for
#   operators with a few long rows, where padding would waste work: ``A @ X`` gathers the rows
#   ``X[c, :]``, scales them and sums them into their rows with a sorted segment sum: O(nnz n)
#   work but an (nnz, n) temporary, memory-bound.
#
# The other side is never multiplied directly: for the Lindblad right-hand side
# ``X A† = (A X†)†``, one more left product and a transpose.
#
# Kets (``X`` of shape (2, n, 1), mcsolve) take a third layout when the operator occupies few
# diagonals, as lattice operators in the computational basis do (one offset per local transition
# and hop, about as many as the entries of a row): :class:`Diagonals`, ``A @ ψ`` a sum of
# shifted, scaled copies of ψ, read as static slices of one zero-padded copy. A row gather of a
# ket fetches one number per index, which XLA's CPU code does element by element; a slice is a
# contiguous, vectorised read. benchmarks/ket_product.py (2-core CPU, load 4.2, the qubit chain of
# benchmarks/mcsolve_sparse.py): D = 4096 (25 diagonals, ELL w = 24) 0.128 ms per product
# against 0.503 ms for ELL and 0.158 ms for SciPy's CSR product; D = 16384: 0.68 ms, ELL 2.7 ms,
# SciPy 0.69 ms. Density matrices keep ELL: there a row gather copies a contiguous row of n numbers.
# Checked again for the Kerr lattice of ``nephlab bench large`` (benchmarks/rhs_profile.py and
# variants, 2-core CPU, load 3-4, 2026-12-06): ``A @ ρ`` by diagonals (static row slices of one
# padded copy, 15 and 23 diagonals) took 0.046 ms at D = 81 and 7.9-8.9 ms at D = 729, against
# 0.039 ms and 6.2 ms for ELL; gathering from a (n, 2, n) transposed copy of ρ (which saves XLA
# the transposed copy it makes of each (n, 2, 1, n) gather) was as fast alone and slower inside
# the right-hand side. So the H_eff product stays ELL (see benchmarks/RESULTS.md, issue 15,
# 2026-12-06 16:24 UTC, for the whole profile).
#
# Jump operators whose entries lie on one diagonal (ladder operators of a lattice, local loss,
# projectors) are :class:`Diagonals` too: ``L ρ L†`` is ``l_i conj(l_j) ρ[i + o, j + o]``, a static
# 2-D slice of one zero-padded copy of ρ shared by all of them, and the terms are summed without
# a barrier, in one pass over the output. Before, each was two 1-D gathers (the column gather
# transposed twice by XLA) with its own barrier: one write of an n×n array per operator.
# benchmarks/rhs_profile.py, slices against gathers in one process (load 4.1): D = 81, 4 jumps
# 0.040 ms against 0.086, the whole right-hand side 0.140 against 0.265; D = 729 (load 7) even,
# one jump 2.1-2.6 ms either way on a quieter box (memory-bound: each reads and writes ρ once).
# Later (2026-12-06 17:07 UTC): the weights l_i conj(l_j) formed as n×n outer products made the
# slices 5-12x slower than two scalings by vectors at D = 729 (the 6 jumps 11.9 against 2.1 ms,
# the right-hand side 16.6 against 7.5 ms); and for Hermitian states the slices are summed into
# the product's accumulation (Z = A X + J/2, then Z + Z†, exactly Hermitian).
#
# Zero parts (2026-12-06 22:30 UTC): each ELL slot, and the diagonal of a one-diagonal jump
# operator, carries static :class:`Parts` flags saying whether its real and its imaginary part can
# be nonzero, and the kernels leave out the multiply-adds by parts that are zero. The ELL layout
# puts each row's diagonal entry in slot 0, so the other slots hold off-diagonal entries only:
# for A = -i H - ½ Σ L†L with a real H (Kerr and Bose-Hubbard lattices, spin chains with real
# couplings) those are imaginary, and local loss operators are real, so the product and the jump
# slices do half the multiply-adds (2 instead of 4 per complex entry). Values combined with
# complex coefficients mix the parts and drop the flags (:func:`with_values`). Results are the
# same sums without the terms that are exactly zero. benchmarks/rhs_profile.py and
# benchmarks/large_ab.py (RESULTS.md, issue 15, 2026-12-06 22:27 UTC): see there for the numbers.
# Tried for the same problem and not kept: the H_eff product by diagonals (static row slices of
# one padded copy, with and without the zero parts left out) as fast as ELL at D = 81 and slower
# at D = 729; the product in complex dtype (ELL gathers or diagonals) and a dense complex matmul,
# 2-3x slower at D = 81.

ELL_MAX_PADDING = 2.0  # ELL when w·n ≤ this × nnz (+ n): padding at most doubles the work
ELL_UNROLL = 32  # rows up to this long are unrolled into w fused gathers; longer ones loop (lax.scan)
# Kets: diagonals when n_diag·n ≤ this × nnz (+ n); one shifted diagonal costs about a quarter
# of one ELL row gather of a ket (measured above), so up to 3x padding still wins.
KET_DIA_MAX_PADDING = 3.0


@dataclass(frozen=True)
class Diagonals:
    """An operator by its occupied diagonals, for products with kets.

    ``data`` (2, n_diag, n) real-split with ``data[:, k, i] = A[i, i + offsets[k]]`` (zero where
    ``i + offsets[k]`` falls outside); ``offsets`` is static (part of the pytree structure, so
    the compiled program specialises its slices on it). Stored for a sum of terms
    (:func:`sparse_sum`), ``data`` is a list of such arrays, one per term.
    """

    data: Any
    offsets: tuple[int, ...]
    parts: Any = None  # Parts of the single diagonal of a jump operator, or None (all parts)


jax.tree_util.register_dataclass(Diagonals, data_fields=["data"], meta_fields=["offsets", "parts"])


@dataclass(frozen=True)
class Parts:
    """Which parts of each slot's values can be nonzero: ``re[k]`` / ``im[k]`` for slot ``k``
    of an ELL layout (key ``"parts"``) or the diagonal of a single-diagonal jump operator
    (:class:`Diagonals` ``parts``). A pytree with no leaves: the flags are static, so the kernels
    leave out the multiply-adds by parts that are zero (-i H of a real H is imaginary off the
    diagonal, a lattice's loss operators are real: half the work of those slots). Valid while the
    terms are combined with real coefficients; :func:`without_parts` drops it otherwise.
    """

    re: tuple[bool, ...]
    im: tuple[bool, ...]


jax.tree_util.register_dataclass(Parts, data_fields=[], meta_fields=["re", "im"])


def _parts(vals: list, axis_len: int) -> Parts:
    """:class:`Parts` of real-split value arrays ``vals`` (each (2, axis_len, ...)): a part of a
    slot is kept when any term has a nonzero there."""
    re = tuple(bool(any(np.any(v[0, k]) for v in vals)) for k in range(axis_len))
    im = tuple(bool(any(np.any(v[1, k]) for v in vals)) for k in range(axis_len))
    return Parts(re, im)


def without_parts(a):
    """The layout ``a`` with every part taken as possibly nonzero (for values combined with
    complex coefficients, which mix the real and imaginary parts)."""
    if isinstance(a, Diagonals):
        return Diagonals(a.data, a.offsets)
    if isinstance(a, dict) and "parts" in a:
        return {k: v for k, v in a.items() if k != "parts"}
    return a


def _diagonals(csr, vals: list) -> Diagonals | None:
    """``csr`` as :class:`Diagonals` when that pads it at most :data:`KET_DIA_MAX_PADDING`-fold;
    ``data`` holds one real-split array per entry of ``vals`` (values in ``csr.data``'s order)."""
    coo = csr.tocoo()
    off = coo.col.astype(np.int64) - coo.row
    offsets = np.unique(off)
    n = csr.shape[0]
    if offsets.size == 0 or offsets.size * n > KET_DIA_MAX_PADDING * csr.nnz + n:
        return None
    slot = np.searchsorted(offsets, off)
    data = []
    for v in vals:
        full = np.zeros((offsets.size, n), np.complex128)
        full[slot, coo.row] = v
        data.append(np.stack([full.real, full.imag]))
    return Diagonals(data, tuple(int(o) for o in offsets))


def _dia_lmul(a: Diagonals, y):
    """``A @ X`` for :class:`Diagonals` ``a`` and real-split ``y`` (2, n, m): one zero-padded
    copy of ``y``, then a static slice per diagonal (no per-diagonal pad, no gather)."""
    n = y.shape[-2]
    lo, hi = max(0, -a.offsets[0]), max(0, a.offsets[-1])
    yp = jnp.pad(y, [(0, 0), (lo, hi), (0, 0)])
    # i·s in real-split form, (-s_i, s_r), as one (2, ...) array: no stack of the two parts, so
    # under vmap the output keeps the batch axis in front and XLA does not compute the product
    # twice for two layouts (measured in mcsolve: each stage's product ran twice). Callers pin
    # the result (mcsolve: ``_rk.materialize``) so that it is not fused into each consumer.
    rot = jnp.asarray([-1.0, 1.0], y.dtype)[:, None, None]
    out = 0.0
    for k, off in enumerate(a.offsets):
        s = yp[:, lo + off: lo + off + n]
        out = out + a.data[0, k][:, None] * s + a.data[1, k][:, None] * (rot * s[::-1])
    return out


def _is_ell(csr) -> bool:
    w = int(np.diff(csr.indptr).max(initial=0))
    return 0 < w and w * csr.shape[0] <= ELL_MAX_PADDING * csr.nnz + csr.shape[0]


def gathered_rows(m) -> int:
    """Rows of ``X`` (each n numbers) that one product ``A @ X`` gathers at once, for the memory
    estimate: ``n`` in the ELL layout (one row gather per slot), ``nnz`` in the COO layout."""
    import scipy.sparse as sp

    csr = sp.csr_matrix(m)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return int(csr.shape[0]) if _is_ell(csr) else int(csr.nnz)


def _canonical(m):
    """``m`` as complex128 CSR with sorted, summed indices and no stored zeros."""
    import scipy.sparse as sp

    csr = sp.csr_matrix(m, dtype=np.complex128)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    return csr


def _split(v) -> np.ndarray:
    return np.stack([v.real, v.imag])


def _layout(csr, vals: list, ket: bool, jump: bool) -> dict | Diagonals:
    """The layout of the pattern ``csr`` (see the comment above) with one real-split value array
    per entry of ``vals`` ((nnz,) complex each, in ``csr.data``'s order), as a list under the
    layout's value key (:func:`term_values`)."""
    n = csr.shape[0]
    counts = np.diff(csr.indptr)
    rows = np.repeat(np.arange(n), counts)
    if jump and counts.max(initial=0) <= 1:
        if np.unique(csr.indices - rows).size == 1 and (dia := _diagonals(csr, vals)) is not None:
            # one occupied diagonal (ladder, local loss, projector): L X L† is a slice
            return Diagonals(dia.data, dia.offsets, _parts(dia.data, 1))
        p = np.zeros(n, np.int32)
        p[rows] = csr.indices
        ls = []
        for v in vals:
            lv = np.zeros(n, np.complex128)
            lv[rows] = v
            ls.append(_split(lv))
        return {"p": p, "l": ls}
    if ket and not jump and (dia := _diagonals(csr, vals)) is not None:
        return dia
    idx = np.int32 if n < 2**31 else np.int64
    if _is_ell(csr):
        w = int(counts.max())
        slot = _diagonal_first(csr, rows, counts)
        cols = np.zeros((w, n), idx)
        cols[slot, rows] = csr.indices
        evs = []
        for v in vals:
            full = np.zeros((w, n), np.complex128)
            full[slot, rows] = v
            evs.append(_split(full))
        return {"ev": evs, "ec": cols, "parts": _parts(evs, w), **_adjoint_ell(csr, slot, rows, w, idx)}
    return {"v": [_split(np.asarray(v)) for v in vals], "r": rows.astype(idx), "c": csr.indices.astype(idx)}


def _diagonal_first(csr, rows, counts) -> np.ndarray:
    """ELL slot of each entry of ``csr``: its position within its row, except that a diagonal
    entry goes to slot 0 (the entries before it move up by one). Slot 0 then holds the diagonal
    of every row that has one, so the other slots hold off-diagonal entries only, whose values
    are often of one part only (:class:`Parts`: -i H of a real H is imaginary there)."""
    slot = np.arange(csr.nnz) - np.repeat(csr.indptr[:-1], counts)  # position within its row
    on_diag = csr.indices == rows
    dpos = np.full(csr.shape[0], -1)
    dpos[rows[on_diag]] = slot[on_diag]
    return np.where(on_diag, 0, slot + (slot < dpos[rows]))


_VALUE_KEYS = ("ev", "v", "l")


def term_values(a: dict | Diagonals):
    """The value field of a sparse layout (an array, or a list of per-term arrays)."""
    if isinstance(a, Diagonals):
        return a.data
    return a[next(k for k in _VALUE_KEYS if k in a)]


def with_values(a: dict | Diagonals, values, keep_parts: bool = False) -> dict | Diagonals:
    """The layout ``a`` with its value field replaced by ``values`` (same shape as one term's).
    With ``keep_parts`` the :class:`Parts` flags of ``a`` stay: only for values whose zero parts
    are those of the stored terms (a sum of them with real coefficients); otherwise every part
    is used."""
    if isinstance(a, Diagonals):
        return Diagonals(values, a.offsets, a.parts if keep_parts else None)
    key = next(k for k in _VALUE_KEYS if k in a)
    out = {**a, key: values}
    return out if keep_parts else without_parts(out)


def union_pattern(mats: list):
    """The union of the nonzero patterns of ``mats`` (scipy.sparse or arrays) as canonical CSR
    (entries positive: a sum of moduli, so no entry of the union cancels)."""
    csrs = [_canonical(m) for m in mats]
    return _canonical(sum(abs(c) for c in csrs))


def sparse_sum(mats: list, ket: bool = False, jump: bool = False) -> dict | Diagonals:
    """Sparse data of ``Σ_j c_j mats[j]`` for coefficients ``c_j`` known only at run time: the
    layout of the union pattern of ``mats`` (as :func:`to_sparse`, or :func:`to_sparse_jump`
    with ``jump``) with a list of per-term value arrays, all on that pattern. At time ``t`` the
    operator is ``with_values(data, Σ_j c_j(t) term_values(data)[j])``: O(J nnz) to combine, then
    one product over the union pattern (whose rows are at most as long as the sum of the terms').

    Example:
        >>> a = np.diag([1.0, 2.0], 1)
        >>> d = sparse_sum([a + a.T, np.diag([0.0, 1.0, 2.0])])
        >>> len(term_values(d)), term_values(d)[0].shape  # two terms on one ELL pattern (w = 3)
        (2, (2, 3, 3))
    """
    pattern = union_pattern(mats)
    coo = pattern.tocoo()
    vals = [np.asarray(_canonical(m)[coo.row, coo.col]).ravel() for m in mats]
    return _layout(pattern, vals, ket, jump)


def _single(a: dict | Diagonals) -> dict | Diagonals:
    return with_values(a, term_values(a)[0], keep_parts=True)


def to_sparse(m, ket: bool = False) -> dict | Diagonals:
    """Real-split coordinate data of ``m`` (a scipy.sparse matrix or an (n, n) array); with
    ``ket`` (products with kets only) :class:`Diagonals` where few diagonals are occupied."""
    csr = _canonical(m)
    return _single(_layout(csr, [csr.data], ket, False))


def to_sparse_jump(m) -> dict | Diagonals:
    """Sparse data of a jump operator: like :func:`to_sparse`, or, when every row holds at most
    one nonzero, either :class:`Diagonals` with one offset ``o`` when the entries lie on one
    diagonal (ladder operators of a lattice, local loss, projectors; ``L X L†`` is then the
    static slice ``l_i conj(l_j) X[i + o, j + o]``), or ``{"p": (n,) column of each row, "l":
    (2, n) its value}``, for which ``L X L†`` is one gather ``l_i conj(l_j) X[p_i, p_j]``.

    Example:
        >>> to_sparse_jump(np.diag([1.0, 2.0], 1)).offsets  # a lowering operator
        (1,)
        >>> sorted(to_sparse_jump(np.array([[0, 1.0, 0], [0, 0, 0], [1.0, 0, 0]])))  # two diagonals
        ['l', 'p']
    """
    csr = _canonical(m)
    return _single(_layout(csr, [csr.data], False, True))


def _slice_sandwiches(Ls: list[Diagonals], y):
    """``Σ_k L_k X L_k†`` for single-diagonal jump operators (offset ``o_k``, values ``l_k``):
    ``l_i conj(l_j) X[i + o_k, j + o_k]``, a static 2-D slice of one zero-padded copy of ``y``
    (2, n, n) per operator, scaled by conj(l_j) along its rows and by l_i down its columns. No
    barrier between the terms: XLA sums them in one pass over the output (one write instead of
    one per operator).
    """
    n = y.shape[-1]
    offs = [L.offsets[0] for L in Ls]
    lo, hi = max(0, -min(offs)), max(0, max(offs))
    yp = jnp.pad(y, [(0, 0), (lo, hi), (lo, hi)])
    outr, outi = 0.0, 0.0
    for L, off in zip(Ls, offs):
        s = yp[:, lo + off: lo + off + n, lo + off: lo + off + n]
        lr, li = L.data[0, 0], L.data[1, 0]
        if L.parts is not None and not L.parts.im[0]:
            # real l (local loss, ladder operators): l_i l_j X[i + o, j + o], two real scalings
            outr = outr + lr[:, None] * (s[0] * lr[None, :])
            outi = outi + lr[:, None] * (s[1] * lr[None, :])
            continue
        # t = X[i + o, j + o] conj(l_j), then l_i t: two complex scalings by vectors, and the real
        # and imaginary sums kept apart until one stack at the end. Forming the weights l_i conj(l_j)
        # as n×n outer products (with or without a stack per term) was 5-12x slower at D = 729:
        # 11.9 against 2.1 ms for the 6 jumps (benchmarks/rhs_profile.py, load 5.3-6.8; RESULTS.md,
        # issue 15, 2026-12-06 17:07 UTC); 0.032 against 0.029 ms at D = 81.
        tr = s[0] * lr[None, :] + s[1] * li[None, :]
        ti = s[1] * lr[None, :] - s[0] * li[None, :]
        outr = outr + lr[:, None] * tr - li[:, None] * ti
        outi = outi + lr[:, None] * ti + li[:, None] * tr
    return jnp.stack([outr, outi])


def sandwich(L: dict | Diagonals, y):
    """``L X L†`` for jump data from :func:`to_sparse_jump` and real-split ``y`` (2, n, n)."""
    if isinstance(L, Diagonals):
        return _slice_sandwiches([L], y)
    if "p" not in L:
        return sparse_lmul(L, adjoint(sparse_lmul(L, adjoint(y))))
    p, lr, li = L["p"], L["l"][0], L["l"][1]
    g = y[:, p, :][:, :, p]  # two 1-D gathers: rows (contiguous copies), then columns
    # w_ij = l_i conj(l_j)
    wr = lr[:, None] * lr[None, :] + li[:, None] * li[None, :]
    wi = li[:, None] * lr[None, :] - lr[:, None] * li[None, :]
    return jax.lax.optimization_barrier(jnp.stack([wr * g[0] - wi * g[1], wr * g[1] + wi * g[0]]))


def _ell_slot(y, acc, k_data):
    """``acc + v_k ∘ X[cols_k, :]`` (real, imaginary pair) for one ELL slot ``(cols_k, vr_k, vi_k)``."""
    cols, vr, vi = k_data
    g = y[:, cols, :]
    vr, vi = vr[:, None], vi[:, None]
    return (acc[0] + vr * g[0] - vi * g[1], acc[1] + vr * g[1] + vi * g[0])


def _ell_lmul(a: dict, y):
    """``A @ X`` for ELL data ``a`` (see :func:`to_sparse`): ``w`` scaled row gathers."""
    def term(acc, k_data):
        return _ell_slot(y, acc, k_data)

    acc = (jnp.zeros(y.shape[1:], y.dtype), jnp.zeros(y.shape[1:], y.dtype))
    w = a["ec"].shape[0]
    parts = a.get("parts")
    if w <= ELL_UNROLL and parts is not None:
        return _ell_lmul_parts(a, parts, y)
    if w <= ELL_UNROLL:
        for k in range(w):
            acc = term(acc, (a["ec"][k], a["ev"][0, k], a["ev"][1, k]))
    else:
        acc, _ = jax.lax.scan(lambda c, x: (term(c, x), None), acc, (a["ec"], a["ev"][0], a["ev"][1]))
    return jnp.stack(acc)


def _ell_lmul_parts(a: dict, parts: Parts, y):
    """:func:`_ell_lmul` unrolled, leaving out the multiply-adds by the parts that
    :class:`Parts` marks zero (the sums are otherwise the same, in the same order)."""
    zr, zi = None, None
    for k in range(a["ec"].shape[0]):
        g = y[:, a["ec"][k], :]
        terms_r, terms_i = [], []
        if parts.re[k]:
            vr = a["ev"][0, k][:, None]
            terms_r.append(vr * g[0])
            terms_i.append(vr * g[1])
        if parts.im[k]:
            vi = a["ev"][1, k][:, None]
            terms_r.append(-(vi * g[1]))
            terms_i.append(vi * g[0])
        for tr, ti in zip(terms_r, terms_i):
            zr = tr if zr is None else zr + tr
            zi = ti if zi is None else zi + ti
    if zr is None:
        return jnp.zeros_like(y)
    return jnp.stack([zr, zi])


def _adjoint_ell(csr, slot, rows, w: int, idx) -> dict:
    """The ELL layout of ``A†`` as gathers of ``A``'s ELL values, for the reverse rule of
    :func:`_ell_product`: ``{"tc": (w', n) columns of A† (padding 0), "tp": (w', n) position of
    each entry of A† in A's flattened (w n) value slots (padding w n, a zero appended there)}``.
    Entry (j, i) of ``A†`` is ``conj(A[i, j])``: its values are a conjugated permutation of A's,
    so they follow the per-stage combined values without a layout of their own."""
    n = csr.shape[0]
    cols = csr.indices
    order = np.lexsort((rows, cols))  # A's entries by row of A† (column of A), then column
    tcounts = np.bincount(cols, minlength=n)
    tw = max(int(tcounts.max(initial=0)), 1)
    tslot = np.arange(csr.nnz) - np.repeat(np.cumsum(tcounts) - tcounts, tcounts)
    tc = np.zeros((tw, n), idx)
    tp = np.full((tw, n), w * n, idx)
    tc[tslot, cols[order]] = rows[order]
    tp[tslot, cols[order]] = (slot * n + rows)[order]
    return {"tc": tc, "tp": tp}


def _ell_adjoint_lmul(a: dict, g):
    """``A† @ G`` for ELL data ``a`` with its adjoint layout (:func:`_adjoint_ell`): ``A``'s
    values permuted and conjugated into ``A†``'s slots (a gather of w n numbers), then row gathers."""
    v = a["ev"].reshape(2, -1)
    v = jnp.concatenate([v, jnp.zeros((2, 1), v.dtype)], axis=1)[:, a["tp"]]
    return jax.lax.optimization_barrier(_ell_lmul({"ev": v * jnp.asarray([1.0, -1.0], v.dtype)[:, None, None],
                                                   "ec": a["tc"]}, g))


@jax.custom_jvp
def _ell_product(a: dict, y):
    """``A @ X`` for ELL data ``a`` with hand-written derivatives: without them, reverse mode
    transposes every row gather into a scatter-add, which XLA's CPU code runs slowly
    (benchmarks/gradient.py --lattice 4, D = 81, value-and-grad: warm 2.8 s CPU with the
    scatters, 1.7 s without; see benchmarks/RESULTS.md). The tangent
    ``A Ẋ + Ȧ X`` is written so that its transpose is gathers only: ``A Ẋ`` as a
    ``custom_linear_solve`` whose "solve" is the product and whose transposed solve is ``A† G``
    (:func:`_ell_adjoint_lmul`), ``Ȧ X`` as row gathers of the primal X (its transpose in Ȧ
    is a row-wise dot). The primal is :func:`_ell_lmul`, unchanged."""
    return _ell_lmul(a, y)


def _ell_product_jvp(primals, tangents):
    a, y = primals
    da, dy = tangents
    out = _ell_lmul(a, y)
    a_const = jax.lax.stop_gradient(a)
    d_out = jnp.zeros_like(out)
    if not isinstance(dy, SymbolicZero):
        d_out = jax.lax.custom_linear_solve(
            lambda x: x, dy,
            solve=lambda _, b: _ell_lmul(a_const, b),
            transpose_solve=lambda _, g: _ell_adjoint_lmul(a_const, g),
        )
    if not isinstance(da["ev"], SymbolicZero):
        d_out = d_out + _ell_value_tangent(da["ev"], a["ec"], y)
    return out, d_out


def _ell_value_tangent(dv, cols, y):
    """``Ȧ X`` for ELL values ``dv`` (2, w, n) on the columns ``cols`` (w, n): the row gathers of
    :func:`_ell_lmul` as a loop over the ``w`` slots, each recomputing its gather of the primal X
    (``jax.checkpoint``: no (w, 2, n, n) stack of residuals). Its transpose in ``dv`` is then one
    loop whose body holds the four row-wise dot products of one slot; unrolled, each slot's four
    reductions were kernels of their own in the compiled gradient (60 of the ~300 of one
    transposed right-hand side at D = 81)."""
    term = jax.checkpoint(lambda acc, k_data: _ell_slot(y, acc, k_data))
    acc = (jnp.zeros(y.shape[1:], y.dtype), jnp.zeros(y.shape[1:], y.dtype))
    acc, _ = jax.lax.scan(lambda c, x: (term(c, x), None), acc, (cols, dv[0], dv[1]))
    return jnp.stack(acc)


_ell_product.defjvp(_ell_product_jvp, symbolic_zeros=True)


def sparse_lmul(a: dict, y):
    """``A @ X`` for sparse ``a`` (see :func:`to_sparse`) and real-split ``y`` (2, n, n)."""
    if "ec" in a:
        # the barrier keeps XLA from fusing the gathers into consumers such as ``z + z†`` (which
        # would redo them in transposed, cache-hostile order: 0.73 s instead of 0.15 s per
        # right-hand side at D = 729)
        return jax.lax.optimization_barrier(_ell_product(a, y) if "tc" in a else _ell_lmul(a, y))
    n = y.shape[-2]
    g = y[:, a["c"], :]  # (2, nnz, n)
    vr, vi = a["v"][0][:, None], a["v"][1][:, None]
    pr = vr * g[0] - vi * g[1]
    pi = vr * g[1] + vi * g[0]
    p = jnp.stack([pr, pi], axis=1)  # (nnz, 2, n): one segment sum for both parts
    out = jax.ops.segment_sum(p, a["r"], num_segments=n, indices_are_sorted=True)
    return jnp.moveaxis(out, 1, 0)


def adjoint(y):
    """``X†`` of a real-split ``y`` (2, n, n)."""
    return jnp.stack([y[0].T, -y[1].T])


# Small states (n ≤ UNPARTITIONED_MAX_N): Z = A X + J/2 is written as an in-place update of a
# buffer (see _unpartitioned). XLA's CPU compiler splits every loop fusion that its cost model
# deems worth it into one task per core (``outer_dimension_partitions``), and on the 2-core box its
# model splits the product and the jump loops of a D = 81 right-hand side in two: each half is a
# few microseconds of work, and handing it to the other thread and waiting for it costs more than
# it saves (main's D = 81 solves compiled without partitions ran in ~3/4 of the wall time and
# half the CPU time on two cores). The compiler leaves a fusion whose root may be an in-place
# dynamic-update-slice unpartitioned; XLA then also fuses the product and the jumps into one loop.
# Measured with benchmarks/rhs_partitions.py and benchmarks/large_ab.py: benchmarks/RESULTS.md,
# "2026-12-07, the D = 81 right-hand side (branch h27rhs)". Larger states keep the partitions,
# which pay off there (milliseconds per loop at D = 729). The Runge–Kutta stage sums use the same
# bound (_rk.pin).
UNPARTITIONED_MAX_N = 128


def _unpartitioned(z, y, offset):
    """``z`` (2, n, n) as computed, but produced by XLA as an in-place dynamic update of a
    (2, n + 1, n) buffer at row ``offset`` (any integer scalar known only at run time: the
    update and the read-back clamp it alike, to 0 or 1, so the result is ``z``). XLA's CPU
    parallel task assigner does not split such a loop across threads (see the comment above); an
    offset that is not a compile-time constant keeps the update from being simplified away, and
    one that does not depend on ``y`` keeps it an update under ``jax.vmap`` (a batched offset
    would make it a scatter). The buffer is filled with a value of ``y`` (never read): one per
    call, where a shared constant buffer would be copied for each in-place update."""
    zero = jnp.zeros((), offset.dtype)
    buf = jnp.broadcast_to(y[0, 0, 0], (2, z.shape[1] + 1, z.shape[2])).astype(z.dtype)
    buf = jax.lax.dynamic_update_slice(buf, z, (zero, offset, zero))
    return jax.lax.dynamic_slice(buf, (zero, offset, zero), z.shape)


def sparse_lindblad(a: dict, jumps: list, y, hermitian: bool):
    """``A X + X A† + Σ_k L_k X L_k†`` for sparse ``a`` (A = -i H_eff) and jump operators.

    ``jumps`` come from :func:`to_sparse_jump`. With ``hermitian`` (X = X† exactly, as for a
    density matrix whose initial value is exactly Hermitian) ``X A† = (A X)†``: one product
    with A instead of two; otherwise ``X A† = (A X†)†``.
    """
    y = jax.lax.optimization_barrier(y)  # materialise a fused stage input (y0 + h Σ b k) once, not per gather
    if hermitian:
        # A X + X A† + J = Z + Z† with Z = A X + J/2 (J = Σ L X L† is Hermitian): the output is
        # exactly Hermitian, as the shortcut assumes of X (the slices' vector scalings round
        # l_i conj(l_j) X_ij and its mirror differently), and the jump slices are summed in the
        # product's row-wise loop instead of the loop that reads Z transposed. Speed: even to
        # 1.4x faster at D = 729, even to 5 % slower at D = 81 (RESULTS.md, issue 15, 2026-12-06
        # 17:07 UTC).
        # (no barrier after the product, unlike sparse_lmul: the jump slices join its loop; the
        # ELL product keeps its hand-written derivatives where the layout has them)
        if isinstance(a, dict) and "ec" in a:
            z = _ell_product(a, y) if "tc" in a else _ell_lmul(a, y)
        else:
            z = sparse_lmul(a, y)
        if jumps:
            z = z + 0.5 * jump_terms(jumps, y)
        if y.shape[-1] <= UNPARTITIONED_MAX_N and isinstance(a, dict) and "ec" in a:
            # the offset: an ELL column index (run-time data, shared by a batch)
            z = _unpartitioned(z, y, a["ec"][0, 0])
        # the barrier keeps the gathers out of the transposed read of ``Z + Z†`` (see sparse_lmul)
        z = jax.lax.optimization_barrier(z)
        return z + adjoint(z)
    else:
        z = sparse_lmul(a, y) + adjoint(sparse_lmul(a, adjoint(y)))
    return z + jump_terms(jumps, y) if jumps else z


def jump_terms(jumps: list, y):
    """``Σ_k L_k X L_k†`` for jump data from :func:`to_sparse_jump` (non-empty list) and
    real-split ``y`` (2, n, n): the single-diagonal operators together in one pass
    (:func:`_slice_sandwiches`), the others one by one (:func:`sandwich`).

    Example:
        >>> L = to_sparse_jump(np.diag([1.0, 2.0], 1))
        >>> np.asarray(jump_terms([L], split(np.diag([0.2, 0.3, 0.5]))))[0].tolist()
        [[0.3, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
    """
    slices = [L for L in jumps if isinstance(L, Diagonals)]
    out = _slice_sandwiches(slices, y) if slices else None
    for L in jumps:
        if not isinstance(L, Diagonals):
            out = sandwich(L, y) if out is None else out + sandwich(L, y)
    return out
