"""The base component: controls from specs with visible errors and model-dependent visibility,
keyed jobs, session clean-up, and UI callbacks on the Jupyter kernel's IO loop."""

from __future__ import annotations

import importlib
import textwrap
import threading
import time

import panel as pn
import pytest
from conftest import in_ci

from nephlab.tasks import Param, TaskSpec
from nephlab.widgets._base import Cancelled, Component
from nephlab.widgets._controls import param_for

SPEC = TaskSpec("demo", "demo task", (
    Param("model", "str", "a", "model", choices=("a", "b")),
    Param("n", "int", 10, "levels", minimum=2, maximum=40),
    Param("x", "float", 1.0, "read by model a only", units="energy", when=(("model", ("a",)),)),
))


class Demo(Component):
    model = param_for(SPEC.param("model"))
    n = param_for(SPEC.param("n"))
    x = param_for(SPEC.param("x"))

    def __init__(self, **params):
        super().__init__(**params)
        self.spec_controls(SPEC)
        self.released = 0

    def sidebar(self):
        return self.control_views()

    def main(self):
        return pn.pane.Str("plots")

    def release(self):
        self.released += 1


def test_spec_controls_link_both_ways_and_are_registered():
    d = Demo()
    assert list(d.controls) == ["model", "n", "x"]
    assert all(d.control_specs[k] == (SPEC, SPEC.param(k)) for k in d.controls)
    d.controls["n"].value = 12
    assert d.n == 12
    d.n = 7
    assert d.controls["n"].value == 7


def test_a_refused_value_is_shown_next_to_the_control_and_in_the_status_never_reverted():
    d = Demo()
    d.controls["n"].value = 50
    assert d.n == 10, "the component keeps its last valid value"
    assert d.controls["n"].value == 50, "the widget keeps what the user typed"
    line = d._error_lines["n"]
    assert line.visible and "'n' = 50 is out of range; allowed: 2 <= n <= 40" in line.object
    assert "nl-error-n" in line.css_classes
    assert "out of range" in d.error and d.status.startswith("error:")
    d.controls["n"].value = 20
    assert d.n == 20 and d.error == "" and not line.visible and d.status == "idle"


def test_only_the_parameters_of_the_chosen_model_are_visible():
    d = Demo()
    assert d.controls["x"].visible
    d.controls["model"].value = "b"
    assert not d.controls["x"].visible and d.controls["n"].visible
    d.model = "a"
    assert d.controls["x"].visible


def test_a_box_holds_its_control_only_while_it_applies_and_its_error_line_once_needed():
    """Fewer models per page: a control that does not apply, and the error line of a control that
    never had an error, are not in the layout (nor in the Bokeh document); both appear when needed."""
    from bokeh.document import Document

    d = Demo()
    boxes = dict(zip(d.controls, d.control_views()))
    assert [type(o).__name__ for o in boxes["n"].objects] == ["IntInput"] and "n" not in d._error_lines
    d.controls["model"].value = "b"
    assert boxes["x"].objects == [] and not boxes["x"].visible
    d.controls["n"].value = 50  # refused: the error line is built and shown under the control
    line = d._error_lines["n"]
    assert boxes["n"].objects[0] is d.controls["n"] and boxes["n"].objects[1] is line and line.visible
    root = pn.Column(*boxes.values()).get_root(Document())
    classes = {c for m in root.references() for c in (getattr(m, "css_classes", None) or [])}
    assert "nl-error-n" in classes and "nl-param-n" in classes
    assert "nl-param-x" not in classes and "nl-error-model" not in classes
    d.model = "a"  # x applies again: its widget is back in its box, linked as before
    assert boxes["x"].objects[0] is d.controls["x"] and boxes["x"].visible
    d.controls["x"].value = 2.5
    assert d.x == 2.5


def test_help_is_a_plain_text_tooltip_and_lazy_cards_build_once():
    from bokeh.document import Document

    from nephlab.widgets._base import lazy_card

    d = Demo()
    model = d.controls["n"].get_root(Document())
    assert model.description == "levels; allowed: 2 <= n <= 40"  # a str: no Tooltip/HTML models
    calls = []
    card = lazy_card("more", lambda: calls.append(1) or [pn.pane.Str("inside")], css_classes=["nl-more"])
    assert card.collapsed and card.objects == [] and calls == []
    card.collapsed = False
    card.collapsed = True
    card.collapsed = False
    assert calls == [1] and card[0].object == "inside"
    assert lazy_card("open", lambda: [pn.pane.Str("x")], collapsed=False).objects[0].object == "x"
    with pytest.raises(TypeError, match="build must be a callable"):
        lazy_card("bad", [pn.pane.Str("x")])


