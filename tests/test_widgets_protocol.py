"""ProtocolDesigner: a thin component over nephlab.control.designer and three task specs.

The physics is tested without Panel in tests/test_control_designer.py; here: the numbers the
component shows equal closed forms and the library called with the component's spec values, the
controls are the task specs' (names, defaults, bounds, units, visibility), refused input is shown,
drags go through the Bokeh data source, and background jobs apply their results.

Closed forms (overdamped, harmonic trap, gamma = k = kBT = 1 unless stated): linear ramp by d in
tau: <W> = gamma v^2 [tau - tau_r (1 - e^{-tau/tau_r})], v = d/tau, tau_r = gamma/k, Var W = 2 kBT <W>;
Schmiedl-Seifert optimum <W>* = gamma d^2 / (tau + 2 gamma/k); thermodynamic length sqrt(gamma)|d|.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from nephlab.control import langevin_check, linear_ramp, optimal_protocol  # noqa: E402
from nephlab.tasks import get_task, run_task  # noqa: E402
from nephlab.widgets.protocol import (  # noqa: E402
    LANGEVIN_CHUNKS,
    LANGEVIN_PARAMS,
    NEURAL_PARAMS,
    PHYSICS_PARAMS,
    QUANTUM_PARAMS,
    ProtocolDesigner,
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


def test_optimal_protocol_drawn_by_points_gives_schmiedl_seifert_work():
    tau, d = 1.0, 5.0
    p = optimal_protocol("trap_translation", lam_f=d, tau=tau)
    (_, a), (b, _) = p.jumps
    dsg = ProtocolDesigner(n_points=2, lam_f=d)
    dsg.set_points([0.0, tau], [a, b])  # the interior of the optimum is linear
    assert dsg.work == pytest.approx(d * d / (tau + 2.0), rel=1e-10)


def test_stiffness_problem_reads_k_i_k_f_like_the_task():
    dsg = ProtocolDesigner(problem="stiffness", n_points=2, k_i=1.0, k_f=4.0, tau=1.0)
    ref = linear_ramp("stiffness", k_i=1.0, k_f=4.0, tau=1.0)  # the default points lie on the ramp
    assert dsg.work == pytest.approx(ref.work, rel=1e-10)
    assert dsg.delta_f == pytest.approx(0.5 * math.log(4.0), rel=1e-14)
    assert dsg.length == pytest.approx(0.5, rel=1e-14) and dsg.bound == pytest.approx(0.25, rel=1e-14)


def test_problem_switch_resets_points_to_the_task_defaults():
    dsg = ProtocolDesigner()
    dsg.problem = "stiffness"
    spec = get_task("optimal_protocol").spec
    k_i, k_f = spec.param("k_i").default, spec.param("k_f").default
    assert dsg.points.shape == (dsg.n_points, 2)
    np.testing.assert_allclose(dsg.points[[0, -1], 1], [k_i, k_f], rtol=1e-15)
    ramp = linear_ramp("stiffness", k_i=k_i, k_f=k_f, tau=dsg.tau)
    assert dsg.work == pytest.approx(ramp.work, rel=1e-10)


def test_move_point_changes_work_and_records_latency():
    dsg = ProtocolDesigner(n_points=4)
    w0 = dsg.work
    dsg.move_point(1, lam=0.9)
    assert dsg.work != w0 and dsg.points[1, 1] == 0.9
    assert np.isfinite(dsg.latency_ms) and dsg.latency_ms > 0
    print(f"edit latencies (ms): {[round(x, 2) for x in dsg.latencies_ms]}")  # benchmarks/designer_latency.py


@pytest.mark.parametrize(
    "times,values,match",
    [([0.0, 2.0], [0.0, 5.0], "times"), ([0.0, -0.1], [0.0, 5.0], "times"),
     ([0.0, 1.0], [0.0, float("nan")], "NaN"), ([0.0, 1.0, 0.5], [0.0, 5.0], "shape")],
)
def test_set_points_rejects_bad_input_and_keeps_state(times, values, match):
    dsg = ProtocolDesigner(n_points=2)
    before, w = dsg.points.copy(), dsg.work
    with pytest.raises(ValueError, match=match):
        dsg.set_points(times, values)
    assert np.array_equal(dsg.points, before) and dsg.work == w
    stiff = ProtocolDesigner(problem="stiffness", n_points=2)
    with pytest.raises(ValueError, match="stiffness"):
        stiff.set_points([0.0, 1.0], [1.0, -1.0])


def test_every_control_is_its_task_spec_and_only_the_problem_s_parameters_show():
    dsg = ProtocolDesigner()
    tasks = {n: "optimal_protocol" for n in PHYSICS_PARAMS} | {n: "langevin_work" for n in LANGEVIN_PARAMS} | {
        n: "landau_zener" for n in QUANTUM_PARAMS} | {n: "ppo_protocol" for n in NEURAL_PARAMS}
    assert set(dsg.controls) == set(tasks)
    for name, w in dsg.controls.items():
        spec, p = dsg.control_specs[name]
        assert spec is get_task(tasks[name]).spec and p is spec.param(name)
        assert getattr(dsg, name) == p.default == w.value
        assert (p.units or "") in w.name and f"nl-param-{name}" in w.css_classes
        if p.type in ("float", "int"):
            assert dsg.param[name].bounds == (p.minimum, p.maximum)
    assert dsg.param.tau.bounds == (0.0, 1e6)  # the task's tau, not a component-private bound
    visible = lambda: {n for n in PHYSICS_PARAMS if dsg.controls[n].visible}  # noqa: E731
    assert visible() == {"problem", "tau", "lam_i", "lam_f", "k", "gamma", "kBT"}
    dsg.controls["problem"].value = "stiffness"
    assert visible() == {"problem", "tau", "k_i", "k_f", "gamma", "kBT"}


def test_a_refused_value_is_shown_and_the_designer_keeps_its_state():
    dsg = ProtocolDesigner()
    w = dsg.work
    dsg.controls["tau"].value = 0.0
    assert dsg.tau == 1.0 and dsg.controls["tau"].value == 0.0 and dsg.work == w
    assert "tau" in dsg.error and dsg._error_lines["tau"].visible
    dsg.controls["tau"].value = 2.0
    assert dsg.tau == 2.0 and dsg.error == "" and dsg.points[-1, 0] == 2.0


@pytest.mark.slow  # JAX compilation of optimize_protocol (L-BFGS) and solve_pmp: ~20 s on a loaded 2-core machine
def test_references_comparison_export_and_the_task_agree(tmp_path):
    dsg = ProtocolDesigner(n_points=3, lam_f=5.0)
    refs = dsg.compute_references()
    exact = 25.0 / 3.0
    # the numbers it shows can be recomputed by the task with the component's spec values
    ds = run_task("optimal_protocol", dsg.spec_values("optimal_protocol"))
    assert refs["optimal (Schmiedl-Seifert)"].work == pytest.approx(float(ds.work), rel=1e-14)
    assert refs["linear ramp"].work == pytest.approx(float(ds.work_linear), rel=1e-14)
    table = dsg.comparison()
    assert list(table.index) == ["designer", "linear ramp", "optimal (Schmiedl-Seifert)", "optimize_protocol",
                                 "Pontryagin"]
    assert table.loc["Pontryagin", "work"] == pytest.approx(exact, rel=1e-6)
    assert table.loc["optimal (Schmiedl-Seifert)", "work_var"] == pytest.approx(2 * exact, rel=1e-9)
    assert (table["work"] >= exact * (1 - 1e-6)).all()
    import xarray as xr

    nc = xr.load_dataset(dsg.export(tmp_path / "p.nc"), engine="h5netcdf")
    assert nc["work"].sel(protocol="optimal (Schmiedl-Seifert)").item() == pytest.approx(exact, rel=1e-12)
    assert nc["lam_designer"].values[0] == 0.0 and nc["lam_designer"].values[-1] == 5.0
    assert dsg.export(tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in dsg.export(tmp_path / "p.svg").read_bytes()[:2000]


@pytest.mark.slow  # two reference computations in the background (compilation)
def test_background_references_follow_a_change_made_while_they_compute():
    dsg = ProtocolDesigner(n_points=3)
    dsg.main()  # the view: starts the reference job (defer runs now outside a served session)
    job = dsg.jobs["references"]
    dsg.lam_f = 2.0  # while the job computes lam_f = 1
    job.wait(300)
    for _ in range(600):  # the restart starts a second job once the first one finished
        nxt = dsg.jobs["references"]
        if nxt is not job:
            nxt.wait(300)
            if dsg.reference_status == "ready":
                break
        import time

        time.sleep(0.1)
    assert dsg.references["optimal (Schmiedl-Seifert)"].lam_f == 2.0
    assert dsg.references["optimal (Schmiedl-Seifert)"].work == pytest.approx(4.0 / 3.0, rel=1e-12)
    assert list(dsg._sources["Pontryagin"].data["t"])  # the plot got the curves


def test_langevin_validation_is_langevin_check_with_the_task_parameters():
    dsg = ProtocolDesigner(n_points=2, n_traj=2000, n_steps=100, seed=1, n_boot=50)  # <W> = 1/e (lam_f = 1)
    res = dsg.validate_langevin(background=False)
    assert res is dsg.langevin and res.complete and res.n == 2000 and dsg.progress == 1.0
    assert dsg.updates >= 1
    assert abs(res.work_mean - math.exp(-1.0)) < 5 * res.work_stderr
    # ΔF = 0 (a moved trap): a 4-sigma bound on the Jarzynski estimate (bootstrap SE), not "the
    # 95 % interval contains 0" (seed 1: -0.0068, SE 0.027); the O(1/N) Jarzynski bias is negligible
    assert abs(res.delta_f) < 4 * res.delta_f_stderr, (res.delta_f, res.delta_f_stderr)
    assert res.delta_f_ci[0] < res.delta_f < res.delta_f_ci[1]
    again = langevin_check(dsg.protocol(), n_traj=2000, n_steps=100, seed=1, n_boot=50, method=dsg.method,
                           n_chunks=LANGEVIN_CHUNKS)
    np.testing.assert_array_equal(res.work, again.work)
    assert res.delta_f == again.delta_f


@pytest.mark.slow  # compiles GRAPE and the piecewise propagator
def test_quantum_tab_is_the_landau_zener_task():
    dsg = ProtocolDesigner(n_slices=10)
    q = dsg.compute_quantum()
    ds = run_task("landau_zener", dsg.spec_values("landau_zener"))
    assert q.fidelity_grape == float(ds.fidelity_grape) > 1 - 1e-8
    assert q.fidelity_cd == float(ds.fidelity_cd) > 1 - 1e-6
    np.testing.assert_array_equal(q.grape_controls[0], ds.u_z.values)


def test_panel_renders_and_a_drag_in_the_plot_updates_the_work():
    dsg = ProtocolDesigner(n_points=4, auto_references=False)  # references: see the tests above
    layout = dsg.__panel__()
    assert layout.get_root() is not None
    css = {c for obj in layout.select() for c in (getattr(obj, "css_classes", None) or [])}
    assert {"nl-work", "nl-protocol-plot", "nl-section-langevin", "nl-protocol-table", "nl-status", "nl-error"} <= css
    assert "nl-validate" not in css  # the Langevin section is built when first opened
    (card,) = [c for c in layout.select(pn.Card) if "nl-section-langevin" in c.css_classes]
    card.collapsed = False
    assert "nl-validate" in {c for obj in card.select() for c in (getattr(obj, "css_classes", None) or [])}
    src = dsg._sources["points"]
    w0 = dsg.work
    data = dict(src.data)
    data["lam"] = [data["lam"][0], 0.9, data["lam"][2], data["lam"][3]]
    src.data = data  # what the PointDrawTool does in the browser
    assert dsg.points[1, 1] == 0.9 and dsg.work != w0
    assert list(dsg._sources["designer"].data["lam"])[3] == 0.9  # the curve follows (after lam_i and the t = 0 node)
    bad = dict(src.data)
    bad["t"] = [0.0, 7.0, bad["t"][2], bad["t"][3]]
    src.data = bad  # a drag outside [0, tau]: refused, shown, state kept
    assert "edit rejected" in dsg.error and dsg.points[1, 0] < 1.0
    assert "references" not in dsg.jobs and dsg.reference_status == "not computed"
    dsg.close()
    assert dsg.langevin is None and dsg.references == {}


@pytest.mark.slow
def test_neural_protocol_trains_streams_cancels_and_lands_in_the_table():
    import time as _time

    from nephlab.widgets._base import Cancelled

    d = ProtocolDesigner(n_points=3, n_decisions=2, total_steps=2 * 16 * 400, n_envs=16)
    d.main()
    job = d.train_neural()  # a long run: cancelled once the curve has started streaming
    deadline = _time.monotonic() + 600
    while len(d.training) < 2 and _time.monotonic() < deadline and not job.done:
        _time.sleep(0.05)
    assert len(d.training) >= 2, "no training curve streamed"
    d.cancel(key="neural")
    with pytest.raises(Cancelled):
        job.wait(600)
    assert d.status == "cancelled" and d.neural == {} and len(d.training) < 400

    d.total_steps = 2 * 16 * 5  # five updates
    res = d.train_neural(background=False)
    steps = [s for s, _ in d.training]
    assert steps == [32 * (i + 1) for i in range(5)]  # the whole curve, one point per update
    assert res["source"] == "trained" and res["lam"].shape == (2,) and np.isfinite(res["work"])
    w_star = d.references["optimal (Schmiedl-Seifert)"].work if d.references else 1 / 3  # lam_f = 1
    assert res["work"] >= w_star * (1 - 1e-9)  # no piecewise protocol beats the exact optimum
    table = d.comparison()
    assert table.loc["neural (PPO)", "work"] == res["work"]
    src = dict(d._sources["neural (PPO)"].data)
    assert src["t"] == [0.0, 0.5, 0.5, 1.0] and src["lam"][0] == src["lam"][1] == res["lam"][0]
    assert dict(d._train_src.data)["steps"] == steps
    ds = d.to_dataset(n_times=5)
    assert "lam_neural" in ds and "neural (PPO)" in ds.protocol.values
    d.gamma = 2.0  # other physics: the neural protocol no longer applies
    assert d.neural == {} and d.training == [] and "neural (PPO)" not in d.comparison().index


def test_load_pretrained_takes_its_parameters_and_reaches_its_recorded_work():
    from nephlab.learn import policy_header, pretrained_path

    d = ProtocolDesigner(n_points=3)
    res = d.load_pretrained(background=False)
    ep = policy_header(pretrained_path("trap-translation"))["env_params"]
    assert (d.tau, d.lam_i, d.lam_f, d.k, d.n_decisions) == (ep["tau"], ep["lam_i"], ep["lam_f"], ep["k"], ep["n_steps"])
    w_star = 25.0 / 3.0  # Schmiedl–Seifert for these parameters
    assert w_star <= res["work"] < 1.01 * w_star and res["source"].startswith("pretrained")
    d.problem = "stiffness"  # the stiffness policy for the stiffness problem
    res = d.load_pretrained(background=False)
    ep = policy_header(pretrained_path("trap-stiffness"))["env_params"]
    assert (d.k_i, d.k_f) == (ep["lam_i"], ep["lam_f"])
    exact = run_task("optimal_protocol", problem="stiffness", k_i=d.k_i, k_f=d.k_f, tau=d.tau)
    assert float(exact.work) <= res["work"] < 1.01 * float(exact.work)
