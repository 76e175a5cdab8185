"""The floor under the 8-concurrent-sessions target: the lightest Bokeh and Panel pages, measured
side by side with nephlab's pages in one run, by the harness of ``nephlab bench pages``.

    python benchmarks/page_floor.py                                   # all variants, 8 concurrent
    python benchmarks/page_floor.py --variants bokeh,panel,lindblad --concurrent 8 --repeats 3 --json floor.json

Issue 11 asks that, with 8 sessions opened at once on a warm server, every first plot appear
within 5 s on the 2-core machine, the browsers running there too. This script asks how much of
that is nephlab's and how much is the stack's: it serves

- ``bokeh``: a bare Bokeh document (``bokeh serve``): one figure, one line of 200 points, Bokeh's
  default tools; the browser loads ``bokeh.min.js`` only;
- ``panel``: the same figure in a ``pn.Column`` (``panel serve``): BokehJS, its widgets and
  tables bundles and Panel's bundle, as on every Panel page;
- ``template``: the same figure in Panel's ``VanillaTemplate`` with six sliders in the sidebar and
  a toggle in the header (where nephlab's light/dark switch is): the smallest page with the
  layout issue 11 asks of nephlab;
- any nephlab page (``lindblad``, ``protocol``, ``largedev``, ``md``, ``cluster``) from
  ``nephlab serve``, as ``nephlab bench pages`` measures it;

and for each, on a warm server (one warm-up visit first): ``--repeats`` sequential visits (first
painted plot, server and browser CPU per visit), then ``--concurrent`` visits opened at once (each
session's first painted plot; the CPU of the batch until the last one drew). Every visit is a new
browser context, as in ``nephlab bench pages`` (:func:`nephlab.bench.pages.visit`, the same probe
of BokehJS's view index, the same Chromium flags). Variants run one after the other, one server at
a time. The CPU columns say what the batch needs: on ``c`` cores at least ``(server + browser) / c``
seconds of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "nephlab" / "bench" / "pages.py"
_spec = importlib.util.spec_from_file_location("nephlab_bench_pages", _PATH)
pages = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pages
_spec.loader.exec_module(pages)

FIGURE_PY = """
import numpy as np
from bokeh.plotting import figure

x = np.linspace(0.0, 10.0, 200)
fig = figure(title="floor", width=700, height=400)
fig.line(x, np.exp(-0.3 * x) * np.cos(2.0 * x), line_width=2)
"""

APPS = {
    "bokeh": ("bokeh", FIGURE_PY + """
from bokeh.io import curdoc
curdoc().add_root(fig)
"""),
    "panel": ("panel", FIGURE_PY + """
import panel as pn
pn.extension()
page = pn.Column(pn.pane.Bokeh(fig))
page.servable()
"""),
    "template": ("panel", FIGURE_PY + """
import panel as pn
pn.extension()
sliders = [pn.widgets.FloatSlider(label=f"p{i}", start=0.0, end=1.0, value=0.5) for i in range(6)]
page = pn.template.VanillaTemplate(title="floor", sidebar=sliders, main=[pn.pane.Bokeh(fig)],
                                   header=[pn.widgets.Toggle(label="dark", width=80)])
page.servable()
"""),
}
VARIANTS = (*APPS, *pages.PAGES)


class AnyServer(pages.Server):
    """A server for one variant: ``bokeh serve`` / ``panel serve`` of an app file, or ``nephlab serve``.

    :meth:`stop` and :meth:`log_tail` are those of ``nephlab bench pages``' server.
    """

    def __init__(self, variant: str, python: str, workdir: Path):  # noqa: D107 - see the class
        self.port = pages.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.route = variant
        common = ["--port", str(self.port), "--address", "127.0.0.1"]
        if variant in APPS:
            tool, src = APPS[variant]
            folder = workdir / "apps"  # not the server's folder: an app named bokeh.py would shadow Bokeh
            folder.mkdir(exist_ok=True)
            app = folder / f"{variant}.py"
            app.write_text(textwrap.dedent(src))
            cmd = [python, "-m", tool, "serve", str(app), *common]
            self.probe = "/liveness" if tool == "panel" else f"/{variant}"
            if tool == "panel":
                cmd.append("--liveness")
        else:
            cmd = [python, "-m", "nephlab", "serve", "--no-show", *common]
            self.probe = "/liveness"
        self.log_path = workdir / f"{variant}.log"
        self.t_start = time.perf_counter()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(workdir),
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)

    def wait_ready(self, timeout: float) -> float:
        """Wait until the variant's readiness URL answers 200; seconds since the start."""
        while time.perf_counter() - self.t_start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server for /{self.route} exited with code {self.proc.returncode}:\n"
                                   f"{self.log_tail(3000)}")
            if pages._http_status(self.url + self.probe) == 200:
                return time.perf_counter() - self.t_start
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{self.probe} did not answer within {timeout} s:\n{self.log_tail(3000)}")


