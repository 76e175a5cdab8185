"""Exact checks for nephlab.largedev.markov / models (issue 4, section 1)."""

import numpy as np
import pytest

from nephlab.largedev.markov import MarkovJumpProcess, Observable
from nephlab.largedev.models import (east, fredrickson_andersen, ring_random_walk, tasep_ring,
                                     two_state)

AB = [(1.0, 1.0), (1.0, 3.0), (0.2, 5.0), (2.5, 0.7)]
S = np.array([-1.5, -0.3, 0.0, 0.4, 1.0, 2.0])


def theta_two_state(a, b, s):
    return -(a + b) / 2 + np.sqrt((a - b) ** 2 / 4 + a * b * np.exp(-2 * s))


@pytest.mark.parametrize("a,b", AB)
def test_two_state_activity_scgf(a, b):
    p = two_state(a, b)
    err = np.max(np.abs(p.scgf(S, "activity") - theta_two_state(a, b, S)))
    assert err < 1e-12
    mean = 2 * a * b / (a + b)
    assert abs(p.scgf_derivative(0.0, "activity") + mean) < 1e-12
    assert abs(p.mean("activity") - mean) < 1e-12
    h = 1e-5
    fd = (theta_two_state(a, b, h) - theta_two_state(a, b, -h)) / (2 * h)
    assert abs(p.scgf_second_derivative(0.0, "activity") -
               (theta_two_state(a, b, 2e-4) - 2 * theta_two_state(a, b, 0) +
                theta_two_state(a, b, -2e-4)) / 4e-8) < 1e-5
    assert abs(fd + mean) < 1e-8


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0])
def test_two_state_rate_function_round_trip(gamma):
    p = two_state(gamma, gamma)
    k = np.array([0.3, 0.7, 1.0, 1.6, 2.5]) * gamma
    r = p.rate_function(k, "activity")
    exact = k * np.log(k / gamma) - k + gamma
    assert np.max(np.abs(r.I - exact)) < 1e-8
    assert np.max(np.abs(r.s_star - np.log(gamma / k))) < 1e-5
    assert not r.kink and not r.at_boundary.any()


def test_rate_function_boundary_flag():
    r = two_state(1.0, 1.0).rate_function([1e-4], "activity", s_grid=np.linspace(-1, 1, 21))
    assert r.at_boundary[0]


def test_kink_flag():
    # theta(s) = max(f1, f2) of two decoupled blocks is impossible for an irreducible chain;
    # emulate a sharp crossover: two-state with very weak coupling and occupation tilting
    p = MarkovJumpProcess([[0.0, 1e-9], [1e-9, 0.0]])
    r = p.rate_function([0.5], Observable.occupation([0.0, 1.0]), s_grid=np.linspace(-1, 1, 41))
    assert r.kink and np.min(np.abs(r.kink_s)) < 0.06


@pytest.mark.parametrize("L,n", [(4, 1), (5, 2), (6, 3), (8, 3), (9, 5)])
def test_tasep_mean_current(L, n):
    proc, g = tasep_ring(L, n)
    exact = n * (L - n) / (L - 1)
    assert abs(-proc.scgf_derivative(0.0, "current", increments=g) - exact) < 1e-10
    assert abs(proc.mean("current", increments=g) - exact) < 1e-10
    assert np.allclose(proc.stationary(), 1 / proc.n_states, atol=1e-12)


@pytest.mark.parametrize("L,p,q", [(3, 2.0, 1.0), (5, 1.3, 0.4), (7, 0.5, 3.0)])
def test_ring_gallavotti_cohen(L, p, q):
    proc, g = ring_random_walk(L, p, q)
    E = np.log(p / q)
    s = np.linspace(-2, 3, 11)
    th = proc.scgf(s, "current", increments=g)
    assert np.max(np.abs(th - proc.scgf(E - s, "current", increments=g))) < 1e-10
    exact = p * (np.exp(-s) - 1) + q * (np.exp(s) - 1)
    assert np.max(np.abs(th - exact)) < 1e-10


