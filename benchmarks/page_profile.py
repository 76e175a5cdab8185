"""Where a served page's browser time goes: one warm visit per page, profiled through CDP.

    python benchmarks/page_profile.py                     # every page, warm visit after a warm-up
    python benchmarks/page_profile.py --pages lindblad --top 25 --json prof.json
    python benchmarks/page_profile.py --table before.json after.json   # compare saved runs

For each page it starts ``nephlab serve`` (the harness of ``nephlab bench pages``,
``nephlab/bench/pages.py``), makes one warm-up visit, then a visit in a new browser context with

- the ``Profiler`` domain on (sampling, 100 µs): self time by script URL and the top functions;
- the ``Performance`` domain's counters at the first painted plot: script, layout, style-recalc
  and task durations, layout and style-recalc counts;
- the ``Network`` domain: every response, its type and its encoded size;

and the first-plot time of the same probe as ``nephlab bench pages``; at the first plot, the shadow
roots, ``<style>`` and ``<link>`` elements through every open shadow root and BokehJS's views by
model type (:data:`VIEWS_JS`; ``--views-after S`` counts again S seconds later, and takes the
renderer's CPU from navigation to then: the work of figures deferred past the first plot). One visit per page, so the
numbers are a profile, not a timing benchmark: take timings from ``nephlab bench pages``.

``--revisits N`` profiles the visit that follows N visits of the page in the same browser
context (a user who comes back: scripts from the HTTP cache, compiled code from V8's code cache,
which Chromium writes for a script run a second time) instead of a visit in a new context.

``--paints N`` then repaints every displayed plot of the page N times with BokehJS's lookup of
CSS variables for visual properties and N times without it (what ``nephlab serve`` pages do,
``nephlab.widgets._resources``), alternated, also after a style change each time: the cost of
that lookup per repaint, in the same page.

``--settle S`` waits S seconds after the warm-up visit before the profiled one: without it the
warm-up session's work after its first paint (deferred figures, jobs) and its end can still
hold the server's IO loop when the profiled request arrives, as in back-to-back visits.

``--trace`` adds a Chrome trace of the visit (``Browser.start_tracing``, categories
:data:`TRACE_CATEGORIES`) summarised by thread CPU time (the trace events' ``tdur``): every
Chromium thread's busy CPU (main thread, compositor, raster workers, V8's background compile and
GC threads, the browser and GPU processes), and the events with the most self CPU time on each
of the busiest threads. This says where the renderer's CPU goes beyond its main thread's
``TaskDuration`` (for instance compiling the scripts on a worker, or rastering the page). The
tracing itself costs CPU (a few percent); compare traced runs with traced runs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "nephlab" / "bench" / "pages.py"
_spec = importlib.util.spec_from_file_location("nephlab_bench_pages", _PATH)
pages = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pages
_spec.loader.exec_module(pages)

def cpu_by_process() -> collections.Counter:
    """CPU seconds so far of this harness's descendants, by kind: Chromium's ``--type=`` (browser
    for the main process), ``node`` for Playwright's driver."""
    import psutil

    out: collections.Counter = collections.Counter()
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        try:
            cmd = proc.cmdline()
            t = proc.cpu_times()
        except psutil.Error:
            continue
        kind = next((c.split("=", 1)[1] for c in cmd if c.startswith("--type=")), None)
        if kind is None:
            kind = "browser" if any("chrom" in c for c in cmd[:1]) else Path(cmd[0]).name if cmd else "?"
        if kind == "utility":
            kind += ":" + next((c.split("=", 1)[1].split(".")[-1] for c in cmd if c.startswith("--utility-sub-type=")), "?")
        out[kind] += t.user + t.system
    return out


