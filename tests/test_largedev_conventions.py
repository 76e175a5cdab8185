"""One SCGF sign convention across nephlab.largedev (issue 10, item 9).

theta(s) = lim (1/t) ln <exp(-s A_t)> for every SCGF function and result, the bias always named
``s``; the old diffusion keyword ``k`` (lambda(k) = ln <exp(+k A)> = theta(-k)) and
``CloningResult.k`` survive only as deprecated, exactly equivalent aliases. The jump-process entry
points take a MarkovJumpProcess or a rate matrix alike.

Reference: the Ornstein–Uhlenbeck process dX = -gamma (X - mu) dt + sigma dW with A_t = int X dt,
whose SCGF theta(s) = -s mu + sigma^2 s^2 / (2 gamma^2) is *not even* in s (mu != 0), so the tests
tell s from -s.
"""

import warnings

import numpy as np
import pytest

from nephlab.largedev import (
    CloningResult,
    MarkovJumpProcess,
    activity_phase_diagram,
    cloning,
    cloning_langevin,
    doob,
    east,
    ring_random_walk,
    rate_function,
    scgf,
    scgf_diffusion_1d,
    scgf_diffusion_2d,
    two_state,
)

GAMMA, SIGMA, MU = 1.0, 1.0, 1.0
CONVENTION = "theta(s) = lim (1/t) ln <exp(-s A_t)>"


def ou_drift(x):
    return -GAMMA * (x - MU)


def theta_ou(s):
    return -s * MU + SIGMA**2 * s**2 / (2 * GAMMA**2)


GRID = np.linspace(MU - 8, MU + 8, 1601)


# ------------------------------------------------------------------------------------------
# diffusions: theta(s), not lambda(k)


def test_scgf_diffusion_1d_is_theta_of_s():
    s = np.array([-0.8, -0.3, 0.3, 0.8])
    theta = scgf_diffusion_1d(s, lambda x: x, ou_drift, SIGMA, GRID)
    # h = 0.01: the O(h^2) error of the grid is far below the 2 s mu gap between s and -s
    np.testing.assert_allclose(theta, theta_ou(s), atol=1e-4)
    assert np.all(np.abs(theta - theta_ou(-s)) > 0.5)
    assert theta[2] < 0 < theta[1]          # s > 0 penalises the (positive) A


def test_scgf_diffusion_2d_is_theta_of_s():
    g = np.linspace(-6, 6, 121)
    s = np.array([-0.4, 0.4])
    # V = ((x-1)^2 + y^2)/2, f = X: theta = -s + s^2/2 (the y direction does not contribute)
    theta = scgf_diffusion_2d(s, lambda X, Y: X, lambda X, Y: ((X - 1) ** 2 + Y**2) / 2, 1.0, g, g)
    np.testing.assert_allclose(theta, -s + s**2 / 2, atol=2e-3)


def test_cloning_langevin_is_theta_of_s():
    s = 0.5                                  # theta = -0.375, theta(-s) = +0.625
    r = cloning_langevin(ou_drift, SIGMA, s, lambda x: x[0], x0=MU, n_clones=300, t_max=25.0, n_runs=4,
                         dt=0.01, seed=11)
    err = max(r.stderr, float(np.std(r.scgf_runs, ddof=1) / 2))
    assert abs(r.scgf - theta_ou(s)) < 5 * err + 2e-3, (r.scgf, err)
    assert r.s == s and r.convention == CONVENTION and r.to_xarray().attrs["s"] == s


# ------------------------------------------------------------------------------------------
# deprecated aliases: identical numbers, DeprecationWarning


def test_k_keyword_of_scgf_diffusion_is_minus_s():
    k = np.array([-0.5, 0.25])
    with pytest.warns(DeprecationWarning, match=r"k=.*deprecated.*s = -k"):
        old = scgf_diffusion_1d(k=k, observable=lambda x: x, drift=ou_drift, sigma=SIGMA, x=GRID)
    np.testing.assert_array_equal(old, scgf_diffusion_1d(-k, lambda x: x, ou_drift, SIGMA, GRID))
    g = np.linspace(-5, 5, 51)
    with pytest.warns(DeprecationWarning):
        old2 = scgf_diffusion_2d(k=0.3, observable=lambda X, Y: X, potential=lambda X, Y: (X**2 + Y**2) / 2,
                                 sigma=1.0, x=g, y=g)
    assert old2 == scgf_diffusion_2d(-0.3, lambda X, Y: X, lambda X, Y: (X**2 + Y**2) / 2, 1.0, g, g)
    with pytest.raises(TypeError, match="not both"):
        scgf_diffusion_1d(0.1, lambda x: x, ou_drift, SIGMA, GRID, k=0.1)


