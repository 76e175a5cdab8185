"""Notebooks 01-03 in a real JupyterLab, in headless Chromium, with the network blocked.

One JupyterLab server (``python -m jupyterlab``, token auth, its own settings/workspace/runtime
folders, ``root_dir`` = a temporary copy of ``notebooks/``) serves the module; it is ready when
its ``/api/status`` endpoint answers. Each test opens one notebook in a fresh browser context
whose every request to anything but that server is aborted (and recorded: an attempted CDN load
fails the test), runs all cells through the Run menu, waits until every code cell has an
execution count and the kernel is idle, then checks the dashboard in the last cell:

- it draws plots: Bokeh plot views exist and their canvases are not blank, and the plots carry
  the components' documented DOM hooks (``nl-entropy``, ``nl-protocol-figure``, ``nl-theta``,
  ...: a CSS class on or around the plot, or the Bokeh model name);
- one interaction changes a plot (fingerprint of the plot's pixels and of its data sources,
  read through BokehJS): Run after a change of gamma in the Lindblad explorer (01; every time
  series then holds n_times points in time order, each drawn once); a mouse drag of a control
  point with the PointDrawTool in the protocol designer, after its four reference curves
  arrived without any edit (02); a model switch, then a cloning run in the large-deviation
  explorer (03);
- no cell raised, the browser console shows no errors ('Invalid field', failed resource loads,
  uncaught exceptions), and no traceback appeared in the dashboard's output.

Every wait is on a condition with a generous budget (the CI machine may be loaded); nothing
asserts on timing. Each test prints its timings. With ``NEPHLAB_SCREENSHOTS=DIR`` set, a PNG of
each dashboard is saved there (``jupyterlab-<notebook>.png``); a failing test keeps a full-page
screenshot in ``test-artifacts/``.

Run: ``pytest -p no:cacheprovider tests/test_jupyterlab.py -s`` (marked ``ui`` and ``slow``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import ui_helpers  # tests/ui_helpers.py
from conftest import in_ci

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SERVER_BUDGET_S = 180.0  # JupyterLab answering /api/status
KERNEL_BUDGET_S = 180.0  # notebook open, kernel started and idle
RUN_ALL_BUDGET_S = 2400.0  # all cells of one notebook executed (a loaded 2-core machine)
UI_BUDGET_S = 600.0  # one interaction's effect (includes first-call JAX compilation)

# JupyterLab settings for a quiet, deterministic browser session: every cell in the DOM (no
# windowing), no news/update checks (they would try the internet).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Helpers installed in the page. Panel renders into shadow roots: walk them.
HELPERS_JS = r"""
() => {
  const up = (el) => el.parentElement || (el.getRootNode && el.getRootNode().host) || null;
  window.__nl_classes = (el) => {
    const out = [];
    for (let e = el; e != null; e = up(e))
      for (const c of (e.classList || [])) if (c.startsWith('nl-')) out.push(c);
    return out;
  };
  window.__nl_deep = (sel, root = document) => {
    const e = root.querySelector(sel); if (e) return e;
    for (const x of root.querySelectorAll('*'))
      if (x.shadowRoot) { const r = window.__nl_deep(sel, x.shadowRoot); if (r) return r; }
    return null;
  };
  const text_of = (node) => {  // visible text, through shadow roots, without <style> contents
    let t = '';
    if (node.shadowRoot) t += text_of(node.shadowRoot);
    for (const c of node.childNodes) {
      if (c.nodeType === 3) t += c.textContent;
      else if (c.nodeType === 1 && !['STYLE', 'SCRIPT', 'LINK'].includes(c.tagName)) t += text_of(c);
    }
    return t;
  };
  window.__nl_text = (sel) => { const e = window.__nl_deep(sel); return e ? text_of(e) : null; };
  const hash = (h, x) => Math.imul(h ^ x, 16777619) >>> 0;
  const data_sig = (view) => {
    // fingerprint of every data source the plot draws: column lengths and values
    let h = 2166136261, rows = 0, nonempty = 0;
    for (const r of view.model.renderers || []) {
      const src = r.data_source; if (src == null || src.data == null) continue;
      const data = src.data instanceof Map ? Object.fromEntries(src.data) : src.data;
      let n = 0;
      for (const [k, col] of Object.entries(data)) {
        const arr = Array.from(col || []).flat(3);
        n = Math.max(n, arr.length);
        h = hash(h, arr.length);
        for (let i = 0; i < arr.length; i += Math.max(1, Math.floor(arr.length / 4096))) {
          const v = arr[i];
          h = hash(h, typeof v === 'number' && isFinite(v) ? Math.round(v * 1e6) | 0 : String(v).length);
        }
      }
      rows += n; if (n > 0) nonempty++;
    }
    return {h, rows, nonempty};
  };
  const pixels = (view) => {
    // what the plot draws now (its export canvas: the same paint as on screen)
    const canvas = view.export('png').canvas;
    const {width, height} = canvas;
    if (!width || !height) return {h: 0, colors: 0, width, height};
    const px = canvas.getContext('2d').getImageData(0, 0, width, height).data;
    let h = 2166136261; const colors = new Set();
    for (let i = 0; i < px.length; i += 4) {
      const c = (px[i] << 24) | (px[i + 1] << 16) | (px[i + 2] << 8) | px[i + 3];
      h = hash(h, c); if (colors.size < 64) colors.add(c);
    }
    return {h, colors: colors.size, width, height};
  };
  window.__nl_plots = () => {
    if (!window.Bokeh || !Bokeh.index) return [];
    const out = [];
    for (const view of Bokeh.index.all_views()) {
      if (view.frame == null || view.canvas_view == null || typeof view.export !== 'function') continue;
      if (!view.el.isConnected) continue;
      const d = data_sig(view), p = pixels(view);
      const title = view.model.title && typeof view.model.title.text === 'string' ? view.model.title.text : '';
      out.push({id: view.model.id, name: view.model.name, title, classes: window.__nl_classes(view.el),
                data: d.h, rows: d.rows, nonempty: d.nonempty, pixels: p.h, colors: p.colors,
                width: p.width, height: p.height});
    }
    return out;
  };
  return true;
}
"""


# number of non-empty line series in the designer's figure (designer + references)
LINES_JS = r"""
() => {
  for (const doc of Bokeh.documents) {
    const fig = doc.get_model_by_name('nl-protocol-figure');
    if (fig == null) continue;
    let n = 0;
    for (const r of fig.renderers) {
      const g = r.glyph, src = r.data_source; if (g == null || src == null) continue;
      const data = src.data instanceof Map ? Object.fromEntries(src.data) : src.data;
      const kind = g.type || g.constructor.name;
      if (/MultiLine/.test(kind)) n += Array.from(data[g.xs && g.xs.field] || []).filter(a => a.length > 1).length;
      else if (/Line/.test(kind)) { const col = Object.values(data)[0] || []; if (col.length > 1) n += 1; }
    }
    return n;
  }
  return -1;
}
"""

# the x column of every visible line in the plots inside `.cls`: its length and whether it increases
SERIES_JS = r"""
(cls) => {
  window.__nl_plots();  // installs the helpers if needed
  const out = [];
  for (const view of Bokeh.index.all_views()) {
    if (view.frame == null || view.canvas_view == null) continue;
    if (!window.__nl_classes(view.el).includes(cls)) continue;
    for (const r of view.model.renderers || []) {
      const g = r.glyph, src = r.data_source;
      if (g == null || src == null || r.visible === false || !/^Line$/.test(g.type)) continue;
      const field = g.x && typeof g.x === 'object' ? g.x.field : null;
      if (field == null) continue;
      const data = src.data instanceof Map ? Object.fromEntries(src.data) : src.data;
      const x = Array.from(data[field] || []);
      let increasing = true;
      for (let i = 1; i < x.length; i++) if (!(x[i] > x[i - 1])) { increasing = false; break; }
      out.push({cls, field, n: x.length, increasing});
    }
  }
  return out;
}
"""

STATUS_JS = "() => window.__nl_text('.nl-status')"
ERROR_PATTERNS = re.compile(r"Invalid field|Failed to load resource|net::ERR|Refused to|Uncaught|is not defined|"
                            r"Set changed size during iteration|Traceback", re.I)


# ---- the server -----------------------------------------------------------------------------------
@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(self.url + path, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel (frees the machine for the next notebook)."""
        with contextlib.suppress(Exception):
            for s in self.api("/api/sessions") or []:
                with contextlib.suppress(Exception):
                    self.api(f"/api/sessions/{s['id']}", method="DELETE")


