"""Where a warm server's time goes during browser visits of one page: ``py-spy`` samples.

    python benchmarks/server_profile.py --page protocol --visits 3
    python benchmarks/server_profile.py --page md --match "widgets/|gc" --top 40

Starts ``nephlab serve`` (the harness of ``nephlab bench pages``, ``nephlab/bench/pages.py``),
waits ``--settle`` s for its background warm-up, makes one warm-up visit in headless Chromium,
then records the server with ``py-spy record`` (wall-clock samples at ``--rate`` Hz, every
thread) while it makes ``--visits`` visits 5 s apart (each waits for the first plot with data, up
to 10 s). Samples whose innermost frame waits (``select``, ``poll``, ``wait``, ``sleep``,
``acquire``) are left out; the rest are the busy samples, printed as seconds by thread, by
function including callees (``--match`` filters them by a regular expression) and by innermost
function. A full garbage collection shows as the line that triggered it (for instance
``_garbage_collect`` in Panel, or a random constructor for Python's own collections). Samples are
wall-clock: on a loaded machine a thread waiting for a core still counts as busy.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import page_profile as pp

pages = pp.pages

_WAITING = re.compile(r"\b(select|poll|epoll|wait|_wait_for_tstate_lock|sleep|acquire)\b")


def summarise(raw: str, rate: float, match: str | None = None, top: int = 30) -> str:
    """Busy seconds of a ``py-spy record --format raw`` output (``frame;frame;... count`` lines).

    Example:
        >>> print(summarise("main (a.py:1);f (a.py:2) 4\\nmain (a.py:1);select (s.py:9) 6", rate=2, top=2))
        busy 2.00 s (4 samples)
        by thread:
            2.00 s  main (a.py:1)
        including callees:
            2.00 s  f (a.py:2)
        innermost:
            2.00 s  f (a.py:2)
    """
    incl: collections.Counter = collections.Counter()
    inner: collections.Counter = collections.Counter()
    threads: collections.Counter = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, n = line.strip().rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        if _WAITING.search(frames[-1]):
            continue
        k = int(n)
        total += k
        threads[frames[0]] += k
        inner[frames[-1]] += k
        for f in set(frames[1:]):
            incl[f] += k
    pat = re.compile(match) if match else None
    out = [f"busy {total / rate:.2f} s ({total} samples)", "by thread:"]
    out += [f"  {k / rate:6.2f} s  {t[:120]}" for t, k in threads.most_common(6)]
    out.append("including callees:")
    out += [f"  {k / rate:6.2f} s  {f[:160]}" for f, k in
            [(f, k) for f, k in incl.most_common() if pat is None or pat.search(f)][:top]]
    out.append("innermost:")
    out += [f"  {k / rate:6.2f} s  {f[:160]}" for f, k in inner.most_common(top)]
    return "\n".join(out)


async def record(a: argparse.Namespace) -> str:
    from playwright.async_api import async_playwright

    out = Path(tempfile.mkdtemp(prefix="nephlab-spy-")) / "raw.txt"
    with tempfile.TemporaryDirectory(prefix="nephlab-spy-") as tmp:
        srv = pages.Server(a.python, Path(tmp), tuple(a.serve_arg))
        try:
            srv.wait_ready(a.timeout)
            await asyncio.sleep(a.settle)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=pages._chromium(None), headless=True,
                                                   args=list(pages.CHROMIUM_ARGS))
                try:
                    await pages.visit(browser, srv.url, a.page, timeout_s=a.timeout, data_wait_s=10)
                    await asyncio.sleep(5)
                    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                            str(srv.proc.pid), "--rate", str(a.rate), "--format", "raw", "--output",
                                            str(out), "--threads", "--idle"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    await asyncio.sleep(2)
                    for _ in range(a.visits):
                        v = await pages.visit(browser, srv.url, a.page, timeout_s=a.timeout, data_wait_s=10)
                        print(f"/{a.page}: first plot {v.canvas_ms / 1e3:.2f} s, response start "
                              f"{v.response_start_ms / 1e3:.2f} s", flush=True)
                        await asyncio.sleep(5)
                    spy.send_signal(2)
                    spy.wait(60)
                finally:
                    await browser.close()
        finally:
            srv.stop()
    return out.read_text()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--page", choices=pages.PAGES, default="protocol")
    p.add_argument("--visits", type=int, default=3)
    p.add_argument("--rate", type=int, default=200, help="samples per second (default: %(default)s)")
    p.add_argument("--settle", type=float, default=25.0, help="s to wait for the warm-up (default: %(default)s)")
    p.add_argument("--match", default=None, help="regular expression for the 'including callees' list")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--timeout", type=float, default=180.0)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--serve-arg", action="append", default=[], metavar="ARG")
    a = p.parse_args(argv)
    if a.visits < 1 or a.rate < 1:
        p.error(f"--visits and --rate must be >= 1, got {a.visits}, {a.rate}")
    print(f"load average {pp.os.getloadavg()[0]:.2f}", flush=True)
    print(summarise(asyncio.run(record(a)), a.rate, a.match, a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
