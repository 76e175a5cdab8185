"""ProtocolDesigner: the numbers it shows equal closed forms and the science core.

Closed forms (overdamped, harmonic trap, gamma = k = kBT = 1 unless stated):
- linear ramp of the trap centre by d in time tau: <W> = gamma v^2 [tau - tau_r (1 - e^{-tau/tau_r})],
  v = d/tau, tau_r = gamma/k, and Var W = 2 kBT <W> (Gaussian work);
- Schmiedl-Seifert optimum: <W>* = gamma d^2 / (tau + 2 gamma/k), jumps of d/(2 + k tau/gamma);
- thermodynamic length between the end points: sqrt(gamma) |d| (translation) and
  sqrt(gamma kBT) |k_i^{-1/2} - k_f^{-1/2}| (stiffness, friction gamma kBT / (4 lam^3)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from nephlab.control import linear_ramp, optimal_protocol  # noqa: E402
from nephlab.widgets.protocol import (  # noqa: E402
    DESIGNER_SPEC,
    ProtocolDesigner,
    designer_protocol,
    quantum_pulses,
)


def _ramp_work(d, tau, gamma=1.0, k=1.0):
    v, tr = d / tau, gamma / k
    return gamma * v * v * (tau - tr * (1 - math.exp(-tau / tr)))


@pytest.mark.parametrize("tau,d,gamma,k", [(1.0, 5.0, 1.0, 1.0), (0.5, -2.0, 2.0, 3.0)])
def test_linear_ramp_work_matches_closed_form(tau, d, gamma, k):
    dsg = ProtocolDesigner(n_points=2, tau=tau, lam_i=0.0, lam_f=d, gamma=gamma, k=k)
    dsg.set_points([0.0, tau], [0.0, d])
    exact = _ramp_work(d, tau, gamma, k)
    assert dsg.work == pytest.approx(exact, rel=1e-10)
    assert dsg.work_var == pytest.approx(2.0 * exact, rel=1e-9)  # kBT = 1
    assert dsg.delta_f == 0.0 and dsg.dissipation == pytest.approx(exact, rel=1e-10)
    assert dsg.bound == pytest.approx(gamma * d * d / tau, rel=1e-12)  # L^2/tau, L = sqrt(gamma)|d|
    print(f"edit latency: {dsg.latency_ms:.2f} ms")


def test_optimal_protocol_drawn_by_points_gives_schmiedl_seifert_work():
    tau, d = 1.0, 5.0
    p = optimal_protocol("trap_translation", lam_f=d, tau=tau)
    (_, a), (b, _) = p.jumps
    dsg = ProtocolDesigner(n_points=2)
    dsg.set_points([0.0, tau], [a, b])  # the interior of the optimum is linear
    assert dsg.work == pytest.approx(d * d / (tau + 2.0), rel=1e-10)
    assert dsg.work == pytest.approx(p.work, rel=1e-10)


def test_stiffness_problem_matches_core_and_length_bound():
    dsg = ProtocolDesigner(problem="stiffness", n_points=2, lam_i=1.0, lam_f=4.0, tau=1.0)
    dsg.set_points([0.0, 1.0], [1.0, 4.0])
    ref = linear_ramp("stiffness", k_i=1.0, k_f=4.0, tau=1.0)
    assert dsg.work == pytest.approx(ref.work, rel=1e-9)
    assert dsg.delta_f == pytest.approx(0.5 * math.log(4.0), rel=1e-12)
    L = 1.0 - 0.5  # |1^{-1/2} - 4^{-1/2}|
    assert dsg.bound == pytest.approx(L * L / 1.0, rel=1e-5)  # midpoint rule on 1025 points


def test_problem_switch_resets_end_points_and_points():
    dsg = ProtocolDesigner()
    dsg.problem = "stiffness"
    assert (dsg.lam_i, dsg.lam_f) == (1.0, 4.0)
    assert np.all(dsg.points[:, 1] > 0) and dsg.points.shape == (dsg.n_points, 2)
    assert np.isfinite(dsg.work)


def test_move_point_changes_work_and_records_latency():
    dsg = ProtocolDesigner(n_points=4)
    w0 = dsg.work
    dsg.move_point(1, lam=4.5)
    assert dsg.work != w0
    assert dsg.points[1, 1] == 4.5
    assert np.isfinite(dsg.latency_ms) and dsg.latency_ms > 0
    print(f"edit latencies (ms): {[round(x, 2) for x in dsg.latencies_ms]}")
    # same shapes after the first edit: no recompilation, a few ms (reported, not asserted)


@pytest.mark.parametrize(
    "times,values,match",
    [
        ([0.0, 2.0], [0.0, 5.0], "times"),
        ([0.0, -0.1], [0.0, 5.0], "times"),
        ([0.0, 1.0], [0.0, float("nan")], "NaN"),
        ([0.0, 1.0, 0.5], [0.0, 5.0], "shape"),
    ],
)
def test_set_points_rejects_bad_input_and_keeps_state(times, values, match):
    dsg = ProtocolDesigner(n_points=2)
    before, w = dsg.points.copy(), dsg.work
    with pytest.raises(ValueError, match=match):
        dsg.set_points(times, values)
    assert np.array_equal(dsg.points, before) and dsg.work == w


def test_stiffness_rejects_non_positive_values():
    dsg = ProtocolDesigner(problem="stiffness", n_points=2)
    with pytest.raises(ValueError, match="stiffness"):
        dsg.set_points([0.0, 1.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="problem"):
        designer_protocol("spring", 1.0, 0.0, 1.0, [0.0], [0.0])


def test_params_follow_the_spec():
    for p in DESIGNER_SPEC.params:
        assert getattr(ProtocolDesigner(), p.name) == p.default
    with pytest.raises(ValueError):
        ProtocolDesigner(tau=0.0)  # tau > 0 (strict bound from the spec)
    with pytest.raises(ValueError):
        ProtocolDesigner(n_points=1)


@pytest.mark.slow  # JAX compilation of optimize_protocol (L-BFGS) and solve_pmp: ~10 s on an idle core
def test_references_and_comparison_table(tmp_path):
    dsg = ProtocolDesigner(n_points=3)
    refs = dsg.compute_references()
    exact = 25.0 / 3.0
    assert refs["optimal (Schmiedl-Seifert)"].work == pytest.approx(exact, rel=1e-12)
    assert refs["linear ramp"].work == pytest.approx(25.0 / math.e, rel=1e-10)
    assert refs["optimize_protocol"].work == pytest.approx(exact, rel=1e-6)
    assert refs["Pontryagin"].work == pytest.approx(exact, rel=1e-8)
    table = dsg.comparison()
    assert list(table.index) == ["designer", "linear ramp", "optimal (Schmiedl-Seifert)", "optimize_protocol",
                                 "Pontryagin"]
    # the table re-evaluates every protocol exactly with gaussian_work: Pontryagin's nodes reproduce the optimum
    assert table.loc["Pontryagin", "work"] == pytest.approx(exact, rel=1e-6)
    assert table.loc["optimal (Schmiedl-Seifert)", "work_var"] == pytest.approx(2 * exact, rel=1e-9)
    assert (table["work"] >= exact * (1 - 1e-6)).all()  # nothing beats the exact optimum
    # exports: netCDF round trip and image files
    import xarray as xr

    nc = dsg.export(tmp_path / "p.nc")
    ds = xr.load_dataset(nc, engine="h5netcdf")
    assert ds["work"].sel(protocol="optimal (Schmiedl-Seifert)").item() == pytest.approx(exact, rel=1e-12)
    assert ds["lam_designer"].values[0] == 0.0 and ds["lam_designer"].values[-1] == 5.0
    png = dsg.export(tmp_path / "p.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    svg = dsg.export(tmp_path / "p.svg")
    assert b"<svg" in svg.read_bytes()[:2000]


def test_langevin_validation_agrees_with_exact_work():
    # d = 1: <W> = 1/e ~ 0.37 kBT, so Jarzynski converges with a few thousand samples
    dsg = ProtocolDesigner(n_points=2, lam_f=1.0, n_traj=4000, n_chunks=4, dt=2e-3, seed=1)
    dsg.set_points([0.0, 1.0], [0.0, 1.0])
    res = dsg.validate_langevin(background=False)
    assert res["n"] == 4000 and dsg.updates >= 1 and dsg.progress == 1.0
    # Euler-Maruyama weak error O(dt) on <W> ~ 0.37: a few 1e-3, far below 5 sigma (~0.02)
    assert abs(res["work_mean"] - math.exp(-1.0)) < 5 * res["work_sem"] + 5e-3
    lo, hi = res["delta_f_ci"]
    half = 0.5 * (hi - lo) / 1.96  # bootstrap standard error
    assert abs(res["delta_f"] - 0.0) < 5 * half + 5e-3
    assert res["delta_f_exact"] == 0.0


@pytest.mark.slow  # compiles GRAPE and the piecewise propagator
def test_quantum_pulses_match_closed_form_counterdiabatic_term():
    d0, om, T = 5.0, 1.0, 2.0
    q = quantum_pulses(d0, om, T, n_slices=10)
    # H_cd = (theta_dot/2) sigma_y, theta = atan2(Omega, Delta): theta_dot/2 = -Omega Delta_dot / (2 (Delta^2 + Omega^2))
    expect = -om * (2 * d0 / T) / (2 * (q["delta"] ** 2 + om**2))
    np.testing.assert_allclose(q["cd"], expect, rtol=1e-12, atol=0)
    f = q["fidelity"]
    assert f["counterdiabatic"] > 1 - 1e-6 > f["linear sweep"]
    assert f["GRAPE"] > 1 - 1e-8
    assert q["grape_controls"].shape == (2, 10) and np.all(np.abs(q["grape_controls"]) <= d0 + 1e-12)


def test_panel_renders_and_a_drag_in_the_plot_updates_the_work():
    dsg = ProtocolDesigner(n_points=4, auto_references=False)  # references: see the test above
    layout = dsg.__panel__()
    root = layout.get_root()
    assert root is not None
    css = {c for obj in layout.select() for c in (getattr(obj, "css_classes", None) or [])}
    assert {"nl-work", "nl-protocol-plot", "nl-validate", "nl-protocol-table"} <= css
    src = dsg._sources["points"]
    w0 = dsg.work
    data = dict(src.data)
    data["lam"] = [data["lam"][0], 4.0, data["lam"][2], data["lam"][3]]
    src.data = data  # what the PointDrawTool does in the browser
    assert dsg.points[1, 1] == 4.0 and dsg.work != w0
    # a drag outside [0, tau] is refused with a message, the state is kept
    bad = dict(src.data)
    bad["t"] = [0.0, 7.0, bad["t"][2], bad["t"][3]]
    src.data = bad
    assert "rejected" in dsg.status and dsg.points[1, 0] < 1.0
    assert dsg._ref_job is None and dsg.reference_status == "not computed"
