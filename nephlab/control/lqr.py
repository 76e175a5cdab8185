"""Linear–quadratic regulator (LQR) through the Riccati equation.

The plant is the linear system ``ẋ = A x + B u`` with state ``x`` (n,) and control ``u`` (m,);
the cost is

    J = ∫₀^T (xᵀ Q x + uᵀ R u + 2 xᵀ N u) dt + x(T)ᵀ Q_f x(T),

with ``T = ∞`` (``horizon=None``, no terminal term) or finite ``T = horizon``. The optimal
feedback is ``u = -K x`` with ``K = R⁻¹ (Bᵀ P + Nᵀ)`` and ``P`` the solution of the continuous
algebraic Riccati equation (infinite horizon) or of the Riccati ODE integrated backwards from
``P(T) = Q_f`` (finite horizon)::

    -Ṗ = Aᵀ P + P A - (P B + N) R⁻¹ (Bᵀ P + Nᵀ) + Q.

The optimal cost from ``x(0)`` is ``x(0)ᵀ P(0) x(0)``. Time is in the units of ``1/A``;
``Q``, ``R``, ``N`` carry the units of the cost. SciPy solves both equations (float64, NumPy
arrays out); the result is small and is computed once per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.integrate
import scipy.linalg

from nephlab._result import ResultBase, attr, coord, var
from nephlab._validate import real_array

__all__ = ["LQRResult", "lqr"]


@dataclass(frozen=True, repr=False)
class LQRResult(ResultBase):
    """Solution of an LQR problem.

    Attributes:
        K: optimal gain, ``u = -K x``; (m, n) for infinite horizon, (N_t, m, n) on ``t`` otherwise.
        P: Riccati solution (cost-to-go matrix ``V(x, t) = xᵀ P(t) x``); (n, n) or (N_t, n, n).
        t: time grid (N_t,) of a finite-horizon solution, ``None`` for infinite horizon.
        horizon: the horizon ``T`` (``None`` = infinite).
        closed_loop_eigenvalues: eigenvalues of ``A - B K`` (infinite horizon), else ``None``.

    ``to_xarray()``: ``K`` over (``input``, ``state``), ``P`` over (``state``, ``state_``), both
    with a leading ``time`` (coordinate ``t``) for a finite horizon; the closed-loop
    eigenvalues over ``mode``; ``horizon`` an attribute (``None`` = infinite).

    Example:
        >>> lqr(1.0, 1.0, 1.0, 1.0).to_xarray().K.dims
        ('input', 'state')
        >>> lqr(1.0, 1.0, 1.0, 1.0, horizon=1.0, n_points=3).to_xarray().P.dims
        ('time', 'state', 'state_')
    """

    K: np.ndarray
    P: np.ndarray
    t: np.ndarray | None = coord("time", units="time (1/A)", long_name="time grid", name="time", default=None)
    horizon: float | None = attr(default=None)
    closed_loop_eigenvalues: np.ndarray | None = var("mode", units="1/time (1/A)",
                                                      long_name="eigenvalues of A - B K", default=None)

    def _xarray_extra(self, ds):
        lead = () if self.t is None else ("time",)
        return ds.assign(K=(lead + ("input", "state"), np.asarray(self.K), {"long_name": "optimal gain, u = -K x"}),
                         P=(lead + ("state", "state_"), np.asarray(self.P),
                            {"long_name": "Riccati solution, cost-to-go x^T P x"}))

    def cost(self, x0: Any) -> float:
        """Optimal cost ``x0ᵀ P(0) x0`` from the initial state ``x0`` (n,)."""
        x0 = np.asarray(x0, dtype=float).reshape(-1)
        P0 = self.P if self.t is None else self.P[0]
        return float(x0 @ P0 @ x0)

    def __str__(self) -> str:
        kind = "infinite horizon" if self.horizon is None else f"horizon T={self.horizon:g}"
        return f"LQRResult({kind}, n={self.P.shape[-1]}, m={self.K.shape[-2]})"


def _matrix(x: Any, name: str) -> np.ndarray:
    """A real finite matrix; a scalar is read as 1x1."""
    return real_array(x, name, ndim=2, promote_scalar=True)


def lqr(
    A: Any,
    B: Any,
    Q: Any,
    R: Any,
    *,
    horizon: float | None = None,
    N: Any = None,
    Qf: Any = None,
    n_points: int = 201,
    rtol: float = 1e-12,
    atol: float = 1e-12,
) -> LQRResult:
    """Optimal linear feedback ``u = -K x`` for ``ẋ = A x + B u`` with a quadratic cost.

    Args:
        A: state matrix (n, n) (units 1/time); a scalar is read as 1x1.
        B: input matrix (n, m).
        Q: state weight (n, n), symmetric positive semidefinite.
        R: control weight (m, m), symmetric positive definite.
        horizon: final time ``T > 0``; ``None`` (default) solves the infinite-horizon problem
            through the continuous algebraic Riccati equation.
        N: cross weight (n, m) of the term ``2 xᵀ N u`` (default zero), as in MATLAB's ``lqr``.
        Qf: terminal weight (n, n), PSD, finite horizon only (default zero).
        n_points: number of points of the finite-horizon time grid ``linspace(0, T, n_points)``.
        rtol, atol: tolerances of the backward Riccati ODE (SciPy ``DOP853``).

    Returns:
        :class:`LQRResult` with ``.K`` and ``.P`` ((m, n), (n, n); or on the grid ``.t`` for a
        finite horizon, shapes (n_points, m, n) and (n_points, n, n)).

    Raises:
        ValueError: shapes disagree, ``Q``/``Qf`` not PSD, ``R`` not PD, ``horizon <= 0``, or no
            stabilising solution exists (``(A, B)`` not stabilisable).

    Example:
        >>> res = lqr(1.0, 1.0, 1.0, 1.0)
        >>> round(float(res.P[0, 0]), 6)  # 1 + sqrt(2)
        2.414214
        >>> lqr([[0, 1], [0, 0]], [[0], [1]], [[1, 0], [0, 1]], 1.0).P.round(6).tolist()
        [[1.732051, 1.0], [1.0, 1.732051]]
    """
    A = _matrix(A, "A")
    B = _matrix(B, "B")
    Q = _matrix(Q, "Q")
    R = _matrix(R, "R")
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"A must be square (n, n), got shape {A.shape}")
    if B.shape[0] != n:
        if B.ndim == 2 and B.shape == (1, n):
            raise ValueError(
                f"B must have shape (n, m) = ({n}, m) to match A {A.shape}, got shape {B.shape} "
                f"(for a single input pass a column, shape ({n}, 1))"
            )
        raise ValueError(f"B must have shape (n, m) = ({n}, m) to match A {A.shape}, got shape {B.shape}")
    m = B.shape[1]
    if Q.shape != (n, n):
        raise ValueError(f"Q must have shape (n, n) = ({n}, {n}) to match A, got shape {Q.shape}")
    if R.shape != (m, m):
        raise ValueError(f"R must have shape (m, m) = ({m}, {m}) to match B {B.shape}, got shape {R.shape}")
    for name, M, pd in (("Q", Q, False), ("R", R, True)):
        if not np.allclose(M, M.T, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(M).max())):
            raise ValueError(f"{name} must be symmetric, got {M.tolist()}")
        w = np.linalg.eigvalsh(0.5 * (M + M.T))
        scale = max(1.0, np.abs(w).max())
        if pd and w.min() <= 1e-14 * scale:
            raise ValueError(f"R must be positive definite, got eigenvalues {w.tolist()}")
        if not pd and w.min() < -1e-12 * scale:
            raise ValueError(f"Q must be positive semidefinite, got eigenvalues {w.tolist()}")
    Nm = np.zeros((n, m)) if N is None else _matrix(N, "N")
    if Nm.shape != (n, m):
        raise ValueError(f"N must have shape (n, m) = ({n}, {m}), got shape {Nm.shape}")
    Q = 0.5 * (Q + Q.T)
    R = 0.5 * (R + R.T)

    if horizon is None:
        if Qf is not None:
            raise ValueError("Qf (terminal weight) requires a finite horizon; got horizon=None")
        try:
            P = scipy.linalg.solve_continuous_are(A, B, Q, R, s=Nm)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise ValueError(
                "no stabilising solution of the algebraic Riccati equation: (A, B) must be "
                f"stabilisable and (A, Q) detectable ({exc})"
            ) from None
        P = 0.5 * (P + P.T)
        K = np.linalg.solve(R, B.T @ P + Nm.T)
        eig = np.linalg.eigvals(A - B @ K)
        if not np.all(np.isfinite(P)) or eig.real.max() >= 0:
            raise ValueError(
                "no stabilising solution of the algebraic Riccati equation: (A, B) must be "
                f"stabilisable and (A, Q) detectable; closed-loop eigenvalues {eig.tolist()}"
            )
        return LQRResult(K=K, P=P, closed_loop_eigenvalues=eig)

    try:
        T = float(horizon)
    except (TypeError, ValueError):
        raise TypeError(f"horizon must be a positive number or None, got {horizon!r}") from None
    if not np.isfinite(T) or T <= 0:
        raise ValueError(f"horizon must be finite and > 0 (or None for infinite), got {horizon!r}")
    if int(n_points) != n_points or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    Pf = np.zeros((n, n)) if Qf is None else _matrix(Qf, "Qf")
    if Pf.shape != (n, n):
        raise ValueError(f"Qf must have shape (n, n) = ({n}, {n}), got shape {Pf.shape}")
    w = np.linalg.eigvalsh(0.5 * (Pf + Pf.T))
    if w.size and w.min() < -1e-12 * max(1.0, np.abs(w).max()):
        raise ValueError(f"Qf must be positive semidefinite, got eigenvalues {w.tolist()}")
    Pf = 0.5 * (Pf + Pf.T)
    Rinv = np.linalg.inv(R)

    def rhs(tau: float, y: np.ndarray) -> np.ndarray:  # tau = T - t, dP/dtau = -dP/dt
        P = y.reshape(n, n)
        PBN = P @ B + Nm
        dP = A.T @ P + P @ A - PBN @ Rinv @ PBN.T + Q
        return (0.5 * (dP + dP.T)).ravel()

    t = np.linspace(0.0, T, int(n_points))
    sol = scipy.integrate.solve_ivp(
        rhs, (0.0, T), Pf.ravel(), method="DOP853", t_eval=T - t[::-1], rtol=rtol, atol=atol
    )
    if not sol.success:
        raise RuntimeError(f"backward Riccati integration failed: {sol.message}")
    P = sol.y.T.reshape(-1, n, n)[::-1]
    P = 0.5 * (P + np.swapaxes(P, -1, -2))
    K = np.einsum("ij,tjk->tik", Rinv, np.einsum("ji,tjk->tik", B, P) + Nm.T[None])
    return LQRResult(K=K, P=P, t=t, horizon=T)
