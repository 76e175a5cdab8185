"""Page-load benchmark of ``nephlab serve``: time to the first Bokeh plot in headless Chromium.

For each page (``/lindblad``, ``/protocol``, ``/largedev``, ``/md``, ``/cluster``) the harness starts
``python -m nephlab serve --no-show --port P`` in a subprocess, waits until it is ready (Panel's
``/liveness`` endpoint, or HTTP on ``/`` for a server without one) and opens the page in the
Debian Chromium through Playwright (``executable_path``, never a downloaded browser). A script
injected before any page script polls every animation frame and records, in ms from the
navigation start (``performance.now()``, so the server's time to build the page counts):

- ``canvas``: the first Bokeh plot canvas (a layer of a plot view in BokehJS's view index) with
  a non-zero size and painted pixels: the measure of the issue's table;
- ``data``: the first Bokeh plot that has rendered a glyph whose data source has rows, two
  frames after the rows appeared (an empty frame drawn before the physics is computed does not
  count here); pages that draw no data by default (``/cluster``) show ``-``.

Reported (in seconds):

- ``fresh``: first visit to a server started ``--fresh-delay`` (10) s earlier, a new server per page;
- ``warm``: ``--repeats`` (3) visits per page after one warm-up visit each, median and range;
- ``concurrent``: ``--concurrent`` (8) sessions opened at once on the warm server, the pages
  taken in turn; each session's own first plot, median and max;
- ``edit``: on ``/protocol``, the first designer edit (the middle control point moved by
  setting the data of the renderer named ``nl-control-points``) on the fresh server and on the
  warm visits: the browser round trip until the ``nl-latency`` text changes, and the server's
  ``latency_ms`` read from that text. A page without those hooks shows ``-`` (then use
  ``benchmarks/designer_latency.py``). The edit comes ``--edit-delay`` (0.5) s after the first
  plot with data, as a person's first drag would (seeing the plot, aiming at a point, pressing):
  with 0 it races the page's own work after its first paint (the reference lines and their
  job), which then delays it by a few hundred ms on a loaded 2-core machine;
  ``benchmarks/designer_hops.py`` shows each hop.
  Setting the source's ``data`` is what BokehJS's ``PointDrawTool`` does at the end of a drag
  (one ``data`` change; the drag's selection change goes first and costs the server < 1 ms).

CPU time: around every warm visit, and around the concurrent batch, the harness adds up the CPU
seconds (user + system, exited children included) of the server's process tree and of the
browser's (Chromium and Playwright's driver: every descendant of the harness but the server).
On a machine with ``c`` cores that work needs at least ``(server + browser CPU) / c`` seconds of
wall time, whatever the schedule: the columns show where a page's cost lies.

Every visit is a new browser context (a cold browser cache). The harness needs only the standard
library and Playwright: the served code is whatever ``--python`` imports as ``nephlab``, so the
same script measures any commit::

    python benchmarks/page_load.py --rev new --json new.json
    python benchmarks/page_load.py --python /tmp/old/.venv/bin/python --rev 2b8c009 --json old.json

Run ``nephlab bench pages --help`` (or ``python benchmarks/page_load.py --help``) for options.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DESIGNER_HOOKS_JS", "EDIT_JS", "PAGES", "PROBE_JS", "CpuMeter", "Server", "Visit", "build_parser",
           "free_port", "main", "summary", "table", "tree_cpu_s", "visit"]

PAGES = ("lindblad", "protocol", "largedev", "md", "cluster")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage")
VIEWPORT = {"width": 1400, "height": 1000}

# Injected before any page script (Playwright add_init_script). Results in window.__nl_probe.
PROBE_JS = r"""
(() => {
  if (window.__nl_probe) return;
  const st = window.__nl_probe = {canvas_ms: null, data_ms: null, data_seen_ms: null, n_plots: 0, frames: 0,
                                  busy_ms: 0, error: null};
  let data_seen_frame = -1;
  const painted_ok = new WeakSet();
  function painted(c) {  // a canvas with a size and at least one non-transparent pixel
    if (c == null || !(c.width > 0) || !(c.height > 0) || !c.isConnected) return false;
    if (painted_ok.has(c)) return true;
    const r = c.getBoundingClientRect();
    if (!(r.width > 0 && r.height > 0)) return false;
    let px;
    try {
      const ctx = c.getContext('2d');   // Bokeh made it a 2d canvas already: the same context back
      if (ctx == null) return false;
      px = new Uint32Array(ctx.getImageData(0, 0, c.width, c.height).data.buffer);
    } catch (e) { return false; }
    for (let i = 0; i < px.length; i++) if (px[i] !== 0) { painted_ok.add(c); return true; }
    return false;
  }
  function plot_views() {  // every Bokeh plot view on the page (BokehJS's global view index)
    const B = window.Bokeh;
    if (B == null || B.index == null || typeof B.index.query !== 'function') return [];
    return [...B.index.query(v => v != null && v.canvas_view != null && v.model != null &&
                                  Array.isArray(v.model.renderers))];
  }
  function layers(v) {
    const cv = v.canvas_view;
    return [cv.primary, cv.overlays].filter(l => l != null).map(l => l.canvas);
  }
  function has_rows(r) {
    if (r == null || r.visible === false) return false;
    const ds = r.data_source;
    if (ds == null || typeof ds.get_length !== 'function') return false;
    const n = ds.get_length();
    return n != null && n > 0;
  }
  function tick() {
    st.frames++;
    const now = performance.now();
    try {
      const views = plot_views();
      st.n_plots = views.length;
      if (st.canvas_ms === null && views.some(v => layers(v).some(painted))) st.canvas_ms = now;
      if (st.data_ms === null) {
        for (const v of views) {
          if (!v.model.renderers.some(has_rows)) continue;
          if (st.data_seen_ms === null) { st.data_seen_ms = now; data_seen_frame = st.frames; }
          const done = typeof v.has_finished === 'function' ? v.has_finished() : true;
          // two frames after the rows appeared, so that Bokeh's own frame has painted them
          if (done && st.frames >= data_seen_frame + 2 && painted(layers(v)[0])) { st.data_ms = now; break; }
        }
      }
    } catch (e) { st.error = String(e); }
    st.busy_ms += performance.now() - now;
    if (st.canvas_ms === null || st.data_ms === null) {
      if (document.visibilityState === 'hidden') setTimeout(tick, 16); else requestAnimationFrame(tick);
    }
  }
  requestAnimationFrame(tick);
})();
"""

NAV_JS = """() => {
  const e = performance.getEntriesByType('navigation')[0];
  return e == null ? null : {response_start_ms: e.responseStart, response_end_ms: e.responseEnd,
                             dom_content_loaded_ms: e.domContentLoadedEventEnd, load_ms: e.loadEventEnd};
}"""

# The designer's hooks in BokehJS (B: window.Bokeh): the control points' renderer and the
# latency text model (also used by benchmarks/designer_hops.py).
DESIGNER_HOOKS_JS = r"""
  let rend = null, lat = null;
  for (const doc of B.documents) {
    const r = doc.get_model_by_name('nl-control-points');
    if (r != null) rend = r;
    for (const m of doc.all_models) {
      const cls = m.css_classes;
      if (Array.isArray(cls) && cls.includes('nl-latency') && typeof m.text === 'string') lat = m;
    }
  }
