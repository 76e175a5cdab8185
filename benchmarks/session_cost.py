"""What one served session of a page costs the server, measured in-process (deterministic counts).

    python benchmarks/session_cost.py                         # every page, 10 sessions each
    python benchmarks/session_cost.py --pages lindblad,protocol --reps 20
    python benchmarks/session_cost.py --base /tmp/main-src --rounds 3   # interleaved A/B
    python benchmarks/session_cost.py --http --prewarm full --base /tmp/main-src   # whole GETs, A/B

For each page it builds sessions the way ``nephlab serve`` does for a visit, without HTTP: a
Bokeh ``Document`` with a session context (so the page defers its plots and its first
computation to ``pn.state.onload``, as when served), ``build_page(name)``, the template's
``server_doc(doc)`` (the models of the page; what the first response waits for) and
``doc.to_json()`` serialised (what the browser pulls over the websocket). It reports the
number of Bokeh models in the document, the size of its JSON, and the CPU time (``process_time``)
of the three steps: the first session of a fresh process and the median of ``--reps`` sessions
after it. The onload work (deferred plots, first results) and the browser are not included:
``benchmarks/page_profile.py`` and ``nephlab bench pages`` measure those.

``--freeze`` freezes the process's objects out of the garbage collections after the prewarm
(``gc.collect(); gc.freeze()``, as ``nephlab serve`` does since issue 11's heap freeze,
``nephlab/widgets/_heap.py``); ``--compare-freeze`` runs without and with it, alternated in fresh
processes ``--rounds`` times. Each session also reports ``end_gc_ms``: the CPU of the
``gc.collect()`` that Panel runs after a session ended (its objects dropped first), and the
number of objects the collector tracks then (``tracked``).

``--http`` times whole GETs of the pages from an in-process server instead (:func:`measure_http`:
the CPU and wall time of each request, which is what a visit waits for before its first byte,
Bokeh's checks and the HTML page included).

``--base DIR`` also runs the same measurement with ``PYTHONPATH=DIR`` (another revision, same
venv), alternating the two in fresh processes ``--rounds`` times, and prints each side's median
over the rounds and the ratio. ``DIR`` holds that revision's ``nephlab/`` with its ``widgets/``
moved to ``nephlab/widgets`` (the editable install would otherwise import this checkout's)::

    mkdir /tmp/base && git archive main | tar -x -C /tmp/base && mv /tmp/base/widgets /tmp/base/nephlab/
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import weakref

PAGES = ("lindblad", "protocol", "largedev", "md", "cluster")


def _session_doc(keep: list):
    from bokeh.document import Document
    from bokeh.server.contexts import BokehSessionContext

    class _Request:  # what Panel reads from a session's request
        arguments: dict = {}
        cookies: dict = {}
        headers: dict = {}
        protocol, host, uri, path = "http", "localhost", "/", "/"

    doc = Document()
    ctx = BokehSessionContext("bench", None, doc)
    ctx._request = _Request()
    keep.append(ctx)
    doc._session_context = weakref.ref(ctx)
    return doc


def _end_session(doc) -> None:
    """End a session as Panel's server does: the session-destroyed callbacks (the components
    cancel their jobs), Panel's session bookkeeping, and Panel's ``Document.destroy``; the
    ``gc.collect()`` that Panel schedules 5 s later is the caller's to run (and measure)."""
    from panel.io.document import _destroy_document
    from panel.io.state import state

    ctx = doc.session_context
    for cb in list(doc.session_destroyed_callbacks):
        with contextlib.suppress(KeyError):  # a Panel model registered twice forgets its document once
            cb(ctx)
    state._destroy_session(ctx)
    state.schedule_task = lambda *args, **kwargs: None  # Panel's gc task: run by the caller
    try:
        doc.destroy = functools.partial(_destroy_document, doc)  # as Panel's server sets it
        doc.destroy(None)
    finally:
        del state.schedule_task


