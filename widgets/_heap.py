"""Keep the served app's garbage collections small: freeze the long-lived heap out of them.

A ``nephlab serve`` process holds about 450 000 objects that the cycle collector tracks once it
has imported Panel, Bokeh, JAX and SciPy and warmed its pages, and almost all of them live as
long as the process. Every full collection walks all of them: Panel runs ``gc.collect()`` after
each ended session, and Python's own generation-2 collections fall at random points of a
session's construction. Profiled on the 2-core machine (``py-spy`` of a warm server during
``/protocol`` visits), these collections were 0.4-0.5 s of the server's CPU per visit, on the
IO loop that also answers the next visitor.

:func:`gc.freeze` moves every object tracked so far to a permanent generation that collections
skip (objects still die by reference counting; only cycles among the frozen ones are never
collected). :class:`HeapFreezer` freezes when no session is open, so that no visitor's
document is frozen with the server's own objects: at the start of ``nephlab serve`` (imports
done, no session yet) and again after the background warm-up, or, when sessions are open
then, once the last of them has ended.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["FREEZER", "HeapFreezer"]


def _io_loop_later(delay_s: float, fn: Callable[[], None]) -> None:
    from tornado.ioloop import IOLoop

    IOLoop.current().call_later(delay_s, fn)


class HeapFreezer:
    """Counts a server's open sessions and freezes the heap (``gc.collect``, ``gc.freeze``) when
    one is requested and none is open.

    Args:
        schedule: ``schedule(delay_s, fn)`` runs ``fn`` later (default: on the current Tornado IO
            loop); the freeze requested while sessions are open runs this way, ``delay_s``
            after the last one ended, so that the ended session's document is released first.
        delay_s: that delay (s, >= 0).

    Attributes:
        live: sessions open now; ``pending``: a freeze waits for them to end; ``frozen``: how
        many freezes ran.

    Example:
        >>> later = []
        >>> f = HeapFreezer(schedule=lambda d, fn: later.append(fn))
        >>> class Doc:
        ...     def on_session_destroyed(self, cb): self.end = cb
        >>> doc = Doc(); f.session_started(doc)
        >>> f.request(), f.pending            # a session is open: the freeze waits
        (False, True)
        >>> doc.end(None); later[0]()         # the last session ended: freeze now
        True
        >>> f.frozen, f.pending
        (1, False)
        >>> gc.unfreeze()                     # (the doctest's process: undo it)
    """

    def __init__(self, schedule: Callable[[float, Callable[[], None]], Any] | None = None, delay_s: float = 1.0):
        if isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)) or not delay_s >= 0:
            raise ValueError(f"delay_s must be a number >= 0 (seconds), got {delay_s!r}")
        self._schedule = schedule if schedule is not None else _io_loop_later
        self._delay_s = float(delay_s)
        self._lock = threading.RLock()  # a finalizer run by gc.collect may end a session
        self.live = 0
        self.pending = False
        self.frozen = 0

    def session_started(self, doc: Any) -> None:
        """Count a new session; its ``doc.on_session_destroyed`` uncounts it."""
        with self._lock:
            self.live += 1
        doc.on_session_destroyed(self._session_ended)

    def _session_ended(self, _ctx: Any) -> None:
        with self._lock:
            self.live = max(0, self.live - 1)
            due = self.pending and self.live == 0
        if due:
            self._schedule(self._delay_s, self._freeze_if_idle)

    def request(self) -> bool:
        """Freeze now if no session is open (True), else once the last open one has ended (False)."""
        with self._lock:
            self.pending = True
        return self._freeze_if_idle()

    def _freeze_if_idle(self) -> bool:
        with self._lock:
            if not self.pending or self.live:
                return False
            self.pending = False
            gc.collect()  # the garbage of the start and of ended sessions is not frozen
            gc.freeze()
            self.frozen += 1
            return True


FREEZER = HeapFreezer()
"""The freezer of ``nephlab serve`` (:func:`nephlab.widgets.app.serve`)."""
