"""mcsolve: quantum-jump trajectories against closed forms, nephlab.mesolve and qutip.mcsolve.

Every stochastic check uses a fixed seed. Standard errors are the sample standard deviation
across trajectories over sqrt(ntraj) (``McResult.stderr``); per-time checks allow 4 standard
errors (two-sided probability 6e-5 per time for a correct solver), chi² checks use the 99.99 %
quantile of their distribution, KS tests require p > 1e-3.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import nephlab
from nephlab.quantum import McResult, basis, destroy, mcsolve

GAMMA = 0.7


def _atom():
    sm = destroy(2)  # |1> excited, |0> ground
    sz = 2 * sm.T @ sm - np.eye(2)
    return sm, sz


@pytest.fixture(scope="module")
def atom_run():
    sm, sz = _atom()
    tl = np.linspace(0.0, 4.0 / GAMMA, 21)
    res = mcsolve(0.5 * sz, basis(2, 1), tl, [np.sqrt(GAMMA) * sm], ntraj=3000, seed=11, e_ops=[sz])
    return tl, res


def test_first_jump_waiting_time_is_exponential(atom_run):
    tl, res = atom_run
    T = tl[-1]
    assert set(np.unique(res.n_jumps)) <= {0, 1}  # one jump to the ground state, then nothing
    t1 = res.jump_times[res.n_jumps == 1, 0]
    # KS against exp(-γt) truncated to [0, T]
    cdf = lambda t: (1 - np.exp(-GAMMA * t)) / (1 - np.exp(-GAMMA * T))  # noqa: E731
    assert stats.kstest(t1, cdf).pvalue > 1e-3
    # no-jump fraction e^{-γT}: binomial standard error
    p = np.exp(-GAMMA * T)
    frac = np.mean(res.n_jumps == 0)
    assert abs(frac - p) < 4 * np.sqrt(p * (1 - p) / res.ntraj)
    # the mean waiting time of the truncated law
    mean = 1 / GAMMA - T * p / (1 - p)
    assert abs(t1.mean() - mean) < 4 * t1.std(ddof=1) / np.sqrt(len(t1))


def test_atom_sigma_z_matches_mesolve(atom_run):
    tl, res = atom_run
    sm, sz = _atom()
    exact = 2 * np.exp(-GAMMA * tl) - 1
    me = nephlab.mesolve(0.5 * sz, basis(2, 1), tl, [np.sqrt(GAMMA) * sm], e_ops=[sz])
    np.testing.assert_allclose(me.expect[0], exact, atol=1e-6)
    se = res.stderr[0]
    assert res.expect[0][0] == 1.0 and se[0] == 0.0
    z = (res.expect[0][1:] - exact[1:]) / se[1:]
    assert np.all(np.abs(z) < 4), z
    # stderr of a ±1 variable with mean m: sqrt((1 - m²)/(N-1)·N)/sqrt(N)
    np.testing.assert_allclose(se[1:], np.sqrt((1 - res.expect[0][1:] ** 2) * res.ntraj / (res.ntraj - 1)) / np.sqrt(res.ntraj),
                               rtol=1e-9)


# -- driven damped cavity ------------------------------------------------------------------------

NC, KAPPA, F, DELTA, NTH = 10, 1.0, 0.6, 0.4, 0.3


def _cavity():
    """Driven cavity with a thermal bath: two jump channels (loss, gain)."""
    a = destroy(NC)
    ad = a.conj().T
    H = DELTA * ad @ a + F * (a + ad)
    return a, H, [np.sqrt(KAPPA * (1 + NTH)) * a, np.sqrt(KAPPA * NTH) * ad]


@pytest.fixture(scope="module")
def cavity_run():
    a, H, c_ops = _cavity()
    tl = np.linspace(0.0, 5.0, 26)
    psi0 = basis(NC, 3)
    e_ops = {"n": a.conj().T @ a, "x": a + a.conj().T}
    res = mcsolve(H, psi0, tl, c_ops, ntraj=600, seed=3, e_ops=e_ops, keep_runs=True)
    me = nephlab.mesolve(H, psi0, tl, c_ops, e_ops=e_ops, method="tsit5", rtol=1e-10, atol=1e-12)
    return tl, psi0, res, me


def test_cavity_matches_mesolve_at_every_time(cavity_run):
    tl, _, res, me = cavity_run
    for key in ("n", "x"):
        z = (res.expect[key][1:] - me.expect[key][1:]) / res.stderr[key][1:]
        assert np.all(np.abs(z) < 4), (key, z)
        # chi² over 5 well-separated times with the trajectories' own covariance (Hotelling T²)
        idx = np.arange(5, 26, 5)
        runs = res.runs_expect[key][:, idx]
        d = runs.mean(axis=0) - me.expect[key][idx]
        S = np.cov(runs, rowvar=False) / res.ntraj
        t2 = float(d @ np.linalg.solve(S, d))
        N, p = res.ntraj, len(idx)
        limit = stats.f.ppf(0.9999, p, N - p) * p * (N - 1) / (N - p)
        assert t2 < limit, (key, t2, limit)


def test_cavity_against_qutip_mcsolve_in_distribution(cavity_run):
    qutip = pytest.importorskip("qutip")
    tl, psi0, res, _ = cavity_run
    a, H, c_ops = _cavity()
    q = qutip.mcsolve(qutip.Qobj(H), qutip.Qobj(np.asarray(psi0).reshape(-1, 1)), tl, [qutip.Qobj(c) for c in c_ops],
                      e_ops=[qutip.Qobj(a.conj().T @ a)], ntraj=300, seeds=7,
                      options={"progress_bar": False, "keep_runs_results": True, "map": "serial"})
    first_q = np.array([ct[0] for ct in q.col_times if len(ct)])
    first_n = res.jump_times[res.n_jumps > 0, 0]
    assert stats.ks_2samp(first_q, first_n).pvalue > 1e-3
    count_q = np.array([len(ct) for ct in q.col_times])
    assert stats.ks_2samp(count_q, res.n_jumps, method="asymp").pvalue > 1e-3
    nq = np.asarray(q.runs_expect[0]).real  # (ntraj, T)
    se = np.sqrt(nq.var(axis=0, ddof=1) / len(nq) + res.stderr["n"] ** 2)
    z = (nq.mean(axis=0)[1:] - res.expect["n"][1:]) / se[1:]
    assert np.all(np.abs(z) < 4), z


# -- jump records ---------------------------------------------------------------------------------


def test_jump_records_and_mean_counts_per_channel(cavity_run):
    tl, psi0, res, _ = cavity_run
    a, H, c_ops = _cavity()
    assert isinstance(res, McResult)
    for i in range(res.ntraj):
        t, ch = res.jumps(i)
        assert len(t) == res.n_jumps[i]
        assert np.all(np.diff(t) >= 0) and np.all((t >= tl[0]) & (t <= tl[-1]))
        assert np.all((ch >= 0) & (ch < 2))
        assert np.all(np.isnan(res.jump_times[i, len(t):])) and np.all(res.jump_channels[i, len(t):] == -1)
    counts = res.jump_counts(2)  # (N, 2)
    np.testing.assert_array_equal(counts.sum(axis=1), res.n_jumps)
    assert counts[:, 1].sum() > 100  # both channels fire
    # ∫ <L_k† L_k> dt from mesolve (Simpson on a fine grid: error ~1e-9)
    fine = np.linspace(tl[0], tl[-1], 501)
    me = nephlab.mesolve(H, psi0, fine, c_ops, e_ops=[L.conj().T @ L for L in c_ops], rtol=1e-10, atol=1e-12)
    from scipy.integrate import simpson

    for k in range(2):
        expected = simpson(me.expect[k], x=fine)
        se = counts[:, k].std(ddof=1) / np.sqrt(res.ntraj)
        assert abs(counts[:, k].mean() - expected) < 4 * se, (k, counts[:, k].mean(), expected, se)
    ds = res.to_xarray()
    assert ds.sizes["trajectory"] == res.ntraj and "jump_times" in ds and ds.attrs["ntraj"] == res.ntraj
    assert ds["expect_n"].shape == (len(tl),) and ds["runs_expect_x"].shape == (res.ntraj, len(tl))


def test_chunks_and_seeds_reproduce_trajectories(cavity_run):
    tl, psi0, _, _ = cavity_run
    a, H, c_ops = _cavity()
    # the cavity problem again (its compiled program is reused; chunk=16 compiles one more)
    kw = dict(ntraj=37, seed=2, e_ops={"n": a.conj().T @ a, "x": a + a.conj().T})
    args = (H, psi0, tl, c_ops)
    r1 = mcsolve(*args, **kw)
    r2 = mcsolve(*args, chunk=16, **kw)
    np.testing.assert_array_equal(r1.n_jumps, r2.n_jumps)
    np.testing.assert_allclose(r1.jump_times, r2.jump_times, rtol=1e-12, atol=0, equal_nan=True)
    np.testing.assert_allclose(r1.expect["n"], r2.expect["n"], rtol=1e-12, atol=1e-14)
    r3 = mcsolve(*args, **dict(kw, seed=3))
    assert not np.array_equal(r1.jump_times, r3.jump_times)
    # the first trajectories do not depend on how many run
    r4 = mcsolve(*args, chunk=16, **dict(kw, ntraj=5))
    np.testing.assert_allclose(r4.jump_times, r1.jump_times[:5, : r4.jump_times.shape[1]], rtol=1e-12, equal_nan=True)


def test_time_dependent_drive_matches_mesolve():
    sm, sz = _atom()
    sx = sm + sm.T
    H = [0.5 * sz, [sx, lambda t, args: args["A"] * jnp.cos(t)]]
    tl = np.linspace(0.0, 3.0, 7)
    kw = dict(e_ops=[sz], args={"A": 1.2})
    res = mcsolve(H, basis(2, 0), tl, [np.sqrt(0.5) * sm], ntraj=400, seed=1, **kw)
    me = nephlab.mesolve(H, basis(2, 0), tl, [np.sqrt(0.5) * sm], **kw)
    z = (res.expect[0][1:] - me.expect[0][1:]) / res.stderr[0][1:]
    assert np.all(np.abs(z) < 4), z


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(ntraj=0), ValueError, "ntraj"),
        (dict(ntraj=2.0), TypeError, "ntraj"),
        (dict(ntraj=True), TypeError, "ntraj"),
        (dict(seed=None), TypeError, "seed"),
        (dict(tlist=np.array([0.0, np.nan, 1.0])), ValueError, "tlist"),
        (dict(psi0=np.zeros(2)), ValueError, "psi0"),
        (dict(psi0=np.array([1.0, 1.0])), ValueError, "psi0"),
        (dict(psi0=np.diag([1.5, -0.5])), ValueError, "psi0"),  # a density matrix must be positive
        (dict(psi0=np.array([1.0, np.inf])), ValueError, "psi0"),
        (dict(method="kvaerno5"), ValueError, "method"),
        (dict(method="nope"), ValueError, "method"),
        (dict(method=3), TypeError, "method"),
        (dict(chunk=-1), ValueError, "chunk"),
        (dict(c_ops=[np.eye(3)]), ValueError, "c_ops"),
    ],
)
def test_bad_input_names_the_argument(kw, exc, match):
    sm, sz = _atom()
    base = dict(H=sz, psi0=basis(2, 1), tlist=np.linspace(0, 1, 3), c_ops=[sm], ntraj=2, seed=0)
    base.update(kw)
    with pytest.raises(exc, match=match):
        mcsolve(base.pop("H"), base.pop("psi0"), base.pop("tlist"), base.pop("c_ops"), **base)


def test_normalize_rescales_psi0(atom_run):
    tl, _ = atom_run
    sm, sz = _atom()  # the atom problem again: its compiled program is reused
    res = mcsolve(0.5 * sz, np.array([0.0, 2.0]), tl, [np.sqrt(GAMMA) * sm], ntraj=64, seed=0, normalize=True,
                  e_ops=[sz])
    assert res.expect[0][0] == pytest.approx(1.0)


# -- stochastic thermodynamics: a qubit between two thermal baths --------------------------------


def test_qubit_between_two_baths_heat_current_and_fluctuation_theorem():
    from nephlab.quantum import heat_currents, jump_heat, steadystate, thermal_bath

    a = destroy(2)  # |1> excited
    w, betas, gammas, T = 1.0, np.array([0.5, 2.0]), (0.4, 0.6), 3.0
    H = w * a.T @ a
    baths = [[np.asarray(L) for L in thermal_bath(a, g, beta=b, omega=w)] for g, b in zip(gammas, betas)]
    c_ops = [L for bath in baths for L in bath]
    rho_ss = np.asarray(steadystate(H, c_ops))
    p = np.real(np.diag(rho_ss))  # populations (ground, excited)
    J = np.asarray(heat_currents(H, baths, rho_ss))  # from each bath into the system
    assert abs(J.sum()) < 1e-12 and J[0] > 0
    tl = np.linspace(0.0, T, 4)
    # the steady state sampled exactly by strata: trajectories from |0> and from |1>, weighted by p
    strata = []
    for m, ntraj in ((0, 1024), (1, 1024)):
        res = mcsolve(H, basis(2, m), tl, c_ops, ntraj=ntraj, seed=20 + m)
        Q = jump_heat(res, H, baths)  # (N, 2)
        m_end = (np.abs(res.final_states[:, 1]) ** 2 > 0.5).astype(int)
        assert np.allclose(np.abs(res.final_states[np.arange(ntraj), m_end]), 1.0)  # stays an eigenstate
        sigma = np.log(p[m]) - np.log(p[m_end]) - Q @ betas
        strata.append((p[m], Q, np.exp(-sigma)))

    def stratified(f):
        vals = [(w_, f(Q, e)) for w_, Q, e in strata]
        mean = sum(w_ * v.mean(axis=0) for w_, v in vals)
        se = np.sqrt(sum(w_**2 * v.var(axis=0, ddof=1) / len(v) for w_, v in vals))
        return mean, se

    q_mean, q_se = stratified(lambda Q, e: Q / T)
    assert np.all(np.abs(q_mean - J) < 4 * q_se), (q_mean, J, q_se)
    ift, ift_se = stratified(lambda Q, e: e)
    assert abs(ift - 1.0) < 4 * ift_se, (ift, ift_se)
    sig_mean, _ = stratified(lambda Q, e: -np.log(e))
    assert sig_mean > 0  # second law on average
    print(f"J mc {q_mean} ± {q_se}, heat_currents {J}; <e^-Σ> = {ift:.4f} ± {ift_se:.4f}; <Σ> = {sig_mean:.4f}")
