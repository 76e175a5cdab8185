"""Committors, TPT and rates (issue 4, section 4, first bullets)."""

import numpy as np
import pytest

from nephlab.largedev.committor import (committor_1d, committor_2d, double_well_2d, grid_rate_1d,
                                        kramers_rate, mfpt_rate_1d, muller_brown, tpt)


def dw(x):
    return (np.asarray(x) ** 2 - 1) ** 2


def test_committor_1d_reference():
    q = committor_1d(dw, -1.0, 1.0, 3.0, [0.0, 0.5, -1.5, 1.5])
    assert abs(q[0] - 0.5) < 1e-9
    assert abs(q[1] - 0.929389) < 1e-6
    assert q[2] == 0.0 and q[3] == 1.0


def test_committor_1d_errors():
    with pytest.raises(ValueError, match="a must be < b"):
        committor_1d(dw, 1.0, -1.0, 3.0, 0.0)
    with pytest.raises(ValueError, match="beta"):
        committor_1d(dw, -1.0, 1.0, 0.0, 0.0)
    with pytest.raises(TypeError, match="V"):
        committor_1d(3.0, -1.0, 1.0, 1.0, 0.0)


def test_double_well_2d_reduces_to_1d_and_symmetry():
    pts = np.array([-0.6, -0.2, 0.0, 0.3, 0.8])
    errs = []
    for n in (61, 121):
        g = np.linspace(-1.5, 1.5, n)
        q = committor_2d(double_well_2d, lambda X, Y: X <= -1, lambda X, Y: X >= 1, 3.0, g, g)
        # symmetry q(x, y) + q(-x, y) = 1
        assert np.max(np.abs(q + q[::-1, :] - 1)) < 1e-10
        assert np.max(np.ptp(q, axis=1)) < 1e-10  # independent of y
        idx = [int(np.argmin(np.abs(g - p))) for p in pts]
        errs.append(np.max(np.abs(q[idx, n // 2] - committor_1d(dw, -1.0, 1.0, 3.0, g[idx]))))
    h = 3.0 / 120
    assert errs[1] < 5 * h**2, errs      # O(h**2) from the SqRA grid
    assert errs[0] / errs[1] > 3.5, errs  # second order


def test_muller_brown_bounds_and_boundary():
    g = np.linspace(-1.5, 1.1, 105)
    y = g + 0.5  # same spacing, y in [-1.0, 1.6]
    A, B = ((-0.558, 1.442), 0.15), ((0.623, 0.028), 0.15)
    q = committor_2d(muller_brown, A, B, 0.05, g, y)
    X, Y = np.meshgrid(g, y, indexing="ij")
    inA = (X + 0.558) ** 2 + (Y - 1.442) ** 2 <= 0.15**2
    inB = (X - 0.623) ** 2 + (Y - 0.028) ** 2 <= 0.15**2
    assert np.all(q[inA] == 0) and np.all(q[inB] == 1)
    assert q.min() >= -1e-10 and q.max() <= 1 + 1e-10
    # roughly monotone along the straight line A -> intermediate minimum -> B
    path = [(-0.558, 1.442), (-0.3, 1.0), (-0.05, 0.467), (0.3, 0.2), (0.623, 0.028)]
    vals = [q[np.argmin(np.abs(g - px)), np.argmin(np.abs(y - py))] for px, py in path]
    assert vals[0] == 0 and vals[-1] == 1 and vals[1] < vals[3]


def test_committor_2d_errors():
    g = np.linspace(-1, 1, 11)
    with pytest.raises(ValueError, match="A contains no grid point"):
        committor_2d(double_well_2d, ((5.0, 5.0), 0.1), ((0.0, 0.0), 0.3), 1.0, g, g)
    with pytest.raises(ValueError, match="overlap"):
        committor_2d(double_well_2d, ((0.0, 0.0), 0.3), ((0.0, 0.0), 0.3), 1.0, g, g)
    with pytest.raises(TypeError, match="B must be"):
        committor_2d(double_well_2d, ((0.0, 0.0), 0.3), "B", 1.0, g, g)


def gamblers_ruin(p, q, N):
    return np.diag(np.full(N, p), 1) + np.diag(np.full(N, q), -1)


@pytest.mark.parametrize("p, q, N", [(2.0, 1.0, 6), (0.7, 1.3, 9), (1.0, 1.0, 5)])
def test_gamblers_ruin_committor(p, q, N):
    r = tpt(gamblers_ruin(p, q, N), [0], [N])
    i = np.arange(N + 1)
    exact = i / N if p == q else (1 - (q / p) ** i) / (1 - (q / p) ** N)
    assert np.max(np.abs(r.q_plus - exact)) < 1e-12
    assert np.max(np.abs(r.q_minus - (1 - r.q_plus))) < 1e-12  # reversible


def random_chain(n, seed):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.1, 2.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.6)
    W += np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)  # irreducible
    return W  # non-reversible in general


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flux_conservation(seed):
    n = 8
    A, B = [0, 1], [6, 7]
    r = tpt(random_chain(n, seed), A, B)
    F = r.flux
    out_A = F[np.ix_(A, [j for j in range(n) if j not in A])].sum()
    into_B = F[np.ix_([i for i in range(n) if i not in B], B)].sum()
    assert abs(out_A - into_B) < 1e-12 * max(1, out_A)
    assert abs(r.total_flux - out_A) < 1e-14
    inner = [i for i in range(n) if i not in A + B]
    balance = F.sum(axis=1) - F.sum(axis=0)
    assert np.max(np.abs(balance[inner])) < 1e-12
    assert np.all(r.net_flux >= 0)
    assert abs(r.pi.sum() - 1) < 1e-12 and np.all(r.pi > 0)


def test_tpt_errors():
    W = gamblers_ruin(1.0, 1.0, 3)
    with pytest.raises(ValueError, match="disjoint"):
        tpt(W, [0, 1], [1])
    bad = W.copy()
    bad[0, 2] = -1.0
    with pytest.raises(ValueError, match=r"W\[0, 2\]"):
        tpt(bad, [0], [3])
    with pytest.raises(ValueError, match="irreducible"):
        tpt(np.diag([1.0, 0, 0], 1), [0], [3])
    with pytest.raises(ValueError, match="square"):
        tpt(np.ones((2, 3)), [0], [1])


def test_rates_kramers_mfpt_grid():
    beta = 10.0
    k_mfpt = mfpt_rate_1d(dw, -1.0, 1.0, beta)
    k_kr = kramers_rate(dw, -1.0, 0.0, beta)
    # Kramers has a relative O(1/(beta dV)) = O(0.1) correction; measured ~4 %
    assert abs(k_kr / k_mfpt - 1) < 0.06
    # more accurate at larger beta: the relative error shrinks ~ 1/beta
    b2 = 20.0
    assert abs(kramers_rate(dw, -1.0, 0.0, b2) / mfpt_rate_1d(dw, -1.0, 1.0, b2) - 1) < 0.6 * abs(k_kr / k_mfpt - 1)
    # discretised generator + TPT converges to the MFPT rate at second order
    errs = [abs(grid_rate_1d(dw, -1.0, 1.0, beta, np.linspace(-2, 2, n)).rate / k_mfpt - 1)
            for n in (201, 401)]
    assert errs[1] < 1e-3 and errs[0] / errs[1] > 3.5, errs


def test_rate_errors():
    with pytest.raises(ValueError, match="x_min"):
        kramers_rate(dw, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="x_barrier"):
        kramers_rate(dw, -1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="gamma"):
        mfpt_rate_1d(dw, -1.0, 1.0, 1.0, gamma=-2.0)
    with pytest.raises(ValueError, match="must cover"):
        grid_rate_1d(dw, -1.0, 1.0, 1.0, np.linspace(-0.5, 0.5, 51))


def test_reactive_paths_2d_sample_the_reactive_density():
    # TPT (Metzner–Schütte–Vanden-Eijnden): reactive trajectories of a reversible chain spend time
    # in state i with density m_R(i) ∝ π_i q_i (1 - q_i). Compare time averages of q and y² along
    # the sampled paths with that exact density (ratio estimator over independent paths, 5σ).
    from nephlab.largedev import committor_2d, double_well_2d, reactive_paths_2d

    g = np.linspace(-1.5, 1.5, 25)
    A, B = (lambda X, Y: X <= -1), (lambda X, Y: X >= 1)
    beta = 2.0
    q = committor_2d(double_well_2d, A, B, beta, g, g)
    paths = reactive_paths_2d(double_well_2d, A, B, beta, g, g, q=q, n_paths=300, seed=3)
    X, Y = np.meshgrid(g, g, indexing="ij")
    m = np.exp(-beta * double_well_2d(X, Y)) * q * (1 - q)
    exact = {"q": (m * q).sum() / m.sum(), "y2": (m * Y**2).sum() / m.sum()}
    h = g[1] - g[0]
    T, S = [], {"q": [], "y2": []}
    for p in paths:
        assert p[0, 1] > -1 and p[-1, 1] >= 1 - 1e-12          # starts outside A, ends in B
        assert np.all(p[:, 1] > -1 + 1e-12)                     # never re-enters A
        assert np.all(np.diff(p[:, 0]) > 0)
        dt = np.diff(p[:, 0])
        i = np.rint((p[:-1, 1] - g[0]) / h).astype(int)
        j = np.rint((p[:-1, 2] - g[0]) / h).astype(int)
        T.append(dt.sum())
        S["q"].append((q[i, j] * dt).sum())
        S["y2"].append((p[:-1, 2] ** 2 * dt).sum())
    T = np.array(T)
    for k, v in S.items():
        v = np.array(v)
        r = v.sum() / T.sum()
        se = np.sqrt(np.sum((v - r * T) ** 2)) / T.sum()      # delta-method error of a ratio
        assert abs(r - exact[k]) < 5 * se, (k, r, exact[k], se)


def test_reactive_paths_2d_bad_input():
    from nephlab.largedev import double_well_2d, reactive_paths_2d

    g = np.linspace(-1.5, 1.5, 11)
    A, B = (lambda X, Y: X <= -1), (lambda X, Y: X >= 1)
    with pytest.raises(ValueError, match="n_paths"):
        reactive_paths_2d(double_well_2d, A, B, 2.0, g, g, n_paths=0)
    with pytest.raises(ValueError, match="q must have shape"):
        reactive_paths_2d(double_well_2d, A, B, 2.0, g, g, q=np.zeros((3, 3)))
