"""LargeDeviationExplorer: a thin component over nephlab.largedev.presets, checked against exact
results and against the library it calls (no Panel mocks; plain Python, so the jobs' callbacks run
in their worker threads and ``wait()`` returns once the views are updated).

Closed forms:
- two-state activity SCGF ``θ(s) = -(a+b)/2 + sqrt((a-b)²/4 + a b e^{-2s})``; for a = b = 1 the
  rate function is Poisson's ``I(x) = x ln x - x + 1``;
- ring random walk current ``θ(s) = p (e^{-s} - 1) + q (e^{s} - 1)``;
- East model (open, L spins, density c): mean activity per spin ``2c(1-c)(1 + (L-1)c)/L``.
"""

from __future__ import annotations

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from nephlab.largedev import MULLER_BROWN_B, markov_cloning, markov_scgf, two_state_scgf  # noqa: E402
from nephlab.tasks import get_task  # noqa: E402
from nephlab.widgets.largedev import (LargeDeviationExplorer, cloning_result, committor_path,  # noqa: E402
                                      scgf_curves)

SCGF, CLONING = get_task("scgf").spec, get_task("cloning").spec


def test_two_state_theta_and_poisson_rate_function():
    ex = LargeDeviationExplorer(model="two_state", a=1.0, b=3.0, n_s=21)
    curve, rate, sizes = ex.wait()
    np.testing.assert_allclose(curve.theta, two_state_scgf(1.0, 3.0, curve.s), rtol=0, atol=1e-12)
    assert sizes.sizes.tolist() == [1]
    ex.param.update(b=1.0, s_min=-2.0, s_max=2.0, n_s=81)
    _, rate, _ = ex.wait()
    x = rate.x
    np.testing.assert_allclose(rate.I, x * np.log(x) - x + 1.0, rtol=0, atol=1e-12)


def test_model_switch_recomputes_and_refusals_are_shown():
    ex = LargeDeviationExplorer(n_s=11)
    ex.wait()
    ex.__panel__()
    first = ex.curve.theta.copy()
    ex.param.update(model="ring_random_walk", observable="current", L=5, p=2.0, q=1.0)
    curve, _, _ = ex.wait()
    s = curve.s
    np.testing.assert_allclose(curve.theta, 2.0 * np.expm1(-s) + np.expm1(s), rtol=0, atol=1e-12)
    assert not np.allclose(curve.theta, first)
    V = ex._views
    assert V["theta"].object.title.text == "SCGF θ(s): ring_random_walk (current)"
    np.testing.assert_array_equal(V["theta_src"].data["theta"], curve.theta)
    # the two-state model has no current: refused, shown, never silently changed; the plot keeps
    # the last valid curve under its own model's name
    ex.model = "two_state"
    ex.wait()
    assert ex.observable == "current" and "'current' is not defined for model='two_state'" in ex.error
    assert ex.status.startswith("error") and ex.curve is curve
    assert V["summary"].text.startswith("ring_random_walk:")
    ex.observable = "activity"
    curve, _, _ = ex.wait()
    np.testing.assert_allclose(curve.theta, two_state_scgf(1.0, 1.0, curve.s), atol=1e-12)
    assert ex.error == "" and V["summary"].text.startswith("two_state:")
    # a cross-parameter refusal typed into a control is shown too (not cleared by the control)
    ex.controls["s_min"].value = 5.0
    assert "s_min < s_max" in ex.error and ex.s_min == 5.0
    ex.controls["s_min"].value = -1.0
    ex.wait()
    assert ex.error == ""


def test_rapid_changes_end_on_the_last_parameters():
    ex = LargeDeviationExplorer(n_s=9)
    for L in (3, 4, 5, 6):  # each change cancels the running job; the last one wins
        ex.param.update(model="east", L=L)
    curve, _, sizes = ex.wait()
    np.testing.assert_array_equal(curve.theta, markov_scgf(SCGF.validate({"model": "east", "L": 6, "n_s": 9})).theta)
    assert sizes.sizes.tolist() == [4, 5, 6] and sizes.s[4] == 0.0
    c = ex.c
    for k, L in enumerate(sizes.sizes):  # the East model's mean activity per spin
        assert sizes.activity[k, 4] == pytest.approx(2 * c * (1 - c) * (1 + (L - 1) * c) / L, rel=1e-9)


def test_controls_are_the_task_specs_and_only_the_models_show():
    ex = LargeDeviationExplorer()
    assert set(SCGF.names) <= set(ex.controls)
    assert {"s", "n_clones", "t_max", "n_runs", "burn_in_fraction", "seed", "beta", "radius", "n_grid"} <= set(ex.controls)
    for name, w in ex.controls.items():
        spec, p = ex.control_specs[name]
        decl = ex.param[name]
        if p.type in ("float", "int"):
            assert decl.bounds == (p.minimum, p.maximum), name
        if name != "beta":  # beta starts at 0.05 for the Müller–Brown preset (see the class docstring)
            assert decl.default == p.default, name
    visible = {n for n, w in ex.controls.items() if w.visible}
    assert {"a", "b"} <= visible and not {"L", "p", "q", "n_particles", "rate", "c", "boundary", "rates"} & visible
    ex.model = "east"
    visible = {n for n, w in ex.controls.items() if w.visible}
    assert {"L", "c", "boundary"} <= visible and not {"a", "b", "p", "q", "rates"} & visible
    ex.model = "tasep_ring"
    assert ex.controls["n_particles"].visible and ex.controls["rate"].visible and not ex.controls["c"].visible


