"""Optimal-control solvers: LQR (Riccati), Pontryagin shooting and GRAPE, against exact values."""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nephlab.control.grape import grape, propagate_piecewise
from nephlab.control.lqr import lqr
from nephlab.control.pmp import solve_pmp

SX = np.array([[0, 1], [1, 0]], complex)
SY = np.array([[0, -1j], [1j, 0]])
SZ = np.diag([1.0, -1.0]).astype(complex)
HAD = np.array([[1, 1], [1, -1]], complex) / math.sqrt(2)


# ------------------------------------------------------------------------------------------
# LQR
# ------------------------------------------------------------------------------------------


def test_lqr_scalar_infinite():
    res = lqr(1.0, 1.0, 1.0, 1.0)
    assert abs(res.P[0, 0] - (1 + math.sqrt(2))) < 1e-12
    assert abs(res.K[0, 0] - (1 + math.sqrt(2))) < 1e-12
    assert res.closed_loop_eigenvalues.real.max() < 0


def test_lqr_double_integrator_infinite():
    res = lqr([[0, 1], [0, 0]], [[0], [1]], np.eye(2), 1.0)
    s3 = math.sqrt(3)
    assert np.abs(res.P - np.array([[s3, 1], [1, s3]])).max() < 1e-10
    assert np.abs(res.K - np.array([[1, s3]])).max() < 1e-10
    assert res.cost([1.0, 0.0]) == pytest.approx(s3, abs=1e-10)


def test_lqr_scalar_finite_horizon_closed_form():
    T = 2.0
    res = lqr(1.0, 1.0, 1.0, 1.0, horizon=T, n_points=41)
    pp, pm = 1 + math.sqrt(2), 1 - math.sqrt(2)
    tau = T - res.t
    e = np.exp(-(pp - pm) * tau)
    exact = pp * (1 - e) / (1 - (pp / pm) * e)  # solution of -Ṗ = 1 + 2P - P², P(T) = 0
    assert np.abs(res.P[:, 0, 0] - exact).max() < 1e-10
    assert res.P.shape == (41, 1, 1) and res.K.shape == (41, 1, 1)


def test_lqr_finite_horizon_tends_to_are():
    A, B = [[0, 1], [0, 0]], [[0], [1]]
    inf = lqr(A, B, np.eye(2), 1.0)
    fin = lqr(A, B, np.eye(2), 1.0, horizon=30.0)
    assert np.abs(fin.P[0] - inf.P).max() < 1e-9
    # terminal condition P(T) = Qf
    fin2 = lqr(A, B, np.eye(2), 1.0, horizon=1.0, Qf=2 * np.eye(2))
    assert np.abs(fin2.P[-1] - 2 * np.eye(2)).max() < 1e-14


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([[0, 1], [0, 0]], [[0, 1]], np.eye(2), 1.0), {}, "B must have shape"),
        (([[0, 1], [0, 0]], [[0], [1]], np.eye(3), 1.0), {}, "Q must have shape"),
        (([[0, 1], [0, 0]], [[0], [1]], -np.eye(2), 1.0), {}, "Q must be positive semidefinite"),
        (([[0, 1], [0, 0]], [[0], [1]], np.eye(2), 0.0), {}, "R must be positive definite"),
        (([[0, 1], [0, 0]], [[0], [1]], np.eye(2), 1.0), {"horizon": -1.0}, "horizon must be"),
        (([[1, 0], [0, 1]], [[0], [1]], np.eye(2), 1.0), {}, "stabilis"),
    ],
)
def test_lqr_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        lqr(*args, **kwargs)


# ------------------------------------------------------------------------------------------
# Pontryagin
# ------------------------------------------------------------------------------------------


def _di(x, u, t):
    return jnp.array([x[1], u[0]])


def test_pmp_double_integrator_min_energy():
    res = solve_pmp(_di, lambda x, u, t: 0.5 * u[0] ** 2, [-1.0, 0.0], 1.0, xT=[0.0, 0.0], n_steps=100)
    assert res.converged and res.iterations <= 20
    assert res.control_mode == "quadratic"
    assert abs(res.cost - 6.0) < 1e-10
    assert np.abs(res.u[:, 0] - (6 - 12 * res.t)).max() < 1e-10
    # H = L + p·f convention: p(0) = -(12, 6)  (the "maximum" convention H = -L + p·f gives +(12, 6))
    assert np.abs(res.p[0] - np.array([-12.0, -6.0])).max() < 1e-10
    x1 = -1 + 3 * res.t**2 - 2 * res.t**3
    assert np.abs(res.x[:, 0] - x1).max() < 1e-10
    assert np.abs(res.x[-1]).max() < 1e-10


