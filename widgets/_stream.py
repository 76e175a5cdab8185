"""Served pages send their scripts before the session is built.

A visit's critical path on ``nephlab serve`` was, in this order: the server builds the page's
session (the component, the template, ``server_doc``: 0.4–0.9 s of CPU), then sends the HTML;
only then does the browser request, download, compile and run BokehJS and Panel's bundles
(2.8 MB, 0.3–0.6 s), open the websocket, pull the document and paint
(``benchmarks/page_profile.py`` prints that path). The two halves need different processes and,
on two cores, can run side by side.

The start of a page's HTML, up to and including its ``<script src=...>`` tags, is the same for
every session of a route (title, icons, the page's bundles: nothing of the session; the session's
token and root ids come later, in the body). :class:`StreamingDocHandler` remembers that start per
route and theme from the last page it sent, writes and flushes it as soon as a request arrives,
and only then builds the session; the browser fetches and runs the scripts meanwhile. When the
page is rendered, the rest is written after the part already sent. Should the new page start
differently (its scripts changed: a bundle that only some sessions need), the scripts it lacks are
written before the rest; anything else makes the browser reload the page, and the new start is
remembered.

Since the session's build holds the server's IO loop, which also serves the scripts, the handler
waits after the flush until the browser has fetched the scripts it was sent (at most
:data:`CAP_S`; not at all when none was requested within :data:`START_WINDOW_S`, as from a browser
that has them cached), then builds the session.

It streams only where nothing may redirect after the first byte: no authentication, no
authorization callback, no URL prefix, no query arguments but ``theme``, and only the routes
registered with :func:`install`. ``nephlab serve`` (:func:`nephlab.widgets.app.serve`) installs
it, and it acts only when ``NEPHLAB_STREAM_HEAD=1`` is set in the server's environment: on the
shared 2-core machine, loaded by other jobs, it took ~0.2 s of script work off the critical path
after the HTML, but the server's build then competed with the browser's compile for the same CPU
and the first plot came no sooner (benchmarks/RESULTS.md, 2026-12-06 22:26–23:00 UTC). Whether it
helps on an idle machine, where the two can run side by side, is still to be measured.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

__all__ = ["RequestWatch", "install", "join_pages", "script_paths", "split_head"]  # and StreamingDocHandler

_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc=[^>]*>\s*</script>", re.IGNORECASE)

_lock = threading.Lock()
_heads: dict[tuple[str, str], str] = {}
_routes: set[str] = set()


def split_head(page: str) -> tuple[str, str] | None:
    """``(start, rest)`` of an HTML page: the start ends after the last ``<script src=...>`` tag
    before ``</head>``; None when the head has no such tag.

        >>> split_head('<html><head><title>t</title><script src="a.js"></script>'
        ...            '<script>x()</script></head><body></body></html>')
        ('<html><head><title>t</title><script src="a.js"></script>', '<script>x()</script></head><body></body></html>')
        >>> split_head("<html><head></head><body><script src='b.js'></script></body></html>") is None
        True
    """
    if not isinstance(page, str):
        raise TypeError(f"page must be a str, got {type(page).__name__}")
    end = page.find("</head>")
    tags = list(_SCRIPT_SRC.finditer(page, 0, end if end >= 0 else len(page)))
    if end < 0 or not tags:
        return None
    cut = tags[-1].end()
    return page[:cut], page[cut:]


def join_pages(sent: str, page: str) -> str | None:
    """What to write after ``sent`` (the start of a previous page) so that the browser gets ``page``.

    ``page`` without ``sent`` where ``page`` starts with it; where the two differ only in their
    ``<script src=...>`` tags, the scripts ``page`` has and ``sent`` lacks, then the rest of
    ``page`` (a script sent in excess is loaded for nothing); otherwise None (the caller makes
    the browser reload).

        >>> old = '<head><title>t</title><script src="a.js"></script>'
        >>> join_pages(old, old + '</head><body>1</body>')
        '</head><body>1</body>'
        >>> join_pages(old, '<head><title>t</title><script src="a.js"></script><script src="b.js"></script></head>')
        '<script src="b.js"></script></head>'
        >>> join_pages(old, '<head><title>u</title><script src="a.js"></script></head>') is None
        True
    """
    if page.startswith(sent):
        return page[len(sent):]
    new = split_head(page)
    if new is None:
        return None
    start, rest = new
    if _SCRIPT_SRC.sub("", start) != _SCRIPT_SRC.sub("", sent):
        return None
    have = {m.group(0) for m in _SCRIPT_SRC.finditer(sent)}
    return "".join(m.group(0) for m in _SCRIPT_SRC.finditer(start) if m.group(0) not in have) + rest


def script_paths(start: str, page_path: str) -> list[str]:
    """The URL paths of the ``<script src=...>`` tags in ``start``, resolved against ``page_path``.

        >>> script_paths('<script type="text/javascript" src="static/js/bokeh.min.js?v=1"></script>', "/protocol")
        ['/static/js/bokeh.min.js']
    """
    out = []
    for m in _SCRIPT_SRC.finditer(start):
        src = re.search(r"""\bsrc=["']?([^"' >]+)""", m.group(0))
        if src:
            out.append(urllib.parse.urlsplit(urllib.parse.urljoin(page_path, src.group(1))).path)
    return out


class RequestWatch:
    """When requests for given URL paths started and finished on one Tornado application.

    Wraps the application's ``find_handler`` (a request arrives) and ``log_request`` (a response
    finished) on the instance; :meth:`served` waits, on the application's IO loop, until the
    browser fetched a page's scripts.
    """

    def __init__(self, app: Any):
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        find, log = app.find_handler, app.log_request

        def find_handler(request: Any, **kw: Any) -> Any:
            self.started[request.path] = time.monotonic()
            return find(request, **kw)

        def log_request(handler: Any) -> None:
            self.finished[handler.request.path] = time.monotonic()
            log(handler)

        app.find_handler, app.log_request = find_handler, log_request

    async def served(self, paths: list[str], since: float, *, start_window: float, cap: float) -> float:
        """Wait until every path in ``paths`` was served after ``since`` (``time.monotonic``), or
        none was requested within ``start_window`` s (the browser has them cached), or ``cap`` s
        passed; return the seconds waited."""
        while True:
            now = time.monotonic()
            if all(self.finished.get(p, -1.0) >= since for p in paths):
                break
            if now - since >= cap:
                break
            if now - since >= start_window and not any(self.started.get(p, -1.0) >= since for p in paths):
                break
            await asyncio.sleep(0.005)
        return time.monotonic() - since


START_WINDOW_S = 0.05
"""How long the server waits for the browser to request a page's scripts after their tags went out."""

CAP_S = 0.5
"""The longest the server waits for the scripts to be served before it builds the session."""


RELOAD = '<script>location.reload()</script></head><body></body></html>'
"""Written after a start that the rendered page does not continue (see :func:`join_pages`)."""


def _handler_class() -> type:
    from panel.config import config
    from panel.io.server import DocHandler

    class StreamingDocHandler(DocHandler):
        """Panel's document handler that writes a route's remembered page start first (module docstring)."""

        _nl_sent: str | None = None

        def _nl_key(self) -> tuple[str, str] | None:
            app, req = self.application, self.request
            auth = app.auth_provider
            if (os.environ.get("NEPHLAB_STREAM_HEAD") != "1" or req.method != "GET" or app.prefix
                    or auth.get_user is not None or auth.get_user_async is not None
                    or config.authorize_callback or config.oauth_provider or config.basic_auth):
                return None
            path = req.path.rstrip("/") or "/"
            if path not in _routes or set(req.arguments) - {"theme"}:
                return None
            return path, self.get_argument("theme", "")

        async def get(self, *args: Any, **kwargs: Any) -> None:
            key = self._nl_key()
            start = _heads.get(key) if key is not None else None
            if start is not None:
                self.set_header("Content-Type", "text/html")
                self.set_header("Cache-Control", "no-store")
                super().write(start)
                self._nl_sent = start
                since = time.monotonic()
                await self.flush()
                # the session's build holds the IO loop that serves the scripts: let them out first
                watch = _watches.get(id(self.application))
                if watch is None:
                    watch = _watches[id(self.application)] = RequestWatch(self.application)
                await watch.served(script_paths(start, self.request.path), since,
                                   start_window=START_WINDOW_S, cap=CAP_S)
            await super().get(*args, **kwargs)

        def write(self, chunk: Any) -> None:
            key = self._nl_key() if self.get_status() == 200 and isinstance(chunk, str) else None
            if key is not None:
                new = split_head(chunk)
                if new is not None:
                    with _lock:
                        _heads[key] = new[0]
            if self._nl_sent is not None and isinstance(chunk, str):
                rest = join_pages(self._nl_sent, chunk)
                self._nl_sent = None
                chunk = RELOAD if rest is None else rest
            super().write(chunk)

    return StreamingDocHandler


_handler: list[type] = []
_watches: dict[int, RequestWatch] = {}


def __getattr__(name: str) -> Any:
    if name == "StreamingDocHandler":
        if not _handler:
            _handler.append(_handler_class())
        return _handler[0]
    raise AttributeError(name)


def install(routes: Iterable[str]) -> None:
    """Serve ``routes`` (Panel's route names, such as ``"lindblad"`` or ``"/"``) with :class:`StreamingDocHandler` in every
    Bokeh server created after this call in this process (Panel's table of per-app handlers);
    idempotent, and a second call adds routes.

        >>> from bokeh.server.urls import per_app_patterns
        >>> saved, saved_routes = list(per_app_patterns), set(_routes)
        >>> install(["lindblad"]); install(["/lindblad", "md"])
        >>> [h.__name__ for p, h in per_app_patterns if p == r"/?"]
        ['StreamingDocHandler']
        >>> sorted(_routes)[:2]
        ['/lindblad', '/md']
        >>> per_app_patterns[:] = saved; _routes.clear(); _routes.update(saved_routes)  # as before
    """
    import importlib

    from bokeh.server.urls import per_app_patterns

    importlib.import_module("panel.io.server")  # Panel fills per_app_patterns on import

    new = ["/" + str(r).strip("/") for r in routes]
    handler = __getattr__("StreamingDocHandler")
    with _lock:
        _routes.update(new)
        for i, (pattern, cls) in enumerate(per_app_patterns):
            if pattern == r"/?" and cls is not handler:
                per_app_patterns[i] = (pattern, handler)
