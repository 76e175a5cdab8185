"""The magnus4 method: order, efficiency against rk4, and complete positivity of every step."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import nephlab
from nephlab.quantum import fock_dm, sigmam, sigmax, sigmaz

W, OMEGA, NU, T_END = 1.0, 0.6, 0.9, 10.0
H0 = np.asarray(0.5 * W * sigmaz())
H1 = np.asarray(OMEGA * sigmax())
H_DRIVEN = [H0, [H1, lambda t, args: jnp.cos(NU * t)]]
PSI0 = np.array([1.0, 0.0], complex)


def exact_final_state() -> np.ndarray:
    """Schrödinger equation by SciPy's DOP853 at rtol 1e-13: an independent reference."""

    def f(t, psi):
        return -1j * (H0 + np.cos(NU * t) * H1) @ psi

    sol = solve_ivp(f, (0.0, T_END), PSI0, method="DOP853", rtol=1e-13, atol=1e-14)
    psi = sol.y[:, -1]
    return np.outer(psi, psi.conj())


def final_state(method: str, dt: float) -> np.ndarray:
    res = nephlab.mesolve(H_DRIVEN, PSI0, np.array([0.0, T_END]), method=method, dt=dt, store_states=False)
    return np.asarray(res.final_state)


def infidelity(rho: np.ndarray, rho_pure: np.ndarray) -> float:
    return float(abs(1.0 - np.trace(rho @ rho_pure).real))


def energy_error(rho: np.ndarray, ref: np.ndarray) -> float:
    Hf = H0 + np.cos(NU * T_END) * H1
    return float(abs(np.trace(Hf @ (rho - ref)).real))


def test_magnus4_is_fourth_order_on_a_driven_qubit():
    ref = exact_final_state()
    errs = [np.abs(final_state("magnus4", dt) - ref).max() for dt in (0.1, 0.05, 0.025)]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    # halving dt divides a 4th-order error by 2^4 = 16
    for r in ratios:
        assert 13.0 <= r <= 19.0, (errs, ratios)


def test_magnus4_beats_rk4_at_equal_hamiltonian_evaluations():
    """magnus4 evaluates H twice per step, rk4 at three distinct times per step.

    Counting rk4's evaluations generously (3, not its 4 stages), equal work means
    dt_rk4 = 1.5 dt_magnus. magnus4 must be at least 10x more accurate in fidelity and energy.
    """
    ref = exact_final_state()
    dt = 0.05
    rho_m = final_state("magnus4", dt)
    rho_r = final_state("rk4", 1.5 * dt)
    n_m = nephlab.mesolve(H_DRIVEN, PSI0, np.array([0.0, T_END]), method="magnus4", dt=dt, store_states=False).stats
    n_r = nephlab.mesolve(H_DRIVEN, PSI0, np.array([0.0, T_END]), method="rk4", dt=1.5 * dt, store_states=False).stats
    assert abs(2 * n_m["steps"] - 3 * n_r["steps"]) <= 3  # the same number of Hamiltonian evaluations
    assert infidelity(rho_m, ref) * 10 <= infidelity(rho_r, ref)
    assert energy_error(rho_m, ref) * 10 <= energy_error(rho_r, ref)
    # and magnus4 keeps the state pure to rounding error; rk4 does not preserve the norm
    assert abs(np.trace(rho_m @ rho_m).real - 1.0) <= 1e-13


def test_magnus4_steps_are_completely_positive_with_strong_dissipation():
    """Even with steps far beyond any accuracy limit, each step is a CPTP map."""
    H = [H0, [H1, lambda t, args: jnp.cos(NU * t)]]
    c_ops = [np.sqrt(3.0) * np.asarray(sigmam()), np.sqrt(1.5) * np.asarray(sigmaz())]
    tlist = np.linspace(0.0, 6.0, 13)
    for dt in (0.5, 2.0):
        res = nephlab.mesolve(H, fock_dm(2, 1), tlist, c_ops, method="magnus4", dt=dt)
        lam = np.linalg.eigvalsh(np.asarray(res.states))
        assert lam.min() >= -1e-14
        assert np.allclose(np.trace(np.asarray(res.states), axis1=1, axis2=2), 1.0, atol=1e-13, rtol=0)


def test_magnus4_with_dissipation_converges_to_the_adaptive_solution():
    H = [H0, [H1, lambda t, args: jnp.cos(NU * t)]]
    c_ops = [np.sqrt(0.2) * np.asarray(sigmam())]
    tlist = np.linspace(0.0, 5.0, 6)
    ref = nephlab.mesolve(H, fock_dm(2, 1), tlist, c_ops, method="tsit5", rtol=1e-11, atol=1e-13).states
    errs = [np.abs(np.asarray(nephlab.mesolve(H, fock_dm(2, 1), tlist, c_ops, method="magnus4", dt=dt).states) - ref).max()
            for dt in (0.02, 0.01)]
    # Strang splitting of the dissipator: second order in dt
    assert 3.5 <= errs[0] / errs[1] <= 4.5, errs
    assert errs[1] <= 2e-5


@pytest.mark.parametrize("dt", [0.1, 0.03])
def test_fixed_step_methods_hit_saved_times_exactly(dt):
    tlist = np.array([0.0, 0.25, 1.0, 1.05, 3.0])
    res = nephlab.mesolve(H_DRIVEN, PSI0, tlist, method="magnus4", dt=dt)
    steps = sum(int(np.ceil((b - a) / dt - 1e-9)) for a, b in zip(tlist[:-1], tlist[1:]))
    assert res.stats["steps"] == steps
