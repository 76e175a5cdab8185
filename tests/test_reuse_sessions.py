"""``serve(reuse="warm")``: pages rendered from cached skeletons, every visitor still gets its own
session (:mod:`nephlab.widgets._reuse`).

One ``nephlab serve`` app in a thread of this process (its sessions are inspected directly): the
skeletons of every route and theme are built and ended before reuse is switched on; each page
request gets a new session id, built after the HTML was sent, with its own document and models,
the theme of its query, the same number of roots as the HTML it came with (BokehJS places roots
by position), and the end of a session that never connected runs its clean-up. In Chromium, the
pages rendered from skeletons draw their plots.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.request

import panel as pn
import pytest
from bokeh.util.token import get_session_id, get_token_payload
from panel.io.state import set_curdoc, state

from nephlab.widgets import _reuse, app
from nephlab.widgets._heap import FREEZER

pytestmark = [pytest.mark.timeout(600)]

LIFETIME_MS = 1000


@pytest.fixture(scope="module")
def server():
    holder: dict = {}

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        srv = app.serve(port=0, show=False, start=False, warm=False, reuse="warm",
                        unused_session_lifetime_milliseconds=LIFETIME_MS)
        holder["srv"] = srv
        srv.start()
        srv.io_loop.start()

    thread = threading.Thread(target=run, name="reuse-server", daemon=True)
    thread.start()
    t0 = time.monotonic()
    while pn.config.reuse_sessions != "warm" and time.monotonic() - t0 < 300:
        time.sleep(0.1)
    srv = holder["srv"]
    try:
        assert pn.config.reuse_sessions == "warm", "the skeletons were never built"
        yield srv
    finally:
        srv.io_loop.add_callback(srv.stop)
        srv.io_loop.add_callback(srv.io_loop.stop)
        thread.join(timeout=30)
        pn.config.reuse_sessions = False
        for key in [k for k in state._sessions if isinstance(k, tuple)]:
            del state._sessions[key]
        state._session_key_funcs.clear()


def _wait(cond, timeout: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def _get(srv, path: str) -> tuple[str, str]:
    """The page's HTML and the session id of the token in it."""
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}{path}", timeout=120) as resp:
        html = resp.read().decode()
    token = re.search(r'"token":"([^"]+)"', html).group(1)
    return html, get_session_id(token)


def test_skeletons_cover_every_route_and_theme_and_hold_no_session(server):
    routes = set(server._tornado._applications)
    assert routes == {"/", *(f"/{k}" for k in app.PAGES)}
    keys = {k for k in state._sessions if isinstance(k, tuple)}
    assert keys == {(r, t) for r in routes for t in _reuse.THEMES}
    for r in routes:
        assert state._session_key_funcs[r] is _reuse.session_key
        ctx = server._tornado._applications[r]
        assert not ctx._sessions, f"{r}: a skeleton is a server session"  # no visitor yet
    with set_curdoc(state._sessions[("/cluster", "dark")].document):
        assert pn.config.theme == "dark"
    assert FREEZER.live == 0  # the skeletons' sessions were counted and ended


def test_every_request_gets_its_own_fresh_session(server):
    ctx = server._tornado._applications["/cluster"]
    live = FREEZER.live
    pages = [_get(server, "/cluster"), _get(server, "/cluster"), _get(server, "/cluster?theme=dark&x=1")]
    ids = [sid for _, sid in pages]
    assert len(set(ids)) == 3
    # the 'warm' build runs after the HTML was sent, without a websocket
    assert _wait(lambda: all(sid in ctx._sessions for sid in ids), 60), "the visitors' sessions were not built"
    sessions = [ctx._sessions[sid] for sid in ids]
    docs = [s.document for s in sessions]
    skeletons = {id(state._sessions[("/cluster", t)].document) for t in _reuse.THEMES}
    assert len({id(d) for d in docs}) == 3 and not skeletons & {id(d) for d in docs}
    models = [{m.id for m in d.models} for d in docs]
    assert not models[0] & models[1] and not models[0] & models[2]
    for (html, _), doc in zip(pages, docs):
        assert len(re.findall(r'data-root-id="', html)) == len(doc.roots) > 1
        assert doc.title == "nephlab · Cluster panel"
    with set_curdoc(docs[2]):
        assert pn.config.theme == "dark"
    texts = [str(getattr(m, "text", "") or "") for m in docs[2].models]
    assert any("theme=default" in t and "x=1" in t for t in texts)  # the switch back, query kept
    assert get_token_payload(sessions[2].token)["arguments"]["x"] == [b"1"]
    with set_curdoc(docs[0]):
        assert pn.config.theme == "default"
    assert FREEZER.live == live + 3
    # never connected: destroyed after the unused-session lifetime, and their clean-up ran
    assert _wait(lambda: not any(sid in ctx._sessions for sid in ids), 30)
    assert _wait(lambda: FREEZER.live == live, 10)
    assert all(s.destroyed for s in sessions)


def test_session_key_and_delay_validation():
    class R:
        path = "/lindblad"
        arguments: dict = {}

    assert _reuse.session_key(R()) == ("/lindblad", "default")
    R.arguments = {"theme": [b"dark"]}
    assert _reuse.session_key(R()) == ("/lindblad", "dark")
    for bad in (-1, 6, True, "0.1"):
        with pytest.raises(ValueError, match="delay_s"):
            _reuse.defer_warm_builds({}, bad)
    with pytest.raises(ValueError, match="reuse must be"):
        app.serve(port=0, show=False, start=False, warm=False, reuse="yes")


@pytest.mark.ui
def test_pages_rendered_from_skeletons_draw_their_plots(server):
    from ui_helpers import chromium_page, screenshot_on_failure

    with chromium_page() as page:
        for path in ("/lindblad", "/cluster?theme=dark"):
            with screenshot_on_failure(page, "reuse-" + path.strip("/").replace("?", "-")):
                resp = page.goto(f"http://127.0.0.1:{server.port}{path}")
                html_roots = re.findall(r'data-root-id="([^"]+)"', resp.text())
                page.locator("canvas").first.wait_for(state="attached", timeout=120_000)
                doc_roots = page.evaluate("() => Bokeh.documents[0].roots().map(r => r.id)")
                assert len(doc_roots) == len(html_roots) and not set(doc_roots) & set(html_roots)
