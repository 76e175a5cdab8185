"""A served page stops working as soon as its browser leaves (issue 11, "Sessions are cheap and clean").

Bokeh destroys an unused session, and runs ``on_session_destroyed``, only at a periodic check
after ``unused_session_lifetime``; here both are 60 s, so whatever stops the page's work within
seconds of the tab closing is the departure hook (:mod:`nephlab.widgets._sessions`), not the
session's end. One Panel server in a thread of this process (the components are inspected
directly), headless Chromium:

- a page whose deferred first computation starts a job that streams updates (every 20 ms) until
  cancelled: the tab closes right after the first paint; the job must be cancelled, the
  component closed, and no update applied after the departure;
- a page whose job starts with the session: its HTML is fetched without a browser, so no
  websocket ever connects; the job must keep running (a session still loading is never cut).
"""

from __future__ import annotations

import time
import urllib.request

import panel as pn
import pytest

from nephlab.widgets._base import Component
from ui_helpers import chromium_page, free_port, screenshot_on_failure

pytestmark = [pytest.mark.ui, pytest.mark.timeout(300)]

LIFETIME_MS = 60_000  # Bokeh's check and lifetime: far beyond what the assertions wait
CUT_WITHIN_S = 15.0  # generous for a loaded machine; the session's end would come after 60 s


class Streaming(Component):
    """A page with one plot; after the first paint a job streams updates until cancelled."""

    made: list[Streaming] = []
    eager = False

    def __init__(self, **params):
        super().__init__(**params)
        self.applied: list[float] = []  # monotonic times of updates applied on the IO loop
        self.deferred_ran: list[float] = []
        self.closed_at: float | None = None
        Streaming.made.append(self)

    def main(self):
        from bokeh.plotting import figure

        fig = figure(height=200, width=300)
        fig.line([0, 1, 2], [0, 1, 0])
        if self.eager:
            self._start()
        else:
            self.defer(self._start)
        return pn.pane.Bokeh(fig)

    def _start(self) -> None:
        self.deferred_ran.append(time.monotonic())

        def work(ctx):
            t0 = time.monotonic()
            while time.monotonic() - t0 < 120:
                ctx.check()
                ctx.emit(time.monotonic())
                time.sleep(0.02)

        self.start_job(work, on_update=lambda _t: self.applied.append(time.monotonic()), key="stream")

    def close(self) -> None:
        if self.closed_at is None:
            self.closed_at = time.monotonic()
        super().close()


class Eager(Streaming):
    eager = True


@pytest.fixture(scope="module")
def server():
    port = free_port()
    routes = {"/stream": lambda: Streaming().page("stream"), "/eager": lambda: Eager().page("eager")}
    srv = pn.serve(routes, port=port, address="127.0.0.1", show=False, start=True, threaded=True,
                   websocket_origin=[f"127.0.0.1:{port}"], check_unused_sessions_milliseconds=LIFETIME_MS,
                   unused_session_lifetime_milliseconds=LIFETIME_MS)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/liveness", timeout=5)
            break
        except Exception:  # noqa: BLE001 - not up yet (any answer, even 404, raises or returns)
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    yield url
    for comp in Streaming.made:
        comp.cancel()
    srv.stop()


def _wait(cond, timeout: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_a_closed_tab_cancels_its_jobs_and_skips_their_queued_updates(server):
    Streaming.made.clear()
    with chromium_page() as page:
        with screenshot_on_failure(page, "session-departure"):
            page.goto(server + "/stream")
            page.locator("canvas").first.wait_for(state="attached", timeout=120_000)  # the first paint
            assert _wait(lambda: Streaming.made and Streaming.made[-1].applied, 60), "the job never streamed"
            comp = Streaming.made[-1]
            job = comp.jobs["stream"]
            assert not job.cancelled and comp.deferred_ran
            page.close()
    assert _wait(lambda: job.done, CUT_WITHIN_S), "the job ran on after its tab closed"
    assert job.cancelled and comp.closed and comp.closed_at is not None
    time.sleep(0.3)  # updates already queued on the IO loop would have run by now
    late = [t for t in comp.applied if t > comp.closed_at]
    assert late == [], f"{len(late)} updates applied after the browser left"


def test_a_session_whose_websocket_never_connected_is_not_cut(server):
    Streaming.made.clear()
    with urllib.request.urlopen(server + "/eager", timeout=120) as resp:  # the page, no browser
        assert resp.status == 200
    assert _wait(lambda: Streaming.made and "stream" in Streaming.made[-1].jobs, 30)
    comp = Streaming.made[-1]
    time.sleep(2.0)
    job = comp.jobs["stream"]
    assert not comp.closed and not job.cancelled and not job.done
    comp.cancel()
    assert _wait(lambda: job.done, 10)