# Injected before any page script with PROBE_JS: the critical path's steps that the Navigation and
# Resource Timing entries lack. When BokehJS's bundle has run (``window.Bokeh`` first assigned),
# when Bokeh's client opened its websocket, and when each of the first websocket messages arrived
# (its Bokeh msgtype from the header frame, its size), so the document's arrival (PULL-DOC-REPLY)
# is on the same clock as the first painted canvas.
PATH_JS = r"""
(() => {
  if (window.__nl_path) return;
  const st = window.__nl_path = {bokeh_ms: null, ws_new_ms: null, ws_open_ms: null, messages: []};
  let bokeh;
  Object.defineProperty(window, 'Bokeh', {configurable: true, enumerable: true,
    get() { return bokeh; },
    set(v) { if (st.bokeh_ms === null) st.bokeh_ms = performance.now(); bokeh = v; }});
  const WS = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new WS(...args);
    if (st.ws_new_ms === null) st.ws_new_ms = performance.now();
    ws.addEventListener('open', () => { if (st.ws_open_ms === null) st.ws_open_ms = performance.now(); });
    ws.addEventListener('message', (e) => {
      if (st.messages.length >= 40) return;
      const d = e.data, text = typeof d === 'string';
      const m = text ? /"msgtype"\s*:\s*"([A-Z-]+)"/.exec(d.slice(0, 300)) : null;
      st.messages.push({t_ms: performance.now(), bytes: text ? d.length : (d.byteLength || d.size || 0),
                        msgtype: m ? m[1] : null});
    });
    return ws;
  };
  window.WebSocket.prototype = WS.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""


def critical_path(timeline: dict, path: dict) -> dict:
    """The warm visit's critical path, in ms from navigation start: each step's end time and the
    time since the step before. ``timeline`` is :data:`TIMELINE_JS`'s result, ``path``
    :data:`PATH_JS`'s ``window.__nl_path``; the document is the ``PULL-DOC-REPLY`` message (its
    header frame's arrival to its last frame's).

        >>> tl = {"ttfb_ms": 200.0, "html_end_ms": 210.0, "last_script_ms": 300.0, "dcl_ms": 520.0,
        ...       "canvas_ms": 900.0}
        >>> pa = {"bokeh_ms": 400.0, "ws_new_ms": 530.0, "ws_open_ms": 545.0, "messages": [
        ...       {"t_ms": 560.0, "bytes": 100, "msgtype": "ACK"}, {"t_ms": 700.0, "bytes": 90, "msgtype": "PULL-DOC-REPLY"},
        ...       {"t_ms": 701.0, "bytes": 2, "msgtype": None}, {"t_ms": 702.0, "bytes": 50000, "msgtype": None}]}
        >>> cp = critical_path(tl, pa)
        >>> [(k, v["at_ms"], v["step_ms"]) for k, v in cp.items()][:3]
        [('TTFB', 200.0, 200.0), ('HTML received', 210.0, 10.0), ('scripts received', 300.0, 90.0)]
        >>> cp["document received"]["at_ms"], cp["first canvas painted"]["step_ms"], cp["document received"]["kB"]
        (702.0, 198.0, 50.092)
    """
    msgs = path.get("messages") or []
    doc_i = next((i for i, m in enumerate(msgs) if m.get("msgtype") == "PULL-DOC-REPLY"), None)
    doc_end, doc_kb = None, None
    if doc_i is not None:  # a message is its header frame, then metadata and content (and buffers)
        end = next((i for i in range(doc_i + 1, len(msgs)) if msgs[i].get("msgtype")), len(msgs))
        doc_end = msgs[end - 1]["t_ms"]
        doc_kb = sum(m["bytes"] for m in msgs[doc_i:end]) / 1e3
    steps = [("TTFB", timeline.get("ttfb_ms")), ("HTML received", timeline.get("html_end_ms")),
             ("scripts received", timeline.get("last_script_ms")), ("BokehJS evaluated", path.get("bokeh_ms")),
             ("DOMContentLoaded (scripts run)", timeline.get("dcl_ms")), ("websocket created", path.get("ws_new_ms")),
             ("websocket open", path.get("ws_open_ms")), ("document received", doc_end),
             ("first canvas painted", timeline.get("canvas_ms"))]
    out, prev = {}, 0.0
    for name, at in steps:
        if at is None:
            continue
        out[name] = {"at_ms": round(at, 1), "step_ms": round(at - prev, 1)}
        prev = at
    if "document received" in out:
        out["document received"]["kB"] = doc_kb
    return out


TIMELINE_JS = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  const rs = performance.getEntriesByType('resource').filter(r => r.initiatorType === 'script');
  return {ttfb_ms: n.responseStart, html_end_ms: n.responseEnd, dcl_ms: n.domContentLoadedEventEnd,
          load_ms: n.loadEventEnd, last_script_ms: Math.max(0, ...rs.map(r => r.responseEnd)),
          canvas_ms: window.__nl_probe.canvas_ms};
}"""

