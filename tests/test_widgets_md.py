"""ShearFlowExplorer: controls from the nemd_shear spec, a streamed run equal to the task's, flow-curve
points, cancel, refused input shown (not reverted), dataset and exports.

Small and cheap: a WCA fluid of N = 108 (the engine compiles once for the module), short runs.
"""

from __future__ import annotations

import time
import types

import numpy as np
import pytest
import xarray as xr

from nephlab.md import FlowCurveResult, ShearResult
from nephlab.md.shear import STREAM_CHUNK
from nephlab.tasks import get_task
from nephlab.tasks.nemd_shear import simulate
from nephlab.widgets import Cancelled
from nephlab.widgets.md import _NAMES, ShearFlowExplorer, parse_rates

SPEC = get_task("nemd_shear").spec
SMALL = dict(potential="wca", n_particles=108, T=1.0, n_steps=960, sample_every=10, equilibrate=100, n_bins=8,
             shear_rate=1.0)


def _explorer(**kw) -> ShearFlowExplorer:
    ex = ShearFlowExplorer(**{**SMALL, **kw})
    ex.rate_hz = 1e9  # no throttling: every streamed chunk reaches the views
    return ex


@pytest.fixture(scope="module")
def ran():
    ex = _explorer()
    seen = []
    show = ex._show
    ex._show = lambda r, p, partial=False: (seen.append((None if r is None else len(r.times), partial)),
                                            show(r, p, partial))
    ex.main(), ex.sidebar()
    assert not ex.jobs  # plain Python: nothing runs until asked; a page or a notebook runs it once shown
    ex._first_run()  # what main() defers under a server (pn.state.onload) or in a notebook
    assert ex.running or ex.result is not None
    r = ex.wait()
    return ex, r, seen


def test_controls_come_from_the_spec_and_only_active_ones_show():
    ex = ShearFlowExplorer()
    assert list(ex.controls) == list(_NAMES) and "backend" not in ex.controls
    for n in _NAMES:  # the task's defaults, except shorter runs
        want = {"n_steps": 2000, "equilibrate": 200}.get(n, SPEC.param(n).default)
        assert getattr(ex, n) == want, n
    assert SPEC.param("n_steps").default == 5000  # the spec keeps its own default
    assert ex.controls["r_cut"].visible
    ex.potential = "wca"
    assert not ex.controls["r_cut"].visible
    assert ex.result is None and not ex.jobs  # nothing computed before it is shown