def test_cross_parameter_errors_are_reported():
    spec = TaskSpec("pair", "pair", (Param("lo", "float", 0.0, "lo"), Param("hi", "float", 1.0, "hi")),
                    check=lambda p: None if p["lo"] < p["hi"] else (_ for _ in ()).throw(
                        ValueError("task 'pair': allowed: lo < hi")))

    class Pair(Component):
        lo = param_for(spec.param("lo"))
        hi = param_for(spec.param("hi"))

        def main(self):
            return pn.pane.Str("")

    c = Pair(lo=2.0)
    with pytest.raises(ValueError, match="lo < hi"):
        c.spec_values(spec)
    assert "lo < hi" in c.error


def test_keyed_jobs_run_together_and_cancel_together():
    d = Demo()
    gate = threading.Event()

    def slow(ctx):
        while not gate.is_set():
            ctx.check()
            time.sleep(0.01)
        return "ok"

    a = d.start_job(slow, key="main")
    b = d.start_job(slow, key="references")
    assert d.running and set(d.jobs) == {"main", "references"}
    with pytest.raises(RuntimeError, match="'references' job is already running"):
        d.start_job(slow, key="references")
    d.cancel(key="main")
    with pytest.raises(Cancelled):
        a.wait(10)
    assert d.running, "the references job still runs"
    gate.set()
    assert b.wait(10) == "ok"
    assert not d.running


def test_close_cancels_every_job_and_releases():
    d = Demo()
    jobs = [d.start_job(lambda ctx: [ctx.check() or time.sleep(0.01) for _ in range(10**6)], key=k)
            for k in ("main", "references")]
    d.close()
    for j in jobs:
        with pytest.raises(Cancelled):
            j.wait(10)
    assert d.released == 1 and not d.running
    with pytest.raises(RuntimeError, match="was closed"):
        d.start_job(lambda ctx: None)


def test_the_page_template_and_the_notebook_layout_hold_the_same_parts():
    d = Demo()
    page = d.page("demo")
    assert type(page).__name__ == "LocalVanilla" and "nl-theme-switch" in page.header[-1].css_classes
    assert len(page.sidebar) == 1 and len(page.sidebar[0]) == 3 and "nl-status-area" in page.main[0][0].css_classes
    row = d.__panel__()
    assert "nl-sidebar" in row[0].css_classes and "nl-status-area" in row[1][0].css_classes