async def measure(browser, variant: str, a: argparse.Namespace, workdir: Path) -> dict:
    """Warm sequential visits, then ``a.concurrent`` at once, of one variant on its own server."""
    srv = AnyServer(variant, a.python, workdir)
    out: dict = {"variant": variant, "warm": [], "concurrent": []}
    try:
        srv.wait_ready(a.timeout)
        kw = dict(timeout_s=a.timeout, data_wait_s=0.0)
        await pages.visit(browser, srv.url, srv.route, **kw)  # warm-up
        await asyncio.sleep(a.settle)
        meter = pages.CpuMeter(srv.proc.pid)
        for _ in range(a.repeats):
            c0 = meter.sample()
            v = await pages.visit(browser, srv.url, srv.route, **kw)
            c1 = meter.sample()
            out["warm"].append({"canvas_ms": v.canvas_ms, "server_cpu_s": c1[0] - c0[0],
                                "browser_cpu_s": c1[1] - c0[1], "errors": v.errors})
            await asyncio.sleep(a.settle)
        if a.concurrent:
            go = asyncio.Event()
            tasks = [asyncio.ensure_future(pages.visit(browser, srv.url, srv.route, started=go, **kw))
                     for _ in range(a.concurrent)]
            await asyncio.sleep(1.0)  # contexts and pages created; then all navigate together
            c0 = meter.sample()
            go.set()
            visits = await asyncio.gather(*tasks)
            c1 = meter.sample()
            out["concurrent"] = [{"canvas_ms": v.canvas_ms, "errors": v.errors} for v in visits]
            out["concurrent_cpu_s"] = {"server": c1[0] - c0[0], "browser": c1[1] - c0[1]}
    finally:
        srv.stop()
    return out


def row(r: dict, cores: int) -> list[str]:
    def s(ms):
        return "-" if ms is None else f"{ms / 1e3:.2f}"
    w = r["warm"]
    c = [v["canvas_ms"] for v in r["concurrent"]]
    cpu = r.get("concurrent_cpu_s")
    floor = "-" if not cpu else f"{(cpu['server'] + cpu['browser']) / cores:.1f}"
    med = pages._median
    return [r["variant"], s(med([v["canvas_ms"] for v in w])),
            f"{med([v['server_cpu_s'] for v in w]):.2f} + {med([v['browser_cpu_s'] for v in w]):.2f}",
            f"{s(med(c))} / {s(max((x for x in c if x is not None), default=None))}",
            "-" if not cpu else f"{cpu['server']:.1f} + {cpu['browser']:.1f}", floor,
            str(sum(len(v["errors"]) for v in w + r["concurrent"]))]


async def _run(a: argparse.Namespace) -> dict:
    from playwright.async_api import async_playwright

    res: dict = {"machine": pages._machine(), "variants": [], "options": vars(a)}
    with tempfile.TemporaryDirectory(prefix="nephlab-floor-") as tmp:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=pages._chromium(a.chromium), headless=True,
                                               args=list(pages.CHROMIUM_ARGS))
            res["chromium"] = browser.version
            try:
                for rnd in range(a.rounds):
                    for variant in a.variants:
                        r = await measure(browser, variant, a, Path(tmp))
                        r["round"] = rnd
                        res["variants"].append(r)
                        print("  ".join(row(r, res["machine"]["nproc"])), flush=True)
            finally:
                await browser.close()
    res["machine"]["load_end"] = list(os.getloadavg())
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(("bokeh", "panel", "template", "lindblad")),
                   help=f"comma list of {', '.join(VARIANTS)} (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=3, help="warm sequential visits per variant")
    p.add_argument("--concurrent", type=int, default=8, help="visits opened at once (0 skips)")
    p.add_argument("--rounds", type=int, default=1, help="run every variant this many times, in turn")
    p.add_argument("--settle", type=float, default=1.0, help="s between sequential visits")
    p.add_argument("--timeout", type=float, default=180.0, help="budget per visit and server start, s")
    p.add_argument("--python", default=sys.executable, help="interpreter of the servers")
    p.add_argument("--chromium", default=None, help="Chromium binary (default: chromium on PATH)")
    p.add_argument("--json", default=None, help="write the measurements to this JSON file")
    a = p.parse_args(argv)
    a.variants = [v.strip().strip("/") for v in a.variants.split(",") if v.strip()]
    bad = [v for v in a.variants if v not in VARIANTS]
    if bad or not a.variants:
        p.error(f"--variants={','.join(a.variants)!r}: allowed is a comma list of {', '.join(VARIANTS)}")
    for name in ("repeats", "rounds"):
        if getattr(a, name) < 1:
            p.error(f"--{name}={getattr(a, name)}: allowed is an integer >= 1")
    if a.concurrent < 0:
        p.error(f"--concurrent={a.concurrent}: allowed is an integer >= 0")
    head = ["variant", "warm first plot s", "warm CPU server + browser s", f"{a.concurrent} at once: median / max s",
            "batch CPU server + browser s", "floor s", "errors"]
    print("  ".join(head), flush=True)
    res = asyncio.run(_run(a))
    cores = res["machine"]["nproc"]
    print(f"\nmachine: {res['machine']['cpu_model']}, {cores} cores, load {res['machine']['load_start'][0]:.2f}"
          f" -> {res['machine']['load_end'][0]:.2f}; Chromium {res['chromium']}")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in res["variants"]:
        print("| " + " | ".join(row(r, cores)) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