def test_run_streams_and_equals_the_task(ran):
    ex, r, seen = ran
    n = SMALL["n_steps"] // SMALL["sample_every"]
    streamed = [k for k, partial in seen if partial and k is not None]
    assert streamed == [min(k * STREAM_CHUNK, n) for k in range(1, -(-n // STREAM_CHUNK) + 1)]
    assert ex.updates >= len(streamed) and ex.status == "done"
    assert isinstance(r, ShearResult) and r is ex.result and len(r.times) == n
    # the DESIGN rule: the same numbers from the task with the component's spec_values, no Panel
    p = ex.spec_values(SPEC)
    assert p == ex.result_params
    out = get_task("nemd_shear").fn(p)
    for k in ("pxy", "pxx", "temperature", "potential_energy", "times"):
        assert np.array_equal(out[k], getattr(r, k)), k
    assert float(out["viscosity"]) == r.viscosity and float(out["stderr"]) == r.stderr
    np.testing.assert_allclose(out["profile_vx"], r.profile_vx, rtol=1e-12, atol=1e-14)  # chunk-grouped sums
    V = ex._views
    assert np.array_equal(V["pxy_src"].data["pxy"], r.pxy) and len(V["part_src"].data["x"]) == 108
    assert V["ref_src"].data["vx"][1] == pytest.approx(r.shear_rate * V["ref_src"].data["y"][1])
    assert f"η = {r.viscosity:.4g} ± {r.stderr:.2g}" in V["summary"].text


def test_flow_curve_points_and_zero_shear_fit(ran):
    ex = ran[0]
    ex.rates = "0.5, 1, 2"
    steps = []
    draw = ex._draw_flow
    ex._draw_flow = lambda: (steps.append(len(ex.flow_results)), draw())
    results = ex.run_flow().wait()
    assert [x.shear_rate for x in results] == [0.5, 1.0, 2.0]
    assert steps[0] == 0 and steps[-1] == 3 and sorted(steps) == steps  # points added as they complete
    fc = ex.flow
    assert isinstance(fc, FlowCurveResult) and len(fc.shear_rate) == 3
    direct = [simulate({**ex.result_params, "shear_rate": g}) for g in (0.5, 1.0, 2.0)]
    ref = FlowCurveResult.from_results(direct)
    np.testing.assert_array_equal(fc.viscosity, ref.viscosity)
    assert fc.zero_shear_viscosity == ref.zero_shear_viscosity
    V = ex._views
    assert len(V["flow_src"].data["g"]) == 3 and V["zero_src"].data["eta"] == [ref.zero_shear_viscosity]
    assert "zero-shear extrapolation" in V["flow_summary"].text


def test_dataset_and_exports(ran, tmp_path):
    ex = ran[0]
    ds = ex.to_dataset()
    assert float(ds.viscosity) == ex.result.viscosity and ds.pxy.dims == ("time",)
    assert ds.attrs["params"] and "flow_viscosity" in ds and ds.flow_viscosity.dims == ("flow_shear_rate",)
    back = xr.load_dataset(ex.export(tmp_path / "shear.nc"), engine="h5netcdf")
    np.testing.assert_array_equal(back.pxy.values, ex.result.pxy)
    assert ex.export(tmp_path / "shear.png").read_bytes()[:4] == b"\x89PNG"


def test_cancel_keeps_the_samples_so_far():
    ex = _explorer(n_steps=400_000, seed=7)
    ex.main()
    ex.run()
    t0 = time.monotonic()
    while (ex.result is None or len(ex.result.times) < STREAM_CHUNK) and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    ex.cancel()
    with pytest.raises(Cancelled):
        ex.wait(60)
    assert ex.status == "cancelled" and not ex.running
    assert STREAM_CHUNK <= len(ex.result.times) < 40_000


def test_refused_input_is_shown_not_reverted():
    ex = _explorer()
    ex.controls["rho"].value = 2.0  # above close packing
    assert ex.controls["rho"].value == 2.0 and ex.rho == SPEC.param("rho").default
    assert "rho" in ex.error and ex._error_lines["rho"].visible
    with pytest.raises(ValueError, match="refused"):
        ex.run()
    ex.controls["rho"].value = 0.8
    assert not ex.error
    ex.rates = "0.5, 0, 1"
    assert ex.rates == "0.5, 0, 1" and "rate of 0" in ex._error_lines["rates"].object
    assert ex._error_lines["rates"].visible and ex.status.startswith("error")
    with pytest.raises(ValueError, match="rate of 0"):
        ex.run_flow()
    ex.rates = "1, 2"
    assert not ex.error and not ex._error_lines["rates"].visible
    # a combination the engine refuses (NVE heats a sheared fluid) fails the job with the engine's message
    ex.thermostat = "nve"
    with pytest.raises(ValueError, match="nve"):
        ex.run().wait()
    assert "nve" in ex.error


@pytest.mark.parametrize("text, match", [("", "at least one"), ("1, x", "not a number"), ("1, 1", "repeats"),
                                         ("500", "out of range"), ("nan", "finite|out of range")])
def test_parse_rates_names_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        parse_rates(text)


def test_one_computation_per_parameters_at_a_time(monkeypatch):
    # the server's warm-up and a first visit (or 8 sessions at once) ask for the same run: computed once
    import threading

    import nephlab.widgets.md as mdw

    calls = []

    def slow(p, on_sample=None):
        calls.append(p["seed"])
        time.sleep(0.3)
        return types.SimpleNamespace(times=np.zeros(p["n_steps"] // p["sample_every"]))

    monkeypatch.setattr(mdw, "simulate", slow)
    p = SPEC.validate({**SMALL, "seed": 12345})
    out = []
    threads = [threading.Thread(target=lambda: out.append(mdw.shear_run(p))) for _ in range(4)]
    [t.start() for t in threads], [t.join() for t in threads]
    assert calls == [12345] and len(out) == 4 and all(o is out[0] for o in out)
    assert mdw.shear_run(SPEC.validate({**SMALL, "seed": 54321}), stop=lambda: True) is not None  # not busy: runs
    mdw._INFLIGHT[mdw._key(p | {"seed": 1})] = threading.Event()  # busy elsewhere: stop() ends the wait
    try:
        assert mdw.shear_run(p | {"seed": 1}, stop=lambda: True) is None
    finally:
        mdw._INFLIGHT.pop(mdw._key(p | {"seed": 1}))