def _wait_for_status(url: str, token: str, proc: subprocess.Popen, budget: float) -> float:
    """Poll ``/api/status`` (authenticated) until it answers 200; return the seconds waited."""
    t0 = time.monotonic()
    req = urllib.request.Request(url + "/api/status", headers={"Authorization": f"token {token}"})
    last: Exception | None = None
    while time.monotonic() - t0 < budget:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                if r.status == 200 and "started" in json.loads(r.read()):
                    return time.monotonic() - t0
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"{url}/api/status did not answer within {budget} s (last error: {last!r})")


@contextlib.contextmanager
def jupyterlab(tmp: Path) -> Iterator[Lab]:
    """A JupyterLab server on a free local port, serving a copy of ``notebooks/``."""
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    settings = tmp / "lab-settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value), encoding="utf-8")
    env = dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "lab-workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    port, token = ui_helpers.free_port(), os.urandom(16).hex()
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--allow-root",
        "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = tmp / "jupyterlab.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=str(tmp), env=env,
                                start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        try:
            secs = _wait_for_status(lab.url, token, proc, SERVER_BUDGET_S)
        except Exception:
            print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
            raise
        print(f"\n[jupyterlab] server ready in {secs:.1f} s")
        yield lab
    finally:
        ui_helpers.stop_process_group(proc, grace=30.0)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if importlib.util.find_spec("jupyterlab") is None:
        msg = "jupyterlab is not installed (pip install -e .[ui])"
        if in_ci():
            pytest.fail(f"CI=true but {msg}", pytrace=False)
        pytest.skip(msg)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nephlab-jlab-") as tmp:
        with jupyterlab(Path(tmp)) as server:
            yield server
    print(f"\n[jupyterlab] module total {time.monotonic() - t0:.1f} s")


