"""Exact checks for nephlab.control protocols and linear-response optima."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nephlab.control import (
    force_correlation,
    friction,
    friction_from_samples,
    gaussian_work,
    geodesic_protocol,
    grid_work,
    linear_ramp,
    linear_response_work,
    optimal_protocol,
    optimize_protocol,
    length_on_grid,
)


def ss_stiffness_c(li, lf, tau):
    """Published c (Schmiedl & Seifert 2007, gamma = kBT = 1)."""
    return (-1 - lf * tau + math.sqrt(1 + 2 * li * tau + li * lf * tau**2)) / (tau * (2 + lf * tau))


# ------------------------------------------------------------------ exact optima
def test_translation_optimum_closed_form():
    p = optimal_protocol("trap_translation", lam_f=5.0, tau=1.0)
    assert abs(p.work - 25 / 3) < 1e-12
    (a, b), (c, d) = p.jumps
    assert (a, d) == (0.0, 5.0)
    assert abs(b - 5 / 3) < 1e-12 and abs(c - 10 / 3) < 1e-12
    m = gaussian_work(p)
    assert abs(float(m.mean) - 25 / 3) < 1e-8
    assert abs(float(m.var) - 2 * 25 / 3) < 1e-8
    assert p.times[0] == p.times[1] == 0.0 and p.times[-1] == p.times[-2] == 1.0


def test_translation_general_units():
    g, k, kBT, lf, tau = 2.0, 3.0, 0.7, -1.5, 0.4
    p = optimal_protocol("trap_translation", lam_f=lf, tau=tau, k=k, gamma=g, kBT=kBT)
    assert abs(p.work - g * lf**2 / (tau + 2 * g / k)) < 1e-12
    m = gaussian_work(p)
    assert abs(float(m.mean) - p.work) < 1e-8
    assert abs(float(m.var) - 2 * kBT * p.work) < 1e-8


def test_linear_ramp_is_25_over_e():
    r = linear_ramp("trap_translation", lam_f=5.0, tau=1.0)
    assert abs(r.work - 25 / math.e) < 1e-8
    assert r.work > 25 / 3
    g, k, tau, lf = 1.5, 2.0, 0.8, 3.0
    v, tr = lf / tau, g / k
    r = linear_ramp("trap_translation", lam_f=lf, tau=tau, k=k, gamma=g)
    assert abs(r.work - g * v * v * (tau - tr * (1 - math.exp(-tau / tr)))) < 1e-8


@pytest.mark.parametrize("ki,kf,tau", [(1.0, 4.0, 1.0), (2.0, 0.5, 0.3), (1.0, 1.5, 5.0)])
def test_stiffness_optimum(ki, kf, tau):
    p = optimal_protocol("stiffness", k_i=ki, k_f=kf, tau=tau)
    assert abs(p.params[2] - ss_stiffness_c(ki, kf, tau)) < 1e-12  # published closed form
    m = gaussian_work(p)
    assert abs(float(m.mean) - p.work) < 1e-8
    assert abs(float(m.delta_f) - 0.5 * math.log(kf / ki)) < 1e-14
    assert p.work > float(m.delta_f)  # second law
    ramp = linear_ramp("stiffness", k_i=ki, k_f=kf, tau=tau)
    assert ramp.work > p.work
    # the optimum is stationary: perturbing the interior only costs more
    t = np.linspace(0, tau, 65)
    lam = np.asarray(p._interior(t))
    for eps in (1e-2, -1e-2):
        pert = lam * (1 + eps * np.sin(np.pi * t / tau))
        w = gaussian_work(np.r_[0.0, t, tau], np.r_[ki, pert, kf], kind="stiffness")
        assert float(w.mean) > p.work


def test_stiffness_quench_variance_exact():
    # instantaneous jump ki -> kf then relaxation: W = (kf-ki) x^2/2, x ~ N(0, 1/ki)
    ki, kf = 1.0, 3.0
    m = gaussian_work(np.array([0.0, 0.0, 1.0]), np.array([ki, kf, kf]), kind="stiffness")
    assert abs(float(m.mean) - (kf - ki) / (2 * ki)) < 1e-12
    assert abs(float(m.var) - (kf - ki) ** 2 / (2 * ki**2)) < 1e-12


def test_stiffness_variance_monte_carlo():
    # independent check of the non-Gaussian work variance: exact-OU-step Monte Carlo
    ki, kf, tau, n_t, n = 1.0, 3.0, 1.0, 400, 40000
    m = gaussian_work(np.array([0.0, tau]), np.array([ki, kf]), kind="stiffness")
    rng = np.random.default_rng(1)
    dt = tau / n_t
    x = rng.normal(size=n) / math.sqrt(ki)
    w = np.zeros(n)
    for i in range(n_t):
        l0, l1 = ki + (kf - ki) * i / n_t, ki + (kf - ki) * (i + 1) / n_t
        w += 0.5 * (l1 - l0) * x * x  # jump then relax (first order in dt)
        a = math.exp(-l1 * dt)
        x = a * x + math.sqrt((1 - a * a) / l1) * rng.normal(size=n)
    assert abs(w.mean() - float(m.mean)) < 0.02
    assert abs(w.var() - float(m.var)) / float(m.var) < 0.05


def test_quadratic_kind_matches_special_cases():
    t = np.linspace(0, 1, 9)
    lam = 2.0 * t**2
    tr = gaussian_work(t, lam, kind="trap_translation", k=2.0)
    q = gaussian_work(t, np.stack([np.full_like(t, 2.0), lam], 1), kind="quadratic")
    assert abs(float(tr.mean) - float(q.mean)) < 1e-12 and abs(float(tr.var) - float(q.var)) < 1e-12
    kap = 1 + t
    s = gaussian_work(t, kap, kind="stiffness")
    q = gaussian_work(t, np.stack([kap, np.zeros_like(t)], 1), kind="quadratic")
    assert abs(float(s.mean) - float(q.mean)) < 1e-12 and abs(float(s.var) - float(q.var)) < 1e-12


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=6, max_size=6), st.floats(0.2, 3.0))
def test_translation_variance_is_2kT_mean(vals, tau):
    # Gaussian work, Delta F = 0  =>  Var W = 2 kBT <W> for ANY protocol (with jumps too)
    t = np.array([0.0, 0.0, 0.25, 0.5, 0.75, 1.0]) * tau
    m = gaussian_work(t, np.array(vals), kind="trap_translation", kBT=0.8)
    assert abs(float(m.var) - 2 * 0.8 * float(m.mean)) < 1e-8 * (1 + abs(float(m.mean)))


# ------------------------------------------------------------------ optimisation
def test_optimize_recovers_translation():
    p = optimize_protocol("trap_translation", lam_f=5.0, tau=1.0, n_nodes=5)
    assert abs(p.work - 25 / 3) / (25 / 3) < 1e-3
    (_, b), (c, _) = p.jumps
    assert abs(b - 5 / 3) < 1e-3 and abs(c - 10 / 3) < 1e-3


def test_optimize_recovers_stiffness():
    e = optimal_protocol("stiffness", k_i=1.0, k_f=4.0, tau=1.0)
    p = optimize_protocol("stiffness", k_i=1.0, k_f=4.0, tau=1.0, n_nodes=17)
    assert abs(p.work - e.work) / e.work < 1e-3
    t = p.params[0]
    assert np.max(np.abs(p.params[1] - np.asarray(e._interior(t)))) < 2e-2


def test_optimize_variance_penalty_trades_mean_for_variance():
    p0 = optimize_protocol("stiffness", k_i=1.0, k_f=4.0, tau=1.0, n_nodes=5, n_steps=256)
    p1 = optimize_protocol("stiffness", k_i=1.0, k_f=4.0, tau=1.0, n_nodes=5, n_steps=256, variance_weight=2.0)
    assert p1.work_var < p0.work_var and p1.work >= p0.work - 1e-9


def U_harm(x, lam):
    return 0.5 * (x - lam) ** 2


def test_grid_work_and_user_optimisation():
    xg = np.linspace(-5, 6, 111)
    m = grid_work(U_harm, np.array([0.0, 1.0]), np.array([0.0, 1.0]), x_grid=xg)
    assert abs(float(m.mean) - 1 / math.e) < 1e-3  # O(h^2) grid error
    assert abs(float(m.var) - 2 / math.e) < 5e-3
    p = optimize_protocol(U_harm, lam_f=1.0, tau=1.0, x_grid=xg, n_nodes=5)
    assert abs(p.work - 1 / 3) < 1e-3


# ------------------------------------------------------------------ linear response
def test_friction_is_integral_of_correlation():
    t = np.linspace(0, 40, 400001)
    for kind, lam in (("trap_translation", 0.3), ("stiffness", 0.7), ("stiffness", 2.5)):
        c = np.asarray(force_correlation(kind, lam, t, gamma=1.3, kBT=0.9, k=2.0))
        z = np.trapezoid(c, t) / 0.9
        assert abs(z - float(friction(kind, lam, gamma=1.3, kBT=0.9, k=2.0))) < 1e-6


def test_friction_from_sampled_trajectories():
    # exact OU sampling of the stiffness trap at lam = 2: zeta = 1/(4*8) = 1/32
    lam, dt, n_t, n = 2.0, 0.01, 3000, 200
    rng = np.random.default_rng(3)
    a = math.exp(-lam * dt)
    x = np.empty((n, n_t))
    x[:, 0] = rng.normal(size=n) / math.sqrt(lam)
    for i in range(1, n_t):
        x[:, i] = a * x[:, i - 1] + math.sqrt((1 - a * a) / lam) * rng.normal(size=n)
    z = friction_from_samples(0.5 * x * x, dt)
    assert abs(z - 1 / 32) / (1 / 32) < 0.1
    lg = np.linspace(1.0, 4.0, 401)
    g = geodesic_protocol(lam_grid=lg, zeta=np.asarray(friction("stiffness", lg)), tau=1.0)
    assert abs(g.length - 0.5) < 1e-4
    ex = geodesic_protocol("stiffness", k_i=1.0, k_f=4.0, tau=1.0)
    tt = np.linspace(0, 1, 11)
    assert np.max(np.abs(np.asarray(g.protocol.lam(tt)) - np.asarray(ex.protocol.lam(tt)))) < 1e-3


def test_length_and_geodesic_bound():
    ki, kf = 1.0, 4.0
    g = geodesic_protocol("stiffness", k_i=ki, k_f=kf, tau=2.0)
    lg = np.linspace(ki, kf, 20001)
    assert abs(length_on_grid(lg, np.asarray(friction("stiffness", lg))) - g.length) < 1e-8
    assert abs(g.length - 0.5) < 1e-15
    # Cauchy-Schwarz: the LR cost of any jump-free protocol is >= L^2/tau, = for the geodesic
    assert abs(linear_response_work(g.protocol) - g.lr_work) < 1e-6
    assert linear_response_work(linear_ramp("stiffness", k_i=ki, k_f=kf, tau=2.0)) > g.lr_work
    tr = geodesic_protocol("trap_translation", lam_f=5.0, tau=1.0)
    assert abs(tr.length - 5.0) < 1e-15 and abs(tr.lr_work - 25.0) < 1e-12


def test_exact_optimum_versus_thermodynamic_length():
    # The exact optimum uses endpoint jumps that linear response does not price: its excess work
    # lies BELOW L^2/tau and W_ex*tau -> L^2 from below (gap ~ gamma/(k_f tau)).
    ki, kf = 1.0, 4.0
    L = geodesic_protocol("stiffness", k_i=ki, k_f=kf, tau=1.0).length
    dF = 0.5 * math.log(kf / ki)
    gaps = []
    for tau in (1.0, 10.0, 100.0, 1000.0):
        wex = optimal_protocol("stiffness", k_i=ki, k_f=kf, tau=tau).work - dF
        assert wex <= L * L / tau
        gaps.append(1 - wex * tau / L**2)
        geo = gaussian_work(geodesic_protocol("stiffness", k_i=ki, k_f=kf, tau=tau).protocol, n_steps=512)
        assert float(geo.mean) - dF >= wex  # the exact optimum beats the LR geodesic
    assert gaps[-1] < 1e-3 and all(a > b for a, b in zip(gaps, gaps[1:]))


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: optimal_protocol("trap_translation", lam_f=1.0, tau=0.0), "tau must be finite and > 0, got 0.0"),
        (lambda: optimal_protocol("trap_translation", lam_f=1.0, tau=float("nan")), "tau must be finite and > 0, got nan"),
        (lambda: optimal_protocol("trap_translation", lam_f=float("inf"), tau=1.0), "lam_f must be finite, got inf"),
        (lambda: optimal_protocol("trap_translation", lam_f=1.0, tau=1.0, gamma=-1.0), "gamma must be finite and > 0, got -1.0"),
        (lambda: optimal_protocol("stiffness", k_i=-1.0, k_f=1.0, tau=1.0), "k_i must be finite and > 0, got -1.0"),
        (lambda: optimal_protocol("stiffness", k_i=1.0, k_f=1.0, tau=1.0, kBT=0.0), "kBT must be finite and > 0, got 0.0"),
        (lambda: optimal_protocol("stretch", tau=1.0), "problem must be one of 'trap_translation' or 'stiffness', got 'stretch'"),
        (lambda: optimize_protocol("stretch", tau=1.0), "problem must be one of 'trap_translation' or 'stiffness', got 'stretch'"),
        (lambda: gaussian_work(np.linspace(0, 1, 5), np.zeros(4), kind="trap_translation"), "lam has shape"),
        (lambda: gaussian_work(np.array([0.0, 1.0]), np.array([1.0, -1.0]), kind="stiffness"), "lam"),
        (lambda: gaussian_work(np.array([0.0, 1.0]), np.zeros(2), kind="oops"), "kind must be one of 'trap_translation', 'stiffness' or 'quadratic', got 'oops'"),
        (lambda: friction("stiffness", 1.0, gamma=0.0), "gamma must be finite and > 0, got 0.0"),
        (lambda: geodesic_protocol("stiffness", k_i=1.0, k_f=2.0, tau=-1.0), "tau must be finite and > 0, got -1.0"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(".", r"\.")):
        call()