PAINTS_JS = """async (n) => {
  // every plot view of the page repainted synchronously, n rounds per mode, the modes alternated:
  // "lookup" is BokehJS's own VisualProperties._get_css_value (a getComputedStyle per visual
  // property), "skip" returns "" as nephlab's served pages make it; "dirty" rounds first change an
  // inherited custom property on <body> (styles to recompute, as while a page is being built)
  const PlotView = Bokeh.require("models/plots/plot_canvas").PlotView;
  const proto = Bokeh.require("core/visuals/visual").VisualProperties.prototype;
  const current = proto._get_css_value;
  const lookup = function (name) {
    return getComputedStyle(this.obj.el).getPropertyValue(`${this.css_prefix}${name}`);
  };
  const skip = function (name) { return ""; };
  const views = [...Bokeh.index.query((v) => v instanceof PlotView)].filter((v) => v.is_displayed);
  const out = {plots: views.length, lookup: [], skip: [], lookup_dirty: [], skip_dirty: []};
  let k = 0;
  try {
    for (let i = 0; i < n; i++) {
      for (const mode of (i % 2 ? ["skip", "lookup"] : ["lookup", "skip"])) {
        for (const dirty of [false, true]) {
          proto._get_css_value = mode == "lookup" ? lookup : skip;
          if (dirty) document.body.style.setProperty("--nl-paint-round", String(k++));
          const t0 = performance.now();
          for (const v of views) { v.invalidate_painters(); v.repaint(); }
          out[dirty ? mode + "_dirty" : mode].push(performance.now() - t0);
        }
      }
      await new Promise((r) => setTimeout(r, 0));
    }
    // the pictures: each plot exported as PNG with either mode (they must be the same pixels)
    const png = (mode) => {
      proto._get_css_value = mode == "lookup" ? lookup : skip;
      return views.map((v) => { v.invalidate_painters(); v.repaint(); return v.export("png").canvas.toDataURL(); });
    };
    const same = (x, y) => x.length > 0 && x.every((u, i) => u === y[i]);
    let a = png("lookup");
    for (let t = 0; t < 60; t++) {  // until the page settled (data and deferred lines arrived): 2 equal exports
      await new Promise((r) => setTimeout(r, 250));
      const again = png("lookup");
      if (same(a, again)) break;
      a = again;
    }
    const b = png("skip"), c = png("lookup");
    out.same_pixels = same(a, b);
    out.same_pixels_control = same(a, c);  // lookup twice: the export is repeatable
  } finally {
    proto._get_css_value = current;
  }
  return out;
}"""

TRACE_CATEGORIES = ("toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "v8.execute",
                    "blink", "cc", "gpu", "viz", "disabled-by-default-v8.compile", "loading", "netlog")

# What the page holds at its first painted plot: shadow roots and <style>/<link> elements, counted
# through every open shadow root, and BokehJS's views (every view under the root views) by the
# type of their model (Figure, LinearAxis, Grid, Toolbar, ToolButton, ...).
VIEWS_JS = """() => {
  let roots = 0, styles = 0, links = 0, elements = 0;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      elements++;
      if (el.tagName === 'STYLE') styles++;
      else if (el.tagName === 'LINK') links++;
      if (el.shadowRoot) { roots++; walk(el.shadowRoot); }
    }
  };
  walk(document);
  const by_type = {};
  let views = 0;
  if (window.Bokeh && Bokeh.index) {
    for (const v of Bokeh.index.query(() => true)) {
      const t = (v.model && v.model.type) || v.constructor.name;
      by_type[t] = (by_type[t] || 0) + 1;
      views++;
    }
  }
  return {shadow_roots: roots, style_elements: styles, link_elements: links, elements, bokeh_views: views,
          views_by_type: Object.fromEntries(Object.entries(by_type).sort((a, b) => b[1] - a[1]))};
}"""