"""

# The designer edit: move the middle control point up, wait until the latency text changes.
EDIT_JS = r"""
async (timeout_ms) => {
  const B = window.Bokeh;
  if (B == null) return {ok: false, why: 'no BokehJS on the page'};
""" + DESIGNER_HOOKS_JS + r"""
  if (rend == null) return {ok: false, why: "no model named 'nl-control-points'"};
  if (lat == null) return {ok: false, why: "no text model with CSS class 'nl-latency'"};
  const src = rend.data_source, old = src.data;
  const get = (k) => (old instanceof Map ? old.get(k) : old[k]);
  const lam = Array.from(get('lam') || []);
  if (lam.length < 3) return {ok: false, why: 'fewer than 3 control points'};
  const i = Math.floor(lam.length / 2);
  lam[i] = lam[i] + 0.25 * (Math.abs(lam[lam.length - 1] - lam[0]) || 1.0);
  const before = lat.text;
  const fresh = old instanceof Map ? new Map(old) : Object.assign({}, old);
  if (fresh instanceof Map) fresh.set('lam', lam); else fresh.lam = lam;
  const t0 = performance.now();
  src.data = fresh;
  while (performance.now() - t0 < timeout_ms) {
    await new Promise(r => setTimeout(r, 2));
    if (lat.text !== before) {
      const m = /(-?[0-9][0-9.eE+-]*)\s*ms/.exec(lat.text);
      return {ok: true, round_trip_ms: performance.now() - t0, text: lat.text,
              latency_ms: m ? parseFloat(m[1]) : null};
    }
  }
  return {ok: false, why: 'the nl-latency text did not change within ' + timeout_ms + ' ms', text: before};
}
"""

VERSIONS_PY = r"""
import json, platform, sys
out = {"python": platform.python_version(), "executable": sys.executable}
for name in ("nephlab", "panel", "bokeh", "holoviews", "jax", "numpy"):
    try:
        mod = __import__(name)
        out[name] = getattr(mod, "__version__", "?")
        if name == "nephlab":
            out["nephlab_path"] = mod.__file__
    except Exception as exc:
        out[name] = "not importable: %s" % exc
