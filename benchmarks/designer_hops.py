"""Where the designer edit's browser round trip goes: a timestamp at every hop, browser and server.

``nephlab bench pages`` times the first designer edit on ``/protocol`` from the client's change
of the control points until the ``nl-latency`` text changes (``EDIT_JS``). This script makes the
same edit (the same JavaScript, or a drag of the middle point with the mouse, ``--drag``) and
records, on one clock (ms since the epoch; browser and server run on the same machine):

- browser: the change, every websocket frame sent and received (size, Bokeh message type,
  and for a ``PATCH-DOC`` the changed attributes), the time BokehJS spent applying each
  received message, the ``nl-latency`` text change, the protocol figure's repaints, and long
  tasks (``PerformanceObserver``) of the page's main thread;
- server (``nephlab serve`` with hooks installed before it starts, in a child process): the
  patch received and applied (Bokeh's ``ProtocolHandler.handle``), the designer's ``_on_drag``
  and its ``evaluate_protocol`` call, every Bokeh model change event of the document (which
  attribute, when), and every message written to the websocket (type, size, the attributes of
  a ``PATCH-DOC``, when written and when the write completed).

It prints one timeline per visit (a fresh server's first visit, then ``--repeats`` warm visits)
and the hop table: client change -> frame sent -> server received -> ``_on_drag`` -> compute
-> last model change -> first and last patch written -> first and last frame received ->
``nl-latency`` text -> repaint. ``--json`` writes every event.

Run ``python benchmarks/designer_hops.py [--repeats 3] [--drag] [--python OTHER/.venv/bin/python]``
(the other checkout's venv measures that commit: the hooks use only Bokeh's and the designer's
names, which main and this branch share).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nephlab.bench.pages import DESIGNER_HOOKS_JS

# The server side: installed in the child before ``nephlab.widgets.app.serve`` runs.
SERVER_HOOKS = r"""
import json, sys, time, functools
LOG = open(sys.argv[1], "a", buffering=1)
def log(kind, **kw):
    kw.update(kind=kind, t=time.time() * 1e3)
    LOG.write(json.dumps(kw, default=str) + "\n")

from bokeh.server.protocol_handler import ProtocolHandler
_handle = ProtocolHandler.handle
async def handle(self, message, connection):
    if message.msgtype == "PATCH-DOC":
        ev = [(e.get("kind"), e.get("attr")) for e in message.content.get("events", [])]
        log("srv_recv", msgtype=message.msgtype, events=ev)
    out = await _handle(self, message, connection)
    if message.msgtype == "PATCH-DOC":
        log("srv_applied", msgtype=message.msgtype)
    return out
ProtocolHandler.handle = handle

def _summary(message):
    ev = []
    try:
        for e in message.content.get("events", []):
            new = e.get("new")
            ev.append((e.get("kind"), e.get("attr"), len(json.dumps(new, default=str)))
                      + ((new[-40:],) if isinstance(new, str) else ()))
    except Exception:
        pass
    size = sum(len(p) for p in (message.header_json, message.metadata_json, message.content_json))
    size += sum(len(b.data if hasattr(b, "data") else b[1]) for b in getattr(message, "buffers", []) or [])
    return dict(msgtype=message.msgtype, size=size, events=ev)

from bokeh.protocol.message import Message
_send = Message.send
async def send(self, conn):
    if self.msgtype == "PATCH-DOC":
        log("srv_write", **_summary(self))
    out = await _send(self, conn)
    if self.msgtype == "PATCH-DOC":
        log("srv_written", msgtype=self.msgtype)
    return out
Message.send = send
try:  # Panel writes its held events through its own path
    import panel.io.document as pdoc
    _dt = pdoc.dispatch_tornado
    def dispatch_tornado(conn, events=None, msg=None):
        if msg is None:
            from bokeh.protocol import Protocol
            msg = conn.protocol.create("PATCH-DOC", events)
        log("srv_write_panel", **_summary(msg))
        return _dt(conn, msg=msg)
    pdoc.dispatch_tornado = dispatch_tornado
except Exception as exc:
    log("hook_error", what="dispatch_tornado", error=repr(exc))

from bokeh.document.callbacks import DocumentCallbackManager
_trig = DocumentCallbackManager.trigger_on_change
def trigger_on_change(self, event):
    log("srv_change", model=type(getattr(event, "model", None)).__name__, attr=getattr(event, "attr", None),
        event=type(event).__name__, hold=self.hold_value)
    return _trig(self, event)