# ---- the browser ----------------------------------------------------------------------------------
@dataclass
class Session:
    page: object
    lab: Lab
    notebook: str
    blocked: list[str]
    console: list[str]


@contextlib.contextmanager
def notebook_session(lab: Lab, notebook: str) -> Iterator[Session]:
    """A fresh, offline browser context for one notebook; a full-page screenshot in
    ``test-artifacts/`` if the block fails; the notebook's kernel is shut down after."""
    with ui_helpers.chromium_page(width=1500, height=1700, timeout_ms=60_000) as page:
        s = Session(page, lab, notebook, [], [])

        def route(r) -> None:
            url = r.request.url
            if url == lab.url or url.startswith(lab.url + "/"):
                r.continue_()
            else:  # the offline test: nothing but the local server may be reached
                s.blocked.append(url)
                r.abort("internetdisconnected")

        page.context.route("**/*", route)
        page.on("console", lambda m: s.console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: s.console.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: s.console.append(f"requestfailed: {r.url} ({r.failure})")
                if r.url.startswith(lab.url) and "/api/" not in r.url else None)
        try:
            with ui_helpers.screenshot_on_failure(page, f"jupyterlab-{Path(notebook).stem}"):
                try:
                    yield s
                except pytest.fail.Exception as e:  # say what the browser, the kernel and the server saw
                    raise pytest.fail.Exception(f"{e}\n{diagnose(s)}", pytrace=False) from None
        finally:
            lab.shutdown_kernels()