def measure(pages: list[str], reps: int, prewarm: str = "none", freeze: bool = False) -> dict:
    """``{page: {models, json_bytes, first: {...}, warm: {...}}}`` for this process's nephlab.

    ``prewarm``: what the process does before the first session, as ``nephlab serve`` would
    have by the time of a first visit: ``none``; ``import`` (every page's module imported, the
    warm-up's first step); ``full`` (:func:`~nephlab.widgets.app.warm_pages` run to the end,
    its CPU seconds reported as ``prewarm_cpu_s``).
    """
    import panel as pn
    from panel.io.state import set_curdoc

    from nephlab.widgets import app

    pn.extension(notifications=False)
    out: dict = {}
    c0 = time.process_time()
    if prewarm == "import":
        for _, target, _ in app.PAGES.values():
            app._load(target)
    elif prewarm == "full":
        app.warm_pages()
    prewarm_cpu_s = time.process_time() - c0
    if freeze:
        gc.collect()
        gc.freeze()
    for name in pages:
        rows, keep = [], []
        for _ in range(reps + 1):
            t0 = time.process_time()
            doc = _session_doc(keep)
            with set_curdoc(doc):
                page = app.build_page(name)
                t1 = time.process_time()
                page.server_doc(doc)
            t2 = time.process_time()
            n_json = len(json.dumps(doc.to_json(), default=str))
            t3 = time.process_time()
            rows.append({"build_ms": 1e3 * (t1 - t0), "server_doc_ms": 1e3 * (t2 - t1), "to_json_ms": 1e3 * (t3 - t2),
                         "total_ms": 1e3 * (t3 - t0)})
            n_models = len(doc.models)
            _end_session(doc)
            keep.clear()
            del doc, page
            t4 = time.process_time()
            gc.collect()  # what Panel runs once a session ended
            rows[-1]["end_gc_ms"] = 1e3 * (time.process_time() - t4)
            rows[-1]["tracked"] = len(gc.get_objects())
        warm = {k: statistics.median(r[k] for r in rows[1:]) for k in rows[0]} if reps else dict(rows[0])
        out[name] = {"models": n_models, "json_bytes": n_json, "first": rows[0], "warm": warm,
                     "prewarm_cpu_s": prewarm_cpu_s}
    return out


def measure_http(pages: list[str], reps: int, prewarm: str = "none") -> dict:
    """``{page: {first: {...}, warm: {...}}}``: the CPU and wall milliseconds of a GET of the page
    from this process's ``nephlab serve`` routes, served in-process (Panel's server on a free port,
    the session lifetimes of :func:`nephlab.widgets.app.serve`; Tornado's HTTP client on the same
    IO loop). A GET is what a visit waits for before its first byte: the session's build, its
    template's ``server_doc``, Bokeh's checks and the HTML page. Its document is not sent (no
    websocket connects): the sessions expire unused 3 s later, and Panel's collections after
    them fall where they fall, as on a server (``request_ms`` includes those that fall in a GET;
    compare medians)."""
    import panel as pn
    from tornado.httpclient import AsyncHTTPClient
    from tornado.ioloop import IOLoop

    from nephlab.widgets import app
    from nephlab.widgets._resources import install

    pn.extension(notifications=False)
    install()
    if prewarm == "import":
        for _, target, _ in app.PAGES.values():
            app._load(target)
    elif prewarm == "full":
        app.warm_pages()
    server = pn.serve(app.routes(), port=0, address="127.0.0.1", show=False, start=False,
                      check_unused_sessions_milliseconds=1000, unused_session_lifetime_milliseconds=3000)
    out: dict = {}

    async def run() -> None:
        client = AsyncHTTPClient()
        try:
            for name in pages:
                rows = []
                for _ in range(reps + 1):
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = await client.fetch(f"http://127.0.0.1:{server.port}/{name}")
                    rows.append({"request_ms": 1e3 * (time.process_time() - c0),
                                 "request_wall_ms": 1e3 * (time.perf_counter() - t0), "html_bytes": len(r.body)})
                warm = {k: statistics.median(r[k] for r in rows[1:]) for k in rows[0]} if reps else dict(rows[0])
                out[name] = {"first": rows[0], "warm": warm, "max_ms": max(r["request_ms"] for r in rows[1:] or rows)}
        finally:
            IOLoop.current().stop()

    IOLoop.current().add_callback(run)
    IOLoop.current().start()
    return out