print(json.dumps(out))
"""


# ----------------------------------------------------------------------------------------------
# The server
# ----------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now.

    Example:
        >>> 1024 <= free_port() <= 65535
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_status(url: str) -> int | None:
    """HTTP status of a GET on ``url``; None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return None


class Server:
    """``PYTHON -m nephlab serve --no-show`` on a free port, in its own process group.

    ``workdir`` is the server's working directory; its output goes to a temporary log
    (:meth:`log_tail`). :meth:`wait_ready` blocks until it answers, :meth:`stop` ends it.

    Example:
        >>> srv = Server(sys.executable, Path(tempfile.mkdtemp()))  # doctest: +SKIP
        >>> srv.wait_ready(180.0); srv.url                           # doctest: +SKIP
        'http://127.0.0.1:41235'
        >>> srv.stop()                                               # doctest: +SKIP
    """

    def __init__(self, python: str, workdir: Path, extra_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="nephlab-serve-", suffix=".log")[1])
        cmd = [python, "-m", "nephlab", "serve", "--no-show", "--port", str(self.port),
               "--address", "127.0.0.1", *extra_args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.t_start = time.perf_counter()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(workdir),
                                         env=env, start_new_session=True)
        self.ready_s: float | None = None
        self.readiness = ""

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def wait_ready(self, timeout: float) -> float:
        """Wait for ``/liveness`` (200), or for ``/`` when the server has no liveness endpoint."""
        probe = "/liveness"
        while time.perf_counter() - self.t_start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nephlab serve exited with code {self.proc.returncode}:\n{self.log_tail()}")
            code = _http_status(self.url + probe)
            if code == 200:
                self.ready_s = time.perf_counter() - self.t_start
                self.readiness = probe
                return self.ready_s
            if code == 404 and probe == "/liveness":
                probe = "/"  # an older server: no liveness endpoint, the index page answers instead
                continue
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{probe} did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        with contextlib.suppress(OSError):
            self.log_path.unlink()


# ----------------------------------------------------------------------------------------------
# One visit
# ----------------------------------------------------------------------------------------------


@dataclass
class Visit:
    """One session: times in ms from the navigation start (None: not seen)."""

    page: str
    canvas_ms: float | None = None
    data_ms: float | None = None
    response_start_ms: float | None = None
    dom_content_loaded_ms: float | None = None
    n_plots: int = 0
    probe_busy_ms: float | None = None
    edit: dict | None = None
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float | None = None
    browser_cpu_s: float | None = None


