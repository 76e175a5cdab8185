"""The quantum tasks of issue 14 against closed forms: counting statistics and spectra of model presets."""

import numpy as np
import pytest

from nephlab.tasks import get_task, run_task


def test_counting_statistics_resonance_fluorescence_closed_forms():
    """Qubit preset H = F σx (Ω = 2F), L = sqrt(γ) σ-: flux γΩ²/(γ² + 2Ω²), Mandel
    Q = -6Ω²γ²/(γ² + 2Ω²)² (Mandel, Opt. Lett. 4, 205 (1979)); θ(0) = 0 on the grid."""
    F, g = 0.7, 0.9
    ds = run_task("counting_statistics", model="qubit", F=F, gamma=g, s_min=-0.5, s_max=0.5, n_s=11)
    om = 2 * F
    mean = g * om**2 / (g**2 + 2 * om**2)
    q = -6 * om**2 * g**2 / (g**2 + 2 * om**2) ** 2
    assert float(ds["mean_current"]) == pytest.approx(mean, rel=1e-12)
    assert float(ds.fano) == pytest.approx(1 + q, rel=1e-10)
    assert float(ds.noise) == pytest.approx(mean * (1 + q), rel=1e-10)
    assert abs(float(ds.theta.sel(s=0.0, method="nearest"))) < 1e-12
    assert ds.cumulants.dims == ("order",) and ds.cumulants.sizes["order"] == 4
    assert ds.attrs["task"] == "counting_statistics"


def test_counting_statistics_net_quanta_of_a_thermal_driven_cavity():
    """Oscillator with a thermal bath: the net emitted current is γ(<n> - n_th) = γ |α|² with
    |α|² = 4F²/γ² at zero detuning; counting only emissions gives γ(n_th + 1)<n> + ... > net."""
    F, g, nth = 0.25, 0.5, 0.2
    net = run_task("counting_statistics", model="oscillator", n=20, F=F, gamma=g, nth=nth, count="net", n_s=3)
    emitted = run_task("counting_statistics", model="oscillator", n=20, F=F, gamma=g, nth=nth, n_s=3)
    # 1e-7: the Fock cut at n = 20 of a displaced thermal state (|α|² = 1, n_th = 0.2) costs ~2.5e-8
    assert float(net["mean_current"]) == pytest.approx(4 * F**2 / g, rel=1e-7)
    n_mean = nth + 4 * F**2 / g**2
    assert float(emitted["mean_current"]) == pytest.approx(g * (nth + 1) * n_mean, rel=1e-7)
    assert float(emitted.fano) > 1.0  # thermal photons bunch: super-Poissonian emission


def test_counting_statistics_task_rejects_an_empty_s_range():
    with pytest.raises(ValueError, match="s_min < s_max"):
        get_task("counting_statistics").spec.validate({"s_min": 1.0, "s_max": 1.0})
    with pytest.raises(ValueError, match="count"):
        get_task("counting_statistics").spec.validate({"count": "absorbed"})
    t = get_task("counting_statistics")
    est = t.estimate(t.spec.validate({"model": "oscillator", "n": 30}))  # d² = 900: the Arnoldi path
    assert est["device"] == "cpu" and est["memory_bytes"] < 3 * 16 * 30**4


def test_spectrum_of_a_thermal_cavity_is_a_lorentzian_with_bunched_light():
    """Undriven cavity in a thermal bath (n̄ = 0.3, κ = 0.5, δ = 0.7): S(ω) = n̄κ/((κ/2)² + (ω-δ)²)
    in QuTiP's convention, g2(0) = 2, no coherent part. The Fock cut costs 4.8e-8 (measured) at n = 16; n = 24 is well inside 1e-8."""
    nbar, k, d = 0.3, 0.5, 0.7
    ds = run_task("spectrum", model="oscillator", n=24, F=0.0, gamma=k, nth=nbar, delta=d, w_min=-2, w_max=3, n_w=51)
    w = ds.omega.values
    np.testing.assert_allclose(ds.spectrum.values, nbar * k / ((k / 2) ** 2 + (w - d) ** 2), rtol=1e-8)
    assert float(ds.g2_0) == pytest.approx(2.0, rel=1e-8)
    assert float(ds.n_ss) == pytest.approx(nbar, rel=1e-9) and abs(float(ds.coherent_part)) < 1e-20
    assert ds.spectrum.attrs["units"] == "1/energy"


def test_spectrum_task_rejects_an_empty_frequency_range():
    with pytest.raises(ValueError, match="w_min < w_max"):
        get_task("spectrum").spec.validate({"w_min": 2.0, "w_max": -2.0})


def test_mcsolve_task_converges_to_the_lindblad_task():
    """Driven Kerr cavity in a thermal bath (n = 8, F = 0.3, K = 0.5, γ = 0.5, n_th = 0.2), 400
    trajectories, seed 0: <n>(t) agrees with the master equation within 4.5 standard errors (plus
    1e-5 for the integrators' tolerances) at each of 10 times (family-wise ~1e-4 for independent
    times); the mean emitted and absorbed quanta agree with γ(n_th+1)∫<a†a>dt and γ n_th∫<aa†>dt
    within 4 standard errors. (Without Kerr and bath the state stays coherent: every trajectory
    is the same and the test would check nothing.)"""
    common = dict(model="oscillator", n=8, F=0.3, kerr=0.5, gamma=0.5, nth=0.2, t_max=5.0)
    mc = run_task("mcsolve", ntraj=400, seed=0, n_times=11, **common)
    me = run_task("lindblad", n_times=11, **common)
    dev = np.abs(mc.n_mean.values - me.n_mean.values)
    assert np.all(dev < 4.5 * mc.n_mean_stderr.values + 1e-5) and mc.n_mean.values[0] == 0.0
    assert np.all(mc.n_mean_stderr.values[1:] > 1e-3)  # the trajectories do differ
    fine = run_task("lindblad", n_times=501, **common)
    n_int = np.trapezoid(fine.n_mean.values, fine.time.values)
    assert abs(float(mc.emitted_mean) - 0.5 * 1.2 * n_int) < 4 * float(mc.emitted_stderr)
    assert abs(float(mc.absorbed_mean) - 0.5 * 0.2 * (n_int + 5.0)) < 4 * float(mc.absorbed_stderr)
    assert mc.emitted.sizes["traj"] == 400
    again = run_task("mcsolve", ntraj=400, seed=0, n_times=11, **common)
    np.testing.assert_array_equal(again.emitted.values, mc.emitted.values)  # reproducible for a seed
