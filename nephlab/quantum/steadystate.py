"""Steady states of Lindblad master equations, ``L(ρ) = 0`` with ``Tr ρ = 1``.

All methods solve the same non-singular linear problem (when the steady state is unique):

    L(X) + c · Tr(X) · σ = c · σ,        σ = I / n,   c > 0 a rate scale,

whose solution has ``Tr X = 1`` (take the trace: ``Tr L(X) = 0``) and then ``L(X) = 0``. This is
the rank-one ("trace-row") regularisation of the singular Liouvillian; ``c`` is set to the rate
scale ``s`` below so that the added term is as large as the rest of the operator.

Methods
    ``"direct"``     dense Liouvillian (n² × n²) and one LU solve (``jnp.linalg.solve``); runs on
                     GPU; memory 16 n⁴ bytes per system (plus the factorisation).
    ``"iterative"``  matrix-free restarted GMRES (``jax.scipy.sparse.linalg.gmres``) that applies
                     the Lindblad right-hand side to n × n matrices (O(n³) per product, no n⁴
                     memory), left-preconditioned by the inverse diagonal of the Liouvillian in
                     the given basis (Jacobi). With sparse operators (``scipy.sparse`` matrices
                     or ``Qobj`` with CSR/Dia data, one system) it runs instead on the host with
                     SciPy's GMRES: products at O(nnz · n), the operators never densified, right-
                     preconditioned by an exact Sylvester solve of the no-jump Liouvillian
                     ``-i(H_eff X - X H_eff†)`` in the eigenbasis of ``H_eff`` (see
                     :mod:`nephlab.quantum._steadystate_sparse`; 46 iterations at n = 729).
    ``"eigen"``      null vector of the dense Liouvillian from a full eigendecomposition on the
                     host (NumPy, CPU only, O(n⁶)); slow, for cross-checks. It also verifies that
                     the null space is one-dimensional.
    ``"auto"``       ``"direct"`` when n² ≤ 1600 and the dense problem fits in free memory,
                     otherwise ``"iterative"`` (the sparse one for sparse operators).

Every result is checked: the relative residual

    r = ‖L(ρ)‖_F / (s ‖ρ‖_F),    s = ‖H - Tr(H)/n‖_F / √n + Σ_k ‖L_k‖_F² / n

(``s`` is a typical energy/rate of the generator) must be ≤ ``tol``, else a RuntimeError reports
``r``.

Uniqueness: ``"eigen"`` counts the (near-)zero eigenvalues of the Liouvillian (``|λ| ≤ 1e-10 s``)
of every system; ``"direct"`` does the same for a system whose LU factorisation has a pivot below
``1e-10`` times the largest one, or whose residual check fails. More than one zero eigenvalue
raises a RuntimeError saying that the steady state is not unique and how many linearly
independent stationary states there are (e.g. pure dephasing: 2; two qubits of which only one
decays: 2, or 4 when the other has no Hamiltonian). ``"iterative"`` cannot detect this: it returns
one stationary state.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _config
from .._validate import integer, real_number
from . import _steadystate_sparse as _sparse
from ._convert import qobj_dims, to_jax, to_qobj
from .superop import _dag, _liouvillian_core, _rhs_core, _stack_system

__all__ = ["steadystate"]

METHODS = ("auto", "direct", "iterative", "eigen")
AUTO_DIRECT_MAX_N2 = 1600
# copies of the n² × n² matrix alive during a direct solve (Liouvillian, regularised copy, LU)
_DIRECT_COPIES = 3
# |λ| ≤ _NULL_TOL · s counts as a zero eigenvalue of the Liouvillian (s: the rate scale); an LU
# pivot ratio below it makes "direct" count them
_NULL_TOL = 1e-10


# --------------------------------------------------------------------------------------------
# traceable cores, one system each (vmapped over the flattened batch)
# --------------------------------------------------------------------------------------------


def _rate_scale(H: jnp.ndarray, C: jnp.ndarray) -> jnp.ndarray:
    n = H.shape[-1]
    Hc = H - jnp.trace(H) / n * jnp.eye(n, dtype=H.dtype)
    s = jnp.linalg.norm(Hc) / jnp.sqrt(n) + jnp.sum(jnp.abs(C) ** 2) / n
    return jnp.where(s > 0, s, 1.0)


def _finish(X: jnp.ndarray, normalize: bool) -> jnp.ndarray:
    if normalize:
        X = 0.5 * (X + _dag(X))
        X = X / jnp.trace(X).real
    return X


def _residual(H: jnp.ndarray, C: jnp.ndarray, rho: jnp.ndarray, s: jnp.ndarray) -> jnp.ndarray:
    return jnp.linalg.norm(_rhs_core(H, C, rho)) / (s * jnp.linalg.norm(rho))


def _direct_one(H, C, normalize):
    n = H.shape[-1]
    s = _rate_scale(H, C)
    Lm = _liouvillian_core(H, C)
    vec_sigma = (jnp.eye(n, dtype=H.dtype) / n).reshape(n * n)
    vec_id = jnp.eye(n, dtype=H.dtype).reshape(n * n)
    A = Lm + s * vec_sigma[:, None] * vec_id[None, :]
    lu, piv = jax.scipy.linalg.lu_factor(A)
    X = jax.scipy.linalg.lu_solve((lu, piv), s * vec_sigma).reshape(n, n)
    rho = _finish(X, normalize)
    d = jnp.abs(jnp.diagonal(lu))
    return rho, _residual(H, C, rho, s), d.min() / d.max()


def _jacobi_diag(H, C, s):
    """Diagonal of ``X ↦ L(X) + s Tr(X) I/n`` in the given basis, as an (n, n) array."""
    n = H.shape[-1]
    h = jnp.diag(H)
    gam = jnp.sum(jnp.abs(C) ** 2, axis=(-3, -2))  # diag of Σ L†L
    cd = jnp.diagonal(C, axis1=-2, axis2=-1)  # (K, n)
    D = -1j * (h[:, None] - h[None, :]) - 0.5 * (gam[:, None] + gam[None, :])
    D = D + jnp.einsum("ki,kj->ij", cd, jnp.conj(cd)) + jnp.eye(n) * (s / n)
    # a (near-)zero diagonal entry would make the preconditioner blow up; any nonzero value
    # keeps it valid, so use the scale of the trace term there
    return jnp.where(jnp.abs(D) > 1e-8 * s, D, s / n)


def _iterative_one(H, C, tol, restart, maxiter, normalize):
    n = H.shape[-1]
    s = _rate_scale(H, C)
    sigma = jnp.eye(n, dtype=H.dtype) / n

    def A(X):
        return _rhs_core(H, C, X) + s * jnp.trace(X) * sigma

    D = _jacobi_diag(H, C, s)
    X, _ = jax.scipy.sparse.linalg.gmres(
        A, s * sigma, x0=sigma, tol=tol, atol=0.0, restart=restart, maxiter=maxiter,
        M=lambda R: R / D, solve_method="batched",
    )
    rho = _finish(X, normalize)
    return rho, _residual(H, C, rho, s)


@jax.jit(static_argnames=("normalize",))
def _direct_batch(H, C, normalize):
    return jax.vmap(lambda h, c: _direct_one(h, c, normalize))(H, C)


def _direct_check_unique(H, C, res, pivot, tol, bshape) -> None:
    """Count the zero eigenvalues (host) of the systems whose direct solve looks singular."""
    suspect = np.flatnonzero((np.asarray(pivot) <= _NULL_TOL) | ~(np.asarray(res) <= tol))
    if suspect.size:
        Lm, s = _liouvillian_and_scale(H[suspect], C[suspect])
        _check_unique("direct", np.linalg.eigvals(np.asarray(Lm)), np.asarray(s), suspect, bshape)


@jax.jit(static_argnames=("restart", "maxiter", "normalize"))
def _iterative_batch(H, C, tol, restart, maxiter, normalize):
    return jax.vmap(lambda h, c: _iterative_one(h, c, tol, restart, maxiter, normalize))(H, C)


@jax.jit
def _liouvillian_and_scale(H, C):
    return jax.vmap(_liouvillian_core)(H, C), jax.vmap(_rate_scale)(H, C)


@jax.jit(static_argnames=("normalize",))
def _finish_batch(H, C, X, s, normalize):
    rho = jax.vmap(lambda x: _finish(x, normalize))(X)
    return rho, jax.vmap(_residual)(H, C, rho, s)


def _check_unique(method: str, lam: np.ndarray, s: np.ndarray, index: np.ndarray, bshape: tuple) -> None:
    """Raise if a Liouvillian has more than one (near-)zero eigenvalue.

    ``lam`` (m, n²) are the eigenvalues of m systems, ``s`` (m,) their rate scales and
    ``index`` (m,) their flat positions in the batch of shape ``bshape``.
    """
    zeros = np.sum(np.abs(lam) <= _NULL_TOL * s[:, None], axis=-1)
    if np.any(zeros > 1):
        k = int(np.argmax(zeros > 1))
        where = f" at batch index {tuple(int(j) for j in np.unravel_index(int(index[k]), bshape))}" if bshape else ""
        raise RuntimeError(
            f"steadystate(method={method!r}): the steady state is not unique{where}: the Liouvillian has "
            f"{int(zeros[k])} (near-)zero eigenvalues (|λ| ≤ {_NULL_TOL:g} × rate scale {s[k]:.3g}), so there "
            f"are {int(zeros[k])} linearly independent stationary states (e.g. a part of the system without "
            "dissipation, pure dephasing, or a conserved quantity); add dissipation that connects them, or "
            "use method='iterative' to get one of them"
        )


def _eigen_batch(H, C, normalize, bshape):
    Lm, s = _liouvillian_and_scale(H, C)
    lam, vecs = np.linalg.eig(np.asarray(Lm))  # host, CPU only
    order = np.argsort(np.abs(lam), axis=-1)
    s_np = np.asarray(s)
    _check_unique("eigen", lam, s_np, np.arange(lam.shape[0]), bshape)
    n = H.shape[-1]
    v = np.take_along_axis(vecs, order[:, None, :1], axis=-1)[..., 0]
    X = v.reshape(v.shape[0], n, n)
    X = X / np.trace(X, axis1=-2, axis2=-1)[:, None, None]
    return _finish_batch(H, C, jnp.asarray(X), s, normalize)


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------


def _free_memory_bytes() -> tuple[float, str]:
    dev = _config.device()
    if dev.platform != "cpu":
        try:
            stats = dev.memory_stats() or {}
            if "bytes_limit" in stats:
                return float(stats["bytes_limit"] - stats.get("bytes_in_use", 0)), f"{dev.platform} memory"
        except Exception:  # pragma: no cover - backend without memory stats
            pass
    import psutil

    return float(psutil.virtual_memory().available), "available host memory"


def _direct_bytes(n: int, batch: int) -> float:
    return float(_DIRECT_COPIES) * 16.0 * n**4 * batch


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------


def steadystate(
    H: Any,
    c_ops: Sequence[Any] | None,
    *,
    method: str = "auto",
    tol: float = 1e-12,
    maxiter: int | None = None,
    restart: int | None = None,
    normalize_output: bool = True,
) -> jax.Array:
    """Steady state ρ_ss of the Lindblad equation, ``-i[H, ρ] + Σ_k D[L_k](ρ) = 0``, ``Tr ρ = 1``.

    Args:
        H: Hermitian Hamiltonian (..., n, n), energy units (ħ = 1); NumPy/JAX array or ``Qobj``.
        c_ops: list of collapse operators, each (..., n, n), units sqrt(rate). Leading batch axes of
            ``H`` and the ``c_ops`` entries broadcast; the batch is solved in one vectorised call.
        method: ``"auto"`` (default), ``"direct"``, ``"iterative"`` or ``"eigen"`` (see the module
            docstring).
        tol: bound on the relative residual ``‖L(ρ)‖_F / (s ‖ρ‖_F)`` that every result must meet
            (``s`` = rate scale, module docstring); also the GMRES target of ``"iterative"``.
        maxiter: ``"iterative"`` only: maximum number of GMRES restart cycles (default 50).
        restart: ``"iterative"`` only: Krylov dimension per cycle (default ``min(n², max(64, 2n))``,
            40 with sparse operators;
            it should exceed n for Fock-space problems with decay).
        normalize_output: make the result exactly Hermitian with unit trace (default True).

    Returns:
        complex128 ``jax.Array`` of shape (..., n, n): one steady state per batch element; a
        QuTiP ``Qobj`` with the inputs' dims when ``H`` or a collapse operator came as ``Qobj``
        (nested lists of ``Qobj`` over batch axes).

    Raises:
        ValueError: bad input (shapes, non-Hermitian H, NaN/inf, unknown method, bad ``tol``/
            ``maxiter``/``restart``), or ``method="direct"`` would not fit in free memory (the
            message gives the estimate in GB).
        RuntimeError: the steady state is not unique (``"direct"``, ``"eigen"``: the message gives
            the number of stationary states), or the residual exceeds ``tol`` (no convergence).

    Example:
        >>> import jax.numpy as jnp
        >>> from nephlab.quantum.operators import sigmaz, sigmam, sigmap
        >>> g, nth = 1.0, 0.5
        >>> rho = steadystate(0.5 * sigmaz(), [jnp.sqrt(g * (nth + 1)) * sigmam(), jnp.sqrt(g * nth) * sigmap()])
        >>> [round(float(x), 12) for x in rho.diagonal().real]   # excited, ground: nth/(2nth+1), (nth+1)/(2nth+1)
        [0.25, 0.75]
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}; got {method!r}")
    tol = real_number(tol, "tol", positive=True)
    maxiter = None if maxiter is None else integer(maxiter, "maxiter")
    restart = None if restart is None else integer(restart, "restart")
    if not isinstance(normalize_output, bool):
        raise TypeError(f"normalize_output must be True or False, got {normalize_output!r}")
    if c_ops is None or (isinstance(c_ops, (list, tuple)) and len(c_ops) == 0):
        raise ValueError(
            "c_ops is empty: without dissipation every function of H is stationary, so the steady "
            "state is not unique; pass at least one collapse operator"
        )
    dims = qobj_dims([("H", H), ("c_ops", c_ops)])
    if method in ("auto", "iterative") and _sparse.sparse_input(H, c_ops):
        n = int(H.shape[-1])
        if method == "iterative" or n * n > AUTO_DIRECT_MAX_N2:
            c_list = list(c_ops) if isinstance(c_ops, (list, tuple)) else [c_ops]
            rs = None if restart is None else int(restart)
            mi = None if maxiter is None else int(maxiter)
            rho_np, r, _ = _sparse.steadystate_sparse(H, c_list, tol=float(tol), restart=rs, maxiter=mi,
                                                      normalize=normalize_output)
            _check_residual("iterative", tol, np.asarray([r]), (), 1)
            return to_jax(rho_np) if dims is None else to_qobj(rho_np, dims)
    Hb, C = _stack_system(H, c_ops)
    bshape, n = Hb.shape[:-2], Hb.shape[-1]
    batch = int(np.prod(bshape, dtype=np.int64))

    if method in ("auto", "direct", "eigen"):
        need = _direct_bytes(n, batch)
        free, where = _free_memory_bytes()
        if method == "auto":
            method = "direct" if (n * n <= AUTO_DIRECT_MAX_N2 and need <= free) else "iterative"
        elif need > free:
            raise ValueError(
                f"method={method!r} needs about {need / 1e9:.3g} GB for the dense Liouvillian of "
                f"n={n} (16 n⁴ bytes × {_DIRECT_COPIES} copies × batch {batch}), but only "
                f"{free / 1e9:.3g} GB of {where} is free; use method='iterative'"
            )

    Hj = to_jax(Hb.reshape((batch, n, n)))
    Cj = to_jax(C.reshape((batch,) + C.shape[-3:]))
    if method == "direct":
        rho, res, pivot = _direct_batch(Hj, Cj, normalize_output)
        _direct_check_unique(Hj, Cj, res, pivot, tol, bshape)
    elif method == "eigen":
        rho, res = _eigen_batch(Hj, Cj, normalize_output, bshape)
    else:
        rs = int(restart) if restart is not None else min(n * n, max(64, 2 * n))
        mi = int(maxiter) if maxiter is not None else 50
        rho, res = _iterative_batch(Hj, Cj, 0.1 * float(tol), rs, mi, normalize_output)

    _check_residual(method, tol, np.asarray(res), bshape, batch)
    rho = rho.reshape(bshape + (n, n))
    return rho if dims is None else to_qobj(rho, dims)


def _check_residual(method: str, tol: float, res: np.ndarray, bshape: tuple, batch: int) -> None:
    """Raise RuntimeError unless every relative residual in ``res`` is ≤ ``tol``."""
    bad = ~(res <= tol)  # also catches NaN
    if bad.any():
        i = int(np.argmax(np.where(np.isnan(res), np.inf, res)))
        idx = np.unravel_index(i, bshape) if bshape else ()
        hint = (
            " Increase maxiter or restart, or try method='direct' if it fits in memory."
            if method == "iterative"
            else ""
        )
        raise RuntimeError(
            f"steadystate(method={method!r}) did not reach tol={tol:g}: relative residual "
            f"‖L(ρ)‖/(s‖ρ‖) = {res[i]:.3g}"
            + (f" at batch index {tuple(int(j) for j in idx)}" if bshape else "")
            + f" ({int(bad.sum())} of {batch} systems failed). The steady state may not be unique "
            "(e.g. no dissipation or a decoherence-free subspace) or the problem is ill-conditioned."
            + hint
        )
