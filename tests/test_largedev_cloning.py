"""Tests of nephlab.largedev.cloning: population dynamics against exact SCGFs.

Tolerances: each check is within 2% of the exact theta(s) (the issue's criterion); the measured
errors are far smaller (~0.1-0.3%, a few standard errors), and every run uses a fixed seed.
"""

import dataclasses

import numpy as np
import pytest

from nephlab.largedev.cloning import (
    CloningResult,
    cloning,
    extrapolate_clones,
    extrapolate_time,
    two_state_scgf,
)


def two_state(a, b):
    return np.array([[0.0, a], [b, 0.0]])


@pytest.mark.parametrize(
    "a,b,s",
    [
        (1.0, 1.0, 1.0),  # the issue's case: exact -0.6321...; "charge at jumps only" gave -0.37
        (1.0, 3.0, 1.0),  # s = 1 with unequal rates (weights state-dependent)
        (1.0, 3.0, 2.0),  # s well above ln 2
        (2.0, 0.5, 0.5),
        (1.0, 1.0, -0.5),  # rare high activity
        (0.5, 2.0, -1.0),
    ],
)
def test_two_state_activity_within_2_percent(a, b, s):
    exact = two_state_scgf(a, b, s)
    r = cloning(two_state(a, b), s, n_clones=1000, t_max=100.0, seed=3, n_runs=2)
    assert abs(r.scgf - exact) < 0.02 * abs(exact)
    # the error bar is meaningful: the estimate is within 5 standard errors (+ a tiny floor)
    assert abs(r.scgf - exact) < 5 * r.stderr + 2e-3 * abs(exact)


def test_issue_regression_large_s_equal_rates():
    # a = b = 1, s = 1: the weight integrates r_s - r over the whole sojourn, so it is exact.
    r = cloning(two_state(1, 1), 1.0, n_clones=100, t_max=20.0, seed=0)
    assert r.scgf == pytest.approx(-0.6321205588, abs=1e-8)


def test_current_on_a_nonuniform_ring_matches_largest_eigenvalue():
    W = np.array([[0, 2, 0.5], [0.3, 0, 1], [3, 0.2, 0]])
    g = np.array([[0, 1, -1], [-1, 0, 1], [1, -1, 0]])
    for s in (0.5, -1.0):
        L = W * np.exp(-s * g)
        L = L - np.diag(W.sum(1))
        exact = max(np.linalg.eigvals(L).real)
        r = cloning(W, s, g, n_clones=1000, t_max=100.0, seed=1, n_runs=2)
        assert abs(r.scgf - exact) < 0.02 * abs(exact)


def test_bias_shrinks_with_population_size():
    # a strongly heterogeneous case (s < 0, a << b) whose N_c = 50 bias is ~ -1% (10 standard errors)
    a, b, s = 1.0, 10.0, -1.0
    exact = two_state_scgf(a, b, s)
    small = cloning(two_state(a, b), s, n_clones=50, t_max=100.0, seed=11, n_runs=16)
    large = cloning(two_state(a, b), s, n_clones=1000, t_max=100.0, seed=12, n_runs=2)
    err_small = small.scgf_runs.mean() - exact
    err_large = large.scgf_runs.mean() - exact
    se_small = small.scgf_runs.std(ddof=1) / np.sqrt(small.n_runs)
    assert err_small < -3 * se_small  # significant negative bias at N_c = 50
    assert abs(err_large) < abs(err_small) / 2
    # 1/N_c extrapolation recovers the exact value
    e = extrapolate_clones([small, large])
    assert abs(e.value - exact) < max(4 * e.stderr, 0.005 * abs(exact))
    assert e.slope < 0


def test_result_shapes_thinning_and_xarray():
    r = cloning(two_state(1, 2), 1.0, n_clones=30, t_max=10.0, seed=0, dt=0.5, n_runs=3, record_every=4)
    assert isinstance(r, CloningResult)
    assert r.dt == pytest.approx(0.5)
    assert r.times.shape == (20,)
    assert r.log_growth.shape == (3, 20)
    assert r.trajectories.shape == (3, 5, 30)
    assert r.trajectory_times == pytest.approx([2, 4, 6, 8, 10])
    assert set(np.unique(r.trajectories)) <= {0, 1}
    assert r.running_scgf.shape == (3, 20)
    ds = r.to_xarray()
    assert ds["trajectories"].dims == ("run", "rec_time", "clone")
    assert ds.attrs["scgf"] == r.scgf
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.scgf = 0.0


def test_reproducible_with_seed_and_x0():
    kw = dict(n_clones=40, t_max=5.0, dt=0.5)
    r1 = cloning(two_state(1, 2), 0.7, seed=5, **kw)
    r2 = cloning(two_state(1, 2), 0.7, seed=5, **kw)
    r3 = cloning(two_state(1, 2), 0.7, seed=6, **kw)
    assert r1.scgf == r2.scgf and r1.scgf != r3.scgf
    r4 = cloning(two_state(1, 2), 0.7, seed=5, x0=1, **kw)
    assert r4.trajectories.shape == (1, 10, 40)


def test_extrapolate_time_and_tuple_form():
    e = extrapolate_time(([10.0, 20.0, 40.0], [-0.6 - 1 / 10, -0.6 - 1 / 20, -0.6 - 1 / 40], [0.01] * 3))
    assert e.value == pytest.approx(-0.6)
    assert e.slope == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="n_clones"):
        extrapolate_clones(([100, 100], [-0.6, -0.6], [0.01, 0.01]))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n_clones=1), "n_clones must be .*got 1"),
        (dict(t_max=0.0), r"t_max must be .*got 0\.0"),
        (dict(t_max=-1.0), r"t_max must be .*got -1\.0"),
        (dict(rates=[[0, -1.0], [1, 0]]), r"rates must have non-negative off-diagonal entries, got rates\[0, 1\] = -1\.0"),
        (dict(observable=np.ones((3, 3))), r"observable must have the shape of rates \(2, 2\), got shape \(3, 3\)"),
        (dict(observable="current"), "observable must be 'activity'"),
        (dict(s=float("nan")), "s must be finite, got nan"),
        (dict(rates=np.ones((2, 3))), r"rates must be a square .*got shape \(2, 3\)"),
        (dict(x0=5), "x0 must be"),
        (dict(dt=20.0), "dt must be <= t_max"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(kwargs, match):
    args = dict(rates=two_state(1, 1), s=1.0, n_clones=10, t_max=10.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        cloning(args.pop("rates"), args.pop("s"), **args)
