"""Helpers for the real-browser tests (marked ``ui``): serve the app, drive headless Chromium.

- :func:`served_app`: ``nephlab serve --port P --address 127.0.0.1 --no-show`` as a subprocess
  (``sys.executable -m nephlab``), waits until HTTP answers, yields the base URL, kills it after.
- :func:`chromium_page`: a Playwright sync ``Page`` in the Debian Chromium (never downloads one).
- :func:`screenshot_on_failure`: keeps a PNG in ``test-artifacts/`` when the block raises.
- :func:`free_port`, :func:`wait_for_http`, :func:`chromium_path`, :func:`stop_process_group`;
  ``DESIGNER_POINT_JS`` (where a control point of the protocol designer is on screen).

Usage::

    with served_app() as url, chromium_page() as page:
        with screenshot_on_failure(page, "lindblad"):
            page.goto(url + "/lindblad")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str | None:
    """The Chromium binary from the system (``/usr/bin/chromium`` on Debian), or None."""
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def wait_for_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> float:
    """Poll ``url`` until it answers HTTP (any status < 500); return the seconds waited.

    Raises RuntimeError if ``proc`` exits first, TimeoutError after ``timeout`` seconds.
    """
    t0 = time.perf_counter()
    last: Exception | None = None
    while time.perf_counter() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status < 500:
                    return time.perf_counter() - t0
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return time.perf_counter() - t0
            last = exc
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s (last error: {last!r})")


def stop_process_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session=True``), wait up to
    ``grace`` seconds, then SIGKILL it. No-op if ``proc`` already exited."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# Screen position of control point ``idx`` of the protocol designer's figure (Bokeh model names
# ``nl-protocol-figure`` and ``nl-control-points``), scrolled on screen first; for page.evaluate.
# Returns {x, y, dy (pixels per unit of lambda), t, lam, n (number of points)} or null.
DESIGNER_POINT_JS = r"""
(idx) => {
  for (const doc of Bokeh.documents) {
    const fig = doc.get_model_by_name('nl-protocol-figure');
    const rend = doc.get_model_by_name('nl-control-points');
    if (fig == null || rend == null) continue;
    const view = Bokeh.index.find_one(fig);
    if (view == null) continue;
    const data = rend.data_source.data;
    const get = (k) => data instanceof Map ? data.get(k) : data[k];
    const t = get('t')[idx], lam = get('lam')[idx];
    const frame = view.frame;
    const sx = frame.x_scale.compute(t), sy = frame.y_scale.compute(lam);
    const dy = frame.y_scale.compute(lam + 1.0) - sy;
    const el = (view.canvas_view && view.canvas_view.el) || view.el;
    el.scrollIntoView({block: 'center'});
    const r = el.getBoundingClientRect();
    return {x: r.left + sx, y: r.top + sy, dy: dy, t: t, lam: lam, n: get('t').length};
  }
  return null;
}
"""


def nephlab_command() -> list[str]:
    """``[sys.executable, "-m", "nephlab"]`` (or the equivalent ``-c`` call when the package
    has no ``__main__`` module)."""
    import importlib.util

    if importlib.util.find_spec("nephlab.__main__") is not None:
        return [sys.executable, "-m", "nephlab"]
    return [sys.executable, "-c", "import sys; from nephlab.cli import main; sys.exit(main())"]


@contextlib.contextmanager
def served_app(port: int | None = None, *, timeout: float = 90.0, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Serve the nephlab app in a subprocess; yield ``http://127.0.0.1:PORT``.

    The server's output goes to a temporary log file, printed if it fails to start.
    """
    port = free_port() if port is None else int(port)
    cmd = [*nephlab_command(), "serve", "--port", str(port), "--address", "127.0.0.1", "--no-show", *extra_args]
    log = tempfile.NamedTemporaryFile(prefix="nephlab-serve-", suffix=".log", delete=False)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT), env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(url + "/", timeout=timeout, proc=proc)
        except Exception:
            log.flush()
            print(Path(log.name).read_text(errors="replace")[-5000:], file=sys.stderr)
            raise
        yield url
    finally:
        stop_process_group(proc)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


@contextlib.contextmanager
def chromium_page(*, width: int = 1400, height: int = 1000, timeout_ms: float = 30_000) -> Iterator:
    """A Playwright sync ``Page`` in headless system Chromium (no browser download, ever)."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no chromium binary on PATH (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=list(CHROMIUM_ARGS))
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            yield page
            context.close()
        finally:
            browser.close()


@contextlib.contextmanager
def screenshot_on_failure(page, name: str) -> Iterator[None]:
    """On an exception inside the block, save ``test-artifacts/<name>.png`` (full page), re-raise."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{safe}.png"), full_page=True)
            print(f"screenshot saved: {ARTIFACTS / (safe + '.png')}", file=sys.stderr)
        raise


