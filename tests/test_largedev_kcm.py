"""East and Fredrickson–Andersen models: the s-ensemble activity and its crossover.

References are independent: theta and its derivatives from the dense eigenvalues of a tilted
generator built here by hand (finite differences of eigenvalues, step h = 1e-4, error O(h^2)
~ 1e-8), and the exact equilibrium activity of the product Bernoulli(c) measure.
"""

import itertools

import numpy as np
import pytest

from nephlab.largedev.markov import MarkovJumpProcess
from nephlab.largedev.models import (
    activity_phase_diagram,
    east,
    fredrickson_andersen,
    kcm_equilibrium_activity,
)


def _hand_built(N, c, model, boundary):
    """Rate matrix of East/FA built from the spin rules, independently of nephlab.models."""
    confs = [cf for cf in itertools.product((0, 1), repeat=N) if boundary == "open" or any(cf)]
    index = {cf: i for i, cf in enumerate(confs)}
    W = np.zeros((len(confs), len(confs)))
    for cf in confs:
        for i in range(N):
            left = cf[i - 1] if i > 0 else (1 if boundary == "open" else cf[N - 1])
            right = cf[i + 1] if i < N - 1 else (1 if boundary == "open" else cf[0])
            fac = left == 1 if model == "east" else (left == 1 or right == 1)
            if fac:
                new = list(cf)
                new[i] = 1 - cf[i]
                new = tuple(new)
                if new in index:
                    W[index[cf], index[new]] = (1 - c) if cf[i] == 1 else c
    return W


def _theta_dense(W, s):
    Ws = W * np.exp(-s)
    np.fill_diagonal(Ws, -W.sum(axis=1))
    return np.max(np.linalg.eigvals(Ws).real)


@pytest.mark.parametrize("model,factory", [("east", east), ("fa", fredrickson_andersen)])
@pytest.mark.parametrize("boundary", ["open", "periodic"])
def test_activity_and_susceptibility_against_dense(model, factory, boundary):
    N, c = 4, 0.35
    W = _hand_built(N, c, model, boundary)
    s = np.array([-0.2, 0.0, 0.05, 0.3])
    r = activity_phase_diagram(lambda L: factory(L, c, boundary), [N], s)
    h = 1e-4
    for j, sv in enumerate(s):
        t = [_theta_dense(W, sv + d) for d in (-h, 0.0, h)]
        assert abs(r.theta[0, j] - t[1]) < 1e-12
        assert abs(r.activity[0, j] - (-(t[2] - t[0]) / (2 * h) / N)) < 1e-8
        assert abs(r.susceptibility[0, j] - (t[2] - 2 * t[1] + t[0]) / h**2 / N) < 1e-5


@pytest.mark.parametrize("model,factory", [("east", east), ("fa", fredrickson_andersen)])
@pytest.mark.parametrize("boundary", ["open", "periodic"])
@pytest.mark.parametrize("c", [0.2, 0.5])
def test_activity_at_zero_is_exact_equilibrium_activity(model, factory, boundary, c):
    N = 5
    K = kcm_equilibrium_activity(model, N, c, boundary)
    r = activity_phase_diagram(lambda L: factory(L, c, boundary), [N], np.array([-0.1, 0.0, 0.1]))
    assert abs(r.activity[0, 1] * N - K) < 1e-11
    # the same number from the stationary law and the hand-built rate matrix
    W = _hand_built(N, c, model, boundary)
    pi = MarkovJumpProcess(W).stationary()
    assert abs(pi @ W.sum(axis=1) - K) < 1e-12


@pytest.mark.parametrize("factory,sizes", [
    (lambda L: east(L, 0.5), [4, 5, 6]),
    (lambda L: fredrickson_andersen(L, 0.5), [5, 6, 7]),
])
def test_crossover_sharpens_with_size(factory, sizes):
    r = activity_phase_diagram(factory, sizes, np.linspace(0.0, 0.4, 17))
    assert not r.at_boundary.any()
    assert np.all(r.s_star > 0)
    assert np.all(np.diff(r.s_star) < 0)       # s*(L) -> 0 ...
    assert np.all(np.diff(r.chi_max) > 0)      # ... and the susceptibility peak grows
    # roughly 1/L: L s*(L) stays within a factor 2 over the sizes (not a tight law at these L)
    Ls = r.sizes * r.s_star
    assert Ls.max() / Ls.min() < 2
    # the refined s* is a local maximum of chi between grid points
    j = np.argmax(r.susceptibility, axis=1)
    assert np.all(r.chi_max >= r.susceptibility[np.arange(len(sizes)), j] - 1e-12)
    # the active (s < 0) side is more active than the inactive (s > 0) side
    assert np.all(np.diff(r.activity, axis=1) < 0)


def test_to_xarray():
    r = activity_phase_diagram(lambda L: east(L, 0.5), [3, 4], np.linspace(-0.1, 0.3, 5))
    ds = r.to_xarray()
    assert ds.activity.dims == ("L", "s")
    assert ds.s_star.attrs["units"] == "1/[A]"
    np.testing.assert_array_equal(ds.L.values, [3, 4])


@pytest.mark.parametrize("kw,exc,match", [
    (dict(sizes=[4, 3]), ValueError, "sizes must be"),
    (dict(sizes=[2.5]), ValueError, "sizes must be"),
    (dict(s_grid=[0.0, 0.1]), ValueError, "s_grid must be"),
    (dict(s_grid=[0.0, 0.2, 0.1]), ValueError, "s_grid must be"),
    (dict(model_factory=3), TypeError, "model_factory must be"),
    (dict(model_factory=lambda L: np.eye(L)), TypeError, "must return a MarkovJumpProcess"),
])
def test_bad_input(kw, exc, match):
    args = dict(model_factory=lambda L: east(L, 0.5), sizes=[3], s_grid=[0.0, 0.1, 0.2]) | kw
    with pytest.raises(exc, match=match):
        activity_phase_diagram(args.pop("model_factory"), **args)


@pytest.mark.parametrize("args,match", [
    (("glass", 4, 0.5), "model must be"),
    (("east", 4, 1.0), "c must be in"),
    (("fa", 1, 0.5), "N must be"),
    (("east", 4, 0.5, "closed"), "boundary must be"),
])
def test_equilibrium_activity_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        kcm_equilibrium_activity(*args)
