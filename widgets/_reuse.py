"""Served pages rendered from a cached skeleton; the visitor's session is built after the HTML.

Without it, a request to ``nephlab serve`` builds the visitor's whole session (the component,
Panel's models, the template) before the server sends the page's first byte, and only then does
the browser fetch and run the 2.8 MB of BokehJS and Panel JS: server and browser work one after
the other. Panel's ``reuse_sessions`` mechanism (:class:`panel.io.server.DocHandler`) renders the
HTML from a cached session of the route instead (about 30 ms) and, with ``'warm'``, schedules
the visitor's own session on the server's IO loop at once; BokehJS places the roots it receives
over the websocket by their position in the page, so the cached session's root ids do not matter.

What this module adds to Panel's mechanism:

- :func:`build_skeletons` builds the cached sessions itself, one per route and theme, none of
  them a visitor's (Panel would cache the first visitor's live session and block its expiry for
  good), and runs their end-of-session callbacks at once (jobs, the heap freezer's count), as
  ``panel serve --reuse-sessions`` does with the sessions it warms. Only then is
  ``pn.config.reuse_sessions`` switched on; until then pages are built as without it.
- :func:`session_key`: the cache key is ``(path, theme)`` with the theme as Panel reads it
  (``?theme=dark``; anything else is the default theme), so that every request finds a skeleton.
- :func:`defer_warm_builds`: the visitor's session is built ``delay_s`` after its page was sent,
  so that the page's scripts, requested as soon as the HTML arrives and served by the same IO
  loop, are not queued behind the build: the browser then compiles them while the server builds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["THEMES", "build_skeletons", "defer_warm_builds", "session_key"]

THEMES = ("default", "dark")
"""The themes a served page can have (``?theme=``), each with its own skeleton."""


def session_key(request: Any) -> tuple[str, str]:
    """The skeleton of a page request: ``(path, theme)``, the theme as Panel's ``config.theme``
    reads it from the query (``dark``, else ``default``).

    Example:
        >>> class R: path = "/lindblad"; arguments = {"theme": [b"dark"]}
        >>> session_key(R())
        ('/lindblad', 'dark')
        >>> R.arguments = {"theme": [b"pink"]}; session_key(R())
        ('/lindblad', 'default')
    """
    raw = (getattr(request, "arguments", None) or {}).get("theme", [b"default"])
    theme = raw[0].decode("utf-8", "replace") if raw and isinstance(raw[0], bytes) else str(raw[0]) if raw else ""
    return request.path, theme if theme in THEMES else "default"


def _skeleton(application: Any, theme: str) -> Any:
    from panel.io.document import _cleanup_doc
    from panel.io.session import generate_session

    session = generate_session(application, payload={"arguments": {"theme": [theme.encode()]}})
    # its jobs and callbacks end now (component close, heap-freezer count); its models stay
    _cleanup_doc(session.document, destroy=False)
    return session


async def build_skeletons(contexts: dict[str, Any], themes: Iterable[str] = THEMES, *,
                          mode: bool | str = "warm", pause_s: float = 0.05) -> int:
    """Build the cached skeleton of every route in ``contexts`` (``{path: ApplicationContext}``)
    and theme on the current IO loop, one per ``pause_s`` so that visitors are served between
    them; then switch on ``pn.config.reuse_sessions = mode``. Returns the number built.

    A route whose skeleton fails to build leaves the mechanism off (its error is logged): pages
    are then built per request, as without it.
    """
    import logging

    import panel as pn
    from panel.io.state import state

    built: dict[tuple[str, str], Any] = {}
    for path, ctx in contexts.items():
        for theme in themes:
            try:
                built[(path, theme)] = _skeleton(ctx.application, theme)
            except Exception:  # noqa: BLE001 - the pages still work, per request
                logging.getLogger(__name__).exception("nephlab serve: no cached page for %s (%s)", path, theme)
                return 0
            await asyncio.sleep(pause_s)
    for (path, _theme), session in built.items():
        state._sessions[(path, _theme)] = session
        state._session_key_funcs[path] = session_key
    pn.config.reuse_sessions = mode
    return len(built)


def defer_warm_builds(contexts: dict[str, Any], delay_s: float) -> None:
    """Make the ``'warm'`` build of a visitor's session (scheduled by Panel right after its page was
    written) wait ``delay_s`` first; a websocket that connects meanwhile builds it at once.

    ``contexts``: ``{path: ApplicationContext}`` of a Bokeh server; each context's
    ``create_session_if_needed`` is wrapped on the instance. Bokeh's ``create_session_if_needed``
    is idempotent per session id, so the later of the two calls finds the session built.
    """
    if isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)) or not 0 <= delay_s <= 5:
        raise ValueError(f"delay_s must be a number of seconds in [0, 5], got {delay_s!r}")
    for ctx in contexts.values():
        original = ctx.create_session_if_needed

        async def create(session_id: Any, request: Any = None, token: Any = None, *, _original: Any = original) -> Any:
            if request is not None and not request.path.endswith("/ws"):
                await asyncio.sleep(delay_s)  # the page's scripts go out first
            return await _original(session_id, request, token)

        ctx.create_session_if_needed = create
