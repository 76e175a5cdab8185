"""Shared machinery of the nephlab components: a base class, background jobs and exporters.

- :class:`Component`: a ``pn.viewable.Viewer`` with the params every component shares
  (``executor``, ``cluster``, ``status``, ``progress``, ``running``, ``updates``) and
  :meth:`Component.start_job` / :meth:`Component.cancel` / :meth:`Component.wait`.
- :class:`Job` / :class:`JobContext`: run a function in a worker thread (optionally handing
  work to a Dask client from :func:`nephlab.cluster.connect`), stream its partial results to
  the UI at most ``rate_hz`` times per second (12 Hz by default, so ~10 Hz arrive), cancel it cooperatively
  (a ``threading.Event`` checked between chunks). The page never blocks, and no UI object is
  touched from the worker thread: under ``panel serve`` updates are scheduled on the session's
  Bokeh document with ``doc.add_next_tick_callback``; in Jupyter they run on the kernel's main
  IO loop (``IOLoop.add_callback``, thread safe), where the browser's comm messages are handled
  too, even in kernels with subshells (:mod:`nephlab.widgets._jupyter`), and :meth:`Job.wait`
  called from a cell applies them itself while it waits; in plain Python (no kernel, no
  session) they run in the worker.
- :func:`export_figure` (PNG/SVG/PDF of a Matplotlib figure or a HoloViews object rendered by
  Matplotlib), :func:`export_dataset` (netCDF through h5netcdf), :func:`export_animation`
  (GIF through imageio, MP4 through the ffmpeg binary shipped by ``imageio-ffmpeg``).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import html
import os
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from ._jupyter import kernel_loop as _kernel_loop
from ._jupyter import serialize_panel_comms
from ._offline import prefer_inline_resources
from ._sessions import has_left, on_departure

# Every component module imports this one: whichever way a component is imported
# (``nephlab.widgets.X`` or ``from nephlab.widgets.lindblad import ...``), notebooks get
# Panel's JS and CSS inline, without internet; in a kernel with subshells, Panel's comm messages
# are handled on the main loop, where the jobs' updates run (see _jupyter).
prefer_inline_resources()
serialize_panel_comms()

__all__ = [
    "Cancelled",
    "app_template",
    "auto_glyphs",
    "Component",
    "Job",
    "JobContext",
    "cluster_client",
    "LocalVanilla",
    "defer_plots",
    "export_animation",
    "export_dataset",
    "export_figure",
    "figure_to_rgb",
    "lazy_card",
    "live_text",
    "LINK_CSS",
    "TextLine",
    "TABS_CSS",
    "tabs",
    "use_bokeh_backend",
]

DEFAULT_RATE_HZ = 12.0
"""Maximum rate of streamed updates (Hz): ~10 Hz delivered, with headroom for timing jitter."""


def use_bokeh_backend() -> None:
    """Register HoloViews' Bokeh plotting backend (no notebook output), so components can set
    plot options at import time in any context (plain Python, Jupyter, ``panel serve``)."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 - registers the renderer and its options

    if hv.Store.current_backend != "bokeh":
        hv.Store.set_current_backend("bokeh")


def holoviews() -> Any:
    """The ``holoviews`` module with the Bokeh plotting backend registered (no notebook output)."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 - registers the Bokeh backend

    return hv


def hv_pane(obj: Any, **kwargs: Any) -> Any:
    """A HoloViews pane whose axes are not linked to the other plots (their dimensions differ)."""
    return pn.pane.HoloViews(obj, linked_axes=False, **kwargs)


class Cancelled(Exception):
    """Raised inside a job by :meth:`JobContext.check` once cancellation was requested."""


# --- Dask clients ------------------------------------------------------------------------------

_CLIENTS: dict[str, Any] = {}
_CLIENT_STACK = contextlib.ExitStack()
_CLIENT_LOCK = threading.Lock()


def cluster_client(cluster: str | Any = "") -> Any:
    """A ``distributed.Client`` for ``cluster``, started once per process and reused.

    Args:
        cluster: ``""`` or ``"local"`` (an embedded ``LocalCluster`` bound to 127.0.0.1, or the
            current default client if one exists), a ``tcp://host:port`` scheduler address, a
            dask-jobqueue profile name (see :mod:`nephlab.cluster.profiles`), or a
            ``distributed.Client`` (returned as is).

    Returns:
        the client. Clients started here are closed when the interpreter exits.

    Example:
        >>> client = cluster_client("local")  # doctest: +SKIP
        >>> client.submit(sum, [1, 2]).result()  # doctest: +SKIP
        3
    """
    if cluster is not None and not isinstance(cluster, str):
        if type(cluster).__name__ == "Client":
            return cluster
        raise TypeError(
            f"cluster must be a str (''/'local', 'tcp://...' or a profile name) or a "
            f"distributed.Client, got {type(cluster).__name__}"
        )
    key = (cluster or "local").strip()
    with _CLIENT_LOCK:
        client = _CLIENTS.get(key)
        if client is not None and getattr(client, "status", "") in ("running", "connecting", "newly-created"):
            return client
        if key == "local":
            try:
                from distributed import default_client

                client = default_client()
                _CLIENTS[key] = client
                return client
            except ValueError:
                pass
        from nephlab.cluster import connect

        client = _CLIENT_STACK.enter_context(connect(None if key == "local" else key))
        _CLIENTS[key] = client
        return client


@atexit.register
def _close_clients() -> None:  # pragma: no cover - interpreter shutdown
    with contextlib.suppress(Exception):
        _CLIENT_STACK.close()


# --- background jobs ---------------------------------------------------------------------------


_LIVE_JOBS: weakref.WeakSet = weakref.WeakSet()
_BACKGROUND: weakref.WeakSet = weakref.WeakSet()  # other threads that may be inside JAX (warm-up)
EXITING = threading.Event()
"""Set when Python exits: background loops (:func:`nephlab.widgets.app.warm_pages`) stop at their
next check."""
EXIT_GRACE_S = 300.0
"""At interpreter exit, running jobs are cancelled and waited for up to this many seconds."""


def join_at_exit(thread: threading.Thread) -> threading.Thread:
    """Have Python's exit wait (up to :data:`EXIT_GRACE_S`) for ``thread``, a daemon thread that
    may run compiled JAX code; it should stop soon after :data:`EXITING` is set. Returns it.

    Example:
        >>> t = join_at_exit(threading.Thread(target=lambda: None, daemon=True)); t.start(); t.join()
    """
    if not isinstance(thread, threading.Thread):
        raise TypeError(f"thread must be a threading.Thread, got {type(thread).__name__}")
    _BACKGROUND.add(thread)
    return thread


@atexit.register
def _stop_jobs_at_exit() -> None:
    """Cancel the jobs still running when Python exits and wait for their threads (and for the
    threads registered with :func:`join_at_exit`).

    Job threads are daemons: left running, one that is inside compiled code (a JAX compilation
    or solve) when the interpreter finalises is torn down there, and the process aborts
    ("terminate called ... FATAL: exception not rethrown"). A cancelled job stops at its next
    check; the wait is bounded by :data:`EXIT_GRACE_S`.
    """
    EXITING.set()
    jobs = [j for j in list(_LIVE_JOBS) if j.thread is not None and j.thread.is_alive()]
    for job in jobs:
        job.cancel()
    deadline = time.monotonic() + EXIT_GRACE_S
    threads = [j.thread for j in jobs] + [t for t in list(_BACKGROUND) if t.is_alive()]
    for thread in threads:
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))


class JobContext:
    """What a job function sees: cancellation, streaming and (optionally) a Dask client.

    A job function has the signature ``work(ctx: JobContext) -> result``. Call
    :meth:`check` between chunks (it raises :class:`Cancelled` once :meth:`Job.cancel` was
    called), :meth:`emit` after each chunk (partial results reach ``on_update`` at most
    ``rate_hz`` times per second; the latest one always wins), and :meth:`compute` for work that
    should run on the cluster when the component's executor is ``"cluster"``.

    Example:
        >>> job = Job(lambda ctx: ctx.emit(41, progress=0.5) or 42)
        >>> job.start().wait()
        42
    """

    def __init__(self, job: Job):
        self._job = job

    @property
    def cancelled(self) -> bool:
        """True once cancellation was requested."""
        return self._job._cancel.is_set()

    @property
    def client(self) -> Any:
        """The Dask client of this job, or None when it runs locally."""
        return self._job.client

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._job._cancel.is_set():
            raise Cancelled("cancelled")

    def emit(self, partial: Any, progress: float | None = None, status: str | None = None) -> None:
        """Hand a partial result (and progress in [0, 1], a status line) to the UI, throttled."""
        self._job._offer(partial, progress, status, final=False)

    def compute(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` here, or on the Dask client when the job has one.

        On the cluster the future is polled every 50 ms so that a cancel takes effect
        (the future is cancelled) without waiting for the remote result.
        """
        self.check()
        client = self._job.client
        if client is None:
            return fn(*args, **kwargs)
        fut = client.submit(fn, *args, pure=False, **kwargs)
        while not fut.done():
            if self._job._cancel.is_set():
                fut.cancel()
                raise Cancelled("cancelled")
            time.sleep(0.05)
        return fut.result()