def test_k_keyword_of_cloning_langevin_and_result_k():
    kw = dict(n_clones=20, t_max=2.0, dt=0.05, seed=3)
    with pytest.warns(DeprecationWarning, match="cloning_langevin"):
        old = cloning_langevin(ou_drift, SIGMA, k=0.5, observable=lambda x: x[0], **kw)
    new = cloning_langevin(ou_drift, SIGMA, -0.5, lambda x: x[0], **kw)
    assert old.scgf == new.scgf and old.s == new.s == -0.5
    np.testing.assert_array_equal(old.log_growth, new.log_growth)
    with pytest.warns(DeprecationWarning, match=r"CloningResult\.k"):
        assert new.k == 0.5


def test_no_warning_with_the_new_names():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        scgf_diffusion_1d(0.2, lambda x: x, ou_drift, SIGMA, GRID)
        cloning_langevin(ou_drift, SIGMA, s=0.2, observable=lambda x: x[0], n_clones=10, t_max=1.0, dt=0.05)


def test_every_scgf_dataset_states_the_same_convention():
    p = two_state(1.0, 2.0)
    datasets = [
        p.scgf_curve([0.0, 0.5]).to_xarray(),
        cloning(p, 0.5, n_clones=10, t_max=1.0).to_xarray(),
        cloning_langevin(ou_drift, SIGMA, 0.5, lambda x: x[0], n_clones=10, t_max=1.0, dt=0.05).to_xarray(),
        activity_phase_diagram(lambda L: east(L, 0.5), [3], np.linspace(0, 0.2, 3)).to_xarray(),
    ]
    assert {ds.attrs["convention"] for ds in datasets} == {CONVENTION}
    assert p.rate_function([1.0]).to_xarray().attrs["convention"].endswith(CONVENTION)


# ------------------------------------------------------------------------------------------
# a MarkovJumpProcess or a rate matrix


RATES = np.array([[0.0, 2.0, 0.5], [0.3, 0.0, 1.0], [3.0, 0.2, 0.0]])
G = np.array([[0, 1, -1], [-1, 0, 1], [1, -1, 0]], dtype=float)


def test_cloning_accepts_a_process_and_gives_identical_results():
    kw = dict(n_clones=50, t_max=10.0, seed=2, n_runs=2)
    a = cloning(RATES, 0.7, G, **kw)
    b = cloning(MarkovJumpProcess(RATES), 0.7, G, **kw)
    assert a.scgf == b.scgf
    np.testing.assert_array_equal(a.log_growth, b.log_growth)
    np.testing.assert_array_equal(a.trajectories, b.trajectories)
    # a model's process with its sparse current increments, and an Observable
    proc, g = ring_random_walk(4, 2.0, 1.0)
    c = cloning(proc, 0.3, g, **kw)
    d = cloning(proc.rates(), 0.3, g.toarray(), **kw)
    assert c.scgf == d.scgf
    from nephlab.largedev import Observable

    e = cloning(proc, 0.3, Observable.current(g), **kw)
    assert e.scgf == c.scgf
    with pytest.raises(ValueError, match="observable must count jumps"):
        cloning(proc, 0.3, Observable.occupation(np.ones(4)), **kw)


@pytest.mark.parametrize("obs", ["activity", G])
def test_scgf_rate_function_doob_accept_a_process_or_rates(obs):
    proc = MarkovJumpProcess(RATES)
    s = np.array([-0.5, 0.0, 0.8])
    np.testing.assert_array_equal(scgf(RATES, s, obs), scgf(proc, s, obs))
    np.testing.assert_array_equal(scgf(RATES, s, obs), proc.scgf(s, obs))
    x = [0.5, 1.5]
    ra, rb = rate_function(RATES, x, obs), rate_function(proc, x, obs)
    np.testing.assert_array_equal(ra.I, rb.I)
    np.testing.assert_array_equal(ra.s_star, rb.s_star)
    da, db = doob(RATES, 0.4, obs), doob(proc, 0.4, obs)
    np.testing.assert_array_equal(da.rates(), db.rates())
    np.testing.assert_array_equal(da.rates(), proc.doob(0.4, obs).rates())
    with pytest.raises(TypeError, match="MarkovJumpProcess or an"):
        scgf("east", 0.1)


def test_cloning_result_is_one_type_for_both_dynamics():
    r = cloning(two_state(1.0, 1.0), 1.0, n_clones=10, t_max=1.0)
    assert isinstance(r, CloningResult) and r.time_step is None and "time_step" not in r.to_xarray().attrs
