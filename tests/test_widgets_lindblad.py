"""LindbladExplorer: numbers against mesolve / the lindblad task / closed forms, streaming through
mesolve's on_save hook (no restart windows), cancel, controls from the task spec, first paint from
the shared cache, exports, validation, and rendering (Bokeh document, template, ipywidget)."""

from __future__ import annotations

import numpy as np
import panel as pn
import pytest
import xarray as xr
from bokeh.document import Document

import nephlab
from nephlab.tasks import get_task, run_task
from nephlab.widgets import LindbladExplorer
from nephlab.widgets import lindblad as L
from nephlab.widgets._base import Cancelled
from nephlab.widgets._controls import param_help, param_label

SM = np.array([[0, 0], [1, 0]], complex)  # |0> (excited) -> |1> (ground), QuTiP's convention
SZ = np.diag([1.0, -1.0]).astype(complex)
SX = np.array([[0, 1], [1, 0]], complex)


def test_oscillator_matches_the_lindblad_task():
    # exact propagator (auto -> expm for n <= 12), streamed in chunks of 7 saved times
    ex = LindbladExplorer(model="oscillator", n=6, F=0.4, gamma=0.3, kerr=0.2, t_max=4.0, n_times=41, chunk=7)
    ds = ex.run().wait()
    ref = run_task("lindblad", model="oscillator", n=6, F=0.4, gamma=0.3, kerr=0.2, t_max=4.0, n_times=41)
    np.testing.assert_allclose(ds.time, ref.time, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.n_mean, ref.n_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.purity, ref.purity, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.entropy, ref.entropy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.rho_real[-1], ref.rho_final_real, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.rho_imag[-1], ref.rho_final_imag, rtol=0, atol=1e-12)
    # populations sum to one; <n> = sum_k k p_k
    np.testing.assert_allclose(ds.populations.sum("level"), 1.0, atol=1e-10)
    np.testing.assert_allclose((ds.populations * ds.level).sum("level"), ds.n_mean, atol=1e-10)
    assert ex.status == "done" and ex.progress == 1.0 and not ex.running and ex.n_done == 41


def test_adaptive_method_streams_the_states_of_one_mesolve_call():
    # no restart windows and no eigenvalue clipping: the streamed states are those of one call
    ex = LindbladExplorer(model="coupled_qubits", F=0.3, J=0.7, gamma=0.2, t_max=5.0, n_times=51, chunk=5,
                          method="tsit5", rtol=1e-8, atol=1e-10)
    ds = ex.run().wait()
    p = ex.task_params()
    from nephlab.tasks import _models

    m = _models.build(p)
    res = nephlab.mesolve(m.H, m.rho0, np.linspace(0, 5.0, 51), m.c_ops(p["gamma"], p["nth"]), method="tsit5",
                          rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ds.rho_real + 1j * ds.rho_imag, np.asarray(res.states), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.entropy, res.entropy(), rtol=0, atol=1e-12)
    assert "max_psd_correction" not in ds.attrs


def test_custom_operators_closed_form_decay_and_bloch_vector():
    g, w = 0.7, 2.0
    ex = LindbladExplorer(H=0.5 * w * SZ, c_ops=[np.sqrt(g) * SM], rho0=np.array([1.0, 0.0]),
                          e_ops={"excited": SM.conj().T @ SM}, t_max=3.0, n_times=31, chunk=3)
    assert ex.model == "custom"
    ds = ex.run().wait()
    t = ds.time.values
    np.testing.assert_allclose(ds.excited, np.exp(-g * t), atol=1e-10)
    np.testing.assert_allclose(ds.sigma_z, 2 * np.exp(-g * t) - 1, atol=1e-10)
    np.testing.assert_allclose(ds.sigma_x, 0.0, atol=1e-10)
    # a superposition precesses at w and its coherence decays at g/2
    psi = np.array([1.0, 1.0]) / np.sqrt(2)
    ex2 = LindbladExplorer(H=0.5 * w * SZ, c_ops=[np.sqrt(g) * SM], rho0=psi, t_max=3.0, n_times=31, chunk=2)
    ds2 = ex2.run().wait()
    t = ds2.time.values
    np.testing.assert_allclose(ds2.sigma_x, np.exp(-g * t / 2) * np.cos(w * t), atol=1e-10)
    np.testing.assert_allclose(ds2.sigma_y, np.exp(-g * t / 2) * np.sin(w * t), atol=1e-10)


