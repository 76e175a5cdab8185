"""The tasks beyond lindblad, each against an exact check: steadystate, langevin_work,
optimal_protocol, pmp, scgf, cloning, committor."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from nephlab.tasks import estimate, get_task, run_batch, run_task, task_names

ALL = ["cloning", "committor", "landau_zener", "langevin_work", "lindblad", "optimal_protocol", "pmp", "scgf", "steadystate"]


def test_all_tasks_registered_with_estimates_and_units():
    assert set(ALL) <= set(task_names())
    for name in ALL:
        t = get_task(name)
        assert t.estimate is not None
        e = estimate(name)
        assert e["executor"] in ("in-process", "local", "cluster") and e["device"] in ("cpu", "gpu")
        assert e["memory_bytes"] > 0 and e["seconds"] > 0
        for p in t.spec.params:
            assert p.doc


# --- steadystate ---------------------------------------------------------------------------------


def test_steadystate_closed_forms_and_batch():
    ds = run_task("steadystate", F=0.3, gamma=0.6, delta=0.4, n=14)
    assert abs(float(ds.n_ss) - 0.3**2 / (0.4**2 + 0.6**2 / 4)) < 1e-9  # F²/(δ² + γ²/4)
    assert abs(float(ds.purity) - 1.0) < 1e-9  # a coherent state
    # thermal bath, no drive: thermal state with occupation nth
    th = run_task("steadystate", F=0.0, nth=0.4, n=30)
    assert abs(float(th.n_ss) - 0.4) < 1e-9
    S = 1.4 * math.log(1.4) - 0.4 * math.log(0.4)
    assert abs(float(th.entropy) - S) < 1e-6
    pts = [dict(model="qubit", F=F, delta=d, gamma=1.0) for F in (0.1, 0.5) for d in (0.0, 0.7)]
    out = run_batch("steadystate", pts)
    for p, d in zip(pts, out):
        pe = p["F"] ** 2 / (p["delta"] ** 2 + 0.25 + 2 * p["F"] ** 2)
        assert abs(float(d.n_ss) - pe) < 1e-10
        single = run_task("steadystate", p)
        np.testing.assert_allclose(d.rho_ss_real.values, single.rho_ss_real.values, atol=1e-10)


def test_lindblad_long_time_agrees_with_steadystate():
    p = dict(model="coupled_qubits", F=0.4, gamma=0.8, J=0.6, delta=0.2)
    ss = run_task("steadystate", p)
    ev = run_task("lindblad", p, t_max=120.0, n_times=2)  # slowest rate ~ γ/2: e^{-48}
    assert abs(float(ev.n_mean[-1]) - float(ss.n_ss)) < 1e-8


# --- langevin_work -------------------------------------------------------------------------------


def test_langevin_work_drag_mean_and_variance_exact():
    # dragged trap (k fixed): <W> = γ v² [τ - τ_r (1 - e^{-τ/τ_r})], τ_r = γ/k; W Gaussian with
    # Var W = 2 kBT <W> (ΔF = 0). 5-sigma tolerances; the Heun bias at dt = 0.01 is O(dt²).
    g, k, v, tau, kBT, N = 1.0, 2.0, 1.5, 1.0, 0.7, 20000
    ds = run_task("langevin_work", k_i=k, k_f=k, v=v, tau=tau, gamma=g, kBT=kBT, n_traj=N, n_steps=100, seed=3,
                  n_boot=50)
    tr = g / k
    W = g * v * v * (tau - tr * (1 - math.exp(-tau / tr)))
    var = 2 * kBT * W
    assert abs(float(ds.work_mean) - W) < 5 * math.sqrt(var / N)
    assert abs(float(ds.work_var) - var) < 5 * var * math.sqrt(2 / (N - 1))
    assert float(ds.delta_F_exact) == 0.0
    assert abs(float(ds.delta_F_jarzynski)) < 5 * float(ds.delta_F_jarzynski_err) + 0.01
    dens = ds.work_density.values
    h = np.diff(ds.work_bin_center.values).mean()
    assert abs(dens.sum() * h - 1.0) < 1e-9  # a normalised histogram
    again = run_task("langevin_work", json.loads(ds.attrs["params"]))
    assert float(again.work_mean) == float(ds.work_mean)  # the seed fixes the ensemble


def test_langevin_work_stiffness_jarzynski():
    ds = run_task("langevin_work", k_i=1.0, k_f=3.0, v=0.0, tau=1.0, n_traj=20000, n_steps=100, seed=1, n_boot=100)
    exact = 0.5 * math.log(3.0)
    assert float(ds.delta_F_exact) == pytest.approx(exact, abs=1e-15)
    err = float(ds.delta_F_jarzynski_err)
    assert 0 < err < 0.02
    assert abs(float(ds.delta_F_jarzynski) - exact) < 5 * err + 0.005  # + weak discretisation bias
    assert float(ds.work_mean) > exact  # second law


# --- optimal_protocol ----------------------------------------------------------------------------


def test_optimal_protocol_translation_closed_form():
    g, k, tau, d = 1.3, 2.0, 0.7, 3.0
    ds = run_task("optimal_protocol", lam_f=d, tau=tau, gamma=g, k=k, n_times=11)
    W = g * d * d / (tau + 2 * g / k)
    assert float(ds.work) == pytest.approx(W, rel=1e-12)
    assert float(ds.work_gaussian_check) == pytest.approx(W, rel=1e-8)
    assert float(ds.work_var) == pytest.approx(2 * W, rel=1e-8)  # kBT = 1
    den = 2 + k * tau / g
    assert float(ds.lam_0plus) == pytest.approx(d / den, rel=1e-12)
    t = ds.time.values[1:-1]
    np.testing.assert_allclose(ds.lam.values[1:-1], d * (1 + k * t / g) / den, rtol=1e-12)
    assert ds.lam.values[0] == 0.0 and ds.lam.values[-1] == d
    assert float(ds.work_linear) > float(ds.work)


def test_optimal_protocol_stiffness_beats_linear_and_matches_moments():
    ds = run_task("optimal_protocol", problem="stiffness", k_i=1.0, k_f=4.0, tau=0.5)
    assert float(ds.delta_F) == pytest.approx(0.5 * math.log(4.0), rel=1e-12)
    assert float(ds.work_gaussian_check) == pytest.approx(float(ds.work), rel=1e-7)
    assert float(ds.delta_F) < float(ds.work) < float(ds.work_linear)


# --- pmp -----------------------------------------------------------------------------------------


def test_pmp_double_integrator_exact():
    x0, v0, xT, vT, T = -1.0, 0.5, 2.0, -0.3, 1.5
    ds = run_task("pmp", x0=x0, v0=v0, xT=xT, vT=vT, T=T, n_steps=60)
    # u = c1 + c2 t; solve x(T) = xT, v(T) = vT
    A = np.array([[T**2 / 2, T**3 / 6], [T, T**2 / 2]])
    c1, c2 = np.linalg.solve(A, [xT - x0 - v0 * T, vT - v0])
    t = ds.time.values
    np.testing.assert_allclose(ds.u.values, c1 + c2 * t, atol=1e-8)
    cost = 0.5 * (c1**2 * T + c1 * c2 * T**2 + c2**2 * T**3 / 3)
    assert float(ds.cost) == pytest.approx(cost, rel=1e-8)
    assert float(ds.converged) == 1.0
    np.testing.assert_allclose(ds.x.sel(state="x").values[[0, -1]], [x0, xT], atol=1e-9)


def test_pmp_scalar_lq_against_riccati():
    a, q, r, T, x0 = 0.5, 2.0, 0.5, 2.0, 1.3
    ds = run_task("pmp", problem="scalar_lq", a=a, q=q, r=r, T=T, x0=x0, n_steps=400)
    # -P' = 2aP - P²/r + q, P(T) = 0, integrated backwards to 1e-12
    sol = solve_ivp(lambda t, P: -(2 * a * P - P**2 / r + q), (T, 0.0), [0.0], rtol=1e-12, atol=1e-14)
    assert float(ds.converged) == 1.0
    assert float(ds.cost) == pytest.approx(0.5 * sol.y[0, -1] * x0**2, rel=1e-6)  # RK4, dt = 5e-3


# --- scgf and cloning ----------------------------------------------------------------------------


def test_scgf_exact_curves():
    ds = run_task("scgf", model="two_state", a=1.0, b=3.0, s_min=-1.0, s_max=1.5, n_s=11)
    s = ds.s.values
    exact = -2.0 + np.sqrt(1.0 + 3.0 * np.exp(-2 * s))  # -(a+b)/2 + sqrt((a-b)²/4 + ab e^{-2s})
    np.testing.assert_allclose(ds.theta.values, exact, atol=1e-12)
    rw = run_task("scgf", model="ring_random_walk", observable="current", L=5, p=2.0, q=0.5, n_s=9)
    s = rw.s.values
    np.testing.assert_allclose(rw.theta.values, 2.0 * (np.exp(-s) - 1) + 0.5 * (np.exp(s) - 1), atol=1e-12)
    np.testing.assert_allclose(rw.mean_rate.values[4], 1.5, atol=1e-10)  # p - q at s = 0


def test_scgf_tasep_bethe_ansatz_and_errors():
    from nephlab.largedev.models import tasep_scgf_exact

    ds = run_task("scgf", model="tasep_ring", observable="current", L=6, n_particles=3, s_min=-0.03, s_max=0.1, n_s=5)
    exact = [tasep_scgf_exact(6, 3, s) for s in ds.s.values]
    np.testing.assert_allclose(ds.theta.values, exact, atol=1e-10)
    with pytest.raises(ValueError, match="'observable' = 'current' is not defined for model='east'"):
        run_task("scgf", model="east", observable="current")
    with pytest.raises(ValueError, match="'n_particles' = 6 must be < L = 6"):
        run_task("scgf", model="tasep_ring", L=6, n_particles=6)
    with pytest.raises(ValueError, match="'s_min'.*'s_max'"):
        run_task("scgf", s_min=1.0, s_max=0.0)
    with pytest.raises(ValueError, match="states; allowed: at most"):
        run_task("scgf", model="east", L=20)


def test_cloning_against_exact_scgf():
    # East model: non-uniform escape rates, so the cloning estimate is genuinely statistical.
    ds = run_task("cloning", model="east", L=4, c=0.4, s=0.3, n_clones=400, t_max=100.0, n_runs=4, seed=2)
    exact = float(ds.theta_exact)
    proc_exact = get_task("scgf").fn(get_task("scgf").spec.validate(
        {"model": "east", "L": 4, "c": 0.4, "s_min": 0.3, "s_max": 0.4, "n_s": 2}))["theta"][0]
    assert exact == pytest.approx(proc_exact, abs=1e-12)
    err = float(ds.stderr)
    assert err > 0
    # 5 standard errors plus the O(1/N_c) population bias (~1e-3 here)
    assert abs(float(ds.scgf) - exact) < 5 * err + 0.005
    assert ds.scgf_runs.shape == (4,)


# --- committor -----------------------------------------------------------------------------------


def test_committor_1d_symmetry_and_2d_against_1d():
    d1 = run_task("committor", n_grid=21)
    q = d1.q.values
    np.testing.assert_allclose(q + q[::-1], 1.0, atol=1e-10)  # V symmetric: q(-x) = 1 - q(x)
    assert q[0] == 0.0 and q[-1] == 1.0 and np.all(np.diff(q) > 0)
    from nephlab.largedev import committor_1d

    errs = []
    for n in (31, 61):
        ds = run_task("committor", potential="double_well_2d", n_grid=n, a=-1.2, b=1.2)
        x = ds.x.values
        m = (x > -1.2) & (x < 1.2)
        q1 = committor_1d(lambda t: (t * t - 1) ** 2, -1.2, 1.2, 3.0, x[m])
        errs.append(np.abs(ds.q.values[m, :] - q1[:, None]).max())  # q(x, y) = q_1d(x)
    assert errs[1] < 3e-4
    assert 3.0 < errs[0] / errs[1] < 5.0  # second order in the grid spacing


def test_committor_muller_brown():
    ds = run_task("committor", potential="muller_brown", beta=0.05, n_grid=41)
    x, y = ds.x.values, ds.y.values
    assert np.allclose(np.diff(x), np.diff(y).mean())  # equal spacing
    q = ds.q.values
    assert q.min() >= -1e-12 and q.max() <= 1 + 1e-12
    ia, ja = np.argmin(abs(x + 0.558)), np.argmin(abs(y - 1.442))
    ib, jb = np.argmin(abs(x - 0.623)), np.argmin(abs(y - 0.028))
    assert q[ia, ja] == 0.0 and q[ib, jb] == 1.0
