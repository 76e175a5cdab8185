"""How many sessions a burst of concurrent visits makes the server build, per unused-session lifetime.

    python benchmarks/session_rebuilds.py                                  # 3000 and 30000 ms, alternated
    python benchmarks/session_rebuilds.py --lifetimes 3000,30000 --rounds 3 --concurrent 8 --json out.json

Bokeh drops a session that has had no websocket for ``unused_session_lifetime``, counted from its
creation for a session that never connected. A page's session is built when its HTML is requested,
but its websocket connects only once the browser has fetched and run the page's scripts; when that
takes longer than the lifetime (several pages opening at once on a loaded machine), the session is
dropped unused and built again, under the same id, when the websocket arrives.

For each lifetime in turn (alternated ``--rounds`` times, each in a fresh subprocess): an
in-process ``nephlab.widgets.app.serve`` (warm-up as ``nephlab serve``), one warm-up visit per page,
then ``--concurrent`` headless Chromium contexts open the pages at once (the probe of
``nephlab bench pages``: time to the first painted Bokeh canvas). Printed per run: the first-canvas
times, the pages built by the server during the batch (``build_page`` calls; 1 per visit is the
floor) and the sessions Bokeh discarded meanwhile (its debug log), with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "nephlab" / "bench" / "pages.py"
_spec = importlib.util.spec_from_file_location("nephlab_bench_pages", _PATH)
pages = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pages
_spec.loader.exec_module(pages)


def child(lifetime_ms: int, page_names: list[str], concurrent: int, timeout_s: float) -> dict:
    """One server with ``lifetime_ms``, one batch; returns the measurements."""
    import panel as pn
    from playwright.async_api import async_playwright

    from nephlab.widgets import app

    builds: list[str] = []
    build_page = app.build_page

    def counted(name: str, **kw):
        builds.append(name)
        return build_page(name, **kw)

    app.build_page = counted  # routes() looks it up at each request
    discards: list[str] = []

    class Discards(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Discarding session" in record.getMessage():
                discards.append(record.getMessage())

    log = logging.getLogger("bokeh.server.contexts")
    log.setLevel(logging.DEBUG)
    log.addHandler(Discards())
    log.propagate = False
    holder: dict = {}

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        srv = app.serve(port=0, show=False, start=False, unused_session_lifetime_milliseconds=lifetime_ms)
        holder["srv"] = srv
        srv.start()
        srv.io_loop.start()

    threading.Thread(target=run, name="server", daemon=True).start()
    while "srv" not in holder:
        time.sleep(0.1)
    url = f"http://127.0.0.1:{holder['srv'].port}"

    async def visit(browser, name: str) -> float:
        ctx = await browser.new_context(viewport=pages.VIEWPORT)
        await ctx.add_init_script(pages.PROBE_JS)
        page = await ctx.new_page()
        await page.goto(f"{url}/{name}", wait_until="commit", timeout=timeout_s * 1e3)
        await page.wait_for_function("() => window.__nl_probe && window.__nl_probe.canvas_ms !== null",
                                     timeout=timeout_s * 1e3, polling=100)
        ms = await page.evaluate("() => window.__nl_probe.canvas_ms")
        await ctx.close()
        return ms / 1e3

    async def batch() -> dict:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=pages._chromium(None), headless=True,
                                               args=list(pages.CHROMIUM_ARGS))
            try:
                for name in page_names:  # warm-up
                    await visit(browser, name)
                await asyncio.sleep(3.0)
                n_builds, n_discards = len(builds), len(discards)
                load0 = os.getloadavg()[0]
                order = [page_names[i % len(page_names)] for i in range(concurrent)]
                canvas = await asyncio.gather(*(visit(browser, n) for n in order))
                return {"lifetime_ms": lifetime_ms, "canvas_s": sorted(canvas), "builds": len(builds) - n_builds,
                        "discarded": len(discards) - n_discards, "visits": concurrent,
                        "load": [round(load0, 2), round(os.getloadavg()[0], 2)], "pn": pn.__version__}
            finally:
                await browser.close()

    return asyncio.run(batch())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/session_rebuilds.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--lifetimes", default="3000,30000", help="comma list of unused-session lifetimes, ms")
    p.add_argument("--pages", type=pages._pages, default=["lindblad", "largedev"])
    p.add_argument("--concurrent", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="alternations of the lifetimes (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=180.0, help="budget per visit, s")
    p.add_argument("--json", default=None)
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        print("RESULT " + json.dumps(child(a.child, a.pages, a.concurrent, a.timeout)), flush=True)
        os._exit(0)  # the server thread and JAX's threads: no orderly teardown needed
    lifetimes = [int(x) for x in a.lifetimes.split(",")]
    out = []
    for r in range(a.rounds):
        for lt in lifetimes:
            cmd = [sys.executable, __file__, "--child", str(lt), "--pages", ",".join(a.pages),
                   "--concurrent", str(a.concurrent), "--timeout", str(a.timeout)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout * 4)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"lifetime {lt} ms: no result (exit {proc.returncode})\n{proc.stderr[-2000:]}")
                continue
            res = json.loads(line[7:])
            res["round"] = r + 1
            out.append(res)
            c = res["canvas_s"]
            print(f"round {r + 1}, lifetime {lt:6d} ms: first canvas median {statistics.median(c):.2f} s "
                  f"({c[0]:.2f}-{c[-1]:.2f}); pages built {res['builds']} for {res['visits']} visits; "
                  f"sessions discarded {res['discarded']}; load {res['load'][0]} -> {res['load'][1]}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