class Job:
    """A function run in a daemon thread, streaming partial results to callbacks.

    Args:
        work: ``work(ctx: JobContext) -> result``.
        on_update: called with each partial result that :meth:`JobContext.emit` offered,
            at most ``rate_hz`` times per second (intermediate ones are dropped, the latest kept).
        on_done: called with the result once ``work`` returned.
        on_error: called with the exception if ``work`` raised (``Cancelled`` included).
        on_progress: called with ``(progress, status)`` together with each update.
        client: a ``distributed.Client`` that :meth:`JobContext.compute` submits to, or None.
        rate_hz: the maximum update rate (Hz), > 0.
        doc: the Bokeh document to schedule callbacks on (default: ``pn.state.curdoc`` when
            the job starts inside a served session; None in Jupyter/plain Python).
        loop: the Tornado IO loop that runs the callbacks when there is no document (default:
            the running IPython kernel's loop in Jupyter, None in plain Python, where the
            callbacks run in the worker thread).

    All callbacks run one at a time, in the order of the events. :meth:`wait` blocks the caller
    (tests, scripts) until the job finished and all its callbacks ran.

    Example:
        >>> seen = []
        >>> def work(ctx):
        ...     for i in range(3):
        ...         ctx.check()
        ...         ctx.emit(i, progress=(i + 1) / 3)
        ...     return "done"
        >>> Job(work, on_update=seen.append, rate_hz=1e9).start().wait()
        'done'
        >>> seen
        [0, 1, 2]
    """

    # the clock (seconds) that throttles updates; tests replace it with a fake clock
    _clock: Callable[[], float] = staticmethod(time.perf_counter)

    def __init__(
        self,
        work: Callable[[JobContext], Any],
        *,
        on_update: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float | None, str | None], None] | None = None,
        client: Any = None,
        rate_hz: float = DEFAULT_RATE_HZ,
        doc: Any = "auto",
        loop: Any = "auto",
    ):
        if not callable(work):
            raise TypeError(f"work must be callable as work(ctx), got {type(work).__name__}")
        rate = float(rate_hz)
        if not np.isfinite(rate) or rate <= 0:
            raise ValueError(f"rate_hz must be a finite number > 0 (updates per second), got {rate_hz!r}")
        self.work = work
        self.on_update = on_update
        self.on_done = on_done
        self.on_error = on_error
        self.on_progress = on_progress
        self.client = client
        self.min_interval = 1.0 / rate
        self._doc = doc
        self._loop = loop
        self._ui_thread: int | None = None
        self._pending: collections.deque = collections.deque()
        self._cancel = threading.Event()
        self._finished = threading.Event()  # work returned/raised and final callbacks ran
        self._lock = threading.Lock()
        self._last_flush = -np.inf
        self._latest: tuple | None = None
        self._update_scheduled = False
        self._applied = threading.Event()
        self._wakeup = threading.Event()
        self.thread: threading.Thread | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.n_updates = 0

    # public API
    def start(self) -> Job:
        """Start the worker thread; return ``self``."""
        if self.thread is not None:
            raise RuntimeError("a Job can be started once; create a new Job")
        if self._doc == "auto":
            self._doc = _session_doc()
        if self._loop == "auto":
            self._loop = _kernel_loop() if self._doc is None else None
        self._ui_thread = threading.get_ident()
        self.thread = threading.Thread(target=self._run, name="nephlab-job", daemon=True)
        _LIVE_JOBS.add(self)
        self.thread.start()
        return self

    def cancel(self) -> None:
        """Request cancellation; the job stops at its next :meth:`JobContext.check`."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        """True once the job finished (result or error) and its final callbacks ran."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until done; return the result, or raise the job's error (TimeoutError on timeout)."""
        if self.thread is None:
            raise RuntimeError("the job was not started; call start() first")
        if self._loop is not None and threading.get_ident() == self._ui_thread:
            # called from a notebook cell: the kernel's loop is blocked by this very call, so
            # apply the queued UI callbacks here, in order, while waiting
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._finished.is_set():
                self._drain()
                if self._finished.is_set():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job did not finish within {timeout} s")
                self._wakeup.wait(0.05)
                self._wakeup.clear()
        elif not self._finished.wait(timeout):
            raise TimeoutError(f"job did not finish within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    # internals
    def _run(self) -> None:
        ctx = JobContext(self)
        try:
            res = self.work(ctx)
        except BaseException as exc:  # noqa: BLE001 - handed to on_error / wait()
            self.error = exc
            if not isinstance(exc, Cancelled):
                exc.__nephlab_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self._dispatch(self._finish_error, exc)
            return
        self.result = res
        self._dispatch(self._finish_ok, res)

    def _offer(self, partial: Any, progress: float | None, status: str | None, final: bool) -> None:
        now = self._clock()
        with self._lock:
            if not final and now - self._last_flush < self.min_interval:
                return
            self._last_flush = now
            # coalesce: while an update waits for (or is in) the UI thread, only the newest is kept,
            # so a slow page never builds a backlog of stale updates
            self._latest = (partial, progress, status)
            if self._update_scheduled:
                return
            self._update_scheduled = True
        if self._doc is not None:
            self._applied.clear()
        self._dispatch(self._apply_latest)
        if self._doc is not None:
            # back-pressure: give the server's IO loop the GIL until it has sent this update
            # (at most 30 ms), so a GIL-hungry computation cannot starve the page
            self._applied.wait(0.03)

    def _apply_latest(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, None
            self._update_scheduled = False
        try:
            if latest is None:
                return
            if self._doc is not None and _doc_alive(self._doc):
                # one combined message per update instead of one per changed model property
                with pn.io.hold(self._doc):
                    self._apply_update(*latest)
            else:
                self._apply_update(*latest)
        finally:
            self._applied.set()

    def _apply_update(self, partial: Any, progress: float | None, status: str | None) -> None:
        self.n_updates += 1
        if self.on_progress is not None:
            self.on_progress(progress, status)
        if self.on_update is not None:
            self.on_update(partial)

    def _finish_ok(self, res: Any) -> None:
        try:
            if self.on_done is not None:
                self.on_done(res)
        except BaseException as exc:  # noqa: BLE001
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            self._finished.set()

    def _finish_error(self, exc: BaseException) -> None:
        try:
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            self._finished.set()

    def _drain(self) -> None:
        while True:
            try:
                fn, args = self._pending.popleft()
            except IndexError:
                return
            fn(*args)

    def _dispatch(self, fn: Callable, *args: Any) -> None:
        doc = self._doc
        if doc is None and self._loop is not None:
            self._pending.append((fn, args))
            self._wakeup.set()
            try:
                self._loop.add_callback(self._drain)
            except Exception:  # noqa: BLE001 - the kernel's loop is closed: run here
                self._drain()
            return
        if doc is None or not _doc_alive(doc):
            fn(*args)  # plain Python, or the session is gone: run here
            return
        if has_left(doc):
            self._skip(fn)
            return

        def in_session() -> None:  # queued on the IO loop: the browser may have left meanwhile
            if has_left(doc):
                self._skip(fn)
            else:
                fn(*args)

        try:
            doc.add_next_tick_callback(in_session)
        except Exception:  # noqa: BLE001 - document closed meanwhile: run here
            fn(*args)

    def _skip(self, fn: Callable) -> None:
        """Leave out a UI callback of a session whose browser left (no one would see it), but
        keep the job's book-keeping: :meth:`wait` returns, a throttled worker is not held back."""
        if fn == self._apply_latest:
            with self._lock:
                self._latest, self._update_scheduled = None, False
            self._applied.set()
        elif fn == self._finish_ok or fn == self._finish_error:
            self._finished.set()


_PLOT_PANES = (pn.pane.Bokeh, pn.pane.HoloViews)


def first_plots_from_env(environ: Mapping[str, str] | None = None) -> int | None:
    """``Component.first_plots`` from ``NEPHLAB_FIRST_PLOTS``: an integer >= 0, or ``all``
    (every plot with the page: None); unset means 1.

    Example:
        >>> first_plots_from_env({}), first_plots_from_env({"NEPHLAB_FIRST_PLOTS": "all"})
        (1, None)
    """
    raw = (os.environ if environ is None else environ).get("NEPHLAB_FIRST_PLOTS", "1").strip().lower()
    if raw == "all":
        return None
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"NEPHLAB_FIRST_PLOTS={raw!r}: allowed are an integer >= 0 (plots sent with the page) "
                         "or 'all'")
    return n


def defer_plots(layout: Any, keep: int = 1) -> Callable[[], None] | None:
    """Swap every plot of ``layout`` after the first ``keep`` for a spacer of the same size.

    Plots are Bokeh and HoloViews panes, found depth first in the layout's lists (``Column``,
    ``Row``, ``GridBox``, ``FlexBox``, ...; inactive tabs of a dynamic ``Tabs`` are skipped, they
    render when opened). A page that holds fewer plots is drawn sooner, and the browser paints
    the first plot before it lays out the others.

    Args:
        layout: a Panel layout (changed in place).
        keep: how many plots stay (>= 0).

    Returns:
        A function that puts the plots back in one update (for ``pn.state.onload``), or None
        when nothing was deferred.

    Example:
        >>> from bokeh.plotting import figure
        >>> col = pn.Column(pn.pane.Bokeh(figure(height=200)), pn.pane.Bokeh(figure(height=300)))
        >>> restore = defer_plots(col, keep=1)
        >>> type(col[1]).__name__, col[1].height
        ('Spacer', 300)
        >>> restore(); type(col[1]).__name__
        'Bokeh'
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be an int >= 0 (plots sent with the page), got {keep!r}")
    found: list[tuple[Any, int, Any]] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, pn.Tabs):
            kids = [obj.objects[obj.active]] if obj.dynamic and obj.objects else list(obj.objects)
            for kid in kids:
                walk(kid)
            return
        if isinstance(obj, pn.layout.base.ListLike) or isinstance(obj, pn.GridBox):
            for i, kid in enumerate(list(obj.objects)):
                if isinstance(kid, _PLOT_PANES):
                    found.append((obj, i, kid))
                else:
                    walk(kid)

    walk(layout)
    later = found[keep:]
    if not later:
        return None
    for parent, i, pane in later:
        height = pane.height or getattr(getattr(pane, "object", None), "height", None) or 300
        parent[i] = pn.Spacer(height=int(height), width=pane.width, sizing_mode=pane.sizing_mode or "stretch_width",
                              margin=pane.margin)

    def restore() -> None:
        doc = _session_doc()
        with pn.io.hold(doc) if doc is not None else contextlib.nullcontext():
            for parent, i, pane in later:
                parent[i] = pane

    return restore


def auto_glyphs(*figs: Any) -> int:
    """Let BokehJS derive the nonselection and muted glyphs of the figures' glyph renderers.

    ``figure.line``, ``figure.scatter``, ... send two copies of each glyph besides the glyph
    itself (the nonselection and the muted look), two more models per renderer for the session to
    build, serialise and the browser to build views for. With ``"auto"`` BokehJS derives them
    from the glyph when needed: a nonselection glyph is drawn only while the renderer's source
    has a selection, a muted one only with a legend's ``click_policy="mute"``. Renderers that a
    selecting or editing tool of the figure acts on (tap, box/lasso select, point draw, ...) keep
    theirs, and so does a figure whose such tool acts on all its renderers.

    Returns:
        how many renderers were changed.

    Example:
        >>> from bokeh.models import PointDrawTool
        >>> from bokeh.plotting import figure
        >>> f = figure(); line = f.line([0, 1], [0, 1]); pts = f.scatter([0, 1], [0, 1])
        >>> f.add_tools(PointDrawTool(renderers=[pts]))
        >>> auto_glyphs(f), line.nonselection_glyph, line.muted_glyph, type(pts.nonselection_glyph).__name__
        (1, 'auto', 'auto', 'Scatter')
    """
    from bokeh.models import GlyphRenderer
    from bokeh.models.tools import EditTool, SelectTool

    n = 0
    for f in figs:
        acting = [t for t in f.toolbar.tools if isinstance(t, (SelectTool, EditTool))]
        if any(not isinstance(getattr(t, "renderers", None), (list, tuple)) for t in acting):
            continue  # a tool acts on every renderer ("auto")
        keep = {id(r) for t in acting for r in t.renderers}
        for r in f.renderers:
            if isinstance(r, GlyphRenderer) and id(r) not in keep:
                r.nonselection_glyph = "auto"
                r.muted_glyph = "auto"
                n += 1
    return n


def lazy_card(title: str, build: Callable[[], Sequence[Any]], **card_kw: Any) -> pn.Card:
    """A collapsed ``pn.Card`` whose contents ``build()`` makes when it is first opened.

    Rarely used controls (solver options, an advanced section) then send no model with the
    page: a served page is built, sent and laid out faster. Once built, the contents stay (the
    card collapses and opens as any card).

    Args:
        title: the card's header.
        build: returns the card's objects; called once, on the first opening (or at once when
            ``collapsed=False`` is passed).
        **card_kw: further ``pn.Card`` options (``collapsed`` defaults to True).

    Example:
        >>> card = lazy_card("advanced", lambda: [pn.widgets.FloatInput(name="tol", value=1e-6)])
        >>> len(card.objects)
        0
        >>> card.collapsed = False; card[0].name
        'tol'
    """
    if not callable(build):
        raise TypeError(f"build must be a callable returning the card's objects, got {type(build).__name__}")
    card_kw.setdefault("collapsed", True)
    card = pn.Card(title=title, **card_kw)

    watchers: list[Any] = []

    def fill(*_: Any) -> None:
        if card.collapsed or not watchers:
            return
        card.param.unwatch(watchers.pop())
        card.objects = list(build())

    watchers.append(card.param.watch(fill, "collapsed"))
    fill()
    return card


def live_text(render: Callable[..., Any], *refs: Any, css_classes: Sequence[str] = (), **kw: Any) -> pn.widgets.StaticText:
    """Fixed-width text ``render(*values)`` of params (or other references), updated as they change.

    A ``StaticText`` widget (a Bokeh ``Div``) holding ``<pre>text</pre>``: a change sends its
    ``text`` and nothing else. A ``pn.pane.Str`` looks the same but re-sends all its properties
    on a change, and in a served page its first change also re-sends its ``stylesheets`` (the
    theme's stylesheet joins those of the first render): a walk of the whole document's model
    graph on the server and a restyle in the browser, 20-60 ms each on a 2-core machine
    (``benchmarks/designer_hops.py``, ``benchmarks/RESULTS.md``). Use it for text that changes
    during a visit (status lines, counters).

    Args:
        render: the text from the references' current values (escaped as HTML here).
        *refs: params (``obj.param.x``) or other Panel references whose values ``render`` takes.
        css_classes: the widget's CSS classes (the DOM hooks).
        **kw: further ``StaticText`` options (``sizing_mode``, ``margin``, ...).

    Example:
        >>> class P(param.Parameterized):
        ...     status = param.String("idle")
        >>> p = P(); t = live_text(str, p.param.status, css_classes=["nl-status"])
        >>> p.status = "a < b"; t.value
        '<pre>a &lt; b</pre>'
    """
    if not callable(render):
        raise TypeError(f"render must be callable as render(*values), got {type(render).__name__}")
    return pn.widgets.StaticText(value=pn.bind(lambda *v: _pre(render(*v)), *refs),
                                 css_classes=list(css_classes), **kw)


def _pre(text: Any) -> str:
    return f"<pre>{html.escape(str(text))}</pre>"


class TextLine(pn.widgets.StaticText):
    """Fixed-width text that code sets: ``line.text = "..."`` sends the escaped text and nothing else.

    The imperative twin of :func:`live_text`, for summary lines written by a component's
    callbacks (θ(s) at the ends of its range, a cloning estimate, η ± stderr). Like
    ``live_text`` it is a ``StaticText`` (a Bokeh ``Div``) holding ``<pre>text</pre>``, so a
    change is one small message; a ``pn.pane.Str`` would re-send its stylesheets on its first
    change (see :func:`live_text`).

    Args:
        text: the first text (plain; escaped as HTML here).
        **params: further ``StaticText`` options (``css_classes``, ``sizing_mode``, ...).

    Example:
        >>> line = TextLine("computing ...", css_classes=["nl-summary"])
        >>> line.text = "θ(0) = 0 < 1"; line.value, line.text
        ('<pre>θ(0) = 0 &lt; 1</pre>', 'θ(0) = 0 < 1')
    """

    def __init__(self, text: Any = "", **params: Any) -> None:
        if "value" in params:
            raise TypeError("TextLine takes its text as `text` (plain, escaped here), not `value`")
        super().__init__(value=_pre(text), **params)

    @property
    def text(self) -> str:
        """The plain text shown (str)."""
        v = self.value or ""
        if v.startswith("<pre>") and v.endswith("</pre>"):
            v = v[5:-6]
        return html.unescape(v)

    @text.setter
    def text(self, text: Any) -> None:
        self.value = _pre(text)


def _session_doc() -> Any:
    """The Bokeh document of the current served session, or None (Jupyter, plain Python)."""
    try:
        doc = pn.state.curdoc
    except Exception:  # noqa: BLE001
        return None
    if doc is None or getattr(doc, "session_context", None) is None:
        return None
    return doc


def _doc_alive(doc: Any) -> bool:
    ctx = getattr(doc, "session_context", None)
    return ctx is not None and not getattr(ctx, "destroyed", False)


# --- the base component ------------------------------------------------------------------------


class Component(pn.viewable.Viewer):
    """Base of every nephlab component: controls from task specs, background jobs, one status area.

    A component implements :meth:`sidebar` (its controls and buttons) and :meth:`main` (plots,
    tables). The base lays them out the same way everywhere: in a notebook ``sidebar | status
    area over main``, and in the served app inside one Panel template (:meth:`page`).

    Params:
        executor: ``"local"`` (a worker thread in this process) or ``"cluster"`` (the work's
            :meth:`JobContext.compute` calls go to the Dask client of ``cluster``).
        cluster: ``""``/``"local"`` (embedded LocalCluster, or the current default client),
            a ``tcp://`` scheduler address or a dask-jobqueue profile name.
        status: a one-line status message shown by :meth:`status_area`.
        error: the current error ('' when none): a value a control refused, or a job that failed.
        progress: progress of the current job in [0, 1].
        running: True while a job runs.
        updates: the number of partial-result updates applied to the views so far (a counter
            tests and the browser read to measure the streaming rate).

    Controls: :meth:`spec_controls` builds widgets from a task spec and links them to the
    component's params of the same names; every generated widget is listed in
    :attr:`controls` and :attr:`control_specs`.

    Jobs: :meth:`start_job` runs work in the background under a key (several keys may run at
    once); :meth:`cancel` stops them. When a served page's browser leaves (its last websocket
    closed, :func:`nephlab.widgets._sessions.on_departure`) or its session ends, :meth:`close`
    cancels every job and calls :meth:`release`; the jobs' queued UI callbacks and the deferred
    first computations of that session are left out.

    DOM hooks of :meth:`status_area`: ``nl-status`` (status text), ``nl-progress`` (progress
    bar), ``nl-cancel`` (cancel button), ``nl-error`` (the error alert); ``nl-error-<name>``
    under each control.

    Example:
        >>> class Doubler(Component):
        ...     def main(self):
        ...         return pn.pane.Str("result")
        >>> c = Doubler()
        >>> c.run_sync(lambda ctx: 2 * 21)
        42
        >>> c.running, c.progress, c.status
        (False, 1.0, 'done')
    """

    executor = param.Selector(default="local", objects=["local", "cluster"], doc="where long work runs")
    cluster = param.String(default="", doc="'' or 'local', a tcp:// address, or a jobqueue profile name")
    status = param.String(default="idle", doc="one-line status message")
    error = param.String(default="", doc="the current error ('' when none)")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="progress of the running job")
    running = param.Boolean(default=False, doc="True while a job runs")
    updates = param.Integer(default=0, bounds=(0, None), doc="streamed updates applied so far")

    rate_hz = DEFAULT_RATE_HZ
    title = ""
    """The page title (the served app and the notebook header)."""
    first_plots: int | None = None  # set below from NEPHLAB_FIRST_PLOTS (default 1)
    """Served pages send this many plots of :meth:`main` with the page and the others right after
    it reached the browser (:func:`defer_plots`), so the first plot is drawn sooner; ``None``
    sends them all at once. Default from the environment variable ``NEPHLAB_FIRST_PLOTS``
    (an integer >= 0, or ``all``; unset: 1), which ``nephlab bench pages`` uses to compare."""

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._jobs: dict[str, Job] = {}
        self._running_keys: set[str] = set()
        self.controls: dict[str, pn.widgets.Widget] = {}
        self.control_specs: dict[str, tuple[Any, Any]] = {}
        self._control_errors: dict[str, str] = {}
        self._error_lines: dict[str, pn.pane.Str] = {}
        self._control_boxes: dict[str, list[pn.Column]] = {}
        self._hooked_docs: set[int] = set()
        self.closed = False

    # --- layout ------------------------------------------------------------------------------
    def sidebar(self) -> list[Any]:
        """The controls and buttons of the component (shown in the sidebar)."""
        return []

    def main(self) -> Any:
        """The plots and tables of the component (the main area)."""
        raise NotImplementedError(f"{type(self).__name__} must implement main()")

    def __panel__(self) -> pn.viewable.Viewable:
        self._hook_session()
        side = pn.Column(*self.sidebar(), width=300, css_classes=["nl-sidebar"])
        body = pn.Column(self.status_area(), self.main(), sizing_mode="stretch_width", css_classes=["nl-main"])
        return pn.Row(side, body, sizing_mode="stretch_width", css_classes=["nl-component"])

    def page(self, title: str | None = None, *, header: Sequence[Any] = ()) -> Any:
        """This component in the app's Panel template: the controls in the sidebar, the status
        area and the plots in the main area, the task's help as tooltips, a light/dark switch.

        Example:
            >>> class C(Component):
            ...     def main(self):
            ...         return pn.pane.Str("x")
            >>> type(C().page("demo")).__name__
            'LocalVanilla'
        """
        self._hook_session()
        name = title or self.title or type(self).__name__
        if type(self).main is Component.main:  # a component that lays itself out (__panel__)
            return app_template(name, main=[self], header=header)
        # one root per area: the template renders each entry as its own document root, and many
        # roots make building the page quadratic in the number of controls
        side = pn.Column(*self.sidebar(), sizing_mode="stretch_width", css_classes=["nl-sidebar"])
        main = self.main()
        if self.first_plots is not None and _session_doc() is not None:
            restore = defer_plots(main, keep=self.first_plots)
            if restore:
                self.defer(restore)
        body = pn.Column(self.status_area(), main, sizing_mode="stretch_width", css_classes=["nl-main"])
        return app_template(name, sidebar=[side], main=[body], header=header)

    # --- sessions ----------------------------------------------------------------------------
    def _hook_session(self) -> None:
        doc = _session_doc()
        if doc is None or id(doc) in self._hooked_docs:
            return
        self._hooked_docs.add(id(doc))
        doc.on_session_destroyed(lambda _ctx: self.close())
        # the browser left: stop now, not when Bokeh destroys the unused session (seconds later)
        on_departure(doc, self.close)

    def close(self) -> None:
        """Cancel every job and drop the component's data (:meth:`release`); idempotent.

        Called when the served page's browser left (its last websocket closed) and again when
        its session ends.
        """
        self.closed = True
        for job in list(self._jobs.values()):
            if not job.done:
                job.cancel()
        self.release()

    def export(self, path: str | Path) -> Path:
        """Export by suffix: ``.nc``/``.zarr`` write :meth:`to_dataset` (:func:`export_dataset`);
        ``.png``/``.svg``/``.pdf`` draw :meth:`figure` (:func:`export_figure`). Returns the path.

        Components that have data implement ``to_dataset()`` and ``figure()``.
        """
        p = Path(path)
        if p.suffix.lower() in (".nc", ".zarr"):
            return export_dataset(self.to_dataset(), p)
        return export_figure(self.figure(), p)

    def release(self) -> None:
        """Drop large data held by the component (override; called by :meth:`close`)."""

    def defer(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` after the page reached the browser (served), or now (notebook, Python).

        Use it for the first computation of a page, so a session sends its page before it
        computes; ``fn`` should be quick or start a job (it runs on the server's IO loop).
        Served, ``fn`` is left out once the component was closed (its browser left, or its
        session ended) before its turn came.
        """
        if _session_doc() is not None:
            pn.state.onload(lambda: None if self.closed else fn())
        else:
            fn()

    @classmethod
    def warm(cls) -> None:
        """Compute and cache what the first paint needs, compile JAX kernels (``nephlab serve``
        calls this in a background thread at start). The default does nothing."""

    def push(self, *views: Any) -> None:
        """In a notebook, send in-place changes of Bokeh models of ``views`` to the browser."""
        try:
            if pn.state._views:  # rendered in a notebook through a comm
                pn.io.push_notebook(*views)
        except Exception:  # noqa: BLE001 - not displayed in a notebook
            pass

    # --- controls ----------------------------------------------------------------------------
    def spec_controls(self, spec: Any, names: Sequence[str] | None = None, **widget_kw: Any) -> dict[str, Any]:
        """Widgets for parameters of a task spec, linked both ways to this component's params.

        Args:
            spec: a :class:`nephlab.tasks.TaskSpec` or a task name.
            names: the parameters (default: every parameter of the spec that the component
                declares as a param, in spec order).
            **widget_kw: widget options (``width``, ...).

        A refused value stays in the widget, is shown under it (``nl-error-<name>``) and in the
        status area, and the component keeps its last valid value; the error clears once the
        value is valid. A parameter with ``when`` is visible only when it applies
        (:meth:`nephlab.tasks.Param.applies`, read from the component's current params).

        Returns:
            ``{name: widget}``; also registered in :attr:`controls` / :attr:`control_specs`.
        """
        from ._controls import controls_from_spec

        if isinstance(spec, str):
            from nephlab.tasks import get_task

            spec = get_task(spec).spec
        if names is None:
            names = [n for n in spec.names if n in self.param]
        ctl = controls_from_spec(spec, names, **widget_kw)
        for name, w in ctl.items():
            if name not in self.param:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r} for the control of task "
                                 f"{spec.name!r}; declare it with param_for(spec.param({name!r}))")
            p = spec.param(name)
            self.controls[name] = w
            self.control_specs[name] = (spec, p)
            w.value = getattr(self, name)
            w.param.watch(lambda _ev, name=name: self._fill_boxes(name), "visible")
            w.param.watch(lambda ev, name=name, p=p, spec=spec: self._from_widget(name, p, spec, ev.new), "value")
            self.param.watch(lambda ev, w=w: setattr(w, "value", ev.new) if w.value != ev.new else None, name)
            if p.when is not None:
                deps = [k for k, _ in p.when if k in self.param]
                self.param.watch(lambda _ev, w=w, p=p, spec=spec: self._sync_visible(w, p, spec), deps)
                self._sync_visible(w, p, spec)
        return ctl

    def _error_line(self, name: str) -> pn.pane.Str | None:
        """The error line under control ``name``, built on its first error (a page sends no
        model for errors that never happen); None for a name without a control."""
        line = self._error_lines.get(name)
        if line is None and name in self.controls:
            line = self._error_lines[name] = pn.pane.Str(
                "", css_classes=["nl-control-error", f"nl-error-{name}"],
                styles={"color": "#c62828", "font-size": "0.85em"}, visible=False, margin=(0, 10))
            self._fill_boxes(name)
        return line

    def _box_objects(self, name: str) -> list[Any]:
        w = self.controls[name]
        if not w.visible:  # a hidden control is built when it applies (fewer models per page)
            return []
        line = self._error_lines.get(name)
        return [w] if line is None else [w, line]

    def _fill_boxes(self, name: str) -> None:
        objs = self._box_objects(name)
        for box in self._control_boxes.get(name, ()):
            if len(box.objects) != len(objs) or any(a is not b for a, b in zip(box.objects, objs)):
                box.objects = objs

    def _sync_visible(self, w: Any, p: Any, spec: Any) -> None:
        values = {n: getattr(self, n) for n in spec.names if n in self.param}
        visible = p.applies(values)
        w.visible = visible
        line = self._error_lines.get(p.name)
        if line is not None:
            line.visible = visible and bool(self._control_errors.get(p.name))

    def _from_widget(self, name: str, p: Any, spec: Any, value: Any) -> None:
        try:
            v = p.check(value, spec.name)
        except (TypeError, ValueError) as exc:
            self.report_error(exc, control=name)
            return
        # clear first: the component's watchers may report a cross-parameter error for the new value
        self.clear_error(control=name)
        try:
            setattr(self, name, v)
        except (TypeError, ValueError) as exc:
            self.report_error(exc, control=name)

    def report_error(self, exc: BaseException | str, *, control: str | None = None) -> None:
        """Show an error in the status area (and under ``control`` when given); never silent."""
        msg = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        if control is not None:
            self._control_errors[control] = msg
            line = self._error_line(control)
            if line is not None:
                line.object = msg
                line.visible = True
        self.error = msg
        self.status = f"error: {msg}"

    def clear_error(self, *, control: str | None = None) -> None:
        """Clear the error of ``control`` (all errors when None); the status area follows."""
        keys = list(self._control_errors) if control is None else [control]
        for k in keys:
            if self._control_errors.pop(k, None) is not None:
                line = self._error_lines.get(k)
                if line is not None:
                    line.object, line.visible = "", False
        if self._control_errors:
            self.error = next(iter(self._control_errors.values()))
        elif self.error:
            self.error = ""
            if self.status.startswith("error"):
                self.status = "idle"

    def control_views(self, controls: Mapping[str, Any] | Sequence[str] | None = None) -> list[Any]:
        """Each control (default: all of :attr:`controls`) above its error line, for :meth:`sidebar`.

        Each view is a box that holds the widget only while the control applies (a hidden
        control sends no model with the page) and its error line only once it had an error.
        """
        if controls is None:
            names = list(self.controls)
        elif isinstance(controls, Mapping):
            names = list(controls)
        else:
            names = list(controls)
        out = []
        for n in names:
            box = pn.Column(*self._box_objects(n), margin=0, visible=self.controls[n].param.visible,
                            css_classes=[f"nl-control-{n}"])
            self._control_boxes.setdefault(n, []).append(box)
            out.append(box)
        return out

    def spec_values(self, spec: Any, **overrides: Any) -> dict[str, Any]:
        """The validated parameters of ``spec`` from this component's params (plus overrides).

        A refused combination (a cross-parameter check, e.g. ``s_min < s_max``) is shown with
        :meth:`report_error` and raised.
        """
        if isinstance(spec, str):
            from nephlab.tasks import get_task

            spec = get_task(spec).spec
        values = {n: getattr(self, n) for n in spec.names if n in self.param}
        values.update(overrides)
        try:
            return spec.validate(values)
        except (TypeError, ValueError) as exc:
            self.report_error(exc)
            raise

    # --- jobs --------------------------------------------------------------------------------
    def start_job(
        self,
        work: Callable[[JobContext], Any],
        *,
        on_update: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        label: str = "running",
        key: str = "main",
    ) -> Job:
        """Run ``work(ctx)`` in the background under ``key``; refuse (RuntimeError) while a job with
        the same key runs. Jobs under different keys run at once.

        ``running``, ``progress``, ``status`` and ``updates`` follow the job. When
        ``executor == "cluster"`` the job gets the client of :func:`cluster_client`. ``work``
        must not touch widgets or Bokeh models: the callbacks run on the UI's loop.
        """
        current = self._jobs.get(key)
        if current is not None and not current.done:
            raise RuntimeError(f"{type(self).__name__}: a {key!r} job is already running; cancel it first")
        if self.closed:
            raise RuntimeError(f"{type(self).__name__} was closed (its session ended); create a new one")
        client = cluster_client(self.cluster) if self.executor == "cluster" else None

        def progress_cb(prog: float | None, status: str | None) -> None:
            if prog is not None:
                self.progress = float(min(max(prog, 0.0), 1.0))
            if status is not None:
                self.status = status

        def update_cb(partial: Any) -> None:
            if on_update is not None:
                on_update(partial)
            self.updates += 1

        def done_cb(res: Any) -> None:
            try:
                if on_done is not None:
                    on_done(res)
                self.progress = 1.0
                self.status = "done"
            finally:
                self._job_ended(key)

        def error_cb(exc: BaseException) -> None:
            try:
                if isinstance(exc, Cancelled):
                    self.status = "cancelled"
                else:
                    self.report_error(exc)
                if on_error is not None:
                    on_error(exc)
            finally:
                self._job_ended(key)

        self.progress = 0.0
        self.status = label + (" on the cluster" if client is not None else "")
        if self.error and not self._control_errors:
            self.error = ""
        self._running_keys.add(key)
        self.running = True
        job = Job(work, on_update=update_cb, on_done=done_cb, on_error=error_cb, on_progress=progress_cb,
                  client=client, rate_hz=self.rate_hz)
        self._jobs[key] = job
        return job.start()

    def _job_ended(self, key: str) -> None:
        self._running_keys.discard(key)
        self.running = bool(self._running_keys)

    def run_sync(self, work: Callable[[JobContext], Any], **kwargs: Any) -> Any:
        """:meth:`start_job` and wait for it (scripts, tests, ``nbval``); return the result."""
        return self.start_job(work, **kwargs).wait()

    def cancel(self, *_: Any, key: str | None = None) -> None:
        """Cancel the job under ``key`` (every running job when None; no-op when none runs)."""
        jobs = self._jobs.items() if key is None else [(key, self._jobs.get(key))]
        hit = False
        for _k, job in jobs:
            if job is not None and not job.done:
                job.cancel()
                hit = True
        if hit:
            self.status = "cancelling"

    def wait(self, timeout: float | None = None, *, key: str = "main") -> Any:
        """Wait for the job under ``key``; return its result (raises its error; None without a job)."""
        job = self._jobs.get(key)
        if job is None:
            return None
        return job.wait(timeout)

    @property
    def job(self) -> Job | None:
        """The current (or last) ``"main"`` :class:`Job`, or None."""
        return self._jobs.get("main")

    @property
    def jobs(self) -> dict[str, Job]:
        """``{key: job}`` of the current (or last) job under each key."""
        return dict(self._jobs)

    # --- the status area ---------------------------------------------------------------------
    def status_area(self) -> pn.viewable.Viewable:
        """Status, progress and errors in one place: executor switch, progress bar, cancel button,
        status text (``nl-progress``, ``nl-status``, ``nl-cancel``) and the error alert (``nl-error``)."""
        bar = pn.indicators.Progress(
            value=pn.bind(lambda p: int(round(100 * p)), self.param.progress),
            max=100,
            width=200,
            height=20,
            css_classes=["nl-progress"],
            sizing_mode="fixed",
        )
        text = live_text(str, self.param.status, css_classes=["nl-status"], sizing_mode="stretch_width")
        cancel = pn.widgets.Button(
            label="Cancel", color="warning", css_classes=["nl-cancel"], width=80,
            disabled=pn.bind(lambda r: not r, self.param.running),
        )
        cancel.on_click(self.cancel)
        executor = pn.widgets.RadioButtonGroup.from_param(
            self.param.executor, css_classes=["nl-executor"], width=150
        )
        alert = pn.pane.Alert(self.param.error, alert_type="danger", css_classes=["nl-error"],
                              visible=self.param.error.rx.bool(), sizing_mode="stretch_width", margin=(0, 10))
        return pn.Column(pn.Row(executor, bar, cancel, text, sizing_mode="stretch_width"), alert,
                         sizing_mode="stretch_width", css_classes=["nl-status-area"])

    status_bar = status_area