@pytest.mark.parametrize("s", [0.5, 1.0])
@pytest.mark.parametrize("a,b", [(1.0, 1.0), (0.4, 2.0)])
def test_doob_mean_activity(a, b, s):
    p = two_state(a, b)
    d = p.doob(s, "activity")
    assert abs(d.mean("activity") + p.scgf_derivative(s, "activity")) < 1e-12
    h = 1e-5
    fd = (theta_two_state(a, b, s + h) - theta_two_state(a, b, s - h)) / (2 * h)
    assert abs(d.mean("activity") + fd) < 1e-8


@pytest.mark.parametrize("s", [0.5, 1.0])
def test_doob_many_body(s):
    p = east(5, 0.3)
    d = p.doob(s, "activity")
    assert abs(d.mean("activity") + p.scgf_derivative(s, "activity")) < 1e-10


def test_sparse_vs_dense_tasep():
    proc, g = tasep_ring(12, 6)
    assert proc.n_states == 924
    s = np.array([-0.5, 0.3])
    dense = proc.scgf(s, "current", increments=g)
    sparse = proc.scgf(s, "current", increments=g, sparse_threshold=10)
    assert np.max(np.abs(dense - sparse)) < 1e-10
    d1 = proc.scgf_derivative(0.0, "current", increments=g, sparse_threshold=10)
    assert abs(-d1 - 6 * 6 / 11) < 1e-10


@pytest.mark.parametrize("model", [east, fredrickson_andersen])
@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_kcm_product_measure_and_activity(model, boundary):
    c = 0.3
    p = model(4, c, boundary=boundary)
    up = p.states.sum(axis=1)
    w = c ** up * (1 - c) ** (4 - up)
    assert np.allclose(p.stationary(), w / w.sum(), atol=1e-12)
    assert abs(p.scgf(0.0, "activity")) < 1e-12
    assert abs(p.scgf_derivative(0.0, "activity") + p.mean("activity")) < 1e-12
    th = p.scgf(np.array([-0.5, 0.0, 0.5, 1.0]), "activity")
    assert np.all(np.diff(th) < 0)  # activity >= 0 and > 0 on average


def test_occupation_observable():
    a, b = 1.0, 3.0
    p = two_state(a, b)
    f = np.array([0.0, 1.0])
    assert abs(-p.scgf_derivative(0.0, "occupation", state_function=f) - a / (a + b)) < 1e-12
    assert abs(p.scgf(0.7, f) - p.scgf(0.7, "occupation", state_function=f)) < 1e-15


def test_bad_input():
    with pytest.raises(ValueError, match=r"rates\[1, 2\] = -0.5"):
        MarkovJumpProcess([[0, 1, 0], [1, 0, -0.5], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"rates\[0, 1\] = nan"):
        MarkovJumpProcess([[0, np.nan], [1, 0]])
    with pytest.raises(ValueError, match="square"):
        MarkovJumpProcess(np.ones((2, 3)))
    p = two_state(1.0, 2.0)
    with pytest.raises(ValueError, match=r"'current' has increments of shape \(3, 3\)"):
        p.scgf(0.1, "current", increments=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"'occupation' has state_function of shape \(3,\)"):
        p.scgf(0.1, "occupation", state_function=[1, 2, 3])
    with pytest.raises(ValueError, match="antisymmetric"):
        p.scgf(0.1, "current", increments=[[0, 1], [1, 0]])
    red = MarkovJumpProcess([[0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    for call in (red.stationary, lambda: red.scgf(0.2), lambda: red.doob(0.2)):
        with pytest.raises(ValueError, match=r"reducible.*\[0, 1\]; \[2, 3\]"):
            call()
    # the diagonal is ignored
    q = MarkovJumpProcess([[9.0, 1.0], [2.0, -4.0]])
    assert q.generator().tolist() == [[-1.0, 1.0], [2.0, -2.0]]
