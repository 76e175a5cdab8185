"""nephlab.largedev.presets: the one set-up of the scgf / cloning / committor presets (used by the
tasks and the large-deviation explorer), against exact results. No Panel.

Closed forms:
- two-state activity: ``θ(s) = -(a+b)/2 + sqrt((a-b)²/4 + a b e^{-2s})``; for a = b = 1 the rate
  function is Poisson's ``I(x) = x ln x - x + 1``;
- ring random walk current: ``θ(s) = p (e^{-s} - 1) + q (e^{s} - 1)``, and
  ``I(x) = x ln u + p + q - sqrt(x² + 4pq)`` with ``u = (x + sqrt(x² + 4pq)) / (2p)``;
- TASEP ring (L sites, n particles, hop rate r): mean current ``r n (L-n)/(L-1)``; θ(s) by the
  Bethe ansatz (:func:`nephlab.largedev.tasep_scgf_exact`);
- East model (open, L spins, density c): mean activity ``2c(1-c)(1 + (L-1)c)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from nephlab.largedev import (MULLER_BROWN_A, MULLER_BROWN_B, activity_phase_diagram, committor_1d,
                              committor_problem, finite_size_curves, finite_size_sizes, markov_cloning,
                              markov_model, markov_scgf, markov_theta, parse_rate_matrix, pooled_estimate,
                              rate_function_grid, ring_random_walk, tasep_scgf_exact, transition_paths,
                              two_state_scgf)
from nephlab.largedev.markov import Observable
from nephlab.tasks import get_task, run_task

SCGF = get_task("scgf").spec
CLONING = get_task("cloning").spec
COMMITTOR = get_task("committor").spec


# --- the Markov presets ------------------------------------------------------------------------
def test_markov_scgf_against_closed_forms():
    p = SCGF.validate({"model": "two_state", "a": 1.0, "b": 3.0, "s_min": -1.5, "s_max": 1.5, "n_s": 31})
    r = markov_scgf(p)
    np.testing.assert_allclose(r.theta, two_state_scgf(1.0, 3.0, r.s), rtol=0, atol=1e-12)
    ds = run_task("scgf", **{k: v for k, v in p.items()})  # the task uses the same builder
    np.testing.assert_array_equal(ds.theta.values, r.theta)

    p = SCGF.validate({"model": "ring_random_walk", "observable": "current", "L": 5, "p": 2.0, "q": 0.5,
                       "n_s": 21})
    r = markov_scgf(p)
    s = r.s
    np.testing.assert_allclose(r.theta, 2.0 * np.expm1(-s) + 0.5 * np.expm1(s), rtol=0, atol=1e-12)
    np.testing.assert_allclose(-r.dtheta, 2.0 * np.exp(-s) - 0.5 * np.exp(s), rtol=0, atol=1e-10)
    assert markov_theta(p, 0.7) == pytest.approx(2.0 * np.expm1(-0.7) + 0.5 * np.expm1(0.7), abs=1e-12)

    p = SCGF.validate({"model": "tasep_ring", "observable": "current", "L": 6, "n_particles": 3, "rate": 1.0})
    s = np.array([-0.03, 0.0, 0.05])
    np.testing.assert_allclose(markov_theta(p, s), [tasep_scgf_exact(6, 3, v) for v in s], rtol=1e-9, atol=1e-12)


def test_markov_model_custom_rates_and_errors():
    proc, obs = markov_model({"model": "custom", "rates": "0 2; 1 0"})
    assert obs.name == "activity"
    s = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(proc.scgf(s, obs), two_state_scgf(2.0, 1.0, s), atol=1e-12)
    # the default custom matrix is the 3-cycle 0 -> 1 -> 2 -> 0 at rates 1, 2, 3: θ solves
    # (1+θ)(2+θ)(3+θ) = 6 e^{-3s}
    p = SCGF.validate({"model": "custom"})
    th = markov_theta(p, 0.4)
    assert (1 + th) * (2 + th) * (3 + th) == pytest.approx(6 * np.exp(-1.2), rel=1e-12)
    with pytest.raises(ValueError, match="not a square matrix"):
        parse_rate_matrix("0 1 2; 1 0")
    with pytest.raises(ValueError, match=r"rates must have non-negative off-diagonal entries, got rates\[0, 1\]"):
        parse_rate_matrix("0 -1; 1 0")
    with pytest.raises(ValueError, match="entries must be numbers"):
        parse_rate_matrix("0 x; 1 0")
    with pytest.raises(TypeError, match="rates must be a str"):
        parse_rate_matrix([[0, 1], [1, 0]])
    # the tasks refuse a bad or reducible matrix before computing, naming the parameter
    with pytest.raises(ValueError, match=r"task 'scgf': parameter 'rates': .*reducible"):
        SCGF.validate({"model": "custom", "rates": "0 1 0; 1 0 0; 0 1 0"})
    with pytest.raises(ValueError, match=r"task 'cloning': parameter 'rates': rates = '0 x"):
        CLONING.validate({"model": "custom", "rates": "0 x; 1 0"})
    assert SCGF.active({"model": "custom"}) == ["model", "observable", "rates", "s_min", "s_max", "n_s"]
    with pytest.raises(ValueError, match=r"params\['model'\] must be one of"):
        markov_model({"model": "tasep"})
    with pytest.raises(ValueError, match=r"'current' is not defined for model 'east'"):
        markov_model({"model": "east", "observable": "current", "L": 3, "c": 0.3, "boundary": "open"})
    with pytest.raises(ValueError, match=r"params has no 'q', which model 'ring_random_walk' needs"):
        markov_model({"model": "ring_random_walk", "L": 4, "p": 1.0})
    with pytest.raises(TypeError, match="params must be a mapping"):
        markov_model("two_state")


def test_rate_function_grid_against_closed_forms():
    p = SCGF.validate({"model": "two_state", "a": 1.0, "b": 1.0, "s_min": -2.0, "s_max": 2.0, "n_s": 81})
    r = rate_function_grid(markov_scgf(p))
    x = r.x
    assert x.size == 81 and np.all(np.diff(x) > 0)
    np.testing.assert_allclose(x, np.exp(-r.s_star), rtol=1e-12)  # tilted mean e^{-s}
    np.testing.assert_allclose(r.I, x * np.log(x) - x + 1.0, rtol=0, atol=1e-12)
    assert not r.kink and not r.at_boundary.any()
    # the optimising rate_function agrees at its own x
    proc, obs = markov_model(p)
    ref = proc.rate_function(x[5:-5:10], obs, s_grid=r.s_grid)
    np.testing.assert_allclose(ref.I, r.I[5:-5:10], rtol=0, atol=1e-9)

    pq, qq = 2.0, 0.5
    p = SCGF.validate({"model": "ring_random_walk", "observable": "current", "L": 4, "p": pq, "q": qq,
                       "s_min": -1.0, "s_max": 1.0, "n_s": 41})
    r = rate_function_grid(markov_scgf(p))
    x = r.x
    root = np.sqrt(x**2 + 4 * pq * qq)
    np.testing.assert_allclose(r.I, x * np.log((x + root) / (2 * pq)) + pq + qq - root, rtol=0, atol=1e-11)
    # a kink in θ is flagged where its slope jumps
    from nephlab.largedev.markov import ScgfResult

    s = np.linspace(-1, 1, 21)
    kinked = ScgfResult(s, np.abs(s), np.sign(s), np.zeros_like(s), "activity")
    assert rate_function_grid(kinked).kink and rate_function_grid(kinked).kink_s.tolist() == [0.0]
    with pytest.raises(TypeError, match="curve must be a ScgfResult"):
        rate_function_grid(p)


def test_finite_size_curves_against_exact_means():
    c = 0.3
    p = SCGF.validate({"model": "east", "L": 5, "c": c, "s_min": 0.0, "s_max": 1.0, "n_s": 41})
    assert finite_size_sizes(p) == [3, 4, 5] and finite_size_sizes(p, n_sizes=5) == [2, 3, 4, 5]
    r = finite_size_curves(p)
    assert r.sizes.tolist() == [3, 4, 5] and r.s.size == 21
    for k, L in enumerate(r.sizes):
        assert r.activity[k, 0] == pytest.approx(2 * c * (1 - c) * (1 + (L - 1) * c) / L, rel=1e-10)
        assert np.all(np.diff(r.activity[k]) < 0)  # s > 0 suppresses the activity
    # TASEP at the density n_particles / L (rounded): the mean current per site r n (L-n) / ((L-1) L)
    p = SCGF.validate({"model": "tasep_ring", "observable": "current", "L": 6, "n_particles": 3, "rate": 1.5,
                       "s_min": -0.2, "s_max": 0.2, "n_s": 3})
    r = finite_size_curves(p)
    assert r.sizes.tolist() == [4, 5, 6] and r.s.size == 3
    for k, (L, n) in enumerate(zip([4, 5, 6], [2, 2, 3])):
        assert r.activity[k, 1] == pytest.approx(1.5 * n * (L - n) / ((L - 1) * L), rel=1e-9)
    # models without a size: one curve, L = 1, θ itself
    p = SCGF.validate({"model": "two_state", "a": 1.0, "b": 3.0, "n_s": 5})
    r = finite_size_curves(p)
    assert r.sizes.tolist() == [1]
    np.testing.assert_allclose(r.theta[0], two_state_scgf(1.0, 3.0, r.s), atol=1e-12)
    # the ring walk's smallest size is 3
    assert finite_size_sizes({"model": "ring_random_walk", "L": 3}) == [3]


def test_activity_phase_diagram_takes_size_dependent_observables():
    def factory(L):
        proc, g = ring_random_walk(L, 2.0, 1.0)
        return proc, Observable.current(g)

    r = activity_phase_diagram(factory, [3, 4], np.linspace(-1, 1, 5))
    s = r.s
    for k, L in enumerate([3, 4]):  # the walker's current is p e^{-s} - q e^{s}, whatever L
        np.testing.assert_allclose(r.activity[k] * L, 2.0 * np.exp(-s) - np.exp(s), atol=1e-10)
    with pytest.raises(TypeError, match=r"must return a MarkovJumpProcess or a \(process, observable\) pair"):
        activity_phase_diagram(lambda L: ring_random_walk(L, 2.0, 1.0), [3], np.linspace(0, 1, 3))


# --- cloning ------------------------------------------------------------------------------------
def test_markov_cloning_matches_exact_scgf_and_the_task():
    p = CLONING.validate({"model": "two_state", "a": 1.0, "b": 3.0, "s": 0.5, "n_clones": 500, "t_max": 50.0,
                          "n_runs": 8, "seed": 11})
    res = markov_cloning(p)
    exact = two_state_scgf(1.0, 3.0, 0.5)
    assert markov_theta(p, 0.5) == pytest.approx(exact, abs=1e-12)
    est, err = pooled_estimate(res.scgf_runs, res.stderr)
    assert est == pytest.approx(res.scgf, abs=1e-12)
    # 8 independent runs: the between-run error bar is a fair one (over seeds 0..19 the z-scores
    # had mean -0.15 and spread 0.91); allow 4 sigma plus a population bias O(1/n_clones) of at
    # most 5e-4 (measured: below 1e-4)
    assert abs(est - exact) < 4 * err + 5e-4, (est, err, exact)
    assert 0 < err < 2e-3
    # the running estimate (no burn-in) starts off by the initial transient (~0.1) and ends
    # within 0.01 of the exact value in every run (O(1/t_max) transient bias)
    first, late = res.running_scgf[:, 0], res.running_scgf[:, -1]
    assert np.all(np.abs(late - exact) < 0.01) and np.all(np.abs(late - exact) < np.abs(first - exact))
    # deterministic, and the same numbers as the cloning task (one builder, one call)
    again = markov_cloning(p)
    np.testing.assert_array_equal(again.scgf_runs, res.scgf_runs)
    np.testing.assert_array_equal(again.running_scgf, res.running_scgf)
    ds = run_task("cloning", **p)
    np.testing.assert_array_equal(ds.scgf_runs.values, res.scgf_runs)
    assert float(ds.theta_exact) == pytest.approx(exact, abs=1e-12)
    other = markov_cloning({**p, "seed": 12})
    assert not np.array_equal(other.scgf_runs, res.scgf_runs)


def test_pooled_estimate():
    m, e = pooled_estimate(np.array([0.1, 0.3, 0.2, 0.4]))
    assert m == pytest.approx(0.25, abs=1e-15)
    assert e == pytest.approx(np.sqrt(((0.15**2 + 0.05**2) * 2) / 3 / 4), abs=1e-15)
    assert pooled_estimate([2.0], [0.3]) == (2.0, 0.3)
    assert np.isnan(pooled_estimate([2.0])[1])
    with pytest.raises(ValueError, match="estimates must be a non-empty array of finite numbers"):
        pooled_estimate([])
    with pytest.raises(ValueError, match="estimates must be"):
        pooled_estimate([1.0, np.nan])


# --- committor presets ----------------------------------------------------------------------------
def test_committor_problem_grids_and_task():
    mb = committor_problem(COMMITTOR.validate({"potential": "muller_brown", "beta": 0.05, "n_grid": 41}))
    h = mb.x[1] - mb.x[0]
    assert mb.ndim == 2 and mb.x[0] == -1.5 and mb.x[-1] == pytest.approx(1.2, abs=1e-12)
    assert np.allclose(np.diff(mb.y), h, atol=1e-12) and mb.y[0] == -0.2 and abs(mb.y[-1] - 2.0) < h / 2
    assert mb.A == (MULLER_BROWN_A, 0.1) and mb.B == (MULLER_BROWN_B, 0.1)
    q = mb.solve()
    X, Y = np.meshgrid(mb.x, mb.y, indexing="ij")
    assert np.all(q[(X - MULLER_BROWN_A[0]) ** 2 + (Y - MULLER_BROWN_A[1]) ** 2 <= 0.01] == 0.0)
    assert np.all(q[(X - MULLER_BROWN_B[0]) ** 2 + (Y - MULLER_BROWN_B[1]) ** 2 <= 0.01] == 1.0)
    assert q.min() >= 0.0 and q.max() <= 1.0
    ds = run_task("committor", potential="muller_brown", beta=0.05, n_grid=41)
    np.testing.assert_array_equal(ds.q.values, q)

    dw = committor_problem(COMMITTOR.validate({"n_grid": 11}))
    assert dw.ndim == 1 and dw.A == -1.0 and dw.B == 1.0
    np.testing.assert_allclose(dw.solve(), committor_1d(lambda t: (t * t - 1) ** 2, -1.0, 1.0, 3.0, dw.x),
                               rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match=r"params\['a'\] = 1.0 and params\['b'\] = 0.5: allowed: a < b"):
        committor_problem({"potential": "double_well_1d", "beta": 1.0, "a": 1.0, "b": 0.5, "n_grid": 5})
    with pytest.raises(ValueError, match="task 'committor': params"):
        COMMITTOR.validate({"potential": "double_well_2d", "a": -1.6})
    with pytest.raises(ValueError, match=r"params has no 'radius', which potential 'muller_brown' needs"):
        committor_problem({"potential": "muller_brown", "beta": 0.05, "n_grid": 11})


def test_transition_paths_are_reactive_and_reproducible():
    prob = committor_problem(COMMITTOR.validate({"potential": "muller_brown", "beta": 0.05, "n_grid": 55}))
    q = prob.solve()
    h = prob.x[1] - prob.x[0]
    paths = transition_paths(prob, q, n_paths=2, seed=3)
    assert len(paths) == 2
    for path in paths:
        t, x, y = path.T
        assert np.all(np.diff(t) > 0)
        rA = np.hypot(x - MULLER_BROWN_A[0], y - MULLER_BROWN_A[1])
        assert np.hypot(x[-1] - MULLER_BROWN_B[0], y[-1] - MULLER_BROWN_B[1]) <= 0.1 + 1e-12  # ends in B
        assert 0.1 < rA[0] <= 0.1 + 1.5 * h  # starts next to A
        assert np.all(rA > 0.1)  # never re-enters A
    again = transition_paths(prob, q, n_paths=2, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(paths, again))
    with pytest.raises(ValueError, match="transition paths need a 2D potential"):
        transition_paths(committor_problem(COMMITTOR.validate({})))
    with pytest.raises(TypeError, match="problem must be a CommittorProblem"):
        transition_paths({"potential": "muller_brown"})