class LocalVanilla(pn.template.VanillaTemplate):
    """Panel's Vanilla template (``Native`` design, no script of its own) without its web font.

    The app's template. It has what the app needs (a header, a collapsible sidebar for the
    controls, the main area) and costs a browser the least: Panel's ``FastListTemplate``, used
    before, adds 0.9 MB of web-component script and the Fast design's stylesheets to every
    component: on ``/lindblad`` Chromium's renderer used 2.1 s of CPU with it against 1.8-2.0 s
    with this template (``benchmarks/page_profile.py``, two visits each, a loaded 2-core
    machine; ``benchmarks/RESULTS.md`` has the page-load numbers). The ``Native`` design is also what components use in a
    notebook, so both look the same. Panel's Vanilla template links the Lato web font from an
    external font service; that stylesheet blocks rendering where outbound traffic is dropped
    (compute nodes, JupyterHub behind a firewall), so it is left out and the page uses the
    system's sans-serif font.
    """

    _resources = {"css": {}}

    def server_doc(self, doc: Any = None, title: str | None = None, location: Any = True) -> Any:
        """Panel's ``server_doc`` with the document's model index frozen while the roots are added.

        Bokeh recomputes the set of a document's models (a walk of every root) each time a root
        is added; the template adds one root per area and a few of its own, so the walks grew
        with the page's models times the roots. Frozen, the set is computed once at the end.
        """
        doc = doc if doc is not None else pn.state.curdoc
        if doc is None:
            return super().server_doc(doc, title, location)
        with doc.models.freeze():
            return super().server_doc(doc, title, location)


