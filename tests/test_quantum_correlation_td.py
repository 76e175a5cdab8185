"""Correlation functions with a time-dependent H (and c_ops) against QuTiP 5.

Model (ħ = 1): a driven damped two-level atom, H(t) = (w/2) σz + A cos(ν t) σx, c_ops = √γ σ-,
in QuTiP's list format with args, as a plain coefficient f(t) and as a callable H(t, args).

Tolerances: both sides integrate with rtol = 1e-10, atol = 1e-12 (nephlab: tsit5 through
``mesolve``; QuTiP: its default adams). Each solve runs over at most t + τ ≤ 7 on a damped
two-level system, so the global error of either stays ~1e-10 on O(1) values (observed
differences 3e-11..2e-10); agreement is asked to 1e-8 absolute, which still catches any error
in the time origin (a wrong start time changes the values at O(A) = 0.4).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import qutip

from nephlab.quantum import correlation_2op_1t, correlation_2op_2t

W, AMP, NU, GAMMA = 1.0, 0.4, 0.8, 0.3
ARGS = {"A": AMP, "nu": NU}
QOPT = {"atol": 1e-12, "rtol": 1e-10}
NOPT = {"rtol": 1e-10, "atol": 1e-12}
TOL = 1e-8
TLIST = np.linspace(0.0, 3.0, 4)
TAU = np.linspace(0.0, 4.0, 17)

SZ, SX, SM = qutip.sigmaz(), qutip.sigmax(), qutip.sigmam()
RHO0 = qutip.Qobj(np.array([[0.7, 0.2 + 0.1j], [0.2 - 0.1j, 0.3]]))  # a state with coherences


def drive_q(t, args):  # QuTiP side (NumPy)
    return args["A"] * np.cos(args["nu"] * t)


def drive(t, args):  # nephlab side (traced by JAX)
    return args["A"] * jnp.cos(args["nu"] * t)


H_Q = [0.5 * W * SZ, [SX, drive_q]]
H_N = [0.5 * W * SZ, [SX, drive]]
C_OPS = [np.sqrt(GAMMA) * SM]


@pytest.fixture(scope="module")
def qutip_2t():
    return {rev: qutip.correlation_2op_2t(H_Q, RHO0, TLIST, TAU, C_OPS, SM.dag(), SM, reverse=rev, args=ARGS,
                                          options=QOPT) for rev in (False, True)}


@pytest.mark.filterwarnings("ignore::FutureWarning")  # QuTiP 5.3 deprecates f(t, args)
@pytest.mark.parametrize("reverse", [False, True])
def test_2t_list_format_matches_qutip(qutip_2t, reverse):
    ours = correlation_2op_2t(H_N, RHO0, TLIST, TAU, C_OPS, SM.dag(), SM, reverse=reverse, args=ARGS, options=NOPT)
    assert ours.shape == (TLIST.size, TAU.size)
    np.testing.assert_allclose(ours, qutip_2t[reverse], rtol=0, atol=TOL)
    # the drive matters: a time-origin error (solving from 0 instead of t) would be O(A)
    const = correlation_2op_2t(0.5 * W * SZ, RHO0, TLIST, TAU, C_OPS, SM.dag(), SM, reverse=reverse)
    assert np.abs(ours - const).max() > 0.05


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("reverse", [False, True])
def test_1t_matches_qutip_and_first_row_of_2t(qutip_2t, reverse):
    ref = qutip.correlation_2op_1t(H_Q, RHO0, TAU, C_OPS, SM.dag(), SM, reverse=reverse, args=ARGS, options=QOPT)
    ours = correlation_2op_1t(H_N, RHO0, TAU, C_OPS, SM.dag(), SM, reverse=reverse, args=ARGS, options=NOPT)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours, qutip_2t[reverse][0], rtol=0, atol=TOL)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_batch_of_states_equals_loop():
    rhos = np.stack([RHO0.full(), np.diag([0.0, 1.0])])
    batch = correlation_2op_1t(H_N, rhos, TAU, C_OPS, SM.dag(), SM, args=ARGS, options=NOPT)
    loop = np.stack([correlation_2op_1t(H_N, r, TAU, C_OPS, SM.dag(), SM, args=ARGS, options=NOPT) for r in rhos])
    assert batch.shape == (2, TAU.size)
    np.testing.assert_allclose(batch, loop, rtol=0, atol=TOL)  # the batch may share step control


H0, HX = 0.5 * W * SZ.full(), SX.full()
TAU_SHORT = np.linspace(0.0, 3.0, 7)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_callable_H_matches_qutip():
    """A callable H(t, args), at t > 0 (the solve from t uses the absolute time).

    tlist and taulist have the same length, so that one compiled program serves both solves.
    """
    tlist, tau = np.array([0.0, 1.5, 2.0]), np.array([0.0, 1.0, 3.0])
    ref = qutip.correlation_2op_2t(H_Q, RHO0, tlist, tau, C_OPS, SX, SM, args=ARGS, options=QOPT)
    ours = correlation_2op_2t(lambda t, args: H0 + drive(t, args) * HX, RHO0, tlist, tau, C_OPS, SX, SM,
                              args=ARGS, options=NOPT)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_plain_coefficient_and_time_dependent_c_ops_match_qutip():
    """A one-argument coefficient f(t) and a modulated collapse operator √γ sqrt(1 + sin(t)/2) σ-."""

    def rate_q(t, args):
        return np.sqrt(1.0 + 0.5 * np.sin(t))

    c_q = [[np.sqrt(GAMMA) * SM, rate_q]]
    c_n = [[np.sqrt(GAMMA) * SM, lambda t: jnp.sqrt(1.0 + 0.5 * jnp.sin(t))]]
    ref = qutip.correlation_2op_1t(H_Q, RHO0, TAU_SHORT, c_q, SM.dag(), SM, args=ARGS, options=QOPT)
    ours = correlation_2op_1t([H0, [HX, lambda t: AMP * jnp.cos(NU * t)]], RHO0, TAU_SHORT, c_n, SM.dag(), SM,
                              options=NOPT)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


@pytest.mark.parametrize("reverse", [False, True])
def test_constant_list_format_takes_the_exact_path(reverse):
    h0, hx = H0, HX
    const = correlation_2op_2t(h0 + 0.3 * hx, RHO0, TLIST, TAU, C_OPS, SM.dag(), SM, reverse=reverse)
    for H, c in [([h0, [hx, 0.3]], C_OPS), ([qutip.Qobj(h0), [SX, 0.3]], [[SM, np.sqrt(GAMMA)]])]:
        ours = correlation_2op_2t(H, RHO0, TLIST, TAU, c, SM.dag(), SM, reverse=reverse, args=ARGS)
        np.testing.assert_allclose(ours, const, rtol=0, atol=1e-10)
    # the steady state is defined here, so state0=None works with a (constant) list too
    ss = correlation_2op_1t([h0, [hx, 0.3]], None, TAU, C_OPS, SM.dag(), SM)
    np.testing.assert_allclose(ss, correlation_2op_1t(h0 + 0.3 * hx, None, TAU, C_OPS, SM.dag(), SM), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"args": [AMP, NU]}, TypeError, "args must be a dict"),
        ({"args": {"A": "big", "nu": NU}}, TypeError, "args"),
        ({"state0": None}, ValueError, "state0=None asks for the steady state"),
        ({"options": {"rtol": 1e-8, "normalize_output": False}}, ValueError, "options has unknown key"),
        ({"options": 1e-8}, TypeError, "options must be a dict"),
        ({"H": [0.5 * SZ, [SX, np.cos(TAU)]]}, ValueError, r"H\[1\]\[1\] is an array coefficient"),
        ({"H": qutip.QobjEvo(H_Q, args=ARGS)}, TypeError, "H is a QuTiP QobjEvo"),
        ({"c_ops": [[SM, "cos(t)"]]}, TypeError, "string coefficients"),
        ({"a_op": [SM, [SM, drive]]}, ValueError, "a_op must be a constant operator"),
        ({"c_ops": SM}, TypeError, "c_ops must be a list"),
    ],
)
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_bad_input(kwargs, exc, match):
    call = dict(H=H_N, state0=RHO0, taulist=TAU, c_ops=C_OPS, a_op=SM.dag(), b_op=SM, args=ARGS)
    call.update(kwargs)
    with pytest.raises(exc, match=match):
        correlation_2op_1t(**call)