# Every ColumnDataSource of the page's Bokeh documents whose data has all of ``columns``, as
# {column: list (numbers, NaN as null)} for all its columns: what the plots draw, read from
# BokehJS's models.
BOKEH_SOURCES_JS = """
(columns) => {
  const out = [];
  for (const doc of (window.Bokeh && Bokeh.documents) || []) {
    for (const m of doc.all_models) {
      const d = m.data;
      if (!d || typeof d.get !== 'function' && typeof d !== 'object') continue;
      const get = (k) => (d instanceof Map ? d.get(k) : d[k]);
      const has = (k) => (d instanceof Map ? d.has(k) : k in d);
      if (!columns.every(has)) continue;
      const src = {};
      const keys = d instanceof Map ? [...d.keys()] : Object.keys(d);
      for (const k of keys) {
        const v = get(k);
        if (v && typeof v.length === 'number' && typeof v !== 'string')
          src[k] = Array.from(v, (x) => (typeof x === 'number' ? (Number.isFinite(x) ? x : null) : x));
      }
      out.push(src);
    }
  }
  return out;
}
"""


def bokeh_sources(page, *columns: str) -> list[dict[str, list]]:
    """The data (every column) of each Bokeh ``ColumnDataSource`` on ``page`` that has all of ``columns``."""
    return page.evaluate(BOKEH_SOURCES_JS, list(columns))


# The value of the Bokeh widget model inside the Panel widget whose CSS classes include ``cls``.
WIDGET_VALUE_JS = """
(cls) => {
  for (const doc of (window.Bokeh && Bokeh.documents) || []) {
    for (const m of doc.all_models) {
      if (m.css_classes && m.css_classes.includes(cls) && m.value !== undefined) return m.value;
    }
  }
  return null;
}
"""


def widget_value(page, css_class: str):
    """The client-side value of the widget model carrying ``css_class`` (None if there is none)."""
    return page.evaluate(WIDGET_VALUE_JS, css_class)


def drag_designer_point(page, idx: int, dlam: float, effect, *, budget_s: float,
                        retry_s: float = 60.0, poll_ms: float = 250.0):
    """Drag control point ``idx`` of the protocol designer by ``dlam`` (units of lambda) with the
    mouse and wait for ``effect()`` to return something truthy; return ``(start, moved, value, drags)``.

    A gesture made while BokehJS (or JupyterLab around it) is still laying out or scrolling the
    page can be lost on a loaded machine. That is visible in the browser at once: the point's
    ``lam`` in the page's data source did not move. The drag is then repeated from where the point
    is after 2 s, and so is a drag whose effect has not appeared after ``retry_s`` seconds. The
    wait ends with a failure only after ``budget_s`` seconds in all. ``moved`` is the point when
    the effect was seen.
    """
    import pytest

    start = page.evaluate(DESIGNER_POINT_JS, idx)
    assert start is not None, "could not locate the control points in the Bokeh figure"
    deadline = time.monotonic() + budget_s
    pt, drags, history = start, 0, []
    while True:
        page.mouse.move(pt["x"], pt["y"])
        page.mouse.down()
        page.mouse.move(pt["x"], pt["y"] + dlam * pt["dy"], steps=8)
        page.mouse.up()
        drags += 1
        page.wait_for_timeout(poll_ms)
        moved = page.evaluate(DESIGNER_POINT_JS, idx) or pt
        history.append((round(pt["lam"], 3), round(moved["lam"], 3)))
        # the browser took the gesture (the point moved; the figure may stop it at its edge):
        # give the server retry_s to answer, else only a moment before dragging again
        took = abs(moved["lam"] - start["lam"]) > 1e-9
        retry = min(time.monotonic() + (retry_s if took else 2.0), deadline)
        while True:
            value = effect()
            if value:
                return start, page.evaluate(DESIGNER_POINT_JS, idx) or moved, value, drags
            if time.monotonic() >= retry:
                break
            page.wait_for_timeout(poll_ms)
        if time.monotonic() >= deadline:
            pytest.fail(f"no effect of dragging point {idx} within {budget_s:.0f} s; {drags} drag(s), "
                        f"lambda before -> after each: {history[:20]}", pytrace=False)
        pt = page.evaluate(DESIGNER_POINT_JS, idx) or pt


def wait_while_progressing(what: str, progress, done, *, stall_s: float = 300.0,
                           poll_s: float = 0.5, page=None):
    """Poll ``progress()`` (any comparable value, e.g. a count) until ``done(value)``; return it.

    A streamed run on a loaded machine may take much longer than on a quiet one, so there is no
    fixed budget for the whole run: the wait fails only when the progress value has not changed
    for ``stall_s`` seconds (a stuck run), with ``what`` and the last value in the message.
    """
    import pytest

    last, since = object(), time.monotonic()
    while True:
        value = progress()
        if done(value):
            return value
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since > stall_s:
            pytest.fail(f"{what}: no progress for {stall_s:.0f} s (stuck at {value!r})", pytrace=False)
        if page is not None:
            page.wait_for_timeout(poll_s * 1000)
        else:
            time.sleep(poll_s)
