"""nephlab.control.designer and landau_zener: the protocol designer's numbers, without Panel.

Closed forms (overdamped, harmonic trap; gamma = k = kBT = 1 unless stated):
- linear ramp of the trap centre by d in time tau: <W> = gamma v^2 [tau - tau_r (1 - e^{-tau/tau_r})],
  v = d/tau, tau_r = gamma/k, and Var W = 2 kBT <W> (Gaussian work);
- Schmiedl-Seifert optimum: <W>* = gamma d^2 / (tau + 2 gamma/k), jumps of d/(2 + k tau/gamma);
- thermodynamic length: sqrt(gamma) |d| (translation) and sqrt(gamma kBT) |k_i^{-1/2} - k_f^{-1/2}|
  (stiffness, friction gamma kBT / (4 lam^3));
- Landau-Zener counterdiabatic term c(t) = -Omega Delta_dot / (2 (Delta^2 + Omega^2)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from nephlab.control import (
    REFERENCE_NAMES,
    evaluate_protocol,
    friction,
    gaussian_work,
    harmonic_trap,
    landau_zener,
    langevin_check,
    linear_ramp,
    optimal_protocol,
    points_protocol,
    pontryagin_protocol,
    protocol_length,
    protocol_work_samples,
    reference_protocols,
    thermodynamic_length,
    trap_parameters,
)
from nephlab.tasks import run_task


def _ramp_work(d, tau, gamma=1.0, k=1.0):
    v, tr = d / tau, gamma / k
    return gamma * v * v * (tau - tr * (1 - math.exp(-tau / tr)))


# ------------------------------------------------------------------ points_protocol + evaluate_protocol
@pytest.mark.parametrize("tau,d,gamma,k,kBT", [(1.0, 5.0, 1.0, 1.0, 1.0), (0.5, -2.0, 2.0, 3.0, 0.7)])
def test_points_on_the_ramp_give_the_closed_form_work(tau, d, gamma, k, kBT):
    p = points_protocol("trap_translation", [0.0, 0.3 * tau, tau], [0.0, 0.3 * d, d], tau=tau, lam_f=d, k=k,
                        gamma=gamma, kBT=kBT)
    c = evaluate_protocol(p)
    exact = _ramp_work(d, tau, gamma, k)
    assert c.work == pytest.approx(exact, rel=1e-10)
    assert c.work_var == pytest.approx(2.0 * kBT * exact, rel=1e-9)
    assert c.delta_f == 0.0 and c.dissipation == pytest.approx(exact, rel=1e-10)
    assert c.length == pytest.approx(math.sqrt(gamma) * abs(d), rel=1e-14)
    assert c.length_min == pytest.approx(math.sqrt(gamma) * abs(d), rel=1e-14)
    assert c.bound == pytest.approx(gamma * d * d / tau, rel=1e-13)  # L^2/tau


def test_points_through_the_optimum_give_schmiedl_seifert_work():
    tau, d, gamma, k = 0.8, 3.0, 1.5, 2.0
    p = optimal_protocol("trap_translation", lam_f=d, tau=tau, k=k, gamma=gamma)
    (_, a), (b, _) = p.jumps
    q = points_protocol("trap_translation", [0.0, tau], [a, b], tau=tau, lam_f=d, k=k, gamma=gamma)
    c = evaluate_protocol(q)
    assert c.work == pytest.approx(gamma * d * d / (tau + 2.0 * gamma / k), rel=1e-10)
    assert c.work < c.bound  # the exact optimum beats the linear-response bound (jumps are not priced)


def test_stiffness_points_match_core_ramp_free_energy_and_length():
    p = points_protocol("stiffness", [1.0, 0.0], [4.0, 1.0], tau=1.0, k_i=1.0, k_f=4.0)  # unsorted on purpose
    c = evaluate_protocol(p)
    ref = linear_ramp("stiffness", k_i=1.0, k_f=4.0, tau=1.0)
    assert c.work == pytest.approx(ref.work, rel=1e-10)
    assert c.work_var == pytest.approx(ref.work_var, rel=1e-9)
    assert c.delta_f == pytest.approx(0.5 * math.log(4.0), rel=1e-14)
    assert c.length == pytest.approx(0.5, rel=1e-14) and c.bound == pytest.approx(0.25, rel=1e-14)


def test_protocol_length_equals_quadrature_of_the_friction():
    # a non-monotone stiffness path with both end jumps, gamma = 2, kBT = 0.5
    gamma, kBT = 2.0, 0.5
    p = points_protocol("stiffness", [0.0, 0.4, 1.0], [2.0, 0.5, 3.0], tau=1.0, k_i=1.0, k_f=1.5, gamma=gamma,
                        kBT=kBT)
    pieces = [np.linspace(a, b, 20001) for a, b in zip(p.values[:-1], p.values[1:])]
    dense = np.concatenate([pieces[0]] + [x[1:] for x in pieces[1:]])
    quad = float(thermodynamic_length(lambda lam: friction("stiffness", lam, gamma=gamma, kBT=kBT), dense))
    assert protocol_length(p) == pytest.approx(quad, rel=1e-8)
    F = -math.sqrt(gamma * kBT) / np.sqrt([1.0, 2.0, 0.5, 3.0, 1.5])  # closed form through the nodes
    assert protocol_length(p) == pytest.approx(np.abs(np.diff(F)).sum(), rel=1e-14)


def test_moving_points_never_recompiles_the_moment_equations():
    from nephlab.control.protocols import _gauss_nodes

    kw = dict(tau=1.0, lam_f=5.0)
    evaluate_protocol(points_protocol("trap_translation", [0.0, 0.5, 1.0], [0.0, 2.0, 5.0], **kw))
    size = _gauss_nodes._cache_size()
    for t in ([0.1, 0.5, 0.9], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5], [1.0, 0.2, 0.0]):
        evaluate_protocol(points_protocol("trap_translation", t, [1.0, 3.0, 4.0], **kw))
    assert _gauss_nodes._cache_size() == size


def test_steps_per_segment_agrees_with_spread_steps():
    p = points_protocol("stiffness", [0.0, 0.2, 0.7], [1.5, 3.0, 2.5], tau=1.0, k_i=1.0, k_f=2.0)
    a, b = gaussian_work(p), gaussian_work(p, steps_per_segment=300)
    assert float(b.mean) == pytest.approx(float(a.mean), rel=1e-11)
    assert float(b.var) == pytest.approx(float(a.var), rel=1e-10)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: points_protocol("spring", [0.0], [0.0], tau=1.0, lam_f=1.0), "problem"),
        (lambda: points_protocol("trap_translation", [0.0, 2.0], [0.0, 5.0], tau=1.0, lam_f=5.0), r"times=.*\[0, tau\]"),
        (lambda: points_protocol("trap_translation", [0.0, 1.0], [0.0, np.nan], tau=1.0, lam_f=5.0), "NaN"),
        (lambda: points_protocol("trap_translation", [0.0, 1.0, 0.5], [0.0, 5.0], tau=1.0, lam_f=5.0), "shape"),
        (lambda: points_protocol("trap_translation", [0.0], [0.0], tau=1.0), "lam_f=None"),
        (lambda: points_protocol("stiffness", [0.0, 1.0], [1.0, -1.0], tau=1.0, k_i=1.0, k_f=2.0), "stiffness"),
        (lambda: points_protocol("stiffness", [0.0], [1.0], tau=1.0, k_i=0.0, k_f=2.0), "k_i must be finite and > 0"),
        (lambda: points_protocol("trap_translation", [0.0], [0.0], tau=0.0, lam_f=1.0), "tau must be finite and > 0"),
        (lambda: evaluate_protocol(points_protocol("trap_translation", [0.0], [0.0], tau=1.0, lam_f=1.0), n_steps=1),
         "n_steps"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    with pytest.raises(TypeError, match="Protocol"):
        evaluate_protocol([0.0, 1.0])


# ------------------------------------------------------------------ Pontryagin and the references
def test_pontryagin_translation_is_the_exact_optimum():
    tau, d, gamma, k = 1.2, 2.0, 0.8, 1.7
    p = pontryagin_protocol("trap_translation", tau=tau, lam_i=0.5, lam_f=0.5 + d, k=k, gamma=gamma, n_steps=100)
    exact = gamma * d * d / (tau + 2.0 * gamma / k)
    assert p.work == pytest.approx(exact, rel=1e-9)
    assert evaluate_protocol(p).work == pytest.approx(exact, rel=1e-8)  # its lam(t), evaluated independently
    (_, a), (b, _) = p.jumps
    assert a == pytest.approx(0.5 + d / (2.0 + k * tau / gamma), rel=1e-8)
    assert b == pytest.approx(0.5 + d * (1.0 + k * tau / gamma) / (2.0 + k * tau / gamma), rel=1e-8)


def test_pontryagin_stiffness_is_the_exact_optimum():
    kw = dict(tau=0.7, k_i=1.0, k_f=3.0, gamma=1.3, kBT=0.8)
    p = pontryagin_protocol("stiffness", **kw)
    exact = optimal_protocol("stiffness", **kw)
    assert p.work == pytest.approx(exact.work, rel=1e-9)
    t, lam = p.params  # the PMP nodes (interior limits at 0+ and tau-)
    np.testing.assert_allclose(lam, np.asarray(exact._interior(t)), rtol=1e-8)


@pytest.mark.slow  # JAX compilation of optimize_protocol (L-BFGS) and solve_pmp: ~20 s on a loaded 2-core machine
def test_reference_protocols_are_cached_and_bounded_by_the_optimum():
    kw = dict(tau=1.0, lam_f=5.0)
    refs = reference_protocols("trap_translation", **kw)
    assert tuple(refs) == REFERENCE_NAMES
    exact = 25.0 / 3.0
    assert refs["optimal (Schmiedl-Seifert)"].work == pytest.approx(exact, rel=1e-12)
    assert refs["linear ramp"].work == pytest.approx(25.0 / math.e, rel=1e-10)
    assert refs["optimize_protocol"].work == pytest.approx(exact, rel=1e-6)
    assert refs["Pontryagin"].work == pytest.approx(exact, rel=1e-8)
    costs = {n: evaluate_protocol(p) for n, p in refs.items()}
    assert all(c.work >= exact * (1 - 1e-6) for c in costs.values())  # nothing beats the exact optimum
    assert costs["optimal (Schmiedl-Seifert)"].work_var == pytest.approx(2 * exact, rel=1e-9)
    again = reference_protocols("trap_translation", **kw, k_i=7.0)  # k_i does not apply to translation
    assert all(again[n] is refs[n] for n in REFERENCE_NAMES)


# ------------------------------------------------------------------ trap potential and the Langevin check
def test_harmonic_trap_is_the_quadratic_kind_of_the_moment_equations():
    x = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(np.asarray(harmonic_trap(x, np.array([3.0, 0.5]))), 1.5 * (x - 0.5) ** 2, rtol=1e-15)
    p = points_protocol("trap_translation", [0.0, 0.6], [1.0, 2.0], tau=1.0, lam_f=2.5, k=2.0)
    quad = gaussian_work(p.times, trap_parameters("trap_translation", p.values, k=2.0), kind="quadratic")
    direct = gaussian_work(p)
    assert float(quad.mean) == pytest.approx(float(direct.mean), rel=1e-12)
    assert float(quad.var) == pytest.approx(float(direct.var), rel=1e-12)
    with pytest.raises(ValueError, match="stiffness"):
        trap_parameters("stiffness", [1.0, -1.0])


def test_one_chunk_reproduces_the_langevin_work_task():
    # same trap, same seed, same grid: the task's ensemble and the protocol check's are the same samples
    n_traj, n_steps, seed = 400, 50, 7
    ds = run_task("langevin_work", k_i=1.0, k_f=3.0, v=0.0, tau=1.0, n_traj=n_traj, n_steps=n_steps, seed=seed,
                  n_boot=10, device="cpu")
    p = linear_ramp("stiffness", k_i=1.0, k_f=3.0, tau=1.0)
    w = protocol_work_samples(p, n_traj=n_traj, n_steps=n_steps, seed=seed)
    assert w.mean() == pytest.approx(float(ds.work_mean), rel=1e-12)
    assert w.var(ddof=1) == pytest.approx(float(ds.work_var), rel=1e-12)


def test_langevin_check_agrees_with_the_exact_work_and_free_energy():
    p = points_protocol("trap_translation", [0.0, 1.0], [0.0, 1.0], tau=1.0, lam_f=1.0)  # <W> = 1/e
    seen = []
    r = langevin_check(p, n_traj=4000, n_steps=200, seed=1, n_boot=100, n_chunks=4, on_chunk=seen.append)
    assert [s.n for s in seen] == [1000, 2000, 3000] and not any(s.complete for s in seen)
    assert r.complete and r.n == 4000 and r.work.shape == (4000,)
    assert r.work_exact == pytest.approx(math.exp(-1.0), rel=1e-10) and r.delta_f_exact == 0.0
    # Heun: weak error O(dt^2) on <W> ~ 0.37 (the jumps are O(dt)), far below 5 sigma (~0.05)
    assert abs(r.work_mean - r.work_exact) < 5 * r.work_stderr
    assert abs(r.delta_f - r.delta_f_exact) < 5 * r.delta_f_stderr + 5e-3
    assert r.delta_f_ci[0] < r.delta_f < r.delta_f_ci[1]
    chunks = np.concatenate([protocol_work_samples(p, n_traj=1000, n_steps=200, seed=1, chunk=i) for i in range(4)])
    np.testing.assert_array_equal(r.work, chunks)  # the chunks are the public function's
    with pytest.raises(ValueError, match="n_traj"):
        langevin_check(p, n_traj=1)


# ------------------------------------------------------------------ Landau-Zener
def _propagate_expm(res, H_terms):
    """Independent piecewise-constant propagation with scipy.linalg.expm, slice by slice."""
    U = np.eye(2, dtype=complex)
    dt = res.T / res.time.size
    for j in range(res.time.size):
        U = scipy.linalg.expm(-1j * dt * sum(c[j] * h for c, h in H_terms)) @ U
    return U


@pytest.mark.slow  # compiles GRAPE and the piecewise propagator
def test_landau_zener_against_closed_form_scipy_and_the_task():
    d0, om, T = 5.0, 1.0, 2.0
    r = landau_zener(d0, om, T, n_slices=10, n_prop=200)
    expect = -om * (2 * d0 / T) / (2 * (r.delta**2 + om**2))
    np.testing.assert_allclose(r.cd, expect, rtol=1e-12, atol=0)
    sx = np.array([[0, 1], [1, 0]], complex)
    sy = np.array([[0, -1j], [1j, 0]])
    sz = np.diag([1.0, -1.0]).astype(complex)
    h0 = lambda d: 0.5 * d * sz + 0.5 * om * sx  # noqa: E731
    psi0, target = np.linalg.eigh(h0(-d0))[1][:, 0], np.linalg.eigh(h0(d0))[1][:, 0]
    ones = np.ones_like(r.delta)
    for fid, terms in ((r.fidelity_linear, [(r.delta, 0.5 * sz), (om * ones, 0.5 * sx)]),
                       (r.fidelity_cd, [(r.delta, 0.5 * sz), (om * ones, 0.5 * sx), (r.cd, sy)])):
        U = _propagate_expm(r, terms)
        assert fid == pytest.approx(abs(np.vdot(target, U @ psi0)) ** 2, abs=1e-12)
    # the continuous sweep (SciPy's adaptive RK) agrees with the 200-slice midpoint propagation
    def rhs(t, psi):
        d = d0 * (2 * t / T - 1)
        return -1j * (h0(d) @ psi)
    sol = scipy.integrate.solve_ivp(rhs, (0, T), psi0.astype(complex), rtol=1e-11, atol=1e-12)
    assert r.fidelity_linear == pytest.approx(abs(np.vdot(target, sol.y[:, -1])) ** 2, abs=1e-4)
    assert r.fidelity_cd > 1 - 1e-6 > r.fidelity_linear
    assert r.fidelity_grape > 1 - 1e-8
    assert r.grape_controls.shape == (2, 10) and np.all(np.abs(r.grape_controls) <= d0 + 1e-12)
    ds = run_task("landau_zener", delta0=d0, omega=om, T=T, n_slices=10, n_prop=200)
    assert float(ds.fidelity_cd) == r.fidelity_cd and float(ds.fidelity_grape) == r.fidelity_grape
    np.testing.assert_array_equal(ds.u_x.values, r.grape_controls[1])
    assert ds.u_z.dims == ("slice",) and ds.delta.dims == ("time",)


def test_landau_zener_rejects_bad_input():
    with pytest.raises(ValueError, match="delta0"):
        landau_zener(0.0)
    with pytest.raises(ValueError, match="n_slices"):
        landau_zener(n_slices=1)
    with pytest.raises(ValueError, match="'T'"):
        run_task("landau_zener", T=-1.0)