# What the kernel reports when a test fails: the stacks of its busy threads, and every nephlab
# component's state and jobs (a blocked IO loop shows here, or as no answer at all).
KERNEL_PROBE = r"""
import gc as _gc, sys as _sys, threading as _th, traceback as _tb
from nephlab.widgets._base import Component as _C
_nl_probe = []
_names = {t.ident: t.name for t in _th.enumerate()}
for _id, _fr in _sys._current_frames().items():
    _st = _tb.format_stack(_fr)
    if _id != _th.get_ident() and not any(w in _st[-1] for w in ("select", "poll", "proxy", "wait")):
        _nl_probe += ["--- thread " + str(_names.get(_id, _id)), "".join(_st[-6:])]
for _c in [o for o in _gc.get_objects() if isinstance(o, _C)]:
    _f = {k: getattr(_c, k, None) for k in ("status", "running", "progress", "updates", "error", "n_done", "time_index")}
    _nl_probe.append(f"{type(_c).__name__} {_f}")
    for _k, _j in getattr(_c, "_jobs", {}).items():
        _nl_probe.append(f"  job {_k}: done {_j.done}, thread alive {_j.thread is not None and _j.thread.is_alive()}, "
                         f"pending {len(_j._pending)}, updates {_j.n_updates}, error {_j.error!r}")
_nl_probe = "\n".join(_nl_probe)
"""


def kernel_eval(lab: Lab, code: str, expr: str, timeout: float = 60.0) -> list[tuple[str, str]]:
    """In each kernel of the server (a second client, over ZMQ): run ``code`` silently, then
    evaluate ``expr``; return ``[(kernel_id, repr of the value or what went wrong)]``. The value
    is read back as a user expression of the reply, not from the output."""
    from jupyter_client import BlockingKernelClient

    out: list[tuple[str, str]] = []
    runtime = lab.root.parent / "jupyter-runtime"
    for k in lab.api("/api/kernels") or []:
        client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{k['id']}.json"))
        client.load_connection_file()
        client.start_channels()
        try:
            msg_id = client.execute(code, silent=True, store_history=False, user_expressions={"v": expr})
            while True:
                reply = client.get_shell_msg(timeout=timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            c = reply["content"]
            v = c.get("user_expressions", {}).get("v", {})
            if c.get("status") != "ok":
                out.append((k["id"], f"the code raised {c.get('ename')}: {c.get('evalue')}"))
            elif v.get("status") != "ok":
                out.append((k["id"], f"{expr} raised {v.get('ename')}: {v.get('evalue')}"))
            else:
                out.append((k["id"], v.get("data", {}).get("text/plain", "")))
        except Exception as exc:  # noqa: BLE001 - a blocked kernel does not answer
            out.append((k["id"], f"the kernel did not answer within {timeout:.0f} s: {exc!r}"))
        finally:
            client.stop_channels()
    return out


def kernel_probe(lab: Lab) -> str:
    """What :data:`KERNEL_PROBE` finds in each kernel, with the kernel's execution state."""
    import ast

    states = {k["id"]: k for k in lab.api("/api/kernels") or []}
    lines = []
    for kid, text in kernel_eval(lab, KERNEL_PROBE, "_nl_probe"):
        k = states.get(kid, {})
        lines.append(f"kernel {kid}: {k.get('execution_state')}, last activity {k.get('last_activity')}")
        with contextlib.suppress(ValueError, SyntaxError):
            text = ast.literal_eval(text)
        lines.append(text[-8000:])
    return "\n".join(lines)


def diagnose(s: Session) -> str:
    """The status line, the browser's errors, the kernels' state and the server log's tail."""
    parts = []
    with contextlib.suppress(Exception):
        parts.append(f"status line: {s.page.evaluate(STATUS_JS)!r}")
    parts.append(f"browser errors: {s.console[-10:]}")
    try:
        parts.append(kernel_probe(s.lab))
    except Exception as exc:  # noqa: BLE001
        parts.append(f"kernel probe failed: {exc!r}")
    with contextlib.suppress(OSError):
        parts.append("jupyterlab.log (tail):\n" + s.lab.log.read_text(errors="replace")[-3000:])
    return "\n".join(parts)


def _until(what: str, fn: Callable[[], object], budget: float, page=None, every: float = 0.5) -> object:
    """Poll ``fn`` until it returns a truthy value; fail with ``what`` after ``budget`` seconds."""
    t0 = time.monotonic()
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() - t0 > budget:
            pytest.fail(f"{what}: not reached within {budget:.0f} s", pytrace=False)
        if page is not None:
            page.wait_for_timeout(every * 1000)
        else:
            time.sleep(every)


def _cell_errors(page) -> list[str]:
    texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return [t for t in texts if "Traceback" in t or re.search(r"^\w+(Error|Exception)\b", t, re.M)]


def run_all_cells(s: Session) -> float:
    """Open the notebook, wait for an idle kernel, Run > Run All Cells, wait until all ran."""
    page = s.page
    page.goto(f"{s.lab.url}/lab/tree/{s.notebook}?reset&token={s.lab.token}")
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=KERNEL_BUDGET_S * 1000)
    idle = page.get_by_text(re.compile(r"\|\s*Idle\s*$"))  # the status bar: "Python 3 (ipykernel) | Idle"
    idle.first.wait_for(timeout=KERNEL_BUDGET_S * 1000)
    page.evaluate(HELPERS_JS)
    t0 = time.monotonic()
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")

    def finished() -> bool:
        errors = _cell_errors(page)
        if errors:
            pytest.fail(f"{s.notebook}: a cell raised:\n{errors[0][-3000:]}", pytrace=False)
        texts = [t.strip() for t in prompts.all_inner_texts()]
        return bool(texts) and all(re.fullmatch(r"\[\d+\]:", t) for t in texts) and idle.count() > 0

    _until(f"{s.notebook}: all cells executed and the kernel idle", finished, RUN_ALL_BUDGET_S, page, every=1.0)
    # offline: loading Panel must not have needed the internet (with a CDN, the output stays empty)
    assert not s.blocked, f"{s.notebook}: the page tried to reach the internet (blocked): {s.blocked[:10]}"
    return time.monotonic() - t0