async def visit(browser: Any, url: str, page_name: str, *, timeout_s: float, data_wait_s: float,
                edit: bool = False, edit_delay_s: float = 0.0, started: asyncio.Event | None = None) -> Visit:
    """Open ``url/page_name`` in a new context; wait for the first canvas, then for data.

    Times are in ms from the navigation start. ``timeout_s`` bounds the wait for the first
    canvas, ``data_wait_s`` (s, 0: do not wait) the further wait for a plot with data; ``edit``
    makes the designer edit of :data:`EDIT_JS`, ``edit_delay_s`` (s) after the plot with data
    (or the first canvas). ``started``: when given, navigate only once it
    is set (concurrent sessions start together).

    Example (inside ``async with async_playwright() as pw``; see :class:`Bench`):
        >>> v = await visit(browser, url, "lindblad", timeout_s=180, data_wait_s=60)  # doctest: +SKIP
        >>> v.canvas_ms  # doctest: +SKIP
        812.4
    """
    out = Visit(page_name)
    ctx = await browser.new_context(viewport=VIEWPORT)
    try:
        await ctx.add_init_script(PROBE_JS)
        page = await ctx.new_page()
        page.on("pageerror", lambda exc: out.errors.append(f"pageerror: {exc}"))
        if started is not None:
            await started.wait()
        t0 = time.perf_counter()
        await page.goto(f"{url}/{page_name}", wait_until="commit", timeout=timeout_s * 1e3)
        left = max(1.0, timeout_s - (time.perf_counter() - t0))
        try:
            await page.wait_for_function("() => window.__nl_probe && window.__nl_probe.canvas_ms !== null",
                                         timeout=left * 1e3, polling=50)
        except Exception as exc:  # noqa: BLE001 - recorded; the table shows '-'
            out.errors.append(f"no painted Bokeh canvas within {timeout_s:.0f} s: {type(exc).__name__}")
        if data_wait_s > 0:
            with contextlib.suppress(Exception):
                await page.wait_for_function("() => window.__nl_probe.data_ms !== null",
                                             timeout=data_wait_s * 1e3, polling=50)
        probe = await page.evaluate("() => window.__nl_probe")
        out.canvas_ms, out.data_ms, out.n_plots = probe["canvas_ms"], probe["data_ms"], probe["n_plots"]
        out.probe_busy_ms = probe["busy_ms"]  # the probe's own cost in the page's main thread
        if probe.get("error"):
            out.errors.append(f"probe: {probe['error']}")
        nav = await page.evaluate(NAV_JS) or {}
        out.response_start_ms = nav.get("response_start_ms")
        out.dom_content_loaded_ms = nav.get("dom_content_loaded_ms")
        if edit:
            await asyncio.sleep(edit_delay_s)
            out.edit = await page.evaluate(EDIT_JS, timeout_s * 1e3)
            out.edit["delay_s"] = edit_delay_s
    finally:
        await ctx.close()
    return out


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------


def _machine() -> dict:
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {"cpu_model": model, "nproc": usable, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "load_start": list(os.getloadavg())}