def test_pmp_agrees_with_riccati_terminal_cost():
    A = np.array([[0.0, 1.0], [-1.0, -0.2]])
    B = np.array([[0.0], [1.0]])
    Q, R, Qf, T = np.diag([1.0, 0.5]), np.array([[0.3]]), np.diag([2.0, 1.0]), 2.0
    x0 = np.array([1.0, -0.5])
    Aj, Bj, Qj, Rj, Qfj = map(jnp.asarray, (A, B, Q, R, Qf))
    res = solve_pmp(
        lambda x, u, t: Aj @ x + Bj @ u,
        lambda x, u, t: 0.5 * (x @ Qj @ x + u @ Rj @ u),
        x0, T, terminal_cost=lambda x: 0.5 * x @ Qfj @ x, n_steps=400,
    )
    ric = lqr(A, B, Q, R, horizon=T, Qf=Qf, n_points=401)
    assert res.converged and res.iterations <= 20
    # p(t) = P(t) x(t), u = -K x, J* = ½ x0ᵀ P(0) x0
    assert np.abs(res.p[0] - ric.P[0] @ x0).max() < 1e-8
    assert abs(res.cost - 0.5 * ric.cost(x0)) < 1e-8
    u_ric = -np.einsum("tij,tj->ti", ric.K, res.x)
    assert np.abs(res.u - u_ric).max() < 1e-7


def test_pmp_bang_bang_linear_terminal_cost():
    # maximise x1(T) - c x2(T) with |u| <= 1: p2(t) = c - (T - t), switch at t_s = T - c
    T, c, n_steps = 2.0, 0.5025, 200  # switch t_s = 1.4975 inside a step (h = 0.01)
    res = solve_pmp(
        _di, lambda x, u, t: 0.0 * u[0], [0.0, 0.0], T,
        terminal_cost=lambda x: -x[0] + c * x[1], u_bounds=(-1.0, 1.0), n_steps=n_steps,
    )
    ts = T - c
    assert res.converged and res.iterations <= 20 and res.control_mode == "bang-bang"
    assert set(np.unique(res.u)) <= {-1.0, 1.0}
    assert np.all(res.u[res.t < ts - 1e-9, 0] == 1.0) and np.all(res.u[res.t > ts + 1e-9, 0] == -1.0)
    # exact: u = +1 on [0, ts), -1 on [ts, T]; the one RK4 step across the switch costs O(h)
    x2T = ts - (T - ts)
    x1T = 0.5 * ts**2 + ts * (T - ts) - 0.5 * (T - ts) ** 2
    h = T / n_steps
    assert np.abs(res.x[-1] - [x1T, x2T]).max() < 0.5 * h
    assert abs(res.cost - (-x1T + c * x2T)) < 0.5 * h


def test_pmp_bounded_quadratic_is_clipped():
    # x' = u, L = u²/2 + x... choose p constant: f = u, L = u²/2 - a u? use L = u^2/2, phi = -k x(T)
    # p = -∂φ... p(T) = -k, ṗ = 0 → u* = -p = k, clipped to 1 when k > 1
    res = solve_pmp(
        lambda x, u, t: u, lambda x, u, t: 0.5 * u[0] ** 2, [0.0], 1.0,
        terminal_cost=lambda x: -3.0 * x[0], u_bounds=(-1.0, 1.0), n_steps=20,
    )
    assert res.converged and np.abs(res.u - 1.0).max() < 1e-14
    assert abs(res.cost - (0.5 - 3.0)) < 1e-12


def test_pmp_nonconvergence_is_reported():
    # unreachable bang-bang target under |u| <= 0.1: fixed xT far away
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = solve_pmp(
            _di, lambda x, u, t: 0.0 * u[0], [0.0, 0.0], 1.0, xT=[10.0, 0.0],
            u_bounds=(-0.1, 0.1), n_steps=20, max_iter=5,
        )
    assert not res.converged and res.residual > 1e-3


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"x0": [0.0, 0.0, 0.0], "xT": None}, ValueError, r"f\(x, u, t\) must return shape"),
        ({"xT": [0.0]}, ValueError, "xT must have the shape of x0"),
        ({"T": 0.0}, ValueError, "T must be finite and > 0"),
        ({"u_bounds": (1.0, -1.0)}, ValueError, "u_lo < u_hi"),
        ({"u_bounds": (1.0,)}, ValueError, "u_bounds must be a pair"),
        ({"L": lambda x, u, t: u}, ValueError, "L.*scalar"),
        ({"method": "magic"}, ValueError, "method"),
        ({"f": 3}, TypeError, "f must be a callable"),
    ],
)
def test_pmp_bad_input(kwargs, exc, match):
    base = dict(f=_di, L=lambda x, u, t: 0.5 * u[0] ** 2, x0=[-1.0, 0.0], T=1.0, xT=[0.0, 0.0])
    base.update(kwargs)
    with pytest.raises(exc, match=match):
        solve_pmp(base.pop("f"), base.pop("L"), base.pop("x0"), base.pop("T"), **base)