def dashboard(s: Session, marker: str):
    """The output area of the code cell whose output contains ``marker`` (a component's DOM hook)."""
    cell = s.page.locator(".jp-CodeCell", has=s.page.locator(marker)).last
    cell.wait_for(timeout=UI_BUDGET_S * 1000)
    out = cell.locator(".jp-Cell-outputArea").first
    out.scroll_into_view_if_needed()
    return out


def plots(s: Session, hook: str | None = None) -> list[dict]:
    """Fingerprints of the drawn Bokeh plots; with ``hook``, only those carrying that DOM hook
    (a CSS class on the plot or an element around it, or the plot's Bokeh model name)."""
    s.page.evaluate(HELPERS_JS)
    found = s.page.evaluate("() => window.__nl_plots()")
    return [p for p in found if hook is None or hook in p["classes"] or p["name"] == hook]


def require_hooks(s: Session, *hooks: str) -> None:
    """Fail at once (not after a budget) if a documented plot hook is missing from the page."""
    wait_for_plots(s, min_count=1)
    found = plots(s)
    missing = [h for h in hooks if not any(h in p["classes"] or p["name"] == h for p in found)]
    assert not missing, (f"{s.notebook}: no plot carries the DOM hook(s) {missing}; plots found "
                         f"(classes, name, title): {[(p['classes'], p['name'], p['title']) for p in found]}")