def _server_versions(python: str) -> dict:
    try:
        # not in this checkout's folder: `-c` puts the working directory first on sys.path, so
        # another venv's interpreter would report this checkout's nephlab instead of its own
        out = subprocess.run([python, "-c", VERSIONS_PY], capture_output=True, text=True, timeout=300,
                             cwd=tempfile.gettempdir())
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark still runs
        return {"error": f"{type(exc).__name__}: {exc}"}
    path = info.get("nephlab_path")
    if path:
        src = str(Path(path).resolve().parent)
        git = shutil.which("git")
        if git:
            rev = subprocess.run([git, "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
            dirty = subprocess.run([git, "-C", src, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True)
            if rev.returncode == 0:
                info["git"] = rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return info


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def tree_cpu_s(pid: int, exclude: int | None = None, *, include_root: bool = True) -> float:
    """CPU seconds (user + system) used so far by a process tree: every living process of it, with
    the children it has reaped. ``exclude``: a pid whose whole subtree is left out;
    ``include_root=False`` leaves out the root's own time (still counting what it reaped).

    Example:
        >>> tree_cpu_s(os.getpid()) > 0
        True
    """
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    skip: set[int] = set()
    if exclude is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            ex = psutil.Process(exclude)
            skip = {ex.pid, *(c.pid for c in ex.children(recursive=True))}
    total = 0.0
    for proc in procs:
        if proc.pid in skip:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            t = proc.cpu_times()
            own = t.user + t.system if (include_root or proc.pid != pid) else 0.0
            total += own + (0.0 if proc.pid == pid else t.children_user + t.children_system)
    return total


class CpuMeter:
    """CPU seconds of the server's tree and of the browser's (the harness's other descendants).

    :meth:`sample` returns ``(server, browser)``; differences of two samples are a visit's cost.
    The harness's own process (asyncio, Playwright's client) is not counted, nor are servers it
    already stopped.

    Example:
        >>> m = CpuMeter(None); server, browser = m.sample(); server
        0.0
    """

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid

    def sample(self) -> tuple[float, float]:
        server = 0.0 if self.server_pid is None else tree_cpu_s(self.server_pid)
        browser = tree_cpu_s(os.getpid(), exclude=self.server_pid, include_root=False)
        return server, browser


class Bench:
    """Runs the three measurements with one browser; results land in :attr:`result`."""

    def __init__(self, args: argparse.Namespace, browser: Any, workdir: Path):
        self.a = args
        self.browser = browser
        self.workdir = workdir
        # pages that drew no data on their first visit are not waited on again
        self.data_wait = {p: args.data_wait for p in args.pages}
        self.result: dict[str, Any] = {"fresh": {}, "warm": {}, "concurrent": [], "servers": []}

    async def _visit(self, url: str, page: str, meter: CpuMeter | None = None, **kw) -> Visit:
        """One visit; with ``meter`` (sequential visits only) its server and browser CPU seconds."""
        c0 = meter.sample() if meter is not None else None
        v = await visit(self.browser, url, page, timeout_s=self.a.timeout, data_wait_s=self.data_wait[page],
                        edit=(page == "protocol" and self.a.edit), edit_delay_s=self.a.edit_delay, **kw)
        if c0 is not None and meter is not None:
            c1 = meter.sample()
            v.server_cpu_s, v.browser_cpu_s = c1[0] - c0[0], c1[1] - c0[1]
        if v.data_ms is None and v.canvas_ms is not None:
            self.data_wait[page] = 0.0
        return v

    def _start(self) -> Server:
        srv = Server(self.a.python, self.workdir, tuple(self.a.serve_arg))
        srv.wait_ready(self.a.timeout)
        self.result["servers"].append({"ready_s": srv.ready_s, "readiness": srv.readiness})
        return srv

    def _log(self, msg: str) -> None:
        if not self.a.quiet:
            print(msg, flush=True)

    async def run(self) -> None:
        srv: Server | None = None
        try:
            for page in self.a.pages:  # (a) a new server per page, first visit after --fresh-delay
                if srv is not None:
                    srv.stop()
                srv = self._start()
                await asyncio.sleep(max(0.0, self.a.fresh_delay - (time.perf_counter() - srv.t_start)))
                v = await self._visit(srv.url, page)
                self.result["fresh"][page] = asdict(v)
                self._log(f"fresh  /{page}: {_fmt_ms(v.canvas_ms)} canvas, {_fmt_ms(v.data_ms)} data"
                          f"{_edit_note(v.edit)}  (server ready after {srv.ready_s:.1f} s)")
            assert srv is not None
            for page in self.a.pages:  # warm-up: one visit per page on the last server
                await self._visit(srv.url, page)
            for page in self.a.pages:
                self.result["warm"][page] = []
            meter = CpuMeter(srv.proc.pid)
            for _ in range(self.a.repeats):  # (b) warm visits, pages in turn
                for page in self.a.pages:
                    v = await self._visit(srv.url, page, meter)
                    self.result["warm"][page].append(asdict(v))
                    self._log(f"warm   /{page}: {_fmt_ms(v.canvas_ms)} canvas, {_fmt_ms(v.data_ms)} data"
                              f"{_edit_note(v.edit)}; CPU server {v.server_cpu_s:.2f} s, browser "
                              f"{v.browser_cpu_s:.2f} s")
            if self.a.concurrent > 0:  # (c) N sessions at once on the warm server
                go = asyncio.Event()
                order = [self.a.pages[i % len(self.a.pages)] for i in range(self.a.concurrent)]
                tasks = [asyncio.ensure_future(self._visit(srv.url, p, started=go)) for p in order]
                await asyncio.sleep(1.0)  # contexts and pages created; then all navigate together
                c0 = meter.sample()
                go.set()
                for v in await asyncio.gather(*tasks):
                    self.result["concurrent"].append(asdict(v))
                c1 = meter.sample()
                self.result["concurrent_cpu_s"] = {"server": c1[0] - c0[0], "browser": c1[1] - c0[1]}
                c = [v["canvas_ms"] for v in self.result["concurrent"]]
                self._log(f"{self.a.concurrent} concurrent: canvas median {_fmt_ms(_median(c))}, "
                          f"max {_fmt_ms(max((x for x in c if x is not None), default=None))}")
        finally:
            if srv is not None:
                srv.stop()


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def _fmt_ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1e3:.2f} s"


def _edit_note(edit: dict | None) -> str:
    if not edit:
        return ""
    if not edit.get("ok"):
        return f"; edit: {edit.get('why')}"
    return f"; edit round trip {edit['round_trip_ms']:.0f} ms (latency_ms {edit.get('latency_ms')})"


def _cell(values: list[float | None]) -> str:
    xs = [x for x in values if x is not None]
    if not xs:
        return "-"
    med = statistics.median(xs) / 1e3
    if len(xs) == 1:
        return f"{med:.2f}"
    return f"{med:.2f} ({min(xs) / 1e3:.2f}–{max(xs) / 1e3:.2f})"


def _cpu_cell(visits: list[dict]) -> str:
    """Median server and browser CPU seconds of the visits, ``"0.55 + 1.90"`` (``-``: not measured)."""
    srv = [v["server_cpu_s"] for v in visits if v.get("server_cpu_s") is not None]
    brw = [v["browser_cpu_s"] for v in visits if v.get("browser_cpu_s") is not None]
    if not srv or not brw:
        return "-"
    return f"{statistics.median(srv):.2f} + {statistics.median(brw):.2f}"


def table(res: dict, markdown: bool = False) -> str:
    """The summary table (seconds; warm and concurrent cells: median (min–max)).

    ``res``: the result dict of :func:`main` (``pages``, ``fresh``, ``warm``, ``concurrent``).

    Example:
        >>> v = dict(page="cluster", canvas_ms=900.0, data_ms=None, response_start_ms=200.0)
        >>> res = dict(pages=["cluster"], fresh={"cluster": v}, warm={"cluster": [v, v]}, concurrent=[v])
        >>> print(table(res, markdown=True).splitlines()[2])
        | /cluster | 0.90 | - | 0.90 (0.90–0.90) | - | 0.20 (0.20–0.20) | 0.90 | - | - |
    """
    head = ["page", "fresh canvas", "fresh data", "warm canvas", "warm data", "warm ttfb",
            "concurrent canvas", "concurrent data", "warm CPU server + browser"]
    rows = []
    for page in res["pages"]:
        f = res["fresh"].get(page, {})
        w = res["warm"].get(page, [])
        c = [v for v in res["concurrent"] if v["page"] == page]
        rows.append([f"/{page}", _cell([f.get("canvas_ms")]), _cell([f.get("data_ms")]),
                     _cell([v["canvas_ms"] for v in w]), _cell([v["data_ms"] for v in w]),
                     _cell([v["response_start_ms"] for v in w]),
                     _cell([v["canvas_ms"] for v in c]), _cell([v["data_ms"] for v in c]), _cpu_cell(w)])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)])


