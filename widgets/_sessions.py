"""A served session whose browser left: noticed when its last websocket closes.

Bokeh destroys an unused session (and Panel runs ``pn.state.on_session_destroyed``) only when its
periodic check finds it unused for ``unused_session_lifetime`` (``nephlab serve``: checked every
1 s, 30 s of lifetime, so that pages still loading keep their sessions; Bokeh's defaults: every
17 s, 15 s of lifetime, so up to ~30 s after the tab closed). Until then the session's deferred
work, its jobs and their queued UI callbacks kept running on the server's IO loop, ahead of the
next visitor's request.

Bokeh tells a document at once that a websocket closed (the document event
:class:`bokeh.events.ConnectionLost`, fired by the socket's ``on_close`` just before the
connection is unsubscribed from its session). :func:`on_departure` hooks it: in the next IO-loop
step, if the session has no connection left, the document is marked as left
(:func:`has_left`), the registered callbacks run (components cancel their jobs), and the
session's expiry is requested, so Bokeh destroys it at its next check. A session whose
websocket never connected (a page still loading) gets no such event and is never cut.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["has_left", "on_departure"]

log = logging.getLogger(__name__)

_LEFT: weakref.WeakSet = weakref.WeakSet()
_CALLBACKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def has_left(doc: Any) -> bool:
    """True once the served session of Bokeh document ``doc`` lost its last connection.

    Example:
        >>> from bokeh.document import Document
        >>> has_left(Document())
        False
    """
    try:
        return doc in _LEFT
    except TypeError:  # not weak-referenceable: not a document
        return False


def on_departure(doc: Any, fn: Callable[[], Any]) -> None:
    """Call ``fn()`` on the server's IO loop once the last connection of ``doc``'s session closed.

    ``doc`` is the Bokeh document of a served session; ``fn`` runs at most once, right after the
    closing websocket was unsubscribed from the session, and not at all if the session never had a
    connection or another one is still open. An error raised by ``fn`` is logged, and the other
    callbacks still run.

    Example:
        >>> from bokeh.document import Document
        >>> doc = Document(); seen = []
        >>> on_departure(doc, lambda: seen.append("left"))
        >>> has_left(doc), seen      # no session, no connection: nothing happens
        (False, [])
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(), got {type(fn).__name__}")
    if has_left(doc):
        fn()
        return
    fns = _CALLBACKS.get(doc)
    if fns is None:
        fns = _CALLBACKS[doc] = []
        ref = weakref.ref(doc)

        def lost(event: Any) -> None:
            from tornado.ioloop import IOLoop

            # on_close unsubscribes the connection right after this event: count them after it
            IOLoop.current().add_callback(_check, ref)

        from bokeh.events import ConnectionLost

        doc.on_event(ConnectionLost, lost)
    fns.append(fn)


def _check(ref: weakref.ref) -> None:
    doc = ref()
    if doc is None or has_left(doc):
        return
    session = getattr(getattr(doc, "session_context", None), "_session", None)
    if session is None or session.destroyed or session.connection_count > 0:
        return  # no server session, already gone, or another tab/reconnection holds it
    _LEFT.add(doc)
    for fn in _CALLBACKS.pop(doc, []):
        try:
            fn()
        except Exception:  # noqa: BLE001 - one component's clean-up must not stop the others'
            log.exception("nephlab: a departure callback failed")
    session.request_expiration()  # destroyed at Bokeh's next check, not after the whole lifetime