METRICS = ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration", "LayoutCount",
           "RecalcStyleCount", "JSHeapUsedSize", "Nodes")


def _short(url: str) -> str:
    if not url:
        return "(no url: eval, native, GC, idle)"
    return url.split("?")[0].split("/static/")[-1][-70:]


def trace_threads(trace: dict, top: int = 8) -> list[dict]:
    """Per thread of a Chrome trace (``{"traceEvents": [...]}``): its process and thread name, the
    CPU ms of its complete (``X``) events that have no enclosing event (``busy_ms``: the sum of the
    outermost ``tdur``), and the ``top`` event names by self CPU ms (``tdur`` less that of the
    events nested in it), busiest thread first.

    Example:
        >>> ev = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 2, "args": {"name": "Main"}},
        ...       {"ph": "X", "name": "Task", "pid": 1, "tid": 2, "ts": 0, "dur": 10, "tdur": 8},
        ...       {"ph": "X", "name": "Parse", "pid": 1, "tid": 2, "ts": 1, "dur": 5, "tdur": 5}]
        >>> t = trace_threads({"traceEvents": ev})[0]
        >>> t["thread"], t["busy_ms"], t["self_ms"]
        ('Main', 0.008, [('Parse', 0.005), ('Task', 0.003)])
    """
    names: dict[tuple, str] = {}
    procs: dict[int, str] = {}
    by_thread: dict[tuple, list[dict]] = collections.defaultdict(list)
    for e in trace.get("traceEvents", []):
        ph = e.get("ph")
        if ph == "M" and e.get("name") == "thread_name":
            names[(e["pid"], e["tid"])] = e.get("args", {}).get("name", "?")
        elif ph == "M" and e.get("name") == "process_name":
            procs[e["pid"]] = e.get("args", {}).get("name", "?")
        elif ph == "X" and "tdur" in e and "dur" in e:
            by_thread[(e["pid"], e["tid"])].append(e)
    out = []
    for key, evs in by_thread.items():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[list] = []  # [end_ts, name, tdur, children_tdur]
        own: collections.Counter = collections.Counter()
        busy = 0.0

        def pop() -> None:
            end, name, tdur, kids = stack.pop()
            own[name] += max(0.0, tdur - kids)
            if stack:
                stack[-1][3] += tdur

        for e in evs:
            while stack and e["ts"] >= stack[-1][0]:
                pop()
            if not stack:
                busy += e["tdur"]
            stack.append([e["ts"] + e["dur"], e["name"], float(e["tdur"]), 0.0])
        while stack:
            pop()
        out.append({"process": procs.get(key[0], str(key[0])), "thread": names.get(key, str(key[1])),
                    "busy_ms": busy / 1e3, "self_ms": [(n, v / 1e3) for n, v in own.most_common(top)]})
    return sorted(out, key=lambda t: -t["busy_ms"])


