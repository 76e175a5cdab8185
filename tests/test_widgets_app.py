"""The app: routes, pages, `nephlab serve` options, websocket origins, the shared job machinery,
controls from specs, exporters, and serving through `nephlab serve` and plain `panel serve`."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document

from nephlab.cli import all_commands, main
from nephlab.tasks import Param, TaskSpec, get_task
from nephlab.widgets import app
from nephlab.widgets._base import Cancelled, Component, Job, export_animation, export_dataset, export_figure
from nephlab.widgets._controls import control_values, controls_from_spec, param_for

from ui_helpers import free_port, served_app, wait_for_http

ROOT = Path(__file__).resolve().parents[1]


# --- the app ------------------------------------------------------------------------------------

def test_routes_and_pages_build():
    assert sorted(app.routes()) == ["/", "cluster", "largedev", "lindblad", "md", "protocol"]
    index = app.index_page()
    assert type(index).__name__ == "LocalVanilla"
    assert "Lindblad explorer" in index.main[0].objects[1].object
    for name, (title, target, _) in app.PAGES.items():
        page = app.build_page(name)
        assert type(page).__name__ == "LocalVanilla" and page.title == f"nephlab · {title}"
        alerts = [o for o in page.main[0].objects if isinstance(o, pn.pane.Alert)]
        importable = importlib.util.find_spec(target.split(":")[0]) is not None
        if importable:
            assert not alerts, f"{name}: {alerts[0].object if alerts else ''}"
            assert pn.Column(*page.sidebar, *page.main).get_root(Document()) is not None
        else:  # a missing component shows its import error, the rest of the app keeps working
            assert alerts and "not available" in alerts[0].object
    with pytest.raises(ValueError, match="page must be one of"):
        app.build_page("nope")


def _every_page_built():
    """``(page, roots)`` for each importable page: its component with every tab and plot built
    (a dynamic ``Tabs`` renders its active tab only, so each tab is a root of its own)."""
    for name, (_, target, _) in app.PAGES.items():
        if importlib.util.find_spec(target.split(":")[0]) is None:
            continue
        component = app._load(target)()
        whole = pn.Column(*component.sidebar(), component.main())
        roots = [whole.get_root(Document())]
        for tabs in whole.select(pn.Tabs):
            roots += [obj.get_root(Document()) for obj in tabs.objects]
        yield name, roots


def test_pages_need_no_mathjax_and_no_webgl_bundle():
    """The served pages list only the BokehJS bundles their models use at load time
    (``nephlab.widgets._resources``). Models a page adds later (deferred plots, inactive tabs)
    cannot bring a bundle along, so every page, with every tab and plot built, must need neither
    ``bokeh-mathjax`` nor ``bokeh-gl``: TeX text or a WebGL plot would be drawn wrongly."""
    import panel.io.server as panel_server
    from bokeh.models import Plot
    from panel.io.resources import Resources

    from nephlab.widgets._resources import install, page_components

    every = ["bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables", "bokeh-mathjax"]
    for name, roots in _every_page_built():
        assert any(isinstance(m, Plot) for r in roots for m in r.references()), name
        assert page_components(roots, every) == ["bokeh", "bokeh-widgets", "bokeh-tables"], name
    # what Panel's server page lists once install() ran (nephlab serve runs it)
    install()
    doc = Document()
    app.build_page("cluster").server_doc(doc)
    files = [str(f) for f in panel_server.bundle_resources(doc.roots, Resources(mode="server", root_url="/")).js_files]
    assert any("bokeh.min.js" in f for f in files) and any("bokeh-tables" in f for f in files)
    assert not any("bokeh-mathjax" in f or "bokeh-gl" in f for f in files), files


def test_pages_need_no_es_module_shim_and_skip_css_visual_lookups(monkeypatch):
    """No page, with every tab and plot built, holds a Panel ``ReactiveESM`` model, so the served
    pages leave out Panel's ES-module shim; the page runs the snippet that turns BokehJS's CSS
    lookup of visual properties off, after BokehJS, unless ``NEPHLAB_BOKEH_CSS_VISUALS=1``."""
    import panel.io.server as panel_server
    from panel.io.resources import Resources
    from panel.models.esm import ReactiveESM

    from nephlab.widgets._resources import ESM_SHIM, SKIP_CSS_VISUALS_JS, install

    for name, roots in _every_page_built():
        assert not any(isinstance(m, ReactiveESM) for r in roots for m in r.references()), name
    install()
    doc = Document()
    app.build_page("cluster").server_doc(doc)

    def bundle():
        return panel_server.bundle_resources(doc.roots, Resources(mode="server", root_url="/"))

    monkeypatch.delenv("NEPHLAB_BOKEH_CSS_VISUALS", raising=False)
    b = bundle()
    files = [str(f) for f in b.js_files]
    assert any("bokeh.min.js" in f for f in files) and not any(ESM_SHIM in f for f in files), files
    assert b.js_raw.count(SKIP_CSS_VISUALS_JS) == 1
    html = b._render_js()  # the script tags of the page, in their order
    assert html.index("panel.min.js") < html.index("_get_css_value")  # runs once BokehJS and Panel loaded
    monkeypatch.setenv("NEPHLAB_BOKEH_CSS_VISUALS", "1")
    assert SKIP_CSS_VISUALS_JS not in bundle().js_raw


def test_websocket_origins_are_restricted_to_the_served_address():
    assert app.websocket_origins("127.0.0.1", 5006) == ["127.0.0.1:5006", "localhost:5006"]
    assert app.websocket_origins("10.0.0.5", 80) == ["10.0.0.5:80"]
    server = app.serve(port=0, show=False, start=False, warm=False)
    try:
        assert server.address == "127.0.0.1"
        assert server._tornado.websocket_origins == {f"127.0.0.1:{server.port}", f"localhost:{server.port}"}
    finally:
        server.stop()
    with pytest.raises(ValueError, match="port"):
        app.serve(port=70000, show=False, start=False)


def test_serve_command_line():
    assert "serve" in [c.name for c in all_commands()]
    assert main(["serve", "--help"]) == 0
    assert main(["serve", "--port", "99999", "--no-show"]) == 2
    assert main(["serve", "--basic-auth", "secret", "--no-show"]) == 2  # needs --cookie-secret


def test_nephlab_serve_answers_http():
    with served_app() as url:
        for route in ("/", "/lindblad", "/cluster"):
            with urllib.request.urlopen(url + route, timeout=300) as r:
                body = r.read().decode()
            assert r.status == 200 and "bokeh" in body.lower()


def test_plain_panel_serve_runs_the_app_module():
    port = free_port()
    cmd = [sys.executable, "-m", "panel", "serve", str(ROOT / "widgets" / "app.py"), "--port", str(port),
           "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}", "--liveness"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # wait on readiness (liveness answers without building a session), then give the page,
        # which builds one, the test's budget rather than a short fixed timeout
        wait_for_http(f"http://127.0.0.1:{port}/liveness", timeout=180, proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/app?page=lindblad", timeout=480) as r:
            body = r.read().decode()
        assert r.status == 200 and "Traceback" not in body and "bokeh" in body.lower()
    finally:  # a throwaway test server: nothing to flush
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


# --- jobs ---------------------------------------------------------------------------------------

class _Echo(Component):
    def main(self):
        return pn.pane.Str("echo")


def test_job_streams_throttled_and_cancels(monkeypatch):
    # a fake clock that only the work advances (1/64 s per emit; exact in binary), so the
    # throttle's decisions do not depend on how fast this machine runs the loop
    now = [0.0]
    monkeypatch.setattr(Job, "_clock", staticmethod(lambda: now[0]))
    c = _Echo()
    c.rate_hz = 16.0  # at most one update per 4/64 s
    got = []
    emitted = threading.Event()

    def work(ctx):
        for i in range(100):
            now[0] += 1 / 64
            ctx.emit(i, progress=i / 100)
        emitted.set()
        while True:  # until cancelled
            ctx.check()
            time.sleep(0.001)

    job = c.start_job(work, on_update=got.append)
    assert c.running
    assert emitted.wait(60)
    with pytest.raises(RuntimeError, match="already running"):
        c.start_job(lambda ctx: None)
    c.cancel()
    with pytest.raises(Cancelled):
        job.wait(timeout=120)
    assert not c.running and c.status == "cancelled"
    # 100 emits over 100/64 s at <= 16 Hz: the first, then every 4th (no UI loop here, so each
    # update is applied at once and none is coalesced away), in order, never a backlog
    assert got == list(range(0, 100, 4)), got
    assert c.updates == len(got) == 25


def test_job_errors_reach_the_status_and_wait():
    c = _Echo()

    def boom(ctx):
        raise ValueError("gamma must be > 0")

    with pytest.raises(ValueError, match="gamma"):
        c.run_sync(boom)
    assert c.status == "error: ValueError: gamma must be > 0" and not c.running
    with pytest.raises(ValueError, match="rate_hz"):
        Job(lambda ctx: 1, rate_hz=0)
    with pytest.raises(TypeError, match="work"):
        Job(42)


def test_component_works_as_ipywidget_and_in_a_document():
    c = _Echo()
    assert type(pn.ipywidget(c)).__name__ == "BokehModel"
    assert pn.panel(c).get_root(Document()) is not None


# --- controls -----------------------------------------------------------------------------------

def test_controls_from_a_spec_match_bounds_units_and_choices():
    spec = TaskSpec("demo", "demo", (
        Param("x", "float", 0.5, "x", units="energy", minimum=0.0, maximum=2.0),
        Param("g", "float", 0.1, "rate", units="1/time", minimum=0.0, exclusive_minimum=True),
        Param("k", "int", 3, "count", minimum=1, maximum=9, exclusive_maximum=True),
        Param("mode", "str", "a", "mode", choices=("a", "b")),
        Param("flag", "bool", False, "flag"),
        Param("label", "str", "hi", "text"),
    ))
    ctl = controls_from_spec(spec)
    assert [type(w).__name__ for w in ctl.values()] == ["FloatInput", "FloatInput", "IntInput", "Select",
                                                         "Checkbox", "TextInput"]
    # no start/end: the browser would clamp an out-of-range entry silently; bounds are in the tooltip
    assert (ctl["x"].start, ctl["x"].end, ctl["x"].label) == (None, None, "x [energy]")
    assert ctl["x"].description == "x; allowed: 0 <= x <= 2 [energy]"
    assert ctl["g"].description == "rate; allowed: g > 0 [1/time]"
    assert (ctl["k"].start, ctl["k"].end, ctl["k"].description) == (None, None, "count; allowed: 1 <= k < 9")
    assert ctl["mode"].options == ["a", "b"]
    assert "nl-param-x" in ctl["x"].css_classes
    ctl["g"].value = 0.0
    with pytest.raises(ValueError, match="'g'"):
        control_values(spec, ctl)
    ctl["g"].value = 0.3
    assert control_values(spec, ctl)["g"] == 0.3
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        controls_from_spec(spec, ["nope"])
    # the lindblad task by name
    lctl = controls_from_spec("lindblad", ["gamma", "method"])
    assert list(lctl) == ["gamma", "method"] and lctl["gamma"].label == "gamma [1/time]"
    p = param_for(get_task("lindblad").spec.param("gamma"))
    assert p.bounds == (0.0, None) and p.inclusive_bounds == (False, True)


# --- exporters ----------------------------------------------------------------------------------

def test_exporters_validate_and_write(tmp_path):
    import imageio.v3 as iio
    import xarray as xr
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    assert export_figure(fig, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in export_figure(fig, tmp_path / "f.svg").read_bytes()[:2000]
    with pytest.raises(ValueError, match="suffixes"):
        export_figure(fig, tmp_path / "f.jpg")
    with pytest.raises(TypeError, match="matplotlib Figure"):
        export_figure(object(), tmp_path / "f.png")
    ds = xr.Dataset({"y": ("t", np.arange(4.0))})
    assert xr.load_dataset(export_dataset(ds, tmp_path / "d.nc"), engine="h5netcdf").y.values.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="complex"):
        export_dataset(xr.Dataset({"z": ("t", np.ones(2, complex))}), tmp_path / "c.nc")
    frames = np.random.default_rng(0).random((5, 15, 17, 3))
    gif = export_animation(frames, tmp_path / "a.gif", fps=5)
    assert iio.imread(gif, index=None).shape[:3] == (5, 15, 17)
    mp4 = export_animation(frames, tmp_path / "a.mp4", fps=5)  # odd sizes are padded for H.264
    import imageio_ffmpeg

    assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == 5
    with pytest.raises(ValueError, match=r"frames\[0\]"):
        export_animation(frames * 2, tmp_path / "b.gif")
    with pytest.raises(ValueError, match="empty"):
        export_animation([], tmp_path / "b.gif")
    with pytest.raises(ValueError, match="fps"):
        export_animation(frames, tmp_path / "b.gif", fps=0)


def test_serve_forgets_closed_sessions_within_seconds_and_has_liveness():
    """Bokeh ignores misspelt server options silently: check the values the server really uses.
    (A closed page's session ends at the next 1 s check through ``on_departure``; the 30 s
    lifetime is for pages whose websocket has not connected yet.)"""
    server = app.serve(port=0, show=False, start=False, warm=False)
    try:
        t = server._tornado
        assert t._check_unused_sessions_milliseconds == 1000
        assert t._unused_session_lifetime_milliseconds == app.UNCONNECTED_LIFETIME_MS == 30_000
        patterns = []

        def walk(router):
            for rule in router.rules:
                regex = getattr(rule.matcher, "regex", None)
                if regex is not None:
                    patterns.append(regex.pattern)
                if hasattr(rule.target, "rules"):
                    walk(rule.target)

        walk(t.default_router)
        assert "/liveness$" in patterns, patterns
    finally:
        server.stop()


def test_warm_in_background_runs_at_a_lower_priority():
    import os

    from nephlab.widgets.app import warm_in_background

    before = os.getpriority(os.PRIO_PROCESS, 0)
    t = warm_in_background(["cluster"], nice=5, log=False)
    t.join(timeout=600)
    assert not t.is_alive()
    assert sorted(t.result) == ["cluster"] and t.result["cluster"] >= 0
    assert t.niceness == min(before + 5, 19)  # the thread's own nice value (Linux)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the server's own threads keep theirs
    for bad in (-1, 20, 2.0, True):
        with pytest.raises(ValueError, match=r"nice must be an int in \[0, 19\]"):
            warm_in_background(["cluster"], nice=bad)


def test_heap_freezer_waits_for_the_open_sessions():
    import gc

    from nephlab.widgets._heap import HeapFreezer

    class Doc:
        def on_session_destroyed(self, cb):
            self.end = cb

    later = []
    f = HeapFreezer(schedule=lambda delay, fn: later.append((delay, fn)), delay_s=0.5)
    a, b = Doc(), Doc()
    f.session_started(a)
    f.session_started(b)
    try:
        assert f.request() is False and f.pending and f.live == 2 and f.frozen == 0
        a.end(None)
        assert later == [] and f.frozen == 0  # one session still open
        b.end(None)
        assert [d for d, _ in later] == [0.5]
        assert later[0][1]() is True and f.frozen == 1 and not f.pending and gc.get_freeze_count() > 0
        assert f.request() is True and f.frozen == 2  # no session open: at once
        c = Doc()
        f.session_started(c)
        c.end(None)
        assert len(later) == 1  # no freeze pending: nothing scheduled
    finally:
        gc.unfreeze()
    with pytest.raises(ValueError, match="delay_s"):
        HeapFreezer(delay_s=-1)


def test_serve_freezes_the_heap_and_pages_count_their_sessions(monkeypatch):
    import gc
    import weakref

    from bokeh.document import Document
    from bokeh.server.contexts import BokehSessionContext
    from panel.io.state import set_curdoc

    from nephlab.widgets._heap import HeapFreezer

    class Request:  # what Panel reads from a session's request
        arguments: dict = {}
        cookies: dict = {}
        headers: dict = {}
        protocol, host, uri, path = "http", "localhost", "/", "/"

    f = HeapFreezer(schedule=lambda delay, fn: fn())
    monkeypatch.setattr(app, "FREEZER", f)
    server = app.serve(port=0, show=False, start=False, warm=False, freeze=True)
    try:
        assert f.frozen == 1 and gc.get_freeze_count() > 0
        doc = Document()
        ctx = BokehSessionContext("test", None, doc)
        ctx._request = Request()
        doc._session_context = weakref.ref(ctx)
        with set_curdoc(doc):
            app.routes()["cluster"]()
        assert f.live == 1
        assert f.request() is False  # a session is open
        for cb in doc.session_destroyed_callbacks:
            cb(ctx)
        assert f.live == 0 and f.frozen == 2
    finally:
        server.stop()
        gc.unfreeze()
    server = app.serve(port=0, show=False, start=False, warm=False, freeze=False)
    server.stop()
    assert f.frozen == 2


# --- lean sessions: Bokeh's development checks (nephlab.widgets._lean) ---------------------------

def test_every_page_document_validates_clean():
    """Served sessions skip Bokeh's document validation (``_lean.install``): the pages' documents
    are checked here instead. No error; no warning but EMPTY_LAYOUT, which Panel's server silences
    (the boxes of hidden controls and the unopened lazy cards are empty on purpose)."""
    from bokeh.core.validation.check import check_integrity
    from panel.io.state import set_curdoc

    for name in app.PAGES:
        if importlib.util.find_spec(app.PAGES[name][1].split(":")[0]) is None:
            continue
        doc = Document()
        with set_curdoc(doc):
            app.build_page(name).server_doc(doc)
        issues = check_integrity(list(doc.models))
        assert issues.error == [], (name, issues.error)
        assert {w.name for w in issues.warning} <= {"EMPTY_LAYOUT"}, (name, issues.warning)


def test_lean_install_turns_bokehs_checks_off_unless_the_environment_sets_them():
    code = "from nephlab.widgets import _lean; print(_lean.install(), _lean.install() is _lean.install())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOKEH_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("{'perform_document_validation': False, 'perform_error_diagnostics': False} "
                           "True")
    env["BOKEH_VALIDATE_DOC"] = "true"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith("{'perform_document_validation': True, 'perform_error_diagnostics': False}")
