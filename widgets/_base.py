"""Shared machinery of the nephlab components: a base class, background jobs and exporters.

- :class:`Component`: a ``pn.viewable.Viewer`` with the params every component shares
  (``executor``, ``cluster``, ``status``, ``progress``, ``running``, ``updates``) and
  :meth:`Component.start_job` / :meth:`Component.cancel` / :meth:`Component.wait`.
- :class:`Job` / :class:`JobContext`: run a function in a worker thread (optionally handing
  work to a Dask client from :func:`nephlab.cluster.connect`), stream its partial results to
  the UI at most ``rate_hz`` times per second (12 Hz by default, so ~10 Hz arrive), cancel it cooperatively
  (a ``threading.Event`` checked between chunks). The page never blocks: under
  ``panel serve`` updates are scheduled on the session's Bokeh document with
  ``doc.add_next_tick_callback`` (thread safe); in Jupyter and plain Python they are applied
  from the worker thread, which Panel forwards through the comm.
- :func:`export_figure` (PNG/SVG/PDF of a Matplotlib figure or a HoloViews object rendered by
  Matplotlib), :func:`export_dataset` (netCDF through h5netcdf), :func:`export_animation`
  (GIF through imageio, MP4 through the ffmpeg binary shipped by ``imageio-ffmpeg``).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

__all__ = [
    "Cancelled",
    "Component",
    "Job",
    "JobContext",
    "cluster_client",
    "export_animation",
    "export_dataset",
    "export_figure",
    "figure_to_rgb",
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
            the job starts inside a served session; None in Jupyter/plain Python, where the
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
        self._cancel = threading.Event()
        self._finished = threading.Event()  # work returned/raised and final callbacks ran
        self._lock = threading.Lock()
        self._last_flush = -np.inf
        self._latest: tuple | None = None
        self._update_scheduled = False
        self._applied = threading.Event()
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
        self.thread = threading.Thread(target=self._run, name="nephlab-job", daemon=True)
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
        if not self._finished.wait(timeout):
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
        now = time.perf_counter()
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

    def _dispatch(self, fn: Callable, *args: Any) -> None:
        doc = self._doc
        if doc is None or not _doc_alive(doc):
            fn(*args)  # Jupyter/plain Python, or the session is gone: run here
            return
        try:
            doc.add_next_tick_callback(lambda: fn(*args))
        except Exception:  # noqa: BLE001 - document closed meanwhile: run here
            fn(*args)


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
    """Base of every nephlab component: shared state and background execution.

    Params:
        executor: ``"local"`` (a worker thread in this process) or ``"cluster"`` (the work's
            :meth:`JobContext.compute` calls go to the Dask client of ``cluster``).
        cluster: ``""``/``"local"`` (embedded LocalCluster, or the current default client),
            a ``tcp://`` scheduler address or a dask-jobqueue profile name.
        status: a one-line status message shown by :meth:`status_bar`.
        progress: progress of the current job in [0, 1].
        running: True while a job runs.
        updates: the number of partial-result updates applied to the views so far (a counter
            tests and the browser read to measure the streaming rate).

    DOM hooks of :meth:`status_bar`: ``nl-status`` (status text), ``nl-progress`` (progress
    bar), ``nl-cancel`` (cancel button).

    Example:
        >>> class Doubler(Component):
        ...     def __panel__(self):
        ...         return self.status_bar()
        >>> c = Doubler()
        >>> c.run_sync(lambda ctx: 2 * 21)
        42
        >>> c.running, c.progress, c.status
        (False, 1.0, 'done')
    """

    executor = param.Selector(default="local", objects=["local", "cluster"], doc="where long work runs")
    cluster = param.String(default="", doc="'' or 'local', a tcp:// address, or a jobqueue profile name")
    status = param.String(default="idle", doc="one-line status message")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="progress of the running job")
    running = param.Boolean(default=False, doc="True while a job runs")
    updates = param.Integer(default=0, bounds=(0, None), doc="streamed updates applied so far")

    rate_hz = DEFAULT_RATE_HZ

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._job: Job | None = None

    # jobs
    def start_job(
        self,
        work: Callable[[JobContext], Any],
        *,
        on_update: Callable[[Any], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        label: str = "running",
    ) -> Job:
        """Run ``work(ctx)`` in the background; refuse (RuntimeError) while another job runs.

        ``running``, ``progress``, ``status`` and ``updates`` follow the job. When
        ``executor == "cluster"`` the job gets the client of :func:`cluster_client`.
        """
        if self._job is not None and not self._job.done:
            raise RuntimeError(f"{type(self).__name__}: a job is already running; cancel it first")
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
                self.running = False

        def error_cb(exc: BaseException) -> None:
            try:
                if isinstance(exc, Cancelled):
                    self.status = "cancelled"
                else:
                    self.status = f"error: {type(exc).__name__}: {exc}"
                if on_error is not None:
                    on_error(exc)
            finally:
                self.running = False

        self.progress = 0.0
        self.status = label + (" on the cluster" if client is not None else "")
        self.running = True
        self._job = Job(
            work,
            on_update=update_cb,
            on_done=done_cb,
            on_error=error_cb,
            on_progress=progress_cb,
            client=client,
            rate_hz=self.rate_hz,
        )
        return self._job.start()

    def run_sync(self, work: Callable[[JobContext], Any], **kwargs: Any) -> Any:
        """:meth:`start_job` and wait for it (scripts, tests, ``nbval``); return the result."""
        return self.start_job(work, **kwargs).wait()

    def cancel(self, *_: Any) -> None:
        """Cancel the running job (no-op when none runs)."""
        if self._job is not None and not self._job.done:
            self._job.cancel()
            self.status = "cancelling"

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the current job; return its result (raises its error; None without a job)."""
        if self._job is None:
            return None
        return self._job.wait(timeout)

    @property
    def job(self) -> Job | None:
        """The current (or last) :class:`Job`, or None."""
        return self._job

    # shared view pieces
    def status_bar(self) -> pn.viewable.Viewable:
        """Progress bar, status text and a cancel button (``nl-progress``, ``nl-status``, ``nl-cancel``)."""
        bar = pn.indicators.Progress(
            value=pn.bind(lambda p: int(round(100 * p)), self.param.progress),
            max=100,
            width=200,
            height=20,
            css_classes=["nl-progress"],
            sizing_mode="fixed",
        )
        text = pn.pane.Str(self.param.status, css_classes=["nl-status"], sizing_mode="stretch_width")
        cancel = pn.widgets.Button(
            label="Cancel", color="warning", css_classes=["nl-cancel"], width=80,
            disabled=pn.bind(lambda r: not r, self.param.running),
        )
        cancel.on_click(self.cancel)
        executor = pn.widgets.RadioButtonGroup.from_param(
            self.param.executor, css_classes=["nl-executor"], width=150
        )
        return pn.Row(executor, bar, cancel, text, sizing_mode="stretch_width")


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
