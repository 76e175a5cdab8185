"""One validator per kind of check (issue 10, item 15): the stochastic and control modules use
nephlab._validate, so the same bad input gets the same wording everywhere, naming the argument,
the value and what is allowed."""

import numpy as np
import pytest

import nephlab._validate as V
from nephlab.control import grape, lqr, optimal_protocol, solve_pmp
from nephlab.control.protocols import gaussian_work, optimize_protocol
from nephlab.stochastic import jarzynski, overdamped_langevin

SX = np.array([[0, 1], [1, 0]])


def _trap(x, lam):
    return 0.5 * (x - lam) ** 2


POSITIVE = [
    (lambda: optimal_protocol("trap_translation", lam_f=1.0, tau=0.0), "tau", "0.0"),
    (lambda: gaussian_work(np.array([0.0, 1.0]), np.array([0.0, 1.0]), kind="trap_translation", gamma=-2.0),
     "gamma", "-2.0"),
    (lambda: jarzynski([1.0, 2.0], kBT=0.0), "kBT", "0.0"),
    (lambda: grape(np.zeros((2, 2)), [SX], [1, 0], [0, 1], 0.0, 4), "T", "0.0"),
    (lambda: solve_pmp(lambda x, u, t: u, lambda x, u, t: u[0] ** 2, [0.0], -1.0), "T", "-1.0"),
]


@pytest.mark.parametrize("call, name, value", POSITIVE)
def test_positive_parameters_share_one_message(call, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be finite and > 0, got {value}$"):
        call()


CHOICES = [
    (lambda: optimal_protocol("stretch", tau=1.0), "problem", "'trap_translation' or 'stiffness'", "'stretch'"),
    (lambda: optimize_protocol("stretch", tau=1.0), "problem", "'trap_translation' or 'stiffness'", "'stretch'"),
    (lambda: overdamped_langevin(_trap, np.zeros(2), np.zeros(3), dt=0.1, seed=0, noise="pink"), "noise",
     "'gaussian', 'rademacher' or 'three_point'", "'pink'"),
    (lambda: grape(np.zeros((2, 2)), [SX], [1, 0], [0, 1], 1.0, 4, fidelity="trace"), "fidelity",
     "'state' or 'gate'", "'trace'"),
    (lambda: solve_pmp(lambda x, u, t: u, lambda x, u, t: u[0] ** 2, [0.0], 1.0, method="magic"), "method",
     "'shooting' or 'collocation'", "'magic'"),
]


@pytest.mark.parametrize("call, name, allowed, value", CHOICES)
def test_choices_share_one_message(call, name, allowed, value):
    with pytest.raises(ValueError, match=rf"^{name} must be one of {allowed}, got {value}$"):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: overdamped_langevin(3, np.zeros(2), np.zeros(3), dt=0.1, seed=0), "U"),
    (lambda: solve_pmp(3, lambda x, u, t: u[0] ** 2, [0.0], 1.0), "f"),
])
def test_callables_share_one_message(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be a callable .*, got int$"):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: jarzynski([1.0, 2.0j]), "work"),
    (lambda: overdamped_langevin(_trap, np.zeros(2), np.array([0.0, 1j, 0.0]), dt=0.1, seed=0), "protocol"),
    (lambda: lqr([[1j]], 1.0, 1.0, 1.0), "A"),
])
def test_real_arrays_share_one_message(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be real, got complex values"):
        call()


def test_seed_is_required_everywhere():
    with pytest.raises(TypeError, match="^seed must be an int"):
        jarzynski([1.0, 2.0], seed=None)
    with pytest.raises(TypeError, match="^seed is required"):
        overdamped_langevin(_trap, np.zeros(2), np.zeros(3), dt=0.1, seed=None)


def test_no_private_validator_copies_left():
    from importlib import import_module  # (nephlab.control.lqr is also the name of a function)

    lr, lqr_mod, pmp, pr, sc, es, la = (import_module(f"nephlab.{m}") for m in (
        "control.linear_response", "control.lqr", "control.pmp", "control.protocols", "control.shortcuts",
        "stochastic.estimators", "stochastic.langevin"))

    gone = {pr: ["_finite", "_positive", "_check_kind", "_is_concrete"],
            la: ["_as_real_array", "_positive", "_pos_int", "_key"],
            es: ["_kbt"], pmp: ["_vector"], sc: ["_check_callable", "_is_tracer"]}
    for mod, names in gone.items():
        assert not [n for n in names if hasattr(mod, n)], mod.__name__
    assert lr.one_of is V.one_of and lqr_mod.real_array is V.real_array