@pytest.mark.slow
def test_in_a_kernel_ui_callbacks_run_on_the_kernel_loop_thread():
    """A real IPython kernel: updates and results are applied on the thread of the kernel's IO
    loop (never the worker), both while a cell waits (run_sync) and after the cell returned."""
    jupyter_client = _ui_module("jupyter_client")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        code = textwrap.dedent('''
            import threading, time, panel as pn
            from nephlab.widgets._base import Component
            class C(Component):
                def main(self):
                    return pn.pane.Str("")
            c = C(); c.rate_hz = 1e9
            seen = []
            def work(ctx):
                for i in range(5):
                    ctx.emit(i)
                    time.sleep(0.01)
                return "r"
            r = c.run_sync(work, on_update=lambda p: seen.append(threading.get_ident()),
                           on_done=lambda r: seen.append(threading.get_ident()))
            main = threading.main_thread().ident
            print("SYNC", r, len(seen) >= 2 and set(seen) == {main})
            later = []
            job = c.start_job(lambda ctx: "x", on_done=lambda r: later.append(threading.get_ident()), key="bg")
        ''')
        first: list[str] = []
        reply = kc.execute_interactive(code, timeout=600,
                                       output_hook=lambda m: first.append(m["content"].get("text", "")))
        assert reply["content"]["status"] == "ok", reply["content"]
        assert "SYNC r True" in "".join(first), first
        out = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            res = kc.execute_interactive("print('LATER', later == [main])", timeout=300,
                                         output_hook=lambda m: out.append(m["content"].get("text", "")))
            assert res["content"]["status"] == "ok"
            if "LATER True" in "".join(out):
                break
            out.clear()
            time.sleep(0.2)
        assert "LATER True" in "".join(out), out
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_on_main_loop_runs_on_the_main_thread_or_hands_over_to_the_loop():
    from nephlab.widgets._jupyter import on_main_loop

    class Loop:  # records what it was handed, as IOLoop.add_callback would queue it
        def __init__(self):
            self.queued = []

        def add_callback(self, fn):
            self.queued.append(fn)

    loop, calls = Loop(), []
    f = on_main_loop(lambda x, y=0: calls.append((x, y, threading.current_thread().name)), loop=lambda: loop)
    assert on_main_loop(f, loop=lambda: loop) is f  # wrapped once
    f(1, y=2)  # on the main thread: at once
    assert calls == [(1, 2, "MainThread")] and not loop.queued
    t = threading.Thread(target=f, args=(3,), name="subshell")
    t.start(); t.join()
    assert len(calls) == 1 and len(loop.queued) == 1  # from another thread: queued, not run there
    assert f.handed_over == 1
    loop.queued.pop()()  # the loop runs it (here: on the main thread)
    assert calls[-1] == (3, 0, "MainThread")
    g = on_main_loop(lambda: calls.append("no loop"), loop=lambda: None)
    t = threading.Thread(target=g)
    t.start(); t.join()
    assert calls[-1] == "no loop"  # no kernel loop: runs where called
    with pytest.raises(TypeError, match="loop must be a callable"):
        on_main_loop(print, loop=None)


def _create_subshell(kc) -> str:
    """A new kernel subshell (``create_subshell_request`` on the control channel); its id."""
    kc.control_channel.send(kc.session.msg("create_subshell_request", {}))
    return kc.get_control_msg(timeout=60)["content"]["subshell_id"]


def _send_on_subshell(kc, sid: str, msg_type: str, content: dict) -> str:
    """Send a shell message on subshell ``sid``, as JupyterLab >= 4.4 does; its msg_id."""
    msg = kc.session.msg(msg_type, content)
    msg["header"]["subshell_id"] = sid
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def _send_comm_on_a_subshell(kc, n: int, *, target: str | None = None, comm_id: str | None = None,
                             data=lambda i: {"i": i}, sid: str | None = None) -> None:
    """As JupyterLab >= 4.4 does: send ``n`` comm messages (``data(i)``), all on a kernel subshell
    (``sid``, or a new one). With ``target``, the front end opens the comm first (Panel's client
    comms); with ``comm_id``, the kernel opened it (an ipywidget's)."""
    if (target is None) == (comm_id is None):
        raise ValueError("give target (a comm to open) or comm_id (a comm the kernel opened)")
    sid = sid or _create_subshell(kc)
    if target is not None:
        comm_id = "nl-test-" + target
        _send_on_subshell(kc, sid, "comm_open", {"comm_id": comm_id, "target_name": target, "data": {}})
    for i in range(n):
        _send_on_subshell(kc, sid, "comm_msg", {"comm_id": comm_id, "data": data(i)})


def _ui_module(name: str):
    """Import a module of the ``ui`` extra; skip without it, but fail under CI=true (which installs
    that extra), so that CI never passes these tests by skipping them."""
    try:
        return importlib.import_module(name)
    except ImportError:
        msg = f"{name} is not installed (pip install -e .[ui])"
        if in_ci():
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)


def _kernel_with_subshells(jupyter_client):
    """A started ipykernel and its client; skips (fails under CI=true) without subshells."""
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    info = kc.kernel_info(reply=True, timeout=60)["content"]
    if "kernel subshells" not in info.get("supported_features", []):
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        msg = f"this ipykernel ({info.get('implementation_version')}) has no subshells"
        if in_ci():  # CI installs the ipykernel that JupyterLab uses with subshells: test it
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)
    return km, kc


def _run_and_print(kc, code: str, marker: str) -> str:
    """Run ``code`` in the kernel; the first word its output prints after ``marker``."""
    out: list[str] = []
    reply = kc.execute_interactive(code, timeout=300, output_hook=lambda m: out.append(m["content"].get("text", "")))
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out).split(marker, 1)[1].split()[0]