def test_streaming_delivers_every_saved_time_in_order():
    ex = LindbladExplorer(model="qubit", F=0.5, t_max=2.0, n_times=21, chunk=5)
    ex.rate_hz = 1e9  # no throttling: every saved time reaches the views
    seen: list[int] = []
    ex.param.watch(lambda e: seen.append(e.new), "n_done")
    ex.run().wait()
    assert seen == list(range(1, 22))
    assert ex.updates == 21 and ex.time_index == 20


def test_cancel_stops_the_solve():
    ex = LindbladExplorer(model="spin_chain", n=4, t_max=50.0, n_times=5001, chunk=50, method="expm")
    first = []

    def on_first(event):
        if not first:
            first.append(event.new)
            ex.cancel()

    ex.param.watch(on_first, "n_done")
    job = ex.run()
    with pytest.raises(Cancelled):
        job.wait(timeout=600)
    assert ex.status == "cancelled" and not ex.running
    assert 0 < ex.n_done < 5001
    ds = ex.to_dataset()  # what was computed is kept
    assert ds.sizes["time"] == ex.n_done


def test_exports_are_valid_files(tmp_path):
    import imageio.v3 as iio
    import imageio_ffmpeg

    ex = LindbladExplorer(model="qubit", F=0.5, gamma=0.3, t_max=3.0, n_times=31, chunk=3)
    ds = ex.run().wait()
    png = ex.export(tmp_path / "v.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in ex.export(tmp_path / "v.svg").read_bytes()[:2000]
    back = xr.load_dataset(ex.export(tmp_path / "v.nc"), engine="h5netcdf")
    xr.testing.assert_allclose(back, ds)
    gif = ex.export(tmp_path / "rho.gif", max_frames=12, fps=5)
    assert iio.imread(gif, index=None).shape[0] == 12
    mp4 = ex.export(tmp_path / "rho.mp4", max_frames=10)
    assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == 10
    with pytest.raises(ValueError, match="suffix"):
        ex.export(tmp_path / "v.txt")


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="gamma"):
        LindbladExplorer(gamma=0.0)
    with pytest.raises(ValueError, match="'n'"):
        LindbladExplorer(model="spin_chain", n=11).run()
    with pytest.raises(ValueError, match="model='custom'"):
        LindbladExplorer(model="custom")
    with pytest.raises(ValueError, match="H must be a square"):
        LindbladExplorer(H=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"c_ops\[0\]"):
        LindbladExplorer(H=SZ, c_ops=[np.eye(3)])
    with pytest.raises(ValueError, match="Hermitian"):
        LindbladExplorer(H=SM)
    with pytest.raises(TypeError, match="e_ops"):
        LindbladExplorer(H=SZ, e_ops=[SZ])
    with pytest.raises(RuntimeError, match="run"):
        LindbladExplorer().to_dataset()


def test_controls_come_from_the_task_spec_and_stay_linked():
    ex = LindbladExplorer()
    spec = get_task("lindblad").spec
    ctl = ex.controls
    assert set(ctl) == set(spec.names)
    for name, w in ctl.items():
        assert ex.control_specs[name] == (spec, spec.param(name))
        assert w.label == param_label(spec.param(name)) and w.description == param_help(spec.param(name))
    assert ctl["n"].start is None and ctl["n"].end is None  # bounds are checked, not clamped by the browser
    assert ctl["gamma"].label == "gamma [1/time]"
    assert list(ctl["method"].options) == list(spec.param("method").choices)
    assert list(ctl["model"].options) == list(spec.param("model").choices)  # "custom" only with operators
    assert "custom" in LindbladExplorer(H=SZ).controls["model"].options
    ctl["n"].value = 7
    assert ex.n == 7
    ex.F = 0.9
    assert ctl["F"].value == 0.9


