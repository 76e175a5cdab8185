"""SCGF of overdamped diffusions from the SqRA-discretised tilted generator (issue 4, section 2).

Convention (nephlab.largedev): theta(s) = lim (1/t) ln <exp(-s A_t)>."""

import numpy as np
import pytest

from nephlab.largedev.diffusion import scgf_diffusion_1d, scgf_diffusion_2d

GAMMA, SIGMA = 1.3, 0.9
ELL = np.sqrt(SIGMA**2 / (2 * GAMMA))  # characteristic length of the OU process


def ou_drift(x):
    return -GAMMA * x


def exact_linear(s):
    return SIGMA**2 * s**2 / (2 * GAMMA**2)


def exact_square(s):
    # finite for s > -gamma^2 / (2 sigma^2); not even in s, so it checks the sign convention
    return GAMMA / 2 * (1 - np.sqrt(1 + 2 * SIGMA**2 * s / GAMMA**2))


S_LIN = np.array([-1.5, -0.4, 0.0, 0.7, 1.5])
S_SQ = np.array([2.0, 0.5, 0.0, -0.3, -0.9 * GAMMA**2 / (2 * SIGMA**2)])


def grid(n):
    return np.linspace(-14 * ELL, 14 * ELL, n)


@pytest.mark.parametrize("obs, exact, ss", [(lambda x: x, exact_linear, S_LIN),
                                            (lambda x: x**2, exact_square, S_SQ)])
def test_ou_scgf_second_order(obs, exact, ss):
    # errors at h, h/2, h/4: each halving must cut the error by ~4 (second order)
    errs = [np.max(np.abs(scgf_diffusion_1d(ss, obs, ou_drift, SIGMA, grid(n)) - exact(ss)))
            for n in (401, 801, 1601)]
    ratios = [errs[0] / errs[1], errs[1] / errs[2]]
    assert all(3.6 < r < 4.4 for r in ratios), (errs, ratios)
    # tolerance from the grid: the finest grid (h = 28 ELL / 1600) has error well below h**2
    h = 28 * ELL / 1600
    assert errs[2] < h**2, errs


def test_vectorised_shape_and_zero():
    ss = np.zeros((2, 3))
    theta = scgf_diffusion_1d(ss, lambda x: x**2, ou_drift, SIGMA, grid(401))
    assert theta.shape == (2, 3)
    assert np.max(np.abs(theta)) < 1e-10  # theta(0) = 0: the generator conserves probability


def test_s_beyond_bound_raises_naming_s_and_bound():
    bound = -GAMMA**2 / (2 * SIGMA**2)   # theta(s) of int X^2 dt is finite for s > bound
    with pytest.raises(ValueError, match=r"s=-1\.1.*s > -1\.043"):
        scgf_diffusion_1d([-0.1, 1.1 * bound], lambda x: x**2, ou_drift, SIGMA, grid(801))
    with pytest.raises(ValueError, match="s="):
        scgf_diffusion_1d(bound, lambda x: x**2, ou_drift, SIGMA, grid(801))


def test_grid_too_coarse_raises():
    with pytest.raises(ValueError, match="too coarse"):
        scgf_diffusion_1d(0.1, lambda x: x, ou_drift, SIGMA, np.linspace(-14 * ELL, 14 * ELL, 200))


def test_bad_arguments():
    with pytest.raises(ValueError, match="sigma"):
        scgf_diffusion_1d(0.1, lambda x: x, ou_drift, -1.0, grid(401))
    with pytest.raises(ValueError, match="uniform"):
        scgf_diffusion_1d(0.1, lambda x: x, ou_drift, SIGMA, np.r_[grid(401), 100.0])
    with pytest.raises(TypeError, match="observable"):
        scgf_diffusion_1d(0.1, "x", ou_drift, SIGMA, grid(401))
    with pytest.raises(ValueError, match="s must be finite"):
        scgf_diffusion_1d(np.nan, lambda x: x, ou_drift, SIGMA, grid(401))


def test_ou_2d_separable():
    g = np.linspace(-7, 7, 141)  # h = 0.1, sigma = 1, gamma = 1 -> ELL = 0.707
    ss = np.array([0.5, -0.3])
    theta = scgf_diffusion_2d(ss, lambda X, Y: X**2 + Y, lambda X, Y: (X**2 + Y**2) / 2, 1.0, g, g)
    exact = 0.5 * (1 - np.sqrt(1 + 2 * ss)) + ss**2 / 2
    assert np.max(np.abs(theta - exact)) < 0.1**2  # O(h**2)
