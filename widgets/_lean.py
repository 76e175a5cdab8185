"""A served session's server cost that is not the page's: Bokeh's checks and Panel's collection.

:func:`install` (idempotent; the pages of :func:`nephlab.widgets.app.routes` call it in their first
served session, so ``nephlab serve`` runs with it) changes two things in the serving process.

- **Bokeh's development checks.** Before a session's first byte, Bokeh validates the whole
  document (``Document.validate``: every model's ``@error``/``@warning`` checks, whose findings
  go to the server's log) and checks the signature of every property callback as it is
  registered (``inspect.signature`` of each of Panel's ~12 ``on_change`` callbacks per model).
  On a 2-core machine that was 7 % and 6 % of a warm ``/lindblad`` request's CPU
  (``py-spy``, ``benchmarks/RESULTS.md``). Both are Bokeh settings meant for development
  (``validate_doc``, ``perform_error_diagnostics``); here they are off unless the environment
  sets them (``BOKEH_VALIDATE_DOC``, ``BOKEH_PERFORM_ERROR_DIAGNOSTICS``). Every page's
  document is validated by the tests instead (``tests/test_widgets_app.py``): a page has the
  same models in every session.
- **Panel's garbage collection after an ended session.** Panel runs ``gc.collect()`` 5 s after
  a session ended (``panel.io.document._garbage_collect``, debounced); a full collection walks
  the server's whole heap (~0.5 million objects, 0.15-0.2 s) on the IO loop that serves the
  next visitor. :data:`ACTIVITY` counts the sessions that are being built or whose page has not
  loaded yet (from the page's request to its ``pn.state.onload`` callbacks, plus
  :data:`LOAD_GRACE_S` for the work they started; at most :data:`BUSY_CAP_S` for a page that
  never loads), and the collection waits until none is, or until it has waited
  :data:`MAX_DEFER_S` (memory still comes back under a steady stream of visitors). The
  interpreter's own automatic full collections wait the same way (:class:`SessionActivity`).
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import threading
import time
import weakref
from typing import Any

__all__ = ["ACTIVITY", "BUSY_CAP_S", "HELD_THRESHOLD2", "LOAD_GRACE_S", "MAX_DEFER_S", "SessionActivity", "WATCH_S",
           "install"]

WATCH_S = 0.25
"""Seconds between the checks whether the sessions are still busy (while collections wait)."""
LOAD_GRACE_S = 1.0
"""Seconds a session still counts as busy after its ``onload`` callbacks ran (the deferred plots
and the first results they started)."""
BUSY_CAP_S = 10.0
"""A session counts as busy at most this many seconds after its request (a page never loaded)."""
MAX_DEFER_S = 10.0
"""Panel's collection, and the interpreter's automatic full ones, are put off at most this many
seconds."""

_BOKEH_CHECKS = {"perform_document_validation": "BOKEH_VALIDATE_DOC",
                 "perform_error_diagnostics": "BOKEH_PERFORM_ERROR_DIAGNOSTICS"}


def _io_loop_later(delay_s: float, fn: Any) -> None:
    from tornado.ioloop import IOLoop

    IOLoop.current().call_later(delay_s, fn)


HELD_THRESHOLD2 = 1_000_000_000
"""Python's third collection threshold while a session is busy: no automatic full collection."""