def self_time_by(profile: dict, key) -> collections.Counter:
    """Self time (ms) of a CDP ``Profiler.Profile`` summed by ``key(callFrame)``."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    dt = profile.get("timeDeltas", [])
    out: collections.Counter = collections.Counter()
    for sid, d in zip(profile.get("samples", []), dt[1:] + [0]):
        out[key(nodes[sid]["callFrame"])] += d / 1e3
    return out


async def _visit_in(ctx, url: str, timeout_s: float) -> None:
    """Open ``url`` in a new tab of the browser context ``ctx``, wait for its first plot, close the tab."""
    page = await ctx.new_page()
    try:
        await page.goto(url, wait_until="commit", timeout=timeout_s * 1e3)
        await page.wait_for_function("() => window.__nl_probe && window.__nl_probe.canvas_ms !== null",
                                     timeout=timeout_s * 1e3, polling=50)
    finally:
        await page.close()


async def profile_page(browser, url: str, page_name: str, timeout_s: float, trace: bool = False,
                       revisits: int = 0, paints: int = 0, views_after_s: float = 0.0) -> dict:
    ctx = await browser.new_context(viewport=pages.VIEWPORT)
    try:
        await ctx.add_init_script(pages.PROBE_JS)
        await ctx.add_init_script(PATH_JS)
        for _ in range(revisits):  # earlier visits in the same context: HTTP cache and V8 code cache
            await _visit_in(ctx, f"{url}/{page_name}", timeout_s)
        page = await ctx.new_page()
        cdp = await ctx.new_cdp_session(page)
        responses: list[dict] = []
        sizes: dict[str, int] = {}
        cdp.on("Network.responseReceived", lambda e: responses.append(
            {"id": e["requestId"], "url": e["response"]["url"], "type": e["type"]}))
        cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
        await cdp.send("Network.enable")
        await cdp.send("Performance.enable")
        await cdp.send("Profiler.enable")
        await cdp.send("Profiler.setSamplingInterval", {"interval": 100})
        await cdp.send("Profiler.start")
        if trace:
            await browser.start_tracing(page=page, categories=list(TRACE_CATEGORIES))
        cpu0 = cpu_by_process()
        t0 = time.perf_counter()
        await page.goto(f"{url}/{page_name}", wait_until="commit", timeout=timeout_s * 1e3)
        await page.wait_for_function("() => window.__nl_probe && window.__nl_probe.canvas_ms !== null",
                                     timeout=timeout_s * 1e3, polling=50)
        cpu1 = cpu_by_process()
        threads = trace_threads(json.loads(await browser.stop_tracing())) if trace else []
        metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
        prof = (await cdp.send("Profiler.stop"))["profile"]
        probe = await page.evaluate("() => window.__nl_probe")
        timeline = await page.evaluate(TIMELINE_JS)
        path = await page.evaluate("() => window.__nl_path")
        n_models = await page.evaluate(
            "() => window.Bokeh ? [...window.Bokeh.documents].reduce((s, d) => s + d.all_models.size, 0) : null")
        wall = time.perf_counter() - t0
        views = await page.evaluate(VIEWS_JS)
        if views_after_s > 0:  # again once deferred figures (/lindblad's five) have arrived
            await asyncio.sleep(views_after_s)
            views["settled"] = await page.evaluate(VIEWS_JS)
            cpu2 = cpu_by_process()  # the deferred figures' work too (the tab stays open, idle after it)
            views["settled_cpu_s"] = {k: round(cpu2[k] - cpu0.get(k, 0.0), 3) for k in cpu2}
        repaint = await page.evaluate(PAINTS_JS, paints) if paints else None
    finally:
        await ctx.close()
    by_url = self_time_by(prof, lambda f: _short(f["url"]))
    by_fn = self_time_by(prof, lambda f: f"{f['functionName'] or '(anonymous)'} {_short(f['url'])}:{f['lineNumber']}")
    res = [dict(r, bytes=sizes.get(r["id"], 0)) for r in responses]
    return {"page": page_name, "revisits": revisits, "canvas_ms": probe["canvas_ms"], "n_plots": probe["n_plots"], "bokeh_models": n_models,
            "views": views, "views_after_s": views_after_s, "wall_s": wall, "repaint_ms": repaint, "timeline": timeline,
            "critical_path": critical_path(timeline, path), "ws_messages": path.get("messages"), "threads": threads,
            "cpu_s": {k: round(cpu1[k] - cpu0.get(k, 0.0), 3) for k in cpu1}, "metrics": {k: metrics.get(k) for k in METRICS},
            "profile_total_ms": sum(by_url.values()), "by_url": by_url.most_common(),
            "by_function": by_fn.most_common(60),
            "resources": sorted(({"url": _short(r["url"]), "type": r["type"], "kB": r["bytes"] / 1e3} for r in res),
                                key=lambda r: -r["kB"])}


def report(r: dict, top: int) -> str:
    m = r["metrics"]
    again = f" (after {r['revisits']} visits in the same context)" if r.get("revisits") else ""
    lines = [f"/{r['page']}{again}: first plot {r['canvas_ms'] / 1e3:.2f} s, {r['n_plots']} plot views, "
             f"{r['bokeh_models']} Bokeh models, {m['Nodes']:.0f} DOM nodes",
             "  at first paint: {shadow_roots} shadow roots, {style_elements} <style>, {link_elements} <link>, "
             "{bokeh_views} BokehJS views: ".format(**r["views"]) + ", ".join(
                 f"{k} {v}" for k, v in list(r["views"]["views_by_type"].items())[:12]),
             *(["  {s:.0f} s later: {shadow_roots} shadow roots, {style_elements} <style>, {bokeh_views} BokehJS views "
                "(renderer CPU since navigation {cpu:.2f} s): ".format(
                    s=r["views_after_s"], cpu=r["views"]["settled_cpu_s"].get("renderer", 0.0),
                    **r["views"]["settled"]) + ", ".join(
                    f"{k} {v}" for k, v in list(r["views"]["settled"]["views_by_type"].items())[:12])]
               if r["views"].get("settled") else []),
             "  timeline (ms): " + ", ".join(f"{k[:-3]} {v:.0f}" for k, v in r["timeline"].items() if v),
             "  critical path (ms at, +step): " + ", ".join(
                 f"{k} {v['at_ms']:.0f} (+{v['step_ms']:.0f})" + (f", {v['kB']:.0f} kB" if v.get("kB") else "")
                 for k, v in r.get("critical_path", {}).items()),
             "  CPU s during the visit: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["cpu_s"].items(),
                                                                                    key=lambda kv: -kv[1])),
             f"  renderer main thread: task {m['TaskDuration'] * 1e3:.0f} ms = script {m['ScriptDuration'] * 1e3:.0f} + "
             f"layout {m['LayoutDuration'] * 1e3:.0f} ({m['LayoutCount']:.0f}x) + style {m['RecalcStyleDuration'] * 1e3:.0f} "
             f"({m['RecalcStyleCount']:.0f}x) ms + other",
             f"  JS profile {r['profile_total_ms']:.0f} ms (samples incl. idle), self time by script:"]
    lines += [f"    {ms:7.0f} ms  {u}" for u, ms in r["by_url"][:top]]
    lines.append("  top functions (self time):")
    lines += [f"    {ms:7.0f} ms  {f}" for f, ms in r["by_function"][:top]]
    if r.get("threads"):
        total = sum(t["busy_ms"] for t in r["threads"])
        lines.append(f"  trace: {total:.0f} ms of thread CPU in traced events; the busiest threads (self ms of events):")
        for t in r["threads"][:top]:
            if t["busy_ms"] < 5:
                break
            lines.append(f"    {t['busy_ms']:7.0f} ms  {t['process'][:18]:<18} {t['thread'][:28]:<28} "
                         + ", ".join(f"{n} {v:.0f}" for n, v in t["self_ms"][:6]))
    rp = r.get("repaint_ms")
    if rp:
        med = {k: sorted(v)[len(v) // 2] for k, v in rp.items() if isinstance(v, list)}
        lines.append(f"  repaint of the {rp['plots']} plots, median of {len(rp['lookup'])} (ms): BokehJS's CSS lookup "
                     f"{med['lookup']:.2f}, skipped {med['skip']:.2f}; after a style change {med['lookup_dirty']:.2f} "
                     f"and {med['skip_dirty']:.2f}; the same pixels either way: {rp.get('same_pixels')} "
                     f"(lookup twice: {rp.get('same_pixels_control')})")
    kb = sum(x["kB"] for x in r["resources"])
    lines.append(f"  {len(r['resources'])} responses, {kb:.0f} kB; the largest:")
    lines += [f"    {x['kB']:8.0f} kB  {x['type']:<10} {x['url']}" for x in r["resources"][:top]]
    return "\n".join(lines)


def table(files: list[str]) -> str:
    """A markdown table of the deterministic quantities of saved ``--json`` runs, one row per page
    and file (label: the file's name), for before/after comparisons."""
    rows = ["| page | run | Bokeh models | BokehJS views | shadow roots | <style> | DOM nodes | responses kB | renderer CPU s | main-thread task ms "
            "| script ms | style recalcs | TTFB s | first plot s | server CPU s |", "|" + "---|" * 15]
    runs = [(Path(f).stem, json.loads(Path(f).read_text())) for f in files]
    for page in dict.fromkeys(r["page"] for _, res in runs for r in res):
        for label, res in runs:
            for r in (x for x in res if x["page"] == page):
                m, cpu = r["metrics"], r["cpu_s"]
                vw = r.get("views") or {}
                rows.append(f"| /{page} | {label} | {r['bokeh_models']} | {vw.get('bokeh_views', '')} | "
                            f"{vw.get('shadow_roots', '')} | {vw.get('style_elements', '')} | {m['Nodes']:.0f} | "
                            f"{sum(x['kB'] for x in r['resources']):.0f} | {cpu.get('renderer', 0):.2f} | "
                            f"{m['TaskDuration'] * 1e3:.0f} | {m['ScriptDuration'] * 1e3:.0f} | {m['RecalcStyleCount']:.0f} | "
                            f"{r['timeline']['ttfb_ms'] / 1e3:.2f} | {r['canvas_ms'] / 1e3:.2f} | {cpu.get('python', 0):.2f} |")
    return "\n".join(rows)


async def _run(a: argparse.Namespace) -> list[dict]:
    from playwright.async_api import async_playwright

    out = []
    with tempfile.TemporaryDirectory(prefix="nephlab-prof-") as tmp:
        srv = pages.Server(a.python, Path(tmp), tuple(a.serve_arg))
        try:
            srv.wait_ready(a.timeout)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=pages._chromium(None), headless=True,
                                                   args=list(pages.CHROMIUM_ARGS))
                try:
                    for p in a.pages:
                        await pages.visit(browser, srv.url, p, timeout_s=a.timeout, data_wait_s=0)  # warm-up
                        if a.settle > 0:  # let the warm-up session's own work end first
                            await asyncio.sleep(a.settle)
                        r = await profile_page(browser, srv.url, p, a.timeout, trace=a.trace, revisits=a.revisits,
                                               paints=a.paints, views_after_s=a.views_after)
                        print(report(r, a.top), flush=True)
                        out.append(r)
                finally:
                    await browser.close()
        finally:
            srv.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=pages._pages, default=list(pages.PAGES))
    p.add_argument("--top", type=int, default=15, help="rows per list (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--serve-arg", action="append", default=[], metavar="ARG")
    p.add_argument("--json", default=None)
    p.add_argument("--paints", type=int, default=0, metavar="N",
                   help="after the visit, repaint the page's plots N times with BokehJS's CSS lookup of "
                        "visual properties and N times without, alternated (default: %(default)s)")
    p.add_argument("--revisits", type=int, default=0, metavar="N",
                   help="profile the visit after N visits in the same browser context (its HTTP and V8 code "
                        "caches kept) instead of a visit in a new context (default: %(default)s)")
    p.add_argument("--settle", type=float, default=0.0, metavar="S",
                   help="seconds between the warm-up visit and the profiled one, so that the warm-up session's "
                        "deferred work and end do not fall in the profiled visit (default: %(default)s)")
    p.add_argument("--views-after", type=float, default=0.0, metavar="S",
                   help="count shadow roots, <style> elements and BokehJS views again S seconds after the first "
                        "plot, when deferred figures have arrived (default: %(default)s: only at the first plot)")
    p.add_argument("--trace", action="store_true", help="also record a Chrome trace of the visit and print "
                   "CPU by thread and event (see above)")
    p.add_argument("--table", nargs="+", metavar="JSON", help="print a table of saved --json runs and exit")
    a = p.parse_args(argv)
    if a.table:
        print(table(a.table))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    res = asyncio.run(_run(a))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