TABS_CSS = """
.bk-tab.bk-active { color: var(--panel-on-background-color, #212529);
                    box-shadow: inset 0 -2px 0 var(--panel-primary-color, #0072b5); }
"""
"""Stylesheet of the app's tab headers: the active tab's label in the theme's text colour (BokehJS
colours it ``--color``, a near-black #18191D that Panel's dark theme leaves as it is: 1.1:1 on
the dark background) and marked by a line in the primary colour."""

LINK_CSS = "a { color: var(--primary-text-color, #0a58ca); }"
"""Stylesheet of the app's page links: the theme's link colour (#0a58ca light, #6ea8fe dark),
not the browser's default blue (#0000ee: 1.6:1 on the dark background)."""


def tabs(*objects: Any, **kwargs: Any) -> pn.Tabs:
    """``pn.Tabs(*objects, **kwargs)`` with the app's tab header style (:data:`TABS_CSS`), legible
    in the light and the dark theme.

    Example:
        >>> t = tabs(("a", pn.pane.Str("x")), ("b", pn.pane.Str("y")), dynamic=True)
        >>> TABS_CSS in t.stylesheets, t.dynamic
        (True, True)
    """
    kwargs["stylesheets"] = [*kwargs.get("stylesheets", []), TABS_CSS]
    return pn.Tabs(*objects, **kwargs)