class SessionActivity:
    """The served sessions that are being built or loading, as deadlines on a monotonic clock.

    While one is, Python's automatic full collections are held back (its third ``gc`` threshold
    raised to :data:`HELD_THRESHOLD2`; young collections go on): the interpreter runs one after
    every ~10 sessions' allocations, 0.2-0.9 s on a 2-core machine with the server's ~1 million
    tracked objects, and it used to fall inside the next visitor's request. Once no session is
    busy (checked every :data:`WATCH_S` on the IO loop), or after :data:`MAX_DEFER_S`, the
    threshold comes back and the interpreter's own generational collection runs at once, so it
    takes the full collection it held back (if its rules still ask for one) at that idle moment.

    Args:
        clock: seconds, monotonic (tests pass a fake one).
        schedule: ``schedule(delay_s, fn)`` runs ``fn`` later (default: the current Tornado IO
            loop's ``call_later``).

    Example:
        >>> t, later = [0.0], []
        >>> act = SessionActivity(clock=lambda: t[0], schedule=lambda s, fn: later.append(fn))
        >>> doc = type("Doc", (), {})()
        >>> act.started(doc); act.busy_for(), gc.get_threshold()[2] == HELD_THRESHOLD2
        (10.0, True)
        >>> act.loaded(doc); act.busy_for()
        1.0
        >>> t[0] = 1.5; act.busy_for()
        0.0
        >>> later.pop()(); act.held_since, gc.get_threshold()[2] == HELD_THRESHOLD2
        (None, False)
    """

    def __init__(self, clock: Any = time.monotonic, schedule: Any = None):
        if not callable(clock):
            raise TypeError(f"clock must be callable as clock() -> seconds, got {type(clock).__name__}")
        if schedule is not None and not callable(schedule):
            raise TypeError(f"schedule must be callable as schedule(delay_s, fn), got {type(schedule).__name__}")
        self._clock = clock
        self._schedule = schedule if schedule is not None else _io_loop_later
        self._lock = threading.Lock()
        self._until: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.held_since: float | None = None  # when the automatic full collections were held back
        self._threshold: tuple[int, ...] | None = None
        self.holds = 0

    def started(self, doc: Any) -> None:
        """A session's page is being built (busy for at most :data:`BUSY_CAP_S`); automatic full
        collections wait."""
        with self._lock:
            now = self._clock()
            self._until[doc] = now + BUSY_CAP_S
            hold = self.held_since is None
            if hold:
                self.held_since = now
                self._threshold = gc.get_threshold()
                gc.set_threshold(*self._threshold[:2], HELD_THRESHOLD2)
                self.holds += 1
        if hold:
            self._schedule(WATCH_S, self._watch)

    def _watch(self) -> None:
        wait = self.busy_for()
        with self._lock:
            if self.held_since is None:
                return
            if wait > 0 and self._clock() - self.held_since < MAX_DEFER_S:
                again = True
            else:
                again = False
                gc.set_threshold(*self._threshold)
                self.held_since = None
        if again:
            self._schedule(WATCH_S, self._watch)
            return
        # a young collection now: the interpreter's own rules decide whether it is a full one
        # (the one held back), and it falls here, while no session is busy
        _ = [[] for _ in range(gc.get_threshold()[0] + 1)]

    def loaded(self, doc: Any) -> None:
        """The session's page loaded and its ``onload`` work ran (busy :data:`LOAD_GRACE_S` more)."""
        with self._lock:
            if doc in self._until:
                self._until[doc] = self._clock() + LOAD_GRACE_S

    def ended(self, doc: Any) -> None:
        """The session ended: not busy."""
        with self._lock:
            self._until.pop(doc, None)

    def busy_for(self) -> float:
        """Seconds until no session counts as busy (0.0: none does now)."""
        now = self._clock()
        with self._lock:
            late = max(self._until.values(), default=now)
            for doc in [d for d, t in self._until.items() if t <= now]:
                del self._until[doc]
        return max(0.0, late - now)

    def track(self, doc: Any) -> None:
        """:meth:`started` for ``doc``, a served session's document, with :meth:`loaded` as its
        last ``pn.state.onload`` callback and :meth:`ended` when the session is destroyed.

        Call it after the page was built (its components' ``onload`` work comes first).
        """
        import panel as pn
        from panel.io.state import set_curdoc

        self.started(doc)
        ref = weakref.ref(doc)

        def loaded() -> None:
            d = ref()
            if d is not None:
                self.loaded(d)

        with set_curdoc(doc):
            pn.state.onload(loaded)
        doc.on_session_destroyed(lambda _ctx: self.ended(ref()) if ref() is not None else None)


ACTIVITY = SessionActivity()
"""The sessions of this server process (:func:`nephlab.widgets.app.routes` tracks each page's)."""

_due_since: list[float] = []  # when Panel's pending collection first became due (empty: none)


def _reschedule(delay_s: float) -> None:
    from panel.io.state import state

    state.schedule_task("gc.collect", _collect_when_idle, at=dt.datetime.now() + dt.timedelta(seconds=delay_s))


def _collect_when_idle() -> None:
    """Panel's ``_garbage_collect``: collect once no session is being built or loading and
    ``GC_DEBOUNCE`` seconds passed since the last session ended; at the latest
    :data:`MAX_DEFER_S` after it was first due."""
    import panel.io.document as pdoc

    now = time.monotonic()
    wait = max(pdoc.GC_DEBOUNCE - (now - (pdoc._panel_last_cleanup or 0.0)), ACTIVITY.busy_for())
    if not _due_since:
        _due_since.append(now)
    if wait > 0 and now - _due_since[0] < MAX_DEFER_S:
        _reschedule(min(wait, MAX_DEFER_S - (now - _due_since[0])))
        return
    _due_since.clear()
    gc.collect()


def _quiet_bokeh_checks() -> dict[str, bool]:
    from bokeh.settings import settings

    out = {}
    for name, env in _BOKEH_CHECKS.items():
        setting = getattr(settings, name)
        if env not in os.environ:
            setting.set_value(False)
        out[name] = bool(setting())
    return out


_installed: list[dict[str, bool]] = []


def install() -> dict[str, bool]:
    """Turn Bokeh's development checks off (unless set in the environment) and have Panel's
    collection after an ended session wait for idle moments (idempotent).

    Returns:
        ``{setting: value}`` of the two Bokeh settings now.

    Example:
        >>> install()  # doctest: +SKIP
        {'perform_document_validation': False, 'perform_error_diagnostics': False}
        >>> import panel.io.document as pdoc
        >>> pdoc._garbage_collect.__name__  # doctest: +SKIP
        '_collect_when_idle'
    """
    import panel.io.document as pdoc

    if _installed:
        return _installed[0]
    out = _quiet_bokeh_checks()
    pdoc._garbage_collect = _collect_when_idle
    _installed.append(out)
    return out