def wait_for_plots(s: Session, cls: str | None = None, *, min_count: int = 1, with_data: bool = False) -> list[dict]:
    """Wait until at least ``min_count`` plots are drawn (non-blank canvases, sized)."""

    def ready() -> list[dict]:
        ps = [p for p in plots(s, cls) if p["width"] > 0 and p["height"] > 0 and p["colors"] > 1]
        if with_data:
            ps = [p for p in ps if p["nonempty"] > 0]
        return ps if len(ps) >= min_count else []

    return _until(f"{s.notebook}: {min_count} drawn plot(s){' with data' if with_data else ''} in "
                  f"{cls or 'the notebook'}", ready, UI_BUDGET_S, s.page)


def idle_component(s: Session) -> bool:
    """No job running: every Cancel button of the base's status area is disabled."""
    return bool(s.page.evaluate(
        "() => { const bs = []; const walk = (r) => { for (const e of r.querySelectorAll('*')) {"
        " if (e.classList && e.classList.contains('nl-cancel')) { const b = (e.shadowRoot || e).querySelector('button');"
        " if (b) bs.push(b); } if (e.shadowRoot) walk(e.shadowRoot); } }; walk(document);"
        " return bs.every(b => b.disabled); }"))


def settled(s: Session, cls: str | None = None, budget: float = UI_BUDGET_S) -> list[dict]:
    """Wait until no job runs and the plots' fingerprints are the same on two polls in a row."""
    last: list[object] = [None]

    def stable() -> list[dict] | None:
        if not idle_component(s):
            last[0] = None
            return None
        ps = plots(s, cls)
        key = [(p["id"], p["data"], p["pixels"]) for p in ps]
        same = key == last[0]
        last[0] = key
        return ps if same and ps else None

    try:
        return _until(f"{s.notebook}: the dashboard settled", stable, budget, s.page, every=1.0)
    except pytest.fail.Exception as e:  # say what the browser saw
        status = s.page.evaluate("() => window.__nl_text && window.__nl_text('.nl-status')")
        pytest.fail(f"{e}; status {status!r}; browser errors: {s.console[-10:]}", pytrace=False)


def changed(before: list[dict], after: list[dict]) -> list[dict]:
    """The plots of ``after`` whose pixels and data both differ from the same plot in ``before``."""
    old = {p["id"]: p for p in before}
    return [p for p in after if p["id"] not in old
            or (p["pixels"] != old[p["id"]]["pixels"] and p["data"] != old[p["id"]]["data"])]


def check_clean(s: Session, out) -> None:
    """No blocked (non-local) request, no console error, no traceback in the dashboard output."""
    assert not s.blocked, f"{s.notebook}: the page tried to reach the internet (blocked): {s.blocked[:10]}"
    bad = [c for c in s.console if ERROR_PATTERNS.search(c) or c.startswith(("pageerror", "requestfailed"))]
    assert not bad, f"{s.notebook}: browser console errors: {bad[:10]}"
    text = out.inner_text()
    for needle in ("Traceback", "Set changed size during iteration", "Invalid field"):
        assert needle not in text, f"{s.notebook}: the dashboard output shows {needle!r}:\n{text[-3000:]}"