def theme_switch() -> pn.pane.HTML:
    """The light/dark switch of the app's header: a link to this page with ``?theme=dark`` (or
    ``?theme=default`` on a dark page), which Panel reads as the session's theme; the page's
    other query arguments are kept.

    Example:
        >>> "?theme=dark" in theme_switch().object  # outside a session the theme is light
        True
    """
    from html import escape
    from urllib.parse import urlencode

    dark = pn.config.theme == "dark"
    args = {k: (v[0].decode() if isinstance(v[0], bytes) else str(v[0]))
            for k, v in (pn.state.session_args or {}).items() if v}
    args["theme"] = "default" if dark else "dark"
    label = "&#9728; light" if dark else "&#9790; dark"
    return pn.pane.HTML(f'<a href="?{escape(urlencode(args))}" title="switch between the light and dark theme">'
                        f'{label}</a>', css_classes=["nl-theme-switch"], margin=(8, 12),
                        stylesheets=["a { color: var(--header-color, white); text-decoration: none; }"])


def app_template(title: str, *, sidebar: Sequence[Any] = (), main: Sequence[Any] = (),
                 header: Sequence[Any] = ()) -> Any:
    """The one Panel template of the nephlab app: sidebar (controls), main area, light/dark switch.

    It is :class:`LocalVanilla`: every script, stylesheet and font comes from the server that
    serves the page, so the app works where the machine has no internet. The header ends with
    :func:`theme_switch`.

    Example:
        >>> page = app_template("nephlab", main=[pn.pane.Str("x")])
        >>> type(page).__name__, page.design.__name__, "nl-theme-switch" in page.header[-1].css_classes
        ('LocalVanilla', 'Native', True)
    """
    return LocalVanilla(
        title=title, sidebar=list(sidebar), main=list(main), header=[*header, theme_switch()],
        sidebar_width=320, header_background="#1f4e79", header_color="#ffffff", collapsed_sidebar=False,
    )


