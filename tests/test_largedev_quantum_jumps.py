"""The "quantum jumps" family of the scgf presets (nephlab.largedev.quantum_jumps): θ(s) of photon
counting checked against an independent computation (QuTiP's liouvillian + sprepost, dominant
eigenvalue by numpy) and closed forms; θ', θ'' against the exact cumulants; the Legendre transform;
the task, its validation, and the large-deviation explorer's model menu.

Closed forms (ħ = 1):
- resonance fluorescence at Δ = 0, H = Ω/2 σ_x, c = √γ σ_-: flux γΩ²/(γ² + 2Ω²), Mandel
  Q = -6Ω²γ²/(γ² + 2Ω²)²;
- driven damped cavity: Poissonian counting, θ(s) = κ|α|²(e^{-s} - 1), |α|² = F²/(Δ² + κ²/4).
"""

from __future__ import annotations

import numpy as np
import pytest
import qutip

from nephlab.largedev import finite_size_curves, markov_scgf, markov_theta, rate_function_grid
from nephlab.largedev.quantum_jumps import cavity_theta_exact, quantum_model, quantum_scgf
from nephlab.quantum import counting_statistics
from nephlab.tasks import get_task, run_task

SCGF = get_task("scgf").spec
S = np.linspace(-1.5, 1.5, 13)


def _theta_qutip(H, c, s):
    """Independent θ(s): QuTiP's (column-stacking) Liouvillian plus the tilted jump term, numpy eigvals."""
    Hq, cq = qutip.Qobj(H), qutip.Qobj(c)
    L0 = qutip.liouvillian(Hq, [cq]).full()
    J = qutip.sprepost(cq, cq.dag()).full()
    return np.array([np.linalg.eigvals(L0 + np.expm1(-si) * J).real.max() for si in np.atleast_1d(s)])


@pytest.mark.parametrize("drive,decay,detuning", [(1.0, 1.0, 0.0), (2.3, 0.7, 0.9), (0.4, 2.0, -1.5)])
def test_two_level_theta_matches_qutip_tilted_liouvillian(drive, decay, detuning):
    p = {"model": "quantum_two_level", "drive": drive, "decay": decay, "detuning": detuning}
    r = quantum_scgf(p, S)
    H, c, _ = quantum_model(p)
    np.testing.assert_allclose(r.theta, _theta_qutip(H, c[0], S), rtol=0, atol=1e-8)
    # θ' by central differences of the independent θ (h = 1e-4: error ~ h² θ'''/6 < 1e-8)
    h = 1e-4
    fd = (_theta_qutip(H, c[0], S + h) - _theta_qutip(H, c[0], S - h)) / (2 * h)
    np.testing.assert_allclose(r.dtheta, fd, rtol=0, atol=1e-7)
    # θ'(0), θ''(0) are the exact cumulants κ1 = -θ'(0), κ2 = θ''(0) of counting_statistics
    r0, cs = quantum_scgf(p, 0.0), counting_statistics(H, c, [1.0], order=2)
    np.testing.assert_allclose([-r0.dtheta[0], r0.d2theta[0]], cs.cumulants, rtol=1e-10, atol=1e-12)


def test_resonance_fluorescence_closed_forms():
    W, g = 1.3, 0.8
    r = quantum_scgf({"model": "quantum_two_level", "drive": W, "decay": g, "detuning": 0.0}, 0.0)
    flux, Q = g * W**2 / (g**2 + 2 * W**2), -6 * W**2 * g**2 / (g**2 + 2 * W**2) ** 2
    assert abs(-r.dtheta[0] - flux) < 1e-12
    assert abs(r.d2theta[0] / -r.dtheta[0] - 1 - Q) < 1e-11


