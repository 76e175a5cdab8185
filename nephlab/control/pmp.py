"""Pontryagin's maximum principle (PMP) by indirect shooting, with JAX autodiff.

Problem (units: time in the units of ``T``; cost in the units of ``L`` × time)::

    minimise   J = ∫₀^T L(x, u, t) dt + φ(x(T))
    subject to ẋ = f(x, u, t),  x(0) = x0,  x_i(T) = xT_i for the fixed components,
               u_lo <= u <= u_hi (optional).

Convention (minimum principle): the Hamiltonian is ``H = L + p·f`` and the optimal control
minimises it pointwise, ``u* = argmin_u H(x, u, p, t)``; the costate obeys
``ṗ = -∂H/∂x`` with ``p_i(T) = ∂φ/∂x_i`` for every free end component. (With the
"maximum" convention ``H = -L + p·f`` the costate has the opposite sign.) ``∂H/∂x``,
``∂H/∂u`` and ``∂²H/∂u²`` come from ``jax.grad``/``jax.hessian``; there are no finite
differences.

The pointwise minimisation is chosen once, at the boundary, from ``∂²H/∂u²`` sampled at random
points:

- quadratic in u (constant positive definite Hessian): one Newton step, exact; with bounds the
  unconstrained minimiser is clipped, exact when the Hessian is diagonal (separable);
- linear in u (zero Hessian), bounds required: bang-bang, ``u_j = u_lo_j`` where the switching
  function ``∂H/∂u_j > 0`` and ``u_hi_j`` where it is ``< 0``;
- otherwise: 20 projected (damped) Newton steps on ``∂H/∂u = 0``.

Shooting: the unknown is ``p(0)``; state, costate and running cost are integrated together by
fixed-step RK4 (``lax.scan``), and Newton's method (Jacobian by ``jax.jacfwd``, with
backtracking on the residual norm) solves the terminal conditions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from nephlab import _config  # noqa: F401  (enables float64)
from nephlab._result import ResultBase, attr, coord, var
from nephlab._validate import function, integer, one_of, positive_float, real_array

__all__ = ["PMPResult", "solve_pmp"]


@dataclass(frozen=True, repr=False)
class PMPResult(ResultBase):
    """Solution of an optimal-control problem by Pontryagin's principle.

    Attributes:
        t: time grid (n_steps + 1,).
        x: state on the grid (n_steps + 1, n).
        u: optimal control u*(x, p, t) on the grid (n_steps + 1, m).
        p: costate on the grid (n_steps + 1, n), convention ``H = L + p·f``.
        cost: ``∫ L dt + φ(x(T))`` along the computed trajectory.
        iterations: Newton iterations used.
        converged: whether the boundary residual fell below ``tol``.
        residual: final max-norm of the boundary residual.
        control_mode: "quadratic", "bang-bang" or "numerical" (how u* was computed).

    ``to_xarray()``: ``x``, ``p`` over (``time``, ``state``), ``u`` over (``time``, ``control``),
    ``cost`` and ``residual`` as 0-d variables; the rest are attributes. Units follow the
    problem's (time in the units of ``T``, cost in those of ``L`` × time).

    Example:
        >>> import jax.numpy as jnp
        >>> res = solve_pmp(lambda x, u, t: jnp.array([x[1], u[0]]), lambda x, u, t: 0.5 * u[0] ** 2,
        ...                 [-1.0, 0.0], 1.0, xT=[0.0, 0.0], n_steps=10)
        >>> res.to_xarray().u.dims
        ('time', 'control')
    """

    t: np.ndarray = coord("time", units="time", long_name="time grid", name="time")
    x: np.ndarray = var("time", "state", long_name="state x(t)")
    u: np.ndarray = var("time", "control", long_name="optimal control u*(t)")
    p: np.ndarray = var("time", "state", long_name="costate p(t), H = L + p·f")
    cost: float = var(units="cost", long_name="J = ∫ L dt + φ(x(T))")
    iterations: int = attr()
    converged: bool = attr()
    residual: float = var(units="1", long_name="max-norm of the boundary residual")
    control_mode: str = attr()

    def __str__(self) -> str:
        status = "converged" if self.converged else "NOT converged"
        return (
            f"PMPResult({status} in {self.iterations} iterations, residual={self.residual:.2e}, "
            f"cost={self.cost:.10g}, u*: {self.control_mode})"
        )


def _call(fn: Callable, name: str, *a: Any) -> jnp.ndarray:
    try:
        return jnp.asarray(fn(*a))
    except Exception as exc:  # noqa: BLE001 - re-raised with the argument named
        raise TypeError(
            f"{name} must be a JAX-traceable function {name}(x, u, t); calling it with x of shape "
            f"{a[0].shape} and u of shape {a[1].shape} raised {type(exc).__name__}: {exc}"
        ) from exc


def solve_pmp(
    f: Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray],
    L: Callable[[jnp.ndarray, jnp.ndarray, jnp.ndarray], jnp.ndarray],
    x0: Any,
    T: float,
    *,
    xT: Any = None,
    terminal_cost: Callable[[jnp.ndarray], jnp.ndarray] | None = None,
    n_controls: int = 1,
    u_bounds: tuple[Any, Any] | None = None,
    method: str = "shooting",
    n_steps: int = 200,
    tol: float = 1e-9,
    max_iter: int = 20,
    p0_guess: Any = None,
) -> PMPResult:
    """Solve an optimal-control problem with Pontryagin's principle.

    ``method="shooting"``: Newton on the unknown costate p(0), state and costate integrated
    together by RK4 (4th order in ``T/n_steps``). ``method="collocation"``: the whole
    state–costate boundary-value problem discretised by the trapezoidal rule on the same grid
    and solved by Newton for all nodes at once (2nd order, but robust where shooting is
    sensitive to p(0), e.g. unstable dynamics or long horizons).

    Args:
        f: dynamics ``f(x, u, t) -> (n,)``, JAX-traceable; x (n,), u (m,), t scalar.
        L: running cost ``L(x, u, t) -> scalar``, JAX-traceable.
        x0: initial state (n,).
        T: final time, > 0.
        xT: target final state (n,); entries that are NaN are free. ``None``: all free.
        terminal_cost: ``φ(x) -> scalar`` added for the free end components (default 0).
        n_controls: number of controls m.
        u_bounds: ``(u_lo, u_hi)``, scalars or (m,) arrays with ``u_lo < u_hi``; ``None``: none.
        method: "shooting" (default) or "collocation".
        n_steps: RK4 steps on ``[0, T]``.
        tol: tolerance on the max-norm of the boundary residual.
        max_iter: maximum Newton iterations.
        p0_guess: initial guess for ``p(0)`` (n,), default zeros.

    Returns:
        :class:`PMPResult` (arrays on ``t = linspace(0, T, n_steps + 1)``). If Newton does not
        converge the result has ``converged=False`` and a ``RuntimeWarning`` is issued.

    Example (double integrator, minimum energy; u* = 6 - 12 t, J* = 6):
        >>> import jax.numpy as jnp
        >>> res = solve_pmp(lambda x, u, t: jnp.array([x[1], u[0]]),
        ...                 lambda x, u, t: 0.5 * u[0] ** 2,
        ...                 [-1.0, 0.0], 1.0, xT=[0.0, 0.0], n_steps=50)
        >>> res.converged, round(res.cost, 8), res.p[0].round(8).tolist()
        (True, 6.0, [-12.0, -6.0])
    """
    function(f, "f", "f(x, u, t)")
    function(L, "L", "L(x, u, t)")
    if terminal_cost is not None:
        function(terminal_cost, "terminal_cost", "phi(x) or None")
    one_of(method, "method", ("shooting", "collocation"))
    x0n = real_array(x0, "x0", ndim=1, promote_scalar=True)
    n = x0n.size
    Tf = positive_float(T, "T")
    m = integer(n_controls, "n_controls")
    n_steps = integer(n_steps, "n_steps")
    max_iter = integer(max_iter, "max_iter", minimum=0)
    if not (tol > 0):
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if xT is None:
        fixed = np.zeros(n, bool)
        xTn = np.zeros(n)
    else:
        xTn = real_array(xT, "xT", ndim=1, promote_scalar=True, finite=False)  # NaN marks a free component
        if xTn.size != n:
            raise ValueError(f"xT must have the shape of x0 ({n},), got shape {xTn.shape}")
        fixed = ~np.isnan(xTn)
        xTn = np.where(fixed, xTn, 0.0)
    if terminal_cost is not None and fixed.all():
        raise ValueError("terminal_cost has no effect when every component of xT is fixed; drop one")
    if u_bounds is not None:
        if not isinstance(u_bounds, (tuple, list)) or len(u_bounds) != 2:
            raise ValueError(f"u_bounds must be a pair (u_lo, u_hi), got {u_bounds!r}")
        lo = np.broadcast_to(np.asarray(u_bounds[0], float), (m,)).copy() if np.ndim(u_bounds[0]) in (0, 1) else None
        hi = np.broadcast_to(np.asarray(u_bounds[1], float), (m,)).copy() if np.ndim(u_bounds[1]) in (0, 1) else None
        if lo is None or hi is None or np.shape(u_bounds[0]) not in ((), (m,)) or np.shape(u_bounds[1]) not in ((), (m,)):
            raise ValueError(f"u_bounds entries must be scalars or arrays of shape ({m},), got {u_bounds!r}")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
            raise ValueError(f"u_bounds must be finite with u_lo < u_hi, got {u_bounds!r}")
    else:
        lo = hi = None

    # --- check f, L, phi shapes ------------------------------------------------------------
    xs = jnp.asarray(x0n)
    us = jnp.zeros(m) if lo is None else jnp.asarray(0.5 * (lo + hi))
    fx = _call(f, "f", xs, us, jnp.asarray(0.0))
    if fx.shape != (n,):
        raise ValueError(f"f(x, u, t) must return shape (n,) = ({n},) to match x0, got shape {fx.shape}")
    Lx = _call(L, "L", xs, us, jnp.asarray(0.0))
    if Lx.shape != ():
        raise ValueError(f"L(x, u, t) must return a scalar, got shape {Lx.shape}")
    phi = terminal_cost if terminal_cost is not None else (lambda x: jnp.zeros(()))
    try:
        ph = jnp.asarray(phi(xs))
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"terminal_cost(x) failed for x of shape ({n},): {exc}") from exc
    if ph.shape != ():
        raise ValueError(f"terminal_cost(x) must return a scalar, got shape {ph.shape}")
    if p0_guess is None:
        p0n = np.zeros(n)
    else:
        p0n = real_array(p0_guess, "p0_guess", ndim=1, promote_scalar=True)
        if p0n.size != n:
            raise ValueError(f"p0_guess must have shape ({n},), got shape {p0n.shape}")

    def ham(x, u, p, t):
        return L(x, u, t) + jnp.dot(p, f(x, u, t))

    H_u = jax.grad(ham, argnums=1)
    H_uu = jax.hessian(ham, argnums=1)
    H_x = jax.grad(ham, argnums=0)

    # --- classify H in u ---------------------------------------------------------------------
    rng = np.random.default_rng(0)
    hess = []
    for _ in range(4):
        xr = jnp.asarray(x0n + rng.standard_normal(n))
        pr = jnp.asarray(rng.standard_normal(n))
        ur = jnp.asarray(rng.uniform(lo, hi) if lo is not None else rng.standard_normal(m))
        hess.append(np.asarray(H_uu(xr, ur, pr, jnp.asarray(rng.uniform(0, Tf)))))
    hess = np.array(hess)
    scale = max(1.0, float(np.abs(hess).max()))
    if np.abs(hess).max() < 1e-12:
        mode = "bang-bang"
        if lo is None:
            raise ValueError(
                "H = L + p·f is linear in u, so its minimum over unbounded u does not exist; "
                "pass u_bounds=(u_lo, u_hi)"
            )
    elif np.abs(hess - hess[0]).max() < 1e-10 * scale:
        Huu0 = 0.5 * (hess[0] + hess[0].T)
        if np.linalg.eigvalsh(Huu0).min() <= 0:
            if lo is None:
                raise ValueError(
                    f"∂²H/∂u² = {Huu0.tolist()} is not positive definite: H has no minimum in u; "
                    "make L strictly convex in u or pass u_bounds"
                )
            mode = "numerical"
        else:
            diag = np.allclose(Huu0, np.diag(np.diag(Huu0)))
            mode = "quadratic" if (lo is None or diag) else "numerical"
    else:
        mode = "numerical"

    lo_j = None if lo is None else jnp.asarray(lo)
    hi_j = None if hi is None else jnp.asarray(hi)

    def clip(u):
        return u if lo_j is None else jnp.clip(u, lo_j, hi_j)

    def ustar(x, p, t):
        if mode == "bang-bang":
            mid = 0.5 * (lo_j + hi_j)
            sig = H_u(x, mid, p, t)
            return jnp.where(sig > 0, lo_j, jnp.where(sig < 0, hi_j, mid))
        if mode == "quadratic":
            u0 = jnp.zeros(m)
            return clip(u0 - jnp.linalg.solve(H_uu(x, u0, p, t), H_u(x, u0, p, t)))

        def newton(_, u):
            Hm = H_uu(x, u, p, t)
            Hm = 0.5 * (Hm + Hm.T)
            w = jnp.linalg.eigvalsh(Hm)
            shift = jnp.maximum(0.0, 1e-8 - w[0])  # keep the step a descent direction
            step = jnp.linalg.solve(Hm + shift * jnp.eye(m), H_u(x, u, p, t))
            return clip(u - step)

        return jax.lax.fori_loop(0, 20, newton, clip(jnp.zeros(m)))

    h = Tf / int(n_steps)
    ts = jnp.linspace(0.0, Tf, int(n_steps) + 1)

    def rhs(z, t):
        x, p = z[:n], z[n : 2 * n]
        u = ustar(x, p, t)
        return jnp.concatenate([f(x, u, t), -H_x(x, u, p, t), jnp.atleast_1d(L(x, u, t))])

    def integrate(p0):
        z0 = jnp.concatenate([jnp.asarray(x0n), p0, jnp.zeros(1)])

        def step(z, t):
            k1 = rhs(z, t)
            k2 = rhs(z + 0.5 * h * k1, t + 0.5 * h)
            k3 = rhs(z + 0.5 * h * k2, t + 0.5 * h)
            k4 = rhs(z + h * k3, t + h)
            zn = z + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
            return zn, zn

        _, zs = jax.lax.scan(step, z0, ts[:-1])
        return jnp.concatenate([z0[None], zs])

    fixed_j = jnp.asarray(fixed)
    xT_j = jnp.asarray(xTn)

    def residual(p0):
        zT = integrate(p0)[-1]
        x, p = zT[:n], zT[n : 2 * n]
        return jnp.where(fixed_j, x - xT_j, p - jax.grad(lambda y: jnp.asarray(phi(y)))(x))

    if method == "collocation":
        return _collocation(
            f, L, phi, H_x, ustar, jnp.asarray(x0n), fixed_j, xT_j, p0n, ts, h, n, tol, max_iter, mode
        )

    p0, rn, it = _damped_newton(residual, jnp.asarray(p0n), tol, max_iter, lstsq=True)
    converged = bool(rn <= tol)
    zs = np.asarray(jax.jit(integrate)(p0))
    xs_, ps_ = zs[:, :n], zs[:, n : 2 * n]
    us_ = np.asarray(jax.jit(jax.vmap(ustar))(jnp.asarray(xs_), jnp.asarray(ps_), ts))
    cost = float(zs[-1, 2 * n]) + float(phi(jnp.asarray(xs_[-1])))
    if not converged:
        warnings.warn(
            f"solve_pmp did not converge: boundary residual {rn:.3e} > tol={tol:g} after {it} "
            f"Newton iterations (max_iter={max_iter}); try p0_guess, more n_steps or another T",
            RuntimeWarning,
            stacklevel=2,
        )
    return PMPResult(
        t=np.asarray(ts), x=xs_, u=us_, p=ps_, cost=cost, iterations=it, converged=converged,
        residual=rn, control_mode=mode,
    )


def _collocation(f, L, phi, H_x, ustar, x0, fixed, xT, p0n, ts, h, n, tol, max_iter, mode) -> PMPResult:
    """Trapezoidal collocation of the state–costate BVP, Newton on all node values."""
    N = ts.shape[0] - 1
    vf = jax.vmap(f)
    vhx = jax.vmap(H_x)
    vu = jax.vmap(ustar)

    def unpack(z):
        return z[: (N + 1) * n].reshape(N + 1, n), z[(N + 1) * n :].reshape(N + 1, n)

    def residual(z):
        X, P = unpack(z)
        U = vu(X, P, ts)
        F = vf(X, U, ts)
        G = vhx(X, U, P, ts)
        r_x = X[1:] - X[:-1] - 0.5 * h * (F[1:] + F[:-1])
        r_p = P[1:] - P[:-1] + 0.5 * h * (G[1:] + G[:-1])
        xe, pe = X[-1], P[-1]
        r_end = jnp.where(fixed, xe - xT, pe - jax.grad(lambda y: jnp.asarray(phi(y)))(xe))
        return jnp.concatenate([X[0] - x0, r_x.ravel(), r_p.ravel(), r_end])

    # initial guess: a straight line to the fixed end components, constant costate
    frac = (ts / ts[-1])[:, None]
    x_end = jnp.where(fixed, xT, x0)
    X0 = x0[None, :] + frac * (x_end - x0)[None, :]
    P0 = jnp.broadcast_to(jnp.asarray(p0n), (N + 1, n))
    z = jnp.concatenate([X0.ravel(), P0.ravel()])
    z, rn, it = _damped_newton(residual, z, tol, max_iter, lstsq=False)
    converged = bool(rn <= tol)
    X, P = (np.asarray(a) for a in unpack(z))
    U = np.asarray(jax.jit(vu)(jnp.asarray(X), jnp.asarray(P), ts))
    Lv = np.asarray(jax.vmap(L)(jnp.asarray(X), jnp.asarray(U), ts))
    cost = float(0.5 * h * (Lv[1:] + Lv[:-1]).sum()) + float(phi(jnp.asarray(X[-1])))
    if not converged:
        warnings.warn(
            f"solve_pmp (collocation) did not converge: residual {rn:.3e} > tol={tol:g} after {it} "
            f"Newton iterations (max_iter={max_iter}); try p0_guess or more n_steps",
            RuntimeWarning,
            stacklevel=3,
        )
    return PMPResult(
        t=np.asarray(ts), x=X, u=U, p=P, cost=cost, iterations=it, converged=converged,
        residual=rn, control_mode=mode,
    )


def _damped_newton(residual, z, tol: float, max_iter: int, *, lstsq: bool):
    """Newton on ``residual(z) = 0`` with Jacobians by ``jax.jacfwd`` and backtracking on the
    max-norm of the residual. Stops when no step along the Newton direction decreases it.

    Returns ``(z, residual max-norm, iterations)``.
    """
    res_fn = jax.jit(residual)
    jac_fn = jax.jit(jax.jacfwd(residual))
    r = res_fn(z)
    rn = float(jnp.max(jnp.abs(r)))
    it = 0
    while rn > tol and it < max_iter and np.isfinite(rn):
        J = jac_fn(z)
        dz = jnp.linalg.lstsq(J, -r)[0] if lstsq else jnp.linalg.solve(J, -r)
        alpha, accepted = 1.0, False
        for _ in range(30):
            cand = z + alpha * dz
            rc = res_fn(cand)
            rcn = float(jnp.max(jnp.abs(rc)))
            if np.isfinite(rcn) and rcn < rn:
                accepted = True
                break
            alpha *= 0.5
        it += 1
        if not accepted:
            break  # no decrease along the Newton direction: report non-convergence
        z, r, rn = cand, rc, rcn
    return z, rn, it