DocumentCallbackManager.trigger_on_change = trigger_on_change

import nephlab.widgets.protocol as wp
_drag = wp.ProtocolDesigner._on_drag
import os
PROFILE = os.environ.get("NL_HOPS_PROFILE")
def _on_drag(self, attr, old, new):
    log("srv_on_drag", phase="start", syncing=self._syncing)
    prof = None
    if PROFILE:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    try:
        return _drag(self, attr, old, new)
    finally:
        if prof is not None:
            prof.disable()
            prof.dump_stats(PROFILE + f".{int(time.time() * 1e3)}")
        log("srv_on_drag", phase="end")
wp.ProtocolDesigner._on_drag = _on_drag
_ev = wp.evaluate_protocol
def evaluate_protocol(p, *a, **k):
    t0 = time.time() * 1e3
    out = _ev(p, *a, **k)
    log("srv_compute", start=t0)
    return out
wp.evaluate_protocol = evaluate_protocol

from nephlab.widgets.app import serve
serve(port=int(sys.argv[2]), address="127.0.0.1", show=False)
"""

# The browser side: injected before any page script.
CLIENT_JS = r"""
(() => {
  if (window.__nl_hops) return;
  const H = window.__nl_hops = [];
  const now = () => performance.timeOrigin + performance.now();
  const size = (d) => typeof d === 'string' ? d.length : (d instanceof ArrayBuffer ? d.byteLength : (d.size || 0));
  function summary(s) {  // the message type of a header frame, the changed attributes of a content frame
    if (typeof s !== 'string') return {};
    try {
      const o = JSON.parse(s);
      if (o.msgtype) return {msgtype: o.msgtype};
      if (Array.isArray(o.events))
        return {events: o.events.map(e => [e.kind, e.attr, JSON.stringify(e.new || '').length]
                                          .concat(typeof e.new === 'string' ? [e.new.slice(-40)] : []))};
    } catch (e) {}
    return {};
  }
  const WS = window.WebSocket;
  const send = WS.prototype.send;
  WS.prototype.send = function (d) {
    H.push(Object.assign({kind: 'cli_send', t: now(), size: size(d)}, summary(d)));
    return send.call(this, d);
  };
  window.WebSocket = function (...args) {
    const ws = new WS(...args);
    ws.addEventListener('message', (e) =>
      H.push(Object.assign({kind: 'cli_recv', t: now(), size: size(e.data)}, summary(e.data))));
    let handler = null;
    Object.defineProperty(ws, 'onmessage', {
      get() { return handler; },
      set(fn) {
        handler = fn;
        WS.prototype.__lookupSetter__('onmessage').call(ws, fn == null ? null : (e) => {
          const t = now();
          try { return fn(e); } finally { H.push({kind: 'cli_handled', t: now(), start: t}); }
        });
      }});
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries())
      H.push({kind: 'cli_longtask', t: performance.timeOrigin + e.startTime, dur: e.duration}); })
      .observe({type: 'longtask', buffered: false});
  } catch (e) {}
})();
"""

# Find the hooks, watch the latency text and the figure's paints; returns the control points'
# screen position for a mouse drag.
ARM_JS = r"""
() => {
  const H = window.__nl_hops, now = () => performance.timeOrigin + performance.now();
  const B = window.Bokeh;
""" + DESIGNER_HOOKS_JS + r"""
  if (rend == null || lat == null) return {ok: false};
  window.__nl_lat = lat; window.__nl_rend = rend;
  lat.connect(lat.properties.text.change, () => H.push({kind: 'cli_latency_text', t: now(), text: lat.text}));
  const views = [...B.index.query(v => v != null && v.model != null && v.model.name === 'nl-protocol-figure')];
  for (const v of views) {
    const paint = v.paint.bind(v);
    v.paint = (...a) => {
      const t = now(), out = paint(...a);
      H.push({kind: 'cli_paint', t: now(), start: t});
      return out;
    };
  }
  // screen position of the middle control point (for --drag)
  const v = views[0];
  const src = rend.data_source, get = (k) => (src.data instanceof Map ? src.data.get(k) : src.data[k]);
  const t = Array.from(get('t')), lam = Array.from(get('lam')), i = Math.floor(lam.length / 2);
  const fv = v.frame;
  const box = v.el.getBoundingClientRect();
  const sx = fv.x_scale.compute(t[i]), sy = fv.y_scale.compute(lam[i]);
  const dy = fv.y_scale.compute(lam[i] + 0.25 * (Math.abs(lam[lam.length - 1] - lam[0]) || 1.0)) - sy;
  return {ok: true, n_paint_views: views.length, text: lat.text, x: box.left + sx, y: box.top + sy, dy};
}
"""

COLLECT_JS = "() => window.__nl_hops"


def _server(python: str, hooks: Path, log: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([python, str(hooks), str(log), str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def _wait_ready(port: int, timeout: float) -> float:
    import urllib.request

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server on port {port} not ready within {timeout} s")


async def _visit(browser: Any, url: str, edit_js: str, drag: bool, settle_s: float) -> tuple[list, dict]:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        from nephlab.bench.pages import PROBE_JS

        await ctx.add_init_script(PROBE_JS)
        await ctx.add_init_script(CLIENT_JS)
        page = await ctx.new_page()
        await page.goto(url, wait_until="commit")
        await page.wait_for_function("() => window.__nl_probe && window.__nl_probe.data_ms !== null",
                                     timeout=120e3, polling=50)
        await asyncio.sleep(settle_s)
        arm = await page.evaluate(ARM_JS)
        if not arm.get("ok"):
            return [], {"ok": False, "why": "hooks not found"}
        t_mark = await page.evaluate("() => performance.timeOrigin + performance.now()")
        if drag:  # a user's drag: press on the point, move in steps, release
            await page.mouse.move(arm["x"], arm["y"])
            await page.mouse.down()
            for k in range(1, 6):
                await page.mouse.move(arm["x"], arm["y"] + arm["dy"] * k / 5)
            await page.evaluate("() => window.__nl_hops.push({kind: 'cli_change', t: performance.timeOrigin + "
                                "performance.now(), how: 'mouseup'})")
            await page.mouse.up()
            await page.wait_for_function(f"() => window.__nl_lat.text !== {json.dumps(arm['text'])}",
                                         timeout=30e3, polling=2)
            edit = {"ok": True}
        else:
            edit = await page.evaluate(edit_js, 30e3)
        await asyncio.sleep(1.0)  # trailing messages and paints
        hops = [h for h in await page.evaluate(COLLECT_JS) if h["t"] >= t_mark - 1]
        return hops, edit
    finally:
        await ctx.close()


def _edit_js() -> str:
    """``EDIT_JS`` of the pages benchmark with a ``cli_change`` mark just before the change."""
    from nephlab.bench.pages import EDIT_JS

    mark = "window.__nl_hops.push({kind: 'cli_change', t: performance.timeOrigin + performance.now(), how: 'data'});\n"
    return EDIT_JS.replace("  src.data = fresh;", "  " + mark + "  src.data = fresh;")


def _merge(client: list[dict], server: list[dict], t_end: float) -> list[dict]:
    t0 = next(h["t"] for h in client if h["kind"] == "cli_change")
    srv = [s for s in server if t0 - 50 <= s["t"] <= t_end]
    evs = sorted(client + srv, key=lambda h: h["t"])
    return [dict(h, dt=h["t"] - t0) for h in evs]


def _has_latency(h: dict) -> bool:
    return any(len(e) > 3 and "edit latency" in str(e[3]) for e in h.get("events", []))


def _has_data(h: dict) -> bool:
    return any(e[1] == "data" for e in h.get("events", []))


def _hops(evs: list[dict]) -> dict[str, float | None]:
    """ms from the client's change to each hop (None: not seen), and what the browser applied
    meanwhile: the messages received before the latency text and its main thread's time on them."""
    def first(kind: str, pred=lambda h: True, after: float | None = 0.0) -> float | None:
        return next((h["dt"] for h in evs if h["kind"] == kind and h["dt"] >= (after or 0.0) and pred(h)), None)

    sent = first("cli_send", _has_data)
    recv = first("srv_recv", _has_data)
    start = first("srv_on_drag", lambda h: h.get("phase") == "start", recv)
    lat = first("cli_latency_text")
    before = [h for h in evs if 0 <= h["dt"] <= (lat if lat is not None else -1)]
    return {
        "client: data patch sent": sent,
        "server: patch received": recv,
        "server: _on_drag starts": start,
        "server: evaluate_protocol done": first("srv_compute", after=start),
        "server: latency text written": (first("srv_write_panel", _has_latency, start)
                                         or first("srv_write", _has_latency, start)),
        "server: _on_drag ends": first("srv_on_drag", lambda h: h.get("phase") == "end", start),
        "client: latency text received": first("cli_recv", _has_latency),
        "client: nl-latency text changed": lat,
        "client: next repaint of the figure": first("cli_paint", after=lat) if lat is not None else None,
        "client: messages applied before the text": float(sum(1 for h in before if h["kind"] == "cli_recv"
                                                              and (h.get("events") or h.get("msgtype") == "OK"))),
        "client: main-thread ms on them": sum(h["t"] - h["start"] for h in before if h["kind"] == "cli_handled"),
    }