def test_custom_rate_matrix():
    ex = LargeDeviationExplorer(model="custom", rates="0 2; 1 0", n_s=7)
    curve, _, _ = ex.wait()
    np.testing.assert_allclose(curve.theta, two_state_scgf(2.0, 1.0, curve.s), atol=1e-12)
    ex.controls["rates"].value = "0 x; 1 0"  # refused by the spec's check, shown; the plot keeps its curve
    ex.wait()
    assert "parameter 'rates'" in ex.error and ex.curve is curve


def test_repeated_cloning_runs_show_the_same_curves():
    ex = LargeDeviationExplorer(model="two_state", a=1.0, b=3.0, s=0.5, n_clones=200, t_max=20.0, n_runs=6, seed=3)
    ex.__panel__()
    V = ex._views
    assert V["clone_src"].data["xs"] == [] and "press Run cloning" in V["clone_summary"].text
    p = CLONING.validate({n: getattr(ex, n) for n in CLONING.names if n in ex.param})
    ref = markov_cloning(p)
    for _ in range(3):  # every run: exactly n_runs curves, the library's
        ex.run_cloning().wait()
        ys = V["clone_src"].data["ys"]
        assert len(ys) == 6 and len(V["clone_src"].data["xs"]) == 6
        for y, r in zip(ys, ref.running_scgf):
            np.testing.assert_array_equal(y, r)
    exact = two_state_scgf(1.0, 3.0, 0.5)
    assert ex.clone_exact == pytest.approx(exact, abs=1e-12) and V["exact"].location == ex.clone_exact
    assert ex.clone.scgf == ref.scgf and f"cloning: {ref.scgf:.6g}" in V["clone_summary"].text
    # a parameter change clears the plot (the curves belong to other parameters); rerun: 2 curves
    ex.n_runs = 2
    assert V["clone_src"].data["ys"] == [] and V["exact"].location is None
    ex.run_cloning().wait()
    assert len(V["clone_src"].data["ys"]) == 2
    assert cloning_result.cache_info().hits >= 2


def test_committor_and_transition_paths(tmp_path):
    ex = LargeDeviationExplorer(n_grid=41, n_paths=2)
    ex.__panel__()
    ex.compute_committor().wait()
    prob, q = ex.committor
    assert prob.potential == "muller_brown" and prob.beta == 0.05 and q.min() == 0.0 and q.max() == 1.0
    assert len(ex.paths) == 2
    for i, path in enumerate(ex.paths):
        t, x, y = path.T
        assert np.all(np.diff(t) > 0)
        assert np.hypot(x[-1] - MULLER_BROWN_B[0], y[-1] - MULLER_BROWN_B[1]) <= ex.radius + 1e-12  # ends in B
        key = tuple(sorted({"potential": "muller_brown", "beta": 0.05, "radius": 0.1, "n_grid": 41}.items()))
        np.testing.assert_array_equal(path, committor_path(key, i))
    V = ex._views
    assert len(V["paths_src"].data["xs"]) == 2
    ex.frame = 5
    assert len(V["path_src"].data["x"]) == 6 and V["point_src"].data["x"][0] == ex.paths[0][5, 1]
    assert ex.export_playback(tmp_path / "path.gif", n_frames=4).read_bytes()[:3] == b"GIF"


def test_exports_layout_and_warm(tmp_path):
    import xarray as xr

    LargeDeviationExplorer.warm()
    hits = scgf_curves.cache_info().hits
    ex = LargeDeviationExplorer()  # the defaults: cached by warm()
    ex.wait()
    assert scgf_curves.cache_info().hits == hits + 1
    ex.model = "east"
    ex.wait()
    ds = xr.load_dataset(ex.export(tmp_path / "ld.nc"), engine="h5netcdf")
    np.testing.assert_allclose(ds["theta"].values, ex.curve.theta)
    assert ds.attrs["model"] == "east" and "a" not in ds.attrs and ds["activity_per_site"].shape == (3, 21)
    assert ex.export(tmp_path / "ld.png").read_bytes()[:4] == b"\x89PNG"
    layout = ex.__panel__()
    assert layout.get_root() is not None
    css = {c for obj in layout.select() for c in (getattr(obj, "css_classes", None) or [])}
    assert {"nl-theta", "nl-rate-function", "nl-phase-diagram", "nl-ld-model", "nl-theta-summary", "nl-clone-run",
            "nl-clone-plot", "nl-clone-summary", "nl-committor", "nl-committor-run", "nl-player"} <= css
    ex.close()
    assert ex.curve is None and ex.closed