def summary(res: dict) -> list[str]:
    """Lines under the table: concurrent sessions overall, the designer edit latency, errors.

    Example:
        >>> v = dict(page="cluster", canvas_ms=900.0, data_ms=None, errors=[])
        >>> summary(dict(fresh={}, warm={}, concurrent=[v, dict(v, canvas_ms=1500.0)]))[0]
        '2 concurrent sessions, first canvas: median 1.20 s, max 1.50 s'
    """
    out = []
    conc = res["concurrent"]
    if conc:
        for key in ("canvas_ms", "data_ms"):
            xs = [v[key] for v in conc if v[key] is not None]
            missing = len([v for v in conc if v[key] is None])
            out.append(f"{len(conc)} concurrent sessions, first {key[:-3]}: median {_fmt_ms(_median(xs))}, "
                       f"max {_fmt_ms(max(xs, default=None))}" + (f" ({missing} without)" if missing else ""))
        cpu = res.get("concurrent_cpu_s")
        cores = res.get("machine", {}).get("nproc")
        if cpu and cores:
            total = cpu["server"] + cpu["browser"]
            out.append(f"{len(conc)} concurrent sessions used {cpu['server']:.1f} s of CPU in the server and "
                       f"{cpu['browser']:.1f} s in the browser (until the last one drew): on {cores} cores that "
                       f"work needs at least {total / cores:.1f} s of wall time")
    edits = []
    f = res["fresh"].get("protocol")
    if f and f.get("edit"):
        edits.append(("fresh server, first edit", [f["edit"]]))
    w = [v["edit"] for v in res["warm"].get("protocol", []) if v.get("edit")]
    if w:
        edits.append((f"warm server, first edit of {len(w)} sessions", w))
    for label, es in edits:
        ok = [e for e in es if e.get("ok")]
        if not ok:
            out.append(f"designer edit ({label}): not measured: {es[0].get('why')}")
            continue
        rt = _median([e["round_trip_ms"] for e in ok])
        lat = _median([e["latency_ms"] for e in ok if e.get("latency_ms") is not None])
        delay = ok[0].get("delay_s")
        out.append(f"designer edit ({label}): round trip {rt:.0f} ms, server latency_ms "
                   f"{'-' if lat is None else f'{lat:.1f}'} ms (median)"
                   + ("" if delay is None else f", {delay:g} s after the first plot with data"))
    errs = [(s, e) for s, vs in (("fresh", list(res["fresh"].values())), ("warm", sum(res["warm"].values(), [])),
                                 ("concurrent", conc)) for v in vs for e in v["errors"]]
    for s, e in errs[:10]:
        out.append(f"error ({s}): {e}")
    return out


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------


