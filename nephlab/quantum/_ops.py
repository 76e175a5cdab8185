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

import jax.numpy as jnp
import numpy as np

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
    """``A @ X`` for real-split ``a`` and ``y`` (2, n, n)."""
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