def save_screenshot(out, name: str) -> None:
    folder = os.environ.get("NEPHLAB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        out.screenshot(path=str(Path(folder) / f"jupyterlab-{name}.png"))


def report(notebook: str, **secs: float) -> None:
    print(f"\n[jupyterlab] {notebook}: " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in secs.items())
          + f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


# ---- the tests ------------------------------------------------------------------------------------
def set_number(s: Session, name: str, value: float) -> None:
    """Type ``value`` into the generated control of parameter ``name`` (``.nl-param-<name>``) and
    press Enter, as a user does. JupyterLab takes Enter in an output for its notebook shortcuts
    unless the output carries ``data-lm-suppress-shortcuts`` (set by the components'
    ``KeyboardScope``); without it the value would not reach the kernel and the test fails."""
    box = s.page.locator(f".nl-param-{name} input").first
    box.fill(str(value))
    box.press("Enter")


def test_lindblad_explorer_runs_in_jupyterlab(lab):
    t0 = time.monotonic()
    with notebook_session(lab, "01_lindblad_quickstart.ipynb") as s:
        run_all = run_all_cells(s)
        out = dashboard(s, ".nl-run")
        require_hooks(s, "nl-entropy", "nl-populations", "nl-expect")
        wait_for_plots(s, min_count=4)
        settled(s)  # the first paint (a background job) has arrived
        set_number(s, "gamma", 0.3)  # other physics than the first paint (the notebook's gamma = 0.1)
        box = s.page.locator(".nl-param-gamma input").first
        _until("01: the gamma control shows 0.3", lambda: float(box.input_value() or "nan") == 0.3, UI_BUDGET_S, s.page)
        error = s.page.evaluate("() => window.__nl_text('.nl-error-gamma')") or ""
        assert not error.strip(), f"01: gamma = 0.3 refused: {error!r}"
        before = settled(s)
        t1 = time.monotonic()
        s.page.locator(".nl-run button").first.click()

        def ran() -> list[dict]:
            if not idle_component(s):
                return []
            return changed(before, plots(s))

        moved = _until("01: the plots changed after Run", ran, UI_BUDGET_S, s.page)
        after = settled(s)
        interaction = time.monotonic() - t1
        with_data = [p for p in after if p["nonempty"] > 0 and p["colors"] > 1]
        assert len(with_data) >= 4, f"01: after Run only {len(with_data)} plots draw data: {after}"
        series_plots = ("nl-entropy", "nl-populations", "nl-expect")
        assert {c for p in moved for c in p["classes"]} & set(series_plots), (
            f"01: no time series changed with gamma after Run (changed: {[p['classes'][0] for p in moved]}; "
            f"gamma control {box.input_value()!r}; status {s.page.evaluate(STATUS_JS)!r})")
        # each time series is drawn once, in time order: n_times points, t increasing
        counter = s.page.evaluate("() => window.__nl_text('.nl-updates')") or ""
        m = re.search(r"points: (\d+)/(\d+)", counter)
        series = [x for cls in series_plots for x in s.page.evaluate(SERIES_JS, cls)]
        assert series, "01: found no time series in the entropy, populations and expectation plots"
        bad = [x for x in series if not x["increasing"] or (m and x["n"] != int(m.group(2)))]
        assert not bad, (f"01: time series drawn out of order or with the wrong number of points "
                         f"({counter.strip()!r}): {bad[:6]}")
        status = s.page.evaluate("() => window.__nl_text('.nl-status')") or ""
        assert "error" not in status.lower(), f"01: status after Run: {status!r}"
        check_clean(s, out)
        save_screenshot(out, "01_lindblad")
        report("01", run_all_cells=run_all, run_to_new_plots=interaction, total=time.monotonic() - t0)
        print(f"[jupyterlab] 01: {len(moved)} plots changed after Run: {[p['classes'][:1] or p['title'] for p in moved]}; "
              f"{len(series)} time series of {series[0]['n']} points; {counter.strip()!r}")
        # JupyterLab >= 4.4 sends comm messages on a kernel subshell: these were handed to the main loop
        (_, handed), = kernel_eval(lab, "import pyviz_comms", "pyviz_comms.JupyterCommJS._handle_msg.handed_over")
        assert handed.isdigit(), f"01: Panel's comm handler is not nephlab's (widgets._jupyter): {handed}"
        print(f"[jupyterlab] 01: {handed} comm messages arrived on a subshell thread and ran on the main loop")


def test_protocol_designer_drag_in_jupyterlab(lab):
    t0 = time.monotonic()
    with notebook_session(lab, "02_optimal_protocols.ipynb") as s:
        run_all = run_all_cells(s)
        out = dashboard(s, ".nl-work")
        require_hooks(s, "nl-protocol-figure")
        wait_for_plots(s, "nl-protocol-figure", min_count=1, with_data=True)
        # the four reference curves arrive from a background job, without any edit
        t1 = time.monotonic()
        n_lines = _until("02: the designer's figure shows the drawn protocol and its four reference curves",
                         lambda: (n := s.page.evaluate(LINES_JS)) >= 5 and n, UI_BUDGET_S, s.page)
        refs = time.monotonic() - t1
        before = settled(s)
        work_before = s.page.evaluate("() => window.__nl_text('.nl-work')")
        t2 = time.monotonic()

        def dragged() -> list[dict]:
            work = s.page.evaluate("() => window.__nl_text('.nl-work')")
            return changed(before, plots(s)) if work != work_before else []

        # lambda + 1.5; a gesture lost while JupyterLab scrolls or lays out is made again
        pt, _, _, drags = ui_helpers.drag_designer_point(s.page, 2, 1.5, dragged, budget_s=UI_BUDGET_S)
        after = settled(s)
        interaction = time.monotonic() - t2
        moved = s.page.evaluate(ui_helpers.DESIGNER_POINT_JS, 2)
        assert moved["lam"] > pt["lam"] + 0.5, f"02: the point did not move up: {pt} -> {moved}"
        assert changed(before, after), "02: no plot changed after the drag"
        check_clean(s, out)
        save_screenshot(out, "02_protocol")
        report("02", run_all_cells=run_all, references=refs, drag_to_new_work=interaction, total=time.monotonic() - t0)
        work_after = s.page.evaluate("() => window.__nl_text('.nl-work')")
        print(f"[jupyterlab] 02: {n_lines} line series; work {work_before!r} -> {work_after!r}; "
              f"lambda {pt['lam']:.3f} -> {moved['lam']:.3f} ({drags} drag(s))")


def test_large_deviation_explorer_in_jupyterlab(lab):
    t0 = time.monotonic()
    with notebook_session(lab, "03_large_deviations.ipynb") as s:
        run_all = run_all_cells(s)
        out = dashboard(s, ".nl-ld-model")
        require_hooks(s, "nl-theta", "nl-clone-plot")
        wait_for_plots(s, "nl-theta", min_count=1, with_data=True)
        before = settled(s)
        # 1. a model switch redraws theta(s)
        select = s.page.locator(".nl-ld-model select, .nl-param-model select").first
        current = select.input_value()
        options = [o for o in select.locator("option").evaluate_all("os => os.map(o => o.value)") if o != current]
        assert options, f"03: the model picker offers nothing but {current!r}"
        model = next((o for o in ("east", "fredrickson_andersen", "fa") if o in options), options[0])
        t1 = time.monotonic()
        select.select_option(model)
        _until(f"03: theta(s) redrawn for {model}", lambda: changed(before, plots(s, "nl-theta")), UI_BUDGET_S, s.page)
        switched = settled(s)
        switch = time.monotonic() - t1
        # 2. a cloning run draws its estimate
        run = s.page.locator(".nl-clone-run button").first
        if not run.is_visible():  # on a tab of its own
            s.page.locator(".bk-tab", has_text=re.compile("clon", re.I)).first.click()
            run.wait_for(state="visible", timeout=UI_BUDGET_S * 1000)
            switched = settled(s)
        t2 = time.monotonic()
        run.click()
        _until("03: the cloning plot changed after Run cloning",
               lambda: idle_component(s) and changed(switched, plots(s, "nl-clone-plot")), UI_BUDGET_S, s.page)
        after = settled(s)
        clone = time.monotonic() - t2
        cloned = [p for p in after if "nl-clone-plot" in p["classes"]]
        assert cloned and cloned[0]["nonempty"] > 0, f"03: the cloning plot draws no data: {cloned}"
        status = s.page.evaluate("() => window.__nl_text('.nl-status')") or ""
        assert "error" not in status.lower(), f"03: status after cloning: {status!r}"
        check_clean(s, out)
        save_screenshot(out, "03_largedev")
        report("03", run_all_cells=run_all, model_switch=switch, cloning_run=clone, total=time.monotonic() - t0)
        print(f"[jupyterlab] 03: switched {current!r} -> {model!r}; status {status.strip()!r}")