def _seen_in_kernel(kc, n: int) -> list:
    """The kernel's list ``seen`` once it has ``n`` entries (or after 120 s)."""
    out: list[str] = []
    deadline, text = time.monotonic() + 120, ""
    while time.monotonic() < deadline:
        out.clear()
        kc.execute_interactive("print('SEEN', seen)", timeout=120,
                               output_hook=lambda m: out.append(m["content"].get("text", "")))
        text = "".join(out)
        if "SEEN" in text and text.count("(") >= n:
            break
        time.sleep(0.2)
    return eval(text.split("SEEN", 1)[1])  # noqa: S307 - our own printed list


@pytest.mark.slow
@pytest.mark.parametrize("serialized", [True, False], ids=["nephlab", "pyviz_comms-as-is"])
def test_in_a_kernel_with_subshells_panel_comm_messages_run_on_the_main_thread(serialized):
    """A real ipykernel with subshells, sent comm messages the way JupyterLab >= 4.4 sends them
    (on a subshell per comm target). Panel's client comm handles them on the main thread, in
    order, once nephlab.widgets is imported; the control case without it shows the subshell
    thread (the cause of lost updates in JupyterLab: two threads changing one document)."""
    jupyter_client = _ui_module("jupyter_client")
    km, kc = _kernel_with_subshells(jupyter_client)
    try:
        setup = textwrap.dedent(f'''
            import threading
            from pyviz_comms import JupyterCommJS
            if {serialized!r}:
                import nephlab.widgets._base  # noqa: F401 - installs the serialization
            seen = []
            cc = JupyterCommJS(on_msg=lambda m: seen.append((m["i"], threading.current_thread() is threading.main_thread())))
            print("TARGET", cc.id)
        ''')
        target = _run_and_print(kc, setup, "TARGET")
        _send_comm_on_a_subshell(kc, 20, target=target)
        seen = _seen_in_kernel(kc, 20)
        assert [i for i, _ in seen] == list(range(20)), seen  # all arrived, in order
        on_main = {m for _, m in seen}
        assert on_main == ({True} if serialized else {False}), seen
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.slow
@pytest.mark.parametrize("serialized", [True, False], ids=["nephlab", "jupyter_bokeh-as-is"])
def test_in_a_kernel_with_subshells_a_component_shown_as_an_ipywidget_handles_its_messages_on_the_main_thread(
        serialized):
    """``pn.ipywidget(component)`` (VS Code, Colab; jupyter_bokeh's BokehModel): the kernel opens
    the widget's comm. ipykernel 7 routes the front end's messages on such a comm to the subshell
    that last sent on it: the main one, until code run on a subshell (JupyterLab's "New Subshell
    Console for Notebook" runs on one) touches the widget. From then on they are handled on
    that subshell's thread, beside the main loop's job updates. With nephlab.widgets imported
    they run on the main thread, in order; the control case without it shows the subshell."""
    jupyter_client = _ui_module("jupyter_client")
    _ui_module("jupyter_bokeh")
    km, kc = _kernel_with_subshells(jupyter_client)
    try:
        setup = textwrap.dedent(f'''
            import threading
            import panel as pn
            if {serialized!r}:
                import nephlab.widgets._base  # noqa: F401 - installs the serialization
            seen = []
            w = pn.ipywidget(pn.widgets.IntSlider(start=0, end=10, value=3))
            on_main = lambda: threading.current_thread() is threading.main_thread()
            w.on_msg(lambda _w, content, _b: seen.append((content["i"], on_main())))
            print("COMM", w.comm.comm_id)
        ''')
        comm_id = _run_and_print(kc, setup, "COMM")
        sid = _create_subshell(kc)  # a subshell console on the notebook's kernel sends on the widget's comm
        msg_id = _send_on_subshell(kc, sid, "execute_request", {
            "code": "w.send({'from': 'a subshell'})", "silent": False, "store_history": False,
            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        while True:
            reply = kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        assert reply["content"]["status"] == "ok", reply["content"]
        _send_comm_on_a_subshell(kc, 20, comm_id=comm_id, sid=sid,
                                 data=lambda i: {"method": "custom", "content": {"i": i}})
        seen = _seen_in_kernel(kc, 20)
        assert [i for i, _ in seen] == list(range(20)), seen  # all arrived, in order
        assert {m for _, m in seen} == ({True} if serialized else {False}), seen
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_defer_plots_keeps_the_first_and_restores_the_rest_in_place():
    from bokeh.plotting import figure

    from nephlab.widgets._base import defer_plots

    figs = [pn.pane.Bokeh(figure(height=100 + 10 * i)) for i in range(5)]
    hidden = pn.Column(figs[4])
    tabs = pn.Tabs(("a", pn.Column(figs[2])), ("b", hidden), dynamic=True)
    layout = pn.Column(pn.pane.Str("counter"), pn.GridBox(figs[0], figs[1], ncols=2), tabs, pn.Row(figs[3]))
    restore = defer_plots(layout, keep=1)
    grid, row = layout[1], layout[3]
    assert grid[0] is figs[0]  # the first plot in document order stays
    assert [type(x).__name__ for x in (grid[1], tabs[0][0], row[0])] == ["Spacer"] * 3
    assert [x.height for x in (grid[1], tabs[0][0], row[0])] == [110, 120, 130]  # same size as the plot
    assert hidden[0] is figs[4]  # an inactive dynamic tab renders when opened: left alone
    restore()
    assert (grid[1], tabs[0][0], row[0]) == (figs[1], figs[2], figs[3])
    assert defer_plots(pn.Column(figs[0]), keep=1) is None  # nothing to defer
    restore0 = defer_plots(pn.Column(figs[0]), keep=0)
    assert restore0 is not None
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match=r"keep must be an int >= 0 .* got"):
            defer_plots(layout, keep=bad)


def test_first_plots_from_the_environment():
    from nephlab.widgets._base import first_plots_from_env

    assert first_plots_from_env({}) == 1 and first_plots_from_env({"NEPHLAB_FIRST_PLOTS": " 3 "}) == 3
    assert first_plots_from_env({"NEPHLAB_FIRST_PLOTS": "ALL"}) is None
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(ValueError, match=r"NEPHLAB_FIRST_PLOTS=.*allowed are an integer >= 0"):
            first_plots_from_env({"NEPHLAB_FIRST_PLOTS": bad})


def test_live_text_sends_escaped_text_and_follows_its_params():
    import param

    from nephlab.widgets._base import live_text

    class P(param.Parameterized):
        a = param.Number(1.0)
        b = param.String("x")

    p = P()
    t = live_text(lambda a, b: f"{a} {b}", p.param.a, p.param.b, css_classes=["nl-status"])
    assert isinstance(t, pn.widgets.StaticText) and t.css_classes == ["nl-status"]
    assert t.value == "<pre>1.0 x</pre>"
    p.param.update(a=2.5, b="<i>&")
    assert t.value == "<pre>2.5 &lt;i&gt;&amp;</pre>"
    with pytest.raises(TypeError, match="render must be callable"):
        live_text("not a function", p.param.a)


def test_text_line_sends_only_its_escaped_text_on_a_change():
    from bokeh.document import Document

    from nephlab.widgets._base import TextLine

    line = TextLine("θ(0) = 0", css_classes=["nl-theta-summary"], sizing_mode="stretch_width")
    assert isinstance(line, pn.widgets.StaticText) and line.text == "θ(0) = 0"
    doc = Document()
    model = line.get_root(doc)
    doc.add_root(model)
    assert model.text == "<pre>θ(0) = 0</pre>" and "nl-theta-summary" in model.css_classes
    changed = []
    doc.on_change(lambda ev: changed.append(getattr(ev, "attr", type(ev).__name__)))
    line.text = "a < b & c"
    assert model.text == "<pre>a &lt; b &amp; c</pre>" and line.text == "a < b & c"
    assert changed == ["text"]  # one message: the new text
    with pytest.raises(TypeError, match="not `value`"):
        TextLine(value="<b>x</b>")


def test_departure_hooks_refuse_a_non_callable_and_ignore_a_document_without_a_session():
    from bokeh.document import Document

    from nephlab.widgets._sessions import _check, has_left, on_departure

    doc, seen = Document(), []
    with pytest.raises(TypeError, match="fn must be callable"):
        on_departure(doc, None)
    on_departure(doc, lambda: seen.append(1))
    import weakref

    _check(weakref.ref(doc))  # what a ConnectionLost event schedules: no server session, so no departure
    assert not has_left(doc) and seen == []
    assert has_left(42) is False