def test_pmp_linear_unbounded_rejected():
    with pytest.raises(ValueError, match="linear in u"):
        solve_pmp(_di, lambda x, u, t: 0.0 * u[0], [0.0, 0.0], 1.0, terminal_cost=lambda x: x[0])


# ------------------------------------------------------------------------------------------
# GRAPE
# ------------------------------------------------------------------------------------------


def test_grape_hadamard_qutip_qoc_problem():
    t = np.linspace(0, np.pi / 2, 250)
    u0 = np.stack([np.sin(t), np.cos(t), np.tanh(t)])  # qutip-qoc's guess pulses
    res = grape(0.05 * SZ, [SX, SY, SZ], None, HAD, np.pi / 2, 250, u_bounds=(-1, 1), u0=u0,
                fidelity="gate", target_infidelity=1e-8)
    assert res.infidelity <= 1e-6
    assert res.converged
    assert np.abs(res.controls).max() <= 1.0
    assert res.infidelity_history[0] > 0.1
    # independent check of the optimised gate: scipy expm slice by slice
    import scipy.linalg

    U = np.eye(2)
    dt = (np.pi / 2) / 250
    for k in range(250):
        Hk = 0.05 * SZ + sum(res.controls[j, k] * h for j, h in enumerate([SX, SY, SZ]))
        U = scipy.linalg.expm(-1j * Hk * dt) @ U
    F = abs(np.trace(HAD.conj().T @ U)) ** 2 / 4
    assert abs((1 - F) - res.infidelity) < 1e-12


def test_grape_state_closed_random_guess():
    res = grape(0.5 * SZ, [SX, SY], [1, 0], [0, 1], 3.0, 20, u_bounds=(-1, 1), seed=3)
    assert res.infidelity <= 1e-10 and res.iterations > 0


def test_grape_open_dephasing_matches_mesolve():
    from nephlab import mesolve

    gamma = 0.02
    c_ops = [math.sqrt(gamma) * SZ]
    T, n = 2.0, 10
    H0 = 0.3 * SZ
    res0 = grape(H0, [SX, SY], [1, 0], [0, 1], T, n, c_ops=c_ops, u_bounds=(-2, 2), max_iter=0, seed=1)
    res = grape(H0, [SX, SY], [1, 0], [0, 1], T, n, c_ops=c_ops, u_bounds=(-2, 2), seed=1, max_iter=200)
    assert res.infidelity < res0.infidelity and res.infidelity < 0.05
    assert np.all(np.diff(res.infidelity_history) <= 1e-15)

    S = np.asarray(propagate_piecewise(res.controls, H0, [SX, SY], T, c_ops=c_ops))
    rho0 = np.diag([1.0, 0.0]).astype(complex)
    rhoT = (S @ rho0.reshape(-1)).reshape(2, 2)
    assert abs((1 - rhoT[1, 1].real) - res.infidelity) < 1e-12

    edges = jnp.asarray(res.times)
    ux, uy = jnp.asarray(res.controls[0]), jnp.asarray(res.controls[1])

    def pw(arr):
        return lambda t, args: arr[jnp.clip(jnp.searchsorted(edges, t, side="right") - 1, 0, n - 1)]

    # (a) slice by slice, exact exponential of each constant Lindbladian
    rho = rho0
    for k in range(n):
        Hk = H0 + res.controls[0, k] * SX + res.controls[1, k] * SY
        rho = np.asarray(mesolve(Hk, rho, np.array([0.0, T / n]), c_ops, method="expm").final_state)
    assert np.abs(rho - rhoT).max() < 1e-12
    # (b) one call with piecewise-constant callable coefficients, adaptive Tsit5
    out = mesolve([H0, [SX, pw(ux)], [SY, pw(uy)]], rho0, np.array([0.0, T]), c_ops,
                  method="tsit5", rtol=1e-10, atol=1e-12)
    assert np.abs(np.asarray(out.final_state) - rhoT).max() < 1e-8


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-2, 2), min_size=6, max_size=6))
def test_propagate_piecewise_unitary_and_cptp(vals):
    u = np.array(vals).reshape(2, 3)
    U = np.asarray(propagate_piecewise(u, 0.3 * SZ, [SX, SY], 1.0))
    assert np.abs(U.conj().T @ U - np.eye(2)).max() < 1e-12
    S = np.asarray(propagate_piecewise(u, 0.3 * SZ, [SX, SY], 1.0, c_ops=[0.3 * SZ]))
    rho = (S @ np.diag([0.3, 0.7]).astype(complex).reshape(-1)).reshape(2, 2)
    assert abs(np.trace(rho) - 1) < 1e-12 and np.linalg.eigvalsh(rho).min() > -1e-12


