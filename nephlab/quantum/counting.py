"""Full counting statistics of quantum jumps: the tilted Liouvillian, its SCGF θ(s) and the
zero-frequency cumulants of a weighted jump current.

Counted quantity. Each collapse operator ``L_k`` gets a weight ``w_k`` (0: not counted, ±1 for a
net particle current, ±ω for the energy a jump carries), and ``A_t = Σ_k w_k N_k(t)`` where
``N_k(t)`` is the number of jumps of channel k up to time t.

SCGF sign convention: the one of :mod:`nephlab.largedev` (the s-ensemble convention),

    θ(s) = lim_{t→∞} (1/t) ln ⟨exp(-s A_t)⟩          (units 1/time, s in 1/[w]),

so ``θ(0) = 0``, ``-θ'(0)`` is the mean current and θ is convex. θ(s) is the eigenvalue of largest
real part of the tilted Liouvillian (jump terms ``L_k ρ L_k† → e^{-s w_k} L_k ρ L_k†``)

    L_s(ρ) = -i[H, ρ] + Σ_k ( e^{-s w_k} L_k ρ L_k† - ½{L_k†L_k, ρ} ).

Cumulants. ``θ(s) = Σ_{n≥1} κ_n (-s)^n / n!``, so ``κ_n = (-1)^n θ^{(n)}(0)``: ``κ_1`` is the mean
current, ``κ_2`` the zero-frequency noise (the growth rate of the variance of A_t), ``κ_2/κ_1``
the Fano factor. They are computed exactly (to round-off) by the recursive Rayleigh–Schrödinger
perturbation scheme of Flindt et al., PRB 82, 155407 (2010) (the idea behind QuTiP's
``countstat_current_noise``): with χ = -s, ``L(χ) = Σ_n χ^n/n! 𝓛_n``, ``𝓛_0 = L``,
``𝓛_n = Σ_k w_k^n 𝒥_k`` (``𝒥_k ρ = L_k ρ L_k†``), the steady state ``ρ_0`` and the pseudo-inverse
``R`` of ``L`` on traceless operators,

    κ_n = Σ_{m=1}^{n} C(n, m) Tr[𝓛_m ρ_{n-m}],
    ρ_n = R Σ_{m=1}^{n} C(n, m) (κ_m - 𝓛_m) ρ_{n-m},      Tr ρ_n = 0  (n ≥ 1).

``R`` is applied by one LU factorisation of the non-singular ``L + |σ⟩⟩⟨⟨1|`` (σ a unit-trace
operator), dense (LAPACK) or sparse (SuperLU), followed by the projection onto traceless
operators. The stationary state must be unique.

Vectorisation: row-major, as :func:`nephlab.quantum.liouvillian` (``vec(AρB) = (A ⊗ Bᵀ) vec(ρ)``);
a QuTiP ``Qobj`` in gives a QuTiP ``super`` out in QuTiP's column-stacking convention.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.sparse as sparse
import scipy.sparse.linalg as spla

from .. import _config  # noqa: F401  (enables float64)
from .._result import ResultBase, attr, coord, var
from .._validate import one_of, real_array, real_number
from ._convert import to_jax
from .superop import _kron, _liouvillian_core, _qutip_out, _stack_system

__all__ = ["CountingResult", "counting_statistics", "tilted_liouvillian"]

METHODS = ("auto", "dense", "arnoldi")
AUTO_DENSE_MAX_N2 = 400
"""``method="auto"`` uses the dense path when n² ≤ this (n ≤ 20), else Arnoldi."""

_DENSE_CHUNK_BYTES = 256 * 2**20


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _weights(weights: Any, K: int) -> np.ndarray:
    if isinstance(weights, (int, float, np.number)) and not isinstance(weights, bool):
        raise TypeError(f"weights must be a sequence with one real weight per collapse operator ({K}), "
                        f"got the scalar {weights!r}; wrap it as [{weights!r}]")
    w = real_array(weights, "weights")
    if w.ndim != 1 or w.shape[0] != K:
        raise ValueError(f"weights must hold one real weight per collapse operator: shape ({K},) for "
                         f"{K} c_ops, got shape {w.shape}")
    return w


def _factors(s: float, w: np.ndarray) -> np.ndarray:
    """``e^{-s w_k} - 1`` per channel; a ValueError naming ``s`` when it overflows."""
    with np.errstate(over="ignore"):
        f = np.expm1(-s * w)
    if not np.all(np.isfinite(f)):
        raise ValueError(f"s = {s!r} overflows the tilted jump rates exp(-s w_k) for weights {w.tolist()}; "
                         "use a smaller |s|")
    return f


def _order(order: Any) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise TypeError(f"order must be an int >= 1 (the highest cumulant), got {order!r} of type "
                        f"{type(order).__name__}")
    if order < 1:
        raise ValueError(f"order must be an int >= 1 (the highest cumulant), got {order!r}")
    return int(order)


# --------------------------------------------------------------------------------------------
# tilted Liouvillian (public, JAX, batched like liouvillian)
# --------------------------------------------------------------------------------------------


@jax.jit
def _tilted_core(H: jnp.ndarray, C: jnp.ndarray, f: jnp.ndarray) -> jnp.ndarray:
    """Row-major L_s = L + Σ_k f_k C_k ⊗ C_k*, with f_k = e^{-s w_k} - 1; C (..., K, n, n)."""
    L = _liouvillian_core(H, C)
    if C.shape[-3]:
        J = _kron(C, jnp.conj(C))  # (..., K, n², n²)
        L = L + jnp.einsum("k,...kab->...ab", f.astype(J.dtype), J)
    return L


def tilted_liouvillian(H: Any, c_ops: Sequence[Any], weights: Any, s: float) -> jax.Array:
    """Tilted Lindblad generator ``L_s`` of full counting statistics (row-major, like
    :func:`~nephlab.quantum.liouvillian`).

    ``L_s(ρ) = -i[H, ρ] + Σ_k (e^{-s w_k} L_k ρ L_k† - ½{L_k†L_k, ρ})``: the jump term of each
    channel is multiplied by ``e^{-s w_k}``; the anticommutator is not tilted. Its eigenvalue of
    largest real part is the SCGF ``θ(s) = lim (1/t) ln ⟨exp(-s A_t)⟩`` of ``A_t = Σ_k w_k N_k(t)``,
    the sign convention of :mod:`nephlab.largedev` (``s > 0`` favours small A). ``L_0`` is the
    Liouvillian.

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1).
        c_ops: list of K collapse operators (..., n, n), units sqrt(rate); batch axes broadcast.
        weights: K real weights (units [w]: 0 = not counted, ±1 for net currents, energies for heat).
        s: real, finite counting field (units 1/[w]).

    Returns:
        (..., n², n²) complex128 ``jax.Array`` (``vec(AρB) = (A ⊗ Bᵀ) vec(ρ)``); a QuTiP ``super``
        ``Qobj`` (column stacking) when ``H`` or a collapse operator is a ``Qobj``.

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum import liouvillian, sigmam, sigmax
        >>> H, c = 0.5 * sigmax(), [sigmam()]
        >>> bool(jnp.allclose(tilted_liouvillian(H, c, [1.0], 0.0), liouvillian(H, c)))
        True
        >>> Ls = tilted_liouvillian(H, c, [1.0], 0.3)
        >>> Ls.shape
        (4, 4)
    """
    Hb, C = _stack_system(H, c_ops)
    w = _weights(weights, C.shape[-3])
    sv = real_number(s, "s")
    out = _tilted_core(to_jax(Hb), to_jax(C), jnp.asarray(_factors(sv, w)))
    return _qutip_out(out, [("H", H), ("c_ops", c_ops)], superop=True)


# --------------------------------------------------------------------------------------------
# host-side superoperators (SciPy): L and the jump superoperators, sparse
# --------------------------------------------------------------------------------------------


def _sparse_parts(H: np.ndarray, C: np.ndarray) -> tuple[sparse.csr_matrix, list[sparse.csr_matrix]]:
    """Row-major sparse Liouvillian L and jump superoperators J_k = C_k ⊗ C_k* (each n² × n²)."""
    n = H.shape[-1]
    eye = sparse.identity(n, dtype=np.complex128, format="csr")
    Heff = H - 0.5j * sum((c.conj().T @ c for c in C), np.zeros((n, n), np.complex128))
    Hs = sparse.csr_matrix(Heff)
    L = -1j * (sparse.kron(Hs, eye, format="csr") - sparse.kron(eye, Hs.conj(), format="csr"))
    Js = []
    for c in C:
        cs = sparse.csr_matrix(c)
        Js.append(sparse.kron(cs, cs.conj(), format="csr"))
    L = L + sum(Js, sparse.csr_matrix((n * n, n * n), dtype=np.complex128))
    return L.tocsr(), Js


def _tilted_sparse(L: sparse.csr_matrix, Js: list, w: np.ndarray, s: float) -> sparse.csr_matrix:
    out = L.copy()
    for J, f in zip(Js, _factors(s, w)):
        if f != 0.0:
            out = out + f * J
    return out.tocsr()


def _theta_dense(L: np.ndarray, Js: list[np.ndarray], w: np.ndarray, s: np.ndarray) -> np.ndarray:
    N = L.shape[0]
    F = np.stack([_factors(float(si), w) for si in s]) if len(Js) else np.zeros((len(s), 0))
    Jst = np.stack(Js) if Js else np.zeros((0, N, N), np.complex128)
    chunk = max(1, _DENSE_CHUNK_BYTES // (16 * N * N))
    out = np.empty(len(s))
    for a in range(0, len(s), chunk):
        Ls = L[None] + np.einsum("mk,kab->mab", F[a:a + chunk], Jst)
        out[a:a + chunk] = np.linalg.eigvals(Ls).real.max(axis=-1)
    return out


def _theta_bounds(C: np.ndarray, w: np.ndarray, s: float) -> tuple[float, float]:
    """Bounds ``lo ≤ θ(s) ≤ hi``: the extreme eigenvalues of ``M = Σ_k (e^{-s w_k} - 1) L_k†L_k``.

    ``L_s`` generates a completely positive semigroup whose dual maps the identity to
    ``L_s*(I) = M``; so ``d/dt Tr e^{L_s t}ρ = Tr[M e^{L_s t}ρ]`` lies between ``lo`` and ``hi``
    times ``Tr e^{L_s t}ρ``, and its growth rate θ(s) between ``lo`` and ``hi``.
    """
    M = np.einsum("k,kji,kjl->il", _factors(s, w), np.conj(C), C) if len(C) else np.zeros((1, 1))
    ev = np.linalg.eigvalsh(0.5 * (M + M.conj().T))
    return float(ev[0]), float(ev[-1])


def _theta_arnoldi(L, Js, C: np.ndarray, w, s, v0: np.ndarray) -> np.ndarray:
    """θ(s) by shift-invert Arnoldi (ARPACK, SuperLU) on the sparse tilted Liouvillian.

    With a real shift σ > θ(s), every other eigenvalue λ (Re λ ≤ θ) has |λ - σ| > σ - θ, so θ is
    the eigenvalue of (L_s - σ)⁻¹ of largest modulus. Stage 1 takes σ above the bound of
    :func:`_theta_bounds` (loose tolerance); stage 2 moves σ just above that estimate, where
    Arnoldi converges fast, and solves to machine precision. The eigenpair's residual is checked.
    """
    N = L.shape[0]
    k = min(3, N - 2)
    ncv = min(N, 20)
    out = np.empty(len(s))
    for i, si in enumerate(s):
        Ls = _tilted_sparse(L, Js, w, float(si)).tocsc()
        lo, hi = _theta_bounds(C, w, float(si))
        scale = max(hi - lo, abs(hi), 1e-3 * float(abs(L).max()), 1e-300)
        sigma = hi + 1e-2 * scale
        ev = spla.eigs(Ls, k=k, sigma=sigma, which="LM", v0=v0, tol=1e-8, ncv=ncv, return_eigenvectors=False)
        est = float(ev.real.max())
        shift = 1e-3 * (sigma - est)
        for _ in range(3):
            sigma = est + shift
            ev, vec = spla.eigs(Ls, k=k, sigma=sigma, which="LM", v0=v0, tol=0, ncv=ncv)
            j = int(np.argmax(ev.real))
            if ev[j].real < sigma:
                break
            est, shift = float(ev[j].real), 10 * shift  # σ fell below θ: move it up and repeat
        v = vec[:, j]
        res = np.linalg.norm(Ls @ v - ev[j] * v) / (scale * np.linalg.norm(v))
        if not (ev[j].real < sigma and res < 1e-8):
            raise RuntimeError(f"Arnoldi did not converge to theta(s) at s = {si!r} (relative residual {res:.3g}); "
                               "try method='dense'")
        out[i] = float(ev[j].real)
    return out


# --------------------------------------------------------------------------------------------
# cumulants: recursive Rayleigh–Schrödinger scheme (Flindt et al. 2010)
# --------------------------------------------------------------------------------------------


class _Pseudo:
    """Steady state ρ_0 and the pseudo-inverse R of L on traceless operators (vec form)."""

    def __init__(self, L, n: int, use_sparse: bool) -> None:
        N = n * n
        self.one = np.eye(n, dtype=np.complex128).reshape(N)  # ⟨⟨1| (trace functional)
        scale = float(abs(L).max()) if use_sparse else float(np.abs(L).max())
        self.scale = scale if scale > 0 else 1.0
        if use_sparse:
            sig = np.zeros(N, np.complex128)
            sig[0] = 1.0  # σ = |0⟩⟨0|: the rank-one term fills one row only
            diag = np.arange(n) * (n + 1)  # vec positions of the diagonal: ⟨⟨1| = Σ_i ⟨⟨ii|
            rank1 = sparse.csr_matrix((np.full(n, self.scale, np.complex128), (np.zeros(n, int), diag)), shape=(N, N))
            try:
                lu = spla.splu((L + rank1).tocsc())
            except RuntimeError:  # "Factor is exactly singular"
                raise RuntimeError(self._not_unique()) from None
            self._solve = lu.solve
        else:
            sig = self.one / n  # σ = I/n
            A = L + self.scale * np.outer(sig, self.one)
            with warnings.catch_warnings():  # a singular A is detected and reported below
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                lu = scipy.linalg.lu_factor(A, check_finite=False)
            piv = np.abs(np.diag(lu[0]))
            if piv.min() <= 1e-12 * piv.max():
                raise RuntimeError(self._not_unique())
            self._solve = lambda b: scipy.linalg.lu_solve(lu, b, check_finite=False)
        rho = self._solve(self.scale * sig)
        if not np.all(np.isfinite(rho)):
            raise RuntimeError(self._not_unique())
        self.rho0 = rho / (self.one @ rho)
        res = np.linalg.norm(L @ self.rho0) / (self.scale * np.linalg.norm(self.rho0))
        if not res <= 1e-8:
            raise RuntimeError(self._not_unique() + f" (relative residual {res:.3g})")

    @staticmethod
    def _not_unique() -> str:
        return ("counting_statistics needs a unique stationary state of the Liouvillian: L + |σ⟩⟩⟨⟨1| is "
                "singular, so the steady state is not unique (several stationary states)")

    def apply(self, b: np.ndarray) -> np.ndarray:
        """R b: the solution x of L x = Q b with Tr x = 0 (Q = 1 - |ρ_0⟩⟩⟨⟨1|)."""
        b = b - (self.one @ b) * self.rho0
        x = self._solve(b)
        return x - (self.one @ x) * self.rho0


def _cumulants(P: _Pseudo, Js: list, w: np.ndarray, order: int) -> np.ndarray:
    def Lm(m: int, v: np.ndarray) -> np.ndarray:
        return sum(((wk ** m) * (J @ v) for J, wk in zip(Js, w) if wk != 0.0), np.zeros_like(v))

    kappa = np.zeros(order + 1)
    rhos = [P.rho0]
    for nn in range(1, order + 1):
        Lrho = [None] + [Lm(m, rhos[nn - m]) for m in range(1, nn + 1)]  # 𝓛_m ρ_{n-m}
        kappa[nn] = sum(math.comb(nn, m) * (P.one @ Lrho[m]).real for m in range(1, nn + 1))
        if nn == order:
            break
        b = sum(math.comb(nn, m) * (kappa[m] * rhos[nn - m] - Lrho[m]) for m in range(1, nn + 1))
        rhos.append(P.apply(b))
    return kappa[1:]


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class CountingResult(ResultBase):
    """Full counting statistics of a weighted jump current (see :func:`counting_statistics`).

    Attributes:
        s: ``(m,)`` counting fields (1/[w]); empty when no grid was asked for.
        theta: ``(m,)`` SCGF θ(s) = lim (1/t) ln ⟨exp(-s A_t)⟩ (1/time), the convention of
            :mod:`nephlab.largedev`.
        cumulants: ``(order,)`` scaled cumulants κ_1 … κ_order at s = 0 (κ_n in [w]^n/time),
            ``κ_n = (-1)^n θ^{(n)}(0)``.
        weights: ``(K,)`` the channel weights used.
        method: ``"dense"`` or ``"arnoldi"`` (the path used for θ(s) and the linear solves).

    Properties ``mean`` (κ_1, the mean current, [w]/time), ``noise`` (κ_2, zero-frequency noise,
    [w]²/time) and ``fano`` (κ_2/κ_1; NaN when κ_1 = 0 or order < 2).

    ``to_xarray()``: ``theta`` on dim ``s``, ``cumulants`` on dim ``order`` (coordinate 1…order),
    ``weights`` on dim ``channel``; attrs ``mean``, ``noise``, ``fano``, ``method`` and
    ``convention``.

    Example:
        >>> from nephlab.quantum import sigmam, sigmax
        >>> r = counting_statistics(0.5 * sigmax(), [sigmam()], [1.0], s=[0.0, 0.1])
        >>> round(r.mean, 12), round(r.fano, 12)          # γΩ²/(γ²+2Ω²) = 1/3, 1 + Q = 1/3
        (0.333333333333, 0.333333333333)
        >>> sorted(r.to_xarray().data_vars)
        ['cumulants', 'theta', 'weights']
    """

    s: np.ndarray = coord("s", units="1/[w]", long_name="counting field s")
    theta: np.ndarray = var("s", units="1/time", long_name="SCGF theta(s)")
    cumulants: np.ndarray = var("order", units="[w]^order/time", long_name="scaled cumulants at s = 0")
    weights: np.ndarray = var("channel", units="[w]", long_name="counting weight per collapse operator")
    method: str = attr()

    @property
    def mean(self) -> float:
        """Mean current κ_1 = -θ'(0) ([w]/time).

        Example:
            >>> from nephlab.quantum import sigmam, sigmax
            >>> round(counting_statistics(sigmax(), [sigmam()], [1.0]).mean, 12)
            0.444444444444
        """
        return float(self.cumulants[0])

    @property
    def noise(self) -> float:
        """Zero-frequency noise κ_2 = θ''(0) ([w]²/time); NaN when order < 2.

        Example:
            >>> from nephlab.quantum import sigmam
            >>> counting_statistics(0 * sigmam(), [sigmam()], [1.0]).noise  # no drive: no photons
            0.0
        """
        return float(self.cumulants[1]) if len(self.cumulants) > 1 else math.nan

    @property
    def fano(self) -> float:
        """Fano factor κ_2/κ_1 (dimension [w]); NaN when κ_1 = 0 or order < 2.

        Example:
            >>> from nephlab.quantum import sigmam, sigmax
            >>> round(counting_statistics(0.5 * sigmax(), [sigmam()], [1.0]).fano, 12)
            0.333333333333
        """
        k1, k2 = self.mean, self.noise
        return k2 / k1 if k1 != 0 and math.isfinite(k2) else math.nan

    def _xarray_extra(self, ds):
        from ..largedev._conventions import SCGF_CONVENTION  # lazy: largedev is not needed to compute

        ds = ds.assign_coords(order=np.arange(1, len(self.cumulants) + 1))
        ds.attrs.update(mean=self.mean, noise=self.noise, fano=self.fano, convention=SCGF_CONVENTION)
        return ds


def counting_statistics(
    H: Any,
    c_ops: Sequence[Any],
    weights: Any,
    *,
    s: Any = None,
    order: int = 3,
    method: str = "auto",
) -> CountingResult:
    """Full counting statistics of ``A_t = Σ_k w_k N_k(t)`` (weighted numbers of quantum jumps).

    θ(s) = lim (1/t) ln ⟨exp(-s A_t)⟩ (the sign convention of :mod:`nephlab.largedev`) is the
    eigenvalue of largest real part of :func:`tilted_liouvillian`; the cumulants κ_1 … κ_order at
    s = 0 (``θ(s) = Σ κ_n (-s)^n/n!``) come from the exact recursive scheme of Flindt et al., PRB
    82, 155407 (2010), not from finite differences (see the module docstring).

    Args:
        H: Hermitian Hamiltonian (n, n), energy units (ħ = 1); array or ``Qobj``. One system
            (no batch axes).
        c_ops: list of K collapse operators (n, n), units sqrt(rate). All enter the dynamics;
            those with a nonzero weight are counted.
        weights: K real weights, one per collapse operator (0 = not counted; +1/-1 for net
            currents; energies ±ω for heat: a jump with weight w moves w into the counter).
        s: optional counting fields (scalar or 1-D, finite, units 1/[w]) at which θ(s) is
            returned; ``None`` computes the cumulants only.
        order: highest cumulant, an int ≥ 1 (default 3).
        method: ``"dense"`` (full eigendecomposition per s, LAPACK LU; O(n⁶)), ``"arnoldi"``
            (``scipy.sparse.linalg.eigs`` on the sparse tilted Liouvillian, SuperLU; for larger
            n) or ``"auto"``: dense when n² ≤ 400, else Arnoldi.

    Returns:
        :class:`CountingResult` with ``.s``, ``.theta`` (1/time), ``.cumulants`` (κ_n in
        [w]^n/time), ``.mean``, ``.noise``, ``.fano`` and ``.to_xarray()``.

    Raises:
        TypeError/ValueError: bad arguments (named in the message).
        RuntimeError: the stationary state is not unique (the cumulants are then not defined by
            one steady state).

    Example:
        >>> from nephlab.quantum import sigmam, sigmax
        >>> r = counting_statistics(0.5 * sigmax(), [sigmam()], [1.0], s=[0.0], order=2)
        >>> float(r.theta[0]) == 0.0 or abs(float(r.theta[0])) < 1e-12
        True
        >>> round(r.noise / r.mean - 1, 12)                 # Mandel Q = -6Ω²γ²/(γ²+2Ω²)² = -2/3
        -0.666666666667
    """
    Hb, C = _stack_system(H, c_ops)
    if Hb.ndim != 2:
        raise ValueError(f"counting_statistics takes one system: H and c_ops must be (n, n) without batch axes, "
                         f"got the batch shape {Hb.shape[:-2]}")
    w = _weights(weights, C.shape[0])
    if s is None:
        sg = np.zeros(0)
    else:
        sg = real_array(s, "s", finite=True)
        if sg.ndim > 1:
            raise ValueError(f"s must be a scalar or a 1-D array of counting fields, got shape {sg.shape}")
        sg = sg.reshape(-1)
        for si in sg:
            _factors(float(si), w)
    k = _order(order)
    one_of(method, "method", METHODS)
    n = Hb.shape[-1]
    use = ("dense" if n * n <= AUTO_DENSE_MAX_N2 else "arnoldi") if method == "auto" else method
    if use == "arnoldi" and n * n < 4:
        raise ValueError(f"method='arnoldi' needs n² >= 4 (n >= 2), got n = {n}; use method='dense'")

    Lsp, Jsp = _sparse_parts(Hb, C)
    if use == "dense":
        L, Js = Lsp.toarray(), [J.toarray() for J in Jsp]
    else:
        L, Js = Lsp, Jsp
    P = _Pseudo(L, n, use_sparse=(use == "arnoldi"))
    cum = _cumulants(P, Js, w, k)
    if use == "dense":
        theta = _theta_dense(L, Js, w, sg) if len(sg) else np.zeros(0)
    else:
        theta = _theta_arnoldi(L, Js, C, w, sg, P.rho0) if len(sg) else np.zeros(0)
    return CountingResult(s=sg, theta=theta, cumulants=cum, weights=w, method=use)