def _pages(spec: str) -> list[str]:
    pages = [p.strip().strip("/") for p in spec.split(",") if p.strip()]
    bad = [p for p in pages if p not in PAGES]
    if bad or not pages:
        raise argparse.ArgumentTypeError(f"--pages={spec!r}: allowed is a comma list of {', '.join(PAGES)}")
    return list(dict.fromkeys(pages))


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of the benchmark (see ``--help``).

    Example:
        >>> build_parser().parse_args(["--pages", "protocol,/lindblad"]).pages
        ['protocol', 'lindblad']
    """
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=_pages, default=list(PAGES), help="comma list (default: all of them)")
    p.add_argument("--repeats", type=int, default=3, help="warm visits per page (default: %(default)s)")
    p.add_argument("--concurrent", type=int, default=8,
                   help="sessions opened at once on the warm server (default: %(default)s; 0 skips)")
    p.add_argument("--fresh-delay", type=float, default=10.0,
                   help="first visit this many s after the server process started (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=180.0,
                   help="budget per visit and for the server start, s (default: %(default)s)")
    p.add_argument("--data-wait", type=float, default=60.0,
                   help="how long to wait for a plot with data after the first canvas, s (default: %(default)s)")
    p.add_argument("--no-edit", dest="edit", action="store_false", help="skip the designer edit on /protocol")
    p.add_argument("--edit-delay", type=float, default=0.5,
                   help="s between the first plot with data and the designer edit (default: %(default)s; 0: "
                        "at once, racing the page's work after its first paint)")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter that runs `-m nephlab serve` (default: this one); another checkout's "
                        "venv measures that commit")
    p.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for `nephlab serve` (repeatable)")
    p.add_argument("--chromium", default=None, help="Chromium binary (default: chromium on PATH, /usr/bin/chromium)")
    p.add_argument("--rev", default=None, help="label of the measured code in the output (default: its git rev)")
    p.add_argument("--json", default=None, help="write every measurement to this JSON file")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--quiet", action="store_true", help="no per-visit lines")
    return p


def _chromium(path: str | None) -> str:
    for cand in ([path] if path else []) + [shutil.which("chromium"), shutil.which("chromium-browser"),
                                             "/usr/bin/chromium"]:
        if cand and os.path.exists(cand):
            return cand
    raise SystemExit("no Chromium found: give --chromium PATH (Debian: apt-get install chromium)")


async def _main_async(a: argparse.Namespace, res: dict) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="nephlab-pages-") as tmp:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=res["chromium_path"], headless=True,
                                               args=list(CHROMIUM_ARGS))
            try:
                res["versions"]["chromium"] = browser.version
                bench = Bench(a, browser, Path(tmp))
                await bench.run()
                res.update(bench.result)
            finally:
                await browser.close()


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark; print the table; return 0 (1 when a page never drew a plot on its fresh visit).

    Example:
        >>> main(["--pages", "protocol", "--repeats", "1", "--json", "out.json"])  # doctest: +SKIP
    """
    a = build_parser(prog or "nephlab bench pages").parse_args(argv)
    if a.repeats < 1:
        raise SystemExit(f"--repeats={a.repeats}: allowed is an integer >= 1")
    if a.concurrent < 0:
        raise SystemExit(f"--concurrent={a.concurrent}: allowed is an integer >= 0")
    res: dict[str, Any] = {"pages": a.pages, "options": {k: v for k, v in vars(a).items() if k != "json"},
                           "machine": _machine(), "chromium_path": _chromium(a.chromium)}
    if os.sep in a.python:  # the server and the version probe run in other folders
        a.python = os.path.abspath(a.python)
    res["versions"] = _server_versions(a.python)
    res["rev"] = a.rev or res["versions"].get("git") or "?"
    t0 = time.perf_counter()
    asyncio.run(_main_async(a, res))
    res["machine"]["load_end"] = list(os.getloadavg())
    res["wall_s"] = time.perf_counter() - t0

    m, v = res["machine"], res["versions"]
    print(f"\npage load, time to the first Bokeh plot (s from navigation start), rev {res['rev']}")
    print(f"- machine: {m['cpu_model']}, {m['nproc']} cores usable, load average {m['load_start'][0]:.1f} at the "
          f"start, {m['load_end'][0]:.1f} at the end")
    print(f"- python {v.get('python')}, nephlab {v.get('nephlab')}, panel {v.get('panel')}, bokeh {v.get('bokeh')}, "
          f"holoviews {v.get('holoviews')}, jax {v.get('jax')}, chromium {v.get('chromium')}")
    print(f"- fresh: first visit {a.fresh_delay:g} s after the server started (one server per page); warm: "
          f"{a.repeats} visits per page after a warm-up visit; concurrent: {a.concurrent} sessions at once on the "
          f"warm server; servers ready (readiness {res['servers'][0]['readiness'] if res['servers'] else '-'}) after "
          + ", ".join(f"{s['ready_s']:.1f}" for s in res["servers"]) + " s")
    print(table(res, markdown=a.markdown))
    for line in summary(res):
        print(line)
    print(f"(total {res['wall_s']:.0f} s)")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
        print(f"wrote {a.json}")
    never = [p for p in a.pages if res["fresh"].get(p, {}).get("canvas_ms") is None]
    return 1 if never else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