def test_only_the_chosen_models_parameters_are_shown():
    ex = LindbladExplorer()
    shown = lambda: {k for k, w in ex.controls.items() if w.visible}  # noqa: E731
    assert {"n", "kerr"} <= shown() and "J" not in shown()
    ex.controls["model"].value = "qubit"
    assert ex.model == "qubit" and not {"n", "kerr", "J"} & shown()
    ex.model = "coupled_qubits"
    assert "J" in shown() and not {"n", "kerr"} & shown()
    custom = LindbladExplorer(H=SZ, c_ops=[SM])
    assert not {"n", "F", "gamma", "kerr", "delta", "J", "nth"} & {k for k, w in custom.controls.items() if w.visible}
    assert custom.controls["t_max"].visible


def test_an_out_of_range_n_is_shown_and_run_refuses_it():
    ex = LindbladExplorer()
    ex.controls["n"].value = 500
    assert ex.controls["n"].value == 500 and ex.n == 10  # kept in the box, not reverted, not applied
    assert "'n' = 500 is out of range" in ex.error and ex.status.startswith("error")
    with pytest.raises(ValueError, match="'n' = 500"):
        ex.run()
    ex.controls["n"].value = 12
    assert ex.error == "" and ex.n == 12


def test_first_paint_shows_the_shared_cached_result_without_computing():
    LindbladExplorer.warm()  # nephlab serve does this at start
    before = L._preset_run.cache_info()
    ex = LindbladExplorer()
    ex.page("lindblad")  # the served layout: sidebar + status area + main (first paint deferred; here: now)
    ex.wait(key="first")
    after = L._preset_run.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert ex.n_done == ex.n_times == 101 and ex.status == "done"
    np.testing.assert_allclose(ex.to_dataset().n_mean, run_task("lindblad").n_mean, rtol=0, atol=1e-12)
    assert len(ex._views["src"]["ent"].data["t"]) == 101


def test_renders_in_a_document_and_as_ipywidget():
    ex = LindbladExplorer(model="qubit", t_max=1.0, n_times=11, chunk=2)
    root = pn.panel(ex).get_root(Document())
    ex.wait(key="first")
    assert root is not None
    ex.run().wait()
    src = ex._views["src"]
    assert len(src["ent"].data["t"]) == 11 and len(src["traj"].data["u"]) == 11
    assert src["rho"].data["image"][0].shape == (2, 2)
    # legend labels are texts, not column names: Bokeh draws a column-name label as "Invalid field"
    for key in ("pops", "expect"):
        shown = [item.label for _, item in ex._views["lines"][key] if item.visible]
        assert shown and all(type(lab).__name__ == "Value" for lab in shown), shown
    assert [item.label.value for _, item in ex._views["lines"]["pops"] if item.visible] == ["ρ_0,0", "ρ_1,1"]
    w = pn.ipywidget(LindbladExplorer(model="qubit"))
    assert type(w).__name__ == "BokehModel"


def test_cluster_executor_gives_the_same_numbers():
    from distributed import Client

    kw = dict(model="oscillator", n=5, F=0.3, t_max=2.0, n_times=21, chunk=4)
    local = LindbladExplorer(**kw).run().wait()
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        ex = LindbladExplorer(executor="cluster", **kw)  # "" -> the current default client
        job = ex.run()
        assert job.client is client
        ds = job.wait(timeout=600)
    xr.testing.assert_allclose(ds, local)