def _print_timeline(evs: list[dict]) -> None:
    for h in evs:
        extra = {k: v for k, v in h.items() if k not in ("kind", "t", "dt")}
        if "start" in extra:
            extra["took_ms"] = round(h["t"] - extra.pop("start"), 1)
        print(f"  {h['dt']:8.1f} ms  {h['kind']:<18} {json.dumps(extra, default=str)[:200]}")


async def _run(a: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright

    from nephlab.bench.pages import CHROMIUM_ARGS, _chromium, free_port

    out: dict[str, Any] = {"visits": [], "load_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="nephlab-hops-") as tmp:
        hooks, log = Path(tmp) / "hooks.py", Path(tmp) / "server.jsonl"
        hooks.write_text(SERVER_HOOKS)
        log.write_text("")
        port = free_port()
        srv = _server(a.python, hooks, log, port)
        try:
            ready = _wait_ready(port, 180)
            await asyncio.sleep(max(0.0, a.fresh_delay - ready))
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=_chromium(None), headless=True,
                                                   args=list(CHROMIUM_ARGS))
                out["chromium"] = browser.version
                try:
                    for i in range(1 + a.repeats):
                        label = "fresh" if i == 0 else f"warm {i}"
                        client, edit = await _visit(browser, f"http://127.0.0.1:{port}/protocol", _edit_js(),
                                                    a.drag, a.settle)
                        server = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
                        if not client:
                            print(f"{label}: {edit}")
                            continue
                        evs = _merge(client, server, client[-1]["t"] + 1)
                        hops = _hops(evs)
                        out["visits"].append({"label": label, "edit": edit, "hops": hops, "events": evs})
                        if not a.quiet:
                            print(f"--- {label}: round trip {edit.get('round_trip_ms', float('nan')):.0f} ms "
                                  f"(EDIT_JS), latency text {edit.get('text')!r}")
                            _print_timeline(evs)
                finally:
                    await browser.close()
        finally:
            srv.terminate()
            try:
                srv.wait(15)
            except subprocess.TimeoutExpired:
                srv.kill()
    out["load_end"] = os.getloadavg()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="warm visits after the fresh one (default: 3)")
    ap.add_argument("--drag", action="store_true", help="drag the point with the mouse instead of EDIT_JS")
    ap.add_argument("--fresh-delay", type=float, default=10.0, help="first visit this many s after the server "
                    "started (default: 10)")
    ap.add_argument("--settle", type=float, default=0.0, help="s to wait after the first plot with data before "
                    "the edit (default: 0, as the pages benchmark)")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the served nephlab (default: this)")
    ap.add_argument("--json", default=None, help="write every event here")
    ap.add_argument("--quiet", action="store_true", help="no timelines, only the hop table")
    a = ap.parse_args(argv)
    if os.sep in a.python:
        a.python = os.path.abspath(a.python)
    res = asyncio.run(_run(a))
    names = list(res["visits"][0]["hops"]) if res["visits"] else []
    print(f"\ndesigner edit hops, ms after the client's change ({'mouse drag' if a.drag else 'EDIT_JS'}); "
          f"load average {res['load_start'][0]:.2f} -> {res['load_end'][0]:.2f}; chromium {res.get('chromium')}")
    labels = [v["label"] for v in res["visits"]]
    print(f"{'hop':<34}" + "".join(f"{x:>10}" for x in labels) + f"{'warm med':>10}")
    for n in names:
        xs = [v["hops"][n] for v in res["visits"]]
        warm = [x for x in xs[1:] if x is not None]
        cells = "".join(f"{'-' if x is None else f'{x:.1f}':>10}" for x in xs)
        print(f"{n:<34}{cells}{'-' if not warm else f'{statistics.median(warm):.1f}':>10}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