def test_grape_mixed_target_uhlmann():
    target = np.diag([0.2, 0.8]).astype(complex)
    res = grape(np.zeros((2, 2)), [SX, SY], np.diag([0.8, 0.2]), target, 1.0, 5, u_bounds=(-3, 3), seed=0)
    assert res.infidelity < 1e-8


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"H0": np.array([[0, 1], [0, 0]])}, ValueError, "H0"),
        ({"H_controls": [np.eye(3)]}, ValueError, r"H_controls\[0\]"),
        ({"T": -1.0}, ValueError, "T must be"),
        ({"n_slices": 0}, ValueError, "n_slices"),
        ({"u_bounds": (1, -1)}, ValueError, "u_bounds"),
        ({"fidelity": "trace"}, ValueError, "fidelity"),
        ({"target": [1, 0, 0]}, ValueError, "target"),
        ({"u0": np.zeros((2, 5))}, ValueError, "u0"),
        ({"u0": np.full((1, 5), 5.0)}, ValueError, "outside u_bounds"),
    ],
)
def test_grape_bad_input(kwargs, exc, match):
    base = dict(H0=SZ, H_controls=[SX], initial=[1, 0], target=[0, 1], T=1.0, n_slices=5, u_bounds=(-1, 1))
    base.update(kwargs)
    with pytest.raises(exc, match=match):
        grape(base.pop("H0"), base.pop("H_controls"), base.pop("initial"), base.pop("target"),
              base.pop("T"), base.pop("n_slices"), **base)


# ---------------------------------------------------------------------------------------------
# solve_pmp, method="collocation"
# ---------------------------------------------------------------------------------------------


def test_pmp_collocation_minimum_energy_second_order():
    """Trapezoidal collocation: J* = 6, u* = 6 - 12 t, p(0) = (-12, -6), errors O(h²)."""
    f = lambda x, u, t: jnp.array([x[1], u[0]])  # noqa: E731
    L = lambda x, u, t: 0.5 * u[0] ** 2  # noqa: E731
    errs = []
    for n_steps in (100, 200):
        r = solve_pmp(f, L, [-1.0, 0.0], 1.0, xT=[0.0, 0.0], n_steps=n_steps, method="collocation")
        assert r.converged and r.iterations <= 20
        assert np.abs(r.u[:, 0] - (6 - 12 * r.t)).max() < 1e-3
        assert np.abs(r.p[0] - [-12.0, -6.0]).max() < 1e-2
        assert abs(r.x[-1]).max() < 1e-12  # the end condition is imposed exactly
        errs.append(abs(r.cost - 6.0))
    assert 3.5 < errs[0] / errs[1] < 4.5, errs  # second order in h


def test_pmp_collocation_unstable_long_horizon_matches_riccati():
    """x' = x + u, L = (x² + u²)/2 on [0, 20], free end: p(t) = P(t) x(t) with the Riccati P.

    Over this horizon the costate equation grows like e^{sqrt(2) t} ~ 1e12, which makes single
    shooting in p(0) ill-conditioned; collocation solves all nodes at once.
    """
    f = lambda x, u, t: x + u  # noqa: E731
    L = lambda x, u, t: 0.5 * (x[0] ** 2 + u[0] ** 2)  # noqa: E731
    r = solve_pmp(f, L, [1.0], 20.0, n_steps=2000, method="collocation")
    assert r.converged
    P0 = lqr(np.array([[1.0]]), np.array([[1.0]]), np.array([[1.0]]), np.array([[1.0]]), horizon=20.0).P[0]
    assert abs(r.p[0, 0] - float(np.squeeze(P0))) < 1e-3  # P(0) = 1 + sqrt(2) up to e^{-2 sqrt(2) T}
    assert abs(r.p[-1, 0]) < 1e-12  # transversality p(T) = 0
    # cost from the Riccati solution: J = ½ x0ᵀ P(0) x0
    assert abs(r.cost - 0.5 * float(np.squeeze(P0))) < 1e-3


def test_pmp_rejects_unknown_method():
    with pytest.raises(ValueError, match="method.*'shooting' or 'collocation'.*'magic'"):
        solve_pmp(lambda x, u, t: u, lambda x, u, t: jnp.sum(u**2), [0.0], 1.0, method="magic")
