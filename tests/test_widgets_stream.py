"""Served pages whose start is sent before the session is built (``nephlab.widgets._stream``)."""

from __future__ import annotations

import re
import urllib.request

from nephlab.widgets._stream import join_pages, script_paths, split_head

from ui_helpers import served_app


def _get(url: str) -> tuple[str, str | None, str | None]:
    with urllib.request.urlopen(url, timeout=300) as r:
        assert r.status == 200
        return r.read().decode(), r.headers.get("Transfer-Encoding"), r.headers.get("Content-Length")


def _shape(page: str) -> str:
    """The page less what differs per session: element ids, model ids and the session token."""
    page = re.sub(r'"token":"[^"]+"', '"token":"T"', page)
    page = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", page)
    return re.sub(r"\bp\d+\b", "P", page)


def test_split_and_join_keep_the_page():
    page = ('<!DOCTYPE html><html><head><title>t</title><script src="static/a.js?v=1"></script>\n'
            '<script src="static/b.js"></script><script>go()</script></head><body>x</body></html>')
    start, rest = split_head(page)
    assert start + rest == page and start.endswith('b.js"></script>')
    assert script_paths(start, "/lindblad") == ["/static/a.js", "/static/b.js"]
    assert join_pages(start, page) == rest
    # a later page that needs one more bundle gets it before its rest; another title: no join
    more = page.replace('<script>go()', '<script src="static/c.js"></script><script>go()')
    assert join_pages(start, more) == '<script src="static/c.js"></script>' + rest
    assert join_pages(start, page.replace("<title>t", "<title>u")) is None


def test_streamed_pages_are_the_pages(monkeypatch):
    """With NEPHLAB_STREAM_HEAD=1 the second visit of a route gets its start at once (a chunked
    response) and then the rest: the same page as a whole one, per theme."""
    monkeypatch.setenv("NEPHLAB_STREAM_HEAD", "1")
    with served_app() as url:
        for query in ("", "?theme=dark"):
            first, enc1, len1 = _get(url + "/cluster" + query)
            assert enc1 is None and len1 is not None  # learnt: sent whole
            for _ in range(2):
                again, enc, _len = _get(url + "/cluster" + query)
                assert enc == "chunked"  # flushed before the session was built
                assert "location.reload" not in again and again.rstrip().endswith("</html>")
                assert _shape(again) == _shape(first)
        other, enc, _len = _get(url + "/cluster?x=1")  # other arguments: sent whole
        assert enc is None and "render_items" in other


def test_pages_are_sent_whole_by_default(monkeypatch):
    monkeypatch.delenv("NEPHLAB_STREAM_HEAD", raising=False)
    with served_app() as url:
        for _ in range(2):
            page, enc, length = _get(url + "/cluster")
            assert enc is None and length is not None and "render_items" in page