def _child(python: str, pythonpath: str | None, pages: list[str], reps: int, prewarm: str = "none",
           separate: bool = False, freeze: bool = False, http: bool = False) -> dict:
    if separate:  # one fresh process per page, as ``nephlab bench pages`` starts one server per page
        out: dict = {}
        for name in pages:
            out.update(_child(python, pythonpath, [name], reps, prewarm, freeze=freeze, http=http))
        return out
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [python, os.path.abspath(__file__), "--pages", ",".join(pages), "--reps", str(reps), "--prewarm", prewarm,
           "--child"] + (["--freeze"] if freeze else []) + (["--http"] if http else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pages(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in PAGES]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"pages must be a comma-separated subset of {list(PAGES)}, got {text!r}")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=_pages, default=list(PAGES))
    p.add_argument("--reps", type=int, default=10, help="sessions after the first (default: %(default)s)")
    p.add_argument("--base", default=None, help="PYTHONPATH of the other revision (a git archive)")
    p.add_argument("--rounds", type=int, default=3, help="A/B rounds with --base (default: %(default)s)")
    p.add_argument("--prewarm", choices=("none", "import", "full"), default="none",
                   help="before the first session: nothing, import every page's module, or compute the pages' warm-up results (default: %(default)s)")
    p.add_argument("--separate", action="store_true",
                   help="one fresh process per page (each page's first session is a fresh process's first)")
    p.add_argument("--freeze", action="store_true", help="gc.freeze() after the prewarm, as nephlab serve does")
    p.add_argument("--compare-freeze", action="store_true", help="A/B: without and with --freeze")
    p.add_argument("--http", action="store_true",
                   help="time GETs of the pages from an in-process server instead (CPU and wall ms of each request)")
    p.add_argument("--json", default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.reps < 0 or a.rounds < 1:
        p.error(f"--reps must be >= 0 and --rounds >= 1, got {a.reps}, {a.rounds}")
    if a.child:
        print(json.dumps(measure_http(a.pages, a.reps, a.prewarm) if a.http else measure(a.pages, a.reps, a.prewarm, a.freeze)))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    if a.base and a.compare_freeze:
        p.error("--base and --compare-freeze are exclusive")
    # side -> (PYTHONPATH, freeze)
    sides = ({"base": (a.base, a.freeze), "this": (None, a.freeze)} if a.base
             else {"no freeze": (None, False), "freeze": (None, True)} if a.compare_freeze
             else {"this": (None, a.freeze)})
    ab = len(sides) > 1
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    for r in range(a.rounds if ab else 1):
        for side in (sides if r % 2 == 0 else dict(reversed(list(sides.items())))):
            path, frz = sides[side]
            runs[side].append(_child(sys.executable, path, a.pages, a.reps, a.prewarm, a.separate, frz, a.http))
            print(f"round {r + 1}: {side} done, load average {os.getloadavg()[0]:.2f}", flush=True)
    if a.http:
        return _http_table(a, runs, sides, ab)
    print("\n| page | rev | models | JSON kB | first session CPU ms | warm: build | server_doc | to_json | total ms "
          "| end-of-session gc ms | tracked objects |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary: dict = {}
    for name in a.pages:
        for side, res in runs.items():
            med = _warm_medians(res, name)
            first = statistics.median(x[name]["first"]["total_ms"] for x in res)
            summary.setdefault(name, {})[side] = {"models": res[0][name]["models"], "json_bytes": res[0][name]["json_bytes"],
                                                  "first_ms": first, **med}
            print(f"| /{name} | {side} | {res[0][name]['models']} | {res[0][name]['json_bytes'] / 1e3:.1f} | {first:.0f} | "
                  f"{med['build_ms']:.0f} | {med['server_doc_ms']:.0f} | {med['to_json_ms']:.0f} | {med['total_ms']:.0f} | "
                  f"{med['end_gc_ms']:.0f} | {med['tracked']:.0f} |")
        if ab:
            t_name, s, b = _this_and_base(summary, name, sides)
            print(f"| /{name} | {t_name} / {next(iter(sides))} | {s['models'] / b['models']:.2f} | "
                  f"{s['json_bytes'] / b['json_bytes']:.2f} | {s['first_ms'] / b['first_ms']:.2f} | "
                  + " | ".join(f"{s[k] / b[k]:.2f}" for k in ("build_ms", "server_doc_ms", "to_json_ms", "total_ms",
                                                               "end_gc_ms", "tracked")) + " |")
    _save(a.json, runs, summary)
    return 0


def _this_and_base(summary: dict, name: str, sides: dict) -> tuple[str, dict, dict]:
    (b_name, _), (t_name, _) = sides.items()
    return t_name, summary[name][t_name], summary[name][b_name]


def _warm_medians(res: list[dict], name: str) -> dict:
    return {k: statistics.median(x[name]["warm"][k] for x in res) for k in res[0][name]["warm"]}


def _save(path: str | None, runs: dict, summary: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({"runs": runs, "summary": summary, "load_end": os.getloadavg()[0]}, f, indent=1)


def _http_table(a: argparse.Namespace, runs: dict, sides: dict, ab: bool) -> int:
    print("\n| page | rev | first GET CPU ms | warm GET: CPU ms | wall ms | slowest CPU ms | HTML kB |")
    print("|---|---|---|---|---|---|---|")
    summary: dict = {}
    for name in a.pages:
        for side, res in runs.items():
            med = _warm_medians(res, name)
            first = statistics.median(x[name]["first"]["request_ms"] for x in res)
            worst = max(x[name]["max_ms"] for x in res)
            summary.setdefault(name, {})[side] = {"first_ms": first, "max_ms": worst, **med}
            print(f"| /{name} | {side} | {first:.0f} | {med['request_ms']:.0f} | {med['request_wall_ms']:.0f} | "
                  f"{worst:.0f} | {med['html_bytes'] / 1e3:.1f} |")
        if ab:
            t_name, s, b = _this_and_base(summary, name, sides)
            print(f"| /{name} | {t_name} / {next(iter(sides))} | {s['first_ms'] / b['first_ms']:.2f} | "
                  f"{s['request_ms'] / b['request_ms']:.2f} | {s['request_wall_ms'] / b['request_wall_ms']:.2f} | "
                  f"{s['max_ms'] / b['max_ms']:.2f} | {s['html_bytes'] / b['html_bytes']:.2f} |")
    _save(a.json, runs, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