def test_cavity_is_poissonian():
    p = {"model": "quantum_cavity", "drive": 0.8, "decay": 1.2, "detuning": 0.5, "n_fock": 18}
    S = np.linspace(-0.5, 1.5, 9)
    r = quantum_scgf(p, S)
    exact = cavity_theta_exact(p, S)
    # cutoff: Poisson tail of |α|² = 1.05 beyond 18 photons < 1e-10 and θ(-0.5) converged to 1e-8
    # (both checked by quantum_scgf); the closed form is that of the untruncated cavity
    np.testing.assert_allclose(r.theta, exact, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.dtheta, -exact - 1.2 * 0.64 / (0.25 + 0.36), rtol=1e-8, atol=1e-10)  # θ' = -κ|α|²e^{-s}
    np.testing.assert_allclose(r.d2theta, exact + 1.2 * 0.64 / (0.25 + 0.36), rtol=1e-7, atol=1e-9)


def test_rate_function_by_legendre_transform_and_task():
    p = SCGF.validate({"model": "quantum_cavity", "drive": 0.3, "decay": 1.0, "s_min": -0.5, "s_max": 1.0,
                       "n_s": 21})
    rate = rate_function_grid(markov_scgf(p))
    lam = 0.36  # Poisson counting of mean rate κ|α|² = 0.36: I(x) = x ln(x/λ) - x + λ
    np.testing.assert_allclose(rate.I, rate.x * np.log(rate.x / lam) - rate.x + lam, rtol=0, atol=1e-8)
    ds = run_task("scgf", model="quantum_two_level", drive=1.0, decay=1.0, s_min=-1.0, s_max=1.0, n_s=5)
    H, c, _ = quantum_model({"model": "quantum_two_level", "drive": 1.0, "decay": 1.0, "detuning": 0.0})
    np.testing.assert_allclose(ds.theta, _theta_qutip(H, c[0], np.linspace(-1, 1, 5)), rtol=0, atol=1e-8)
    assert abs(markov_theta(p, 0.3) - float(cavity_theta_exact(p, 0.3)[0])) < 1e-9
    sizes = finite_size_curves(p)
    assert sizes.sizes.tolist() == [1] and sizes.activity.shape == (1, 21)
    with pytest.raises(ValueError, match="'n_fock' = 12 has not converged at s = -1"):
        quantum_scgf({**p, "n_fock": 12}, [-1.0, 0.0])


def test_bad_parameters_are_refused_with_their_names():
    with pytest.raises(ValueError, match="'n_fock' = 8 .*allowed: n_fock >= 23"):
        SCGF.validate({"model": "quantum_cavity", "drive": 1.0, "decay": 1.0, "n_fock": 8})
    with pytest.raises(ValueError, match="'decay'"):
        SCGF.validate({"model": "quantum_two_level", "decay": 0.0})
    with pytest.raises(ValueError, match="'observable' = 'current'"):
        SCGF.validate({"model": "quantum_two_level", "observable": "current"})
    with pytest.raises(ValueError, match="model"):  # the cloning task keeps the Markov presets
        get_task("cloning").spec.validate({"model": "quantum_two_level"})
    with pytest.raises(ValueError, match="n_fock"):
        quantum_model({"model": "quantum_cavity", "drive": 1.0, "decay": 1.0, "detuning": 0.0})


def test_explorer_offers_the_quantum_family():
    pytest.importorskip("panel")
    from nephlab.widgets import LargeDeviationExplorer

    ex = LargeDeviationExplorer(model="quantum_two_level", drive=1.0, decay=1.0, s_min=-1.0, s_max=1.0, n_s=9)
    curve, rate, sizes = ex.wait()
    H, c, _ = quantum_model({"model": "quantum_two_level", "drive": 1.0, "decay": 1.0, "detuning": 0.0})
    np.testing.assert_allclose(curve.theta, _theta_qutip(H, c[0], curve.s), rtol=0, atol=1e-8)
    i0 = int(np.argmin(np.abs(curve.s)))
    assert abs(rate.I[i0]) < 1e-12 and sizes.sizes.tolist() == [1]
    shown = {k for k, w in ex.controls.items() if w.visible}
    assert {"drive", "decay", "detuning"} <= shown and not {"a", "b", "n_fock", "L"} & shown
    assert "quantum_cavity" in ex.controls["model"].options
    assert "quantum_cloning" in ex.clone_summary()
    ex.controls["drive"].value = -1.0  # refused: shown next to the control, not applied
    assert "'drive'" in ex.error and ex.drive == 1.0