# --- exporters ---------------------------------------------------------------------------------

_FIG_FORMATS = (".png", ".svg", ".pdf")


def _as_path(path: str | Path, allowed: Sequence[str], what: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if p.suffix.lower() not in allowed:
        raise ValueError(f"path {str(p)!r}: {what} export supports the suffixes {list(allowed)}, got {p.suffix!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def export_figure(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Write a figure to PNG, SVG or PDF (chosen by the suffix of ``path``).

    Args:
        fig: a ``matplotlib.figure.Figure``, or a HoloViews object (rendered with the Matplotlib
            backend, so no browser/webdriver is needed).
        path: output file; suffix ``.png``, ``.svg`` or ``.pdf``.
        dpi: resolution of raster output (dots per inch).

    Returns:
        the path written.

    Example:
        >>> import tempfile, os, matplotlib.figure
        >>> fig = matplotlib.figure.Figure(figsize=(2, 2)); _ = fig.subplots().plot([0, 1])
        >>> p = export_figure(fig, os.path.join(tempfile.mkdtemp(), "f.png"))
        >>> p.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        True
    """
    p = _as_path(path, _FIG_FORMATS, "figure")
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        mod = type(fig).__module__
        if mod.startswith("holoviews"):
            import holoviews as hv

            if "matplotlib" not in hv.Store.renderers:
                import holoviews.plotting.mpl  # noqa: F401 - registers the renderer only
            fig = hv.render(fig, backend="matplotlib")
        else:
            raise TypeError(
                f"fig must be a matplotlib Figure or a HoloViews object, got {type(fig).__name__}; "
                "Bokeh models need a webdriver for PNG export, which nephlab does not use"
            )
    if fig.canvas is None or type(fig.canvas).__name__ == "FigureCanvasBase":
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.savefig(p, dpi=dpi, format=p.suffix[1:].lower(), bbox_inches="tight")
    return p


def export_dataset(ds: Any, path: str | Path) -> Path:
    """Write an ``xarray.Dataset`` to netCDF4/HDF5 (``.nc``, via h5netcdf) or zarr (``.zarr``).

    Complex variables are refused (store them as ``*_real``/``*_imag``, the nephlab convention).

    Example:
        >>> import tempfile, os, xarray as xr, numpy as np
        >>> ds = xr.Dataset({"x": ("t", np.arange(3.0))})
        >>> p = export_dataset(ds, os.path.join(tempfile.mkdtemp(), "d.nc"))
        >>> xr.load_dataset(p, engine="h5netcdf")["x"].values.tolist()
        [0.0, 1.0, 2.0]
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    p = _as_path(path, (".nc", ".zarr"), "dataset")
    cplx = [str(k) for k, v in ds.data_vars.items() if np.iscomplexobj(v.values)]
    if cplx:
        raise ValueError(f"ds has complex variables {cplx}; store them as <name>_real/<name>_imag")
    if p.suffix.lower() == ".nc":
        ds.to_netcdf(p, engine="h5netcdf")
    else:
        ds.to_zarr(p, mode="w")
    return p


def figure_to_rgb(fig: Any) -> np.ndarray:
    """Render a Matplotlib figure to an (H, W, 3) uint8 array (Agg canvas).

    Example:
        >>> import matplotlib.figure
        >>> figure_to_rgb(matplotlib.figure.Figure(figsize=(1, 1), dpi=50)).shape
        (50, 50, 3)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _frames_uint8(frames: Any) -> list[np.ndarray]:
    if isinstance(frames, np.ndarray):
        seq = list(frames)
    elif isinstance(frames, (list, tuple)):
        seq = list(frames)
    else:
        raise TypeError(f"frames must be an array (T, H, W[, 3|4]) or a list of frames, got {type(frames).__name__}")
    if not seq:
        raise ValueError("frames is empty; an animation needs at least one frame")
    out = []
    shape = None
    for i, f in enumerate(seq):
        if type(f).__name__ == "Figure":
            f = figure_to_rgb(f)
        a = np.asarray(f)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=-1)
        if a.ndim != 3 or a.shape[-1] not in (3, 4):
            raise ValueError(f"frames[{i}] has shape {a.shape}; allowed: (H, W), (H, W, 3) or (H, W, 4)")
        if a.dtype != np.uint8:
            if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
                raise ValueError(f"frames[{i}]: non-uint8 frames must be finite floats in [0, 1]")
            a = np.round(a * 255).astype(np.uint8)
        a = a[..., :3]
        if shape is None:
            shape = a.shape
        elif a.shape != shape:
            raise ValueError(f"frames[{i}] has shape {a.shape}, frames[0] has {shape}; all frames must match")
        out.append(np.ascontiguousarray(a))
    return out


def export_animation(frames: Any, path: str | Path, *, fps: float = 10.0) -> Path:
    """Write frames as an animated GIF (``.gif``, imageio) or an H.264 MP4 (``.mp4``, imageio-ffmpeg).

    Args:
        frames: array (T, H, W[, 3|4]) or a list of arrays/Matplotlib figures; uint8, or floats
            in [0, 1].
        path: output file, ``.gif`` or ``.mp4``.
        fps: frames per second, > 0.

    Returns:
        the path written. (MP4 frames are padded to even width/height, as H.264 requires.)

    Example:
        >>> import tempfile, os, numpy as np, imageio.v3 as iio
        >>> frames = np.zeros((4, 8, 8, 3), np.uint8)
        >>> for k in range(4): frames[k, :, 2 * k:2 * k + 2] = 255
        >>> p = export_animation(frames, os.path.join(tempfile.mkdtemp(), "a.gif"))
        >>> iio.imread(p, index=None).shape[0]
        4
    """
    p = _as_path(path, (".gif", ".mp4"), "animation")
    rate = float(fps)
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"fps must be a finite number > 0 (frames per second), got {fps!r}")
    seq = _frames_uint8(frames)
    if p.suffix.lower() == ".gif":
        import imageio.v3 as iio

        iio.imwrite(p, np.stack(seq), extension=".gif", duration=1000.0 / rate, loop=0)
    else:
        import imageio_ffmpeg

        h, w = seq[0].shape[:2]
        H, W = h + h % 2, w + w % 2
        writer = imageio_ffmpeg.write_frames(
            str(p), (W, H), fps=rate, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            macro_block_size=1, quality=None, output_params=["-crf", "23"],
        )
        writer.send(None)
        for f in seq:
            if (H, W) != (h, w):
                f = np.pad(f, ((0, H - h), (0, W - w), (0, 0)), mode="edge")
            writer.send(np.ascontiguousarray(f))
        writer.close()
    return p


Component.first_plots = first_plots_from_env()
