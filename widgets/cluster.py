"""``ClusterPanel``: the Dask cluster, a sweep launcher, a results browser and resume.

- Status: workers, threads, memory, GPUs of the current Dask client and a link to its
  dashboard (``executor="local"``: the embedded ``LocalCluster`` bound to 127.0.0.1;
  ``"cluster"``: the scheduler address or dask-jobqueue profile in ``cluster``).
- Sweep launcher: pick a task; the fixed parameters are controls built from the task's spec;
  the swept ones are grid lines in the CLI syntax (``F=linspace(0.1,1,5)``, ``model=[qubit,
  oscillator]``, parsed safely by :func:`nephlab.cluster.parse_grid`); Run calls
  :func:`nephlab.cluster.sweep` in the background and the progress bar follows the store.
- Results browser: a variable of the sweep Dataset as a heatmap over two dims, or lines over
  one, with the other dims fixed by sliders.
- Resume: point ``store`` at an interrupted sweep and press Resume; the task, fixed params and
  grid are read back from the store, and only the pending and failed points are computed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param

from nephlab.tasks import get_task, task_names

from ._base import LINK_CSS, Component, JobContext, live_text, use_bokeh_backend, cluster_client, export_dataset, export_figure
from ._controls import control_values, controls_from_spec

use_bokeh_backend()


def _canvas(plot: Any, element: Any) -> None:
    """HoloViews hook: draw on a 2D canvas, not WebGL (HoloViews' default). These plots are small,
    and WebGL costs a browser without a GPU (software GL) far more; a page without WebGL plots
    also skips the ``bokeh-gl`` bundle."""
    plot.state.output_backend = "canvas"


__all__ = ["ClusterPanel", "cluster_status"]

_DEFAULT_GRIDS = {"lindblad": "F=linspace(0.1, 0.5, 3)\ngamma=[0.2, 0.5]"}


def cluster_status(client: Any) -> dict[str, Any]:
    """A summary of a ``distributed.Client``'s cluster.

    Returns:
        ``{"workers": int, "threads": int, "memory_bytes": int (total limit), "memory_used_bytes":
        int, "gpus": float (sum of the workers' ``GPU`` resources), "dashboard": str,
        "scheduler": str}``.

    Example:
        >>> from distributed import Client
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        ...     s = cluster_status(c)
        >>> s["workers"], s["threads"]
        (1, 1)
    """
    info = client.scheduler_info(n_workers=-1) if _accepts_n_workers(client) else client.scheduler_info()
    workers = info.get("workers", {})
    mem = sum(int(w.get("memory_limit") or 0) for w in workers.values())
    used = sum(int((w.get("metrics") or {}).get("memory") or 0) for w in workers.values())
    gpus = sum(float((w.get("resources") or {}).get("GPU", 0)) for w in workers.values())
    try:
        dash = str(client.dashboard_link or "")
    except Exception:  # noqa: BLE001 - no dashboard (e.g. dashboard_address=None)
        dash = ""
    return {"workers": len(workers), "threads": sum(int(w.get("nthreads", 0)) for w in workers.values()),
            "memory_bytes": mem, "memory_used_bytes": used, "gpus": gpus, "dashboard": dash,
            "scheduler": str(info.get("address", ""))}


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def _gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


class ClusterPanel(Component):
    """Cluster status, sweep launcher with progress, results browser and resume.

    Args:
        client: a ``distributed.Client`` to use instead of ``executor``/``cluster`` (e.g. one a
            notebook already holds).
        **params: the params below.

    Params: ``task`` (a registered task), ``grid`` (grid lines, one ``name=expr`` per line),
    ``store`` (zarr path of the sweep), ``chunk`` (points per Dask task, 0: automatic),
    ``retries``, ``points_done``/``points_total`` (progress of the sweep), ``variable``,
    ``x_dim``, ``y_dim`` (results browser; ``y_dim=""`` draws lines), plus those of
    :class:`~nephlab.widgets._base.Component`.

    DOM hooks (CSS classes): ``nl-cluster-status``, ``nl-dashboard-link``, ``nl-refresh``,
    ``nl-task``, ``nl-grid``, ``nl-store``, ``nl-sweep-run`` (Run sweep), ``nl-sweep-resume``,
    ``nl-open`` (open the store in the browser), ``nl-progress``, ``nl-status``, ``nl-cancel``,
    ``nl-sweep-count`` (text ``"points: D/N"``), ``nl-results`` (the plot), ``nl-param-<name>``.

    Example:
        >>> import tempfile, os
        >>> from distributed import Client
        >>> with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        ...     cp = ClusterPanel(client=c, grid="F=[0.1, 0.2]", store=os.path.join(tempfile.mkdtemp(), "s.zarr"))
        ...     cp.fixed_values(n=3, n_times=3)["n"]
        3
    """

    task = param.Selector(default="lindblad", objects=["lindblad"], doc="task to sweep")
    grid = param.String(default=_DEFAULT_GRIDS["lindblad"], doc="grid lines, one NAME=EXPR per line")
    store = param.String(default="", doc="zarr path of the sweep ('' : sweeps/<task>-<time>.zarr)")
    chunk = param.Integer(default=0, bounds=(0, None), doc="points per Dask task (0: automatic)")
    retries = param.Integer(default=0, bounds=(0, 10), doc="extra tries of a failing point/chunk")
    points_done = param.Integer(default=0, bounds=(0, None), doc="finished (done or failed) points")
    points_total = param.Integer(default=0, bounds=(0, None), doc="points in the sweep")
    variable = param.Selector(default=None, objects=[], allow_None=True, doc="variable shown by the browser")
    x_dim = param.Selector(default=None, objects=[], allow_None=True, doc="x axis of the browser")
    y_dim = param.Selector(default=None, objects=[], allow_None=True, doc="y axis (None/'': lines)")
    cluster_info = param.Dict(default={}, doc="last cluster_status() (empty before Refresh)")

    def __init__(self, client: Any = None, **params: Any):
        if client is not None and type(client).__name__ != "Client":
            raise TypeError(f"client must be a distributed.Client or None, got {type(client).__name__}")
        super().__init__(**params)
        self.param.task.objects = task_names()
        if self.task not in self.param.task.objects:
            raise ValueError(f"task must be one of {self.param.task.objects}, got {self.task!r}")
        self._client = client
        self._dataset = None
        self._indices: dict[str, int] = {}
        self._controls: dict[str, pn.widgets.Widget] = {}
        self._fixed_box = pn.Column(sizing_mode="stretch_width")
        self._sel_box = pn.Column(sizing_mode="stretch_width")
        self._layout: dict[str, Any] | None = None
        self._plot_pane = pn.pane.HoloViews(self._results_plot(), css_classes=["nl-results"],
                                            sizing_mode="stretch_width")
        self._build_controls()

    # -- cluster -------------------------------------------------------------------------------

    def client(self) -> Any:
        """The Dask client sweeps run on: the one passed in, else :func:`cluster_client` of
        ``""`` (``executor="local"``) or of ``cluster`` (``executor="cluster"``)."""
        if self._client is not None:
            return self._client
        return cluster_client(self.cluster if self.executor == "cluster" else "local")

    def refresh(self, *_: Any) -> dict[str, Any]:
        """Query the cluster (starting the embedded one if needed); update ``cluster_info``."""
        try:
            self.cluster_info = cluster_status(self.client())
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.report_error(f"cannot reach the cluster: {type(exc).__name__}: {exc}")
        return self.cluster_info

    @param.depends("cluster_info")
    def _status_view(self):
        s = self.cluster_info
        if not s:
            return pn.pane.Markdown("No cluster queried yet: press **Refresh** (starts the embedded "
                                    "LocalCluster when none is running).", css_classes=["nl-cluster-status"])
        dash = s.get("dashboard") or ""
        link = f'<a href="{dash}" target="_blank" class="nl-dashboard-link">Dask dashboard</a>' if dash else "no dashboard"
        html = (f"<b>scheduler</b> {s['scheduler']} &nbsp; <b>workers</b> {s['workers']} &nbsp; "
                f"<b>threads</b> {s['threads']} &nbsp; <b>memory</b> {_gib(s['memory_used_bytes'])} / "
                f"{_gib(s['memory_bytes'])} &nbsp; <b>GPUs</b> {s['gpus']:g} &nbsp; {link}")
        return pn.pane.HTML(html, css_classes=["nl-cluster-status"], sizing_mode="stretch_width", stylesheets=[LINK_CSS])

    # -- launcher ------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        spec = get_task(self.task).spec
        self._controls = controls_from_spec(spec, width=135)
        self.controls = dict(self._controls)
        self.control_specs = {k: (spec, spec.param(k)) for k in self._controls}
        for w in self._controls.values():
            w.param.watch(lambda _ev, spec=spec: self._sync_fixed(spec), "value")
        self._sync_fixed(spec)
        self._fixed_box[:] = [pn.FlexBox(*self._controls.values())]

    def _sync_fixed(self, spec: Any) -> None:
        """Show only the fixed parameters the chosen model reads; report a refused value at once."""
        values = {k: w.value for k, w in self._controls.items()}
        for name, w in self._controls.items():
            w.visible = spec.param(name).applies(values)
        try:
            control_values(spec, self._controls)
        except (TypeError, ValueError) as exc:
            self.report_error(exc)
        else:
            self.clear_error()

    @param.depends("task", watch=True)
    def _task_changed(self) -> None:
        self._build_controls()
        if not self.running:
            self.grid = _DEFAULT_GRIDS.get(self.task, "")

    def parsed_grid(self) -> dict[str, list]:
        """The grid lines parsed by :func:`nephlab.cluster.parse_grid` (ValueError names the line)."""
        from nephlab.cluster import parse_grid

        lines = [ln.strip() for ln in self.grid.replace(";", "\n").splitlines() if ln.strip()]
        if not lines:
            raise ValueError("grid is empty; give one NAME=EXPR per line, e.g. F=linspace(0.1, 1, 5)")
        return parse_grid(lines)

    def fixed_values(self, **overrides: Any) -> dict[str, Any]:
        """The fixed (not swept) parameters from the controls, validated by the task's spec."""
        spec = get_task(self.task).spec
        swept = set(self.parsed_grid())
        vals = control_values(spec, self._controls, **overrides)
        return {k: v for k, v in vals.items() if k not in swept}

    def _store_path(self) -> Path:
        if self.store.strip():
            return Path(self.store.strip()).expanduser()
        p = Path("sweeps") / f"{self.task}-{time.strftime('%Y%m%d-%H%M%S')}.zarr"
        self.store = str(p)
        return p

    def run_sweep(self, *_: Any, resume: bool = False):
        """Start :func:`nephlab.cluster.sweep` in the background; return the Job
        (``.wait()`` returns the sweep's Dataset). Bad grids/params raise here, before any work.

        With ``resume=True`` the task, fixed params and grid are read from the existing store
        at ``store`` (the current controls are ignored) and only its unfinished points run.
        """
        from nephlab.cluster import SweepStore, sweep

        if resume:
            path = Path(self.store.strip()).expanduser()
            if not self.store.strip():
                raise ValueError("store is empty; give the path of the interrupted sweep to resume")
            st = SweepStore.open(path)  # refuses a foreign/damaged store, touches nothing
            task, grid, fixed = st.task, st.grid, st.fixed
            self.task = task
        else:
            task, grid, fixed = self.task, self.parsed_grid(), self.fixed_values()
            from nephlab.cluster import validate_grid

            validate_grid(get_task(task).spec, grid, fixed)
            path = self._store_path()
            if path.exists():
                raise FileExistsError(f"store={str(path)!r} already exists; press Resume to continue it, or choose another path")
        total = int(np.prod([len(v) for v in grid.values()]))
        client = self.client()
        chunk = self.chunk or None
        retries = self.retries
        self.points_total = total
        self.points_done = 0

        def work(ctx: JobContext):
            box: dict[str, Any] = {}

            def target():
                try:
                    box["ds"] = sweep(task, grid, fixed, store=path, cluster=client, resume=True,
                                      retries=retries, chunk=chunk, progress=False)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the job thread
                    box["error"] = exc

            before = _chunk_keys(client)
            th = threading.Thread(target=target, name="nephlab-sweep", daemon=True)
            th.start()
            cancelled = False
            while th.is_alive():
                th.join(0.2)
                if ctx.cancelled and not cancelled:
                    cancelled = True
                    _cancel_client_futures(client, before)
                done = _count_finished(path)
                ctx.emit(done, progress=done / max(total, 1), status=f"sweep: {done}/{total} points")
            if cancelled:
                ctx.check()
            if "error" in box:
                raise box["error"]
            return box["ds"]

        def show(done: int) -> None:
            self.points_done = int(done)

        def finished(ds: Any) -> None:
            self.points_done = _count_finished(path)
            self.load_results(ds)
            self.refresh()

        job = self.start_job(work, on_update=show, on_done=finished,
                             label="resuming sweep" if resume else "starting sweep")
        return job

    def resume_sweep(self, *_: Any):
        """:meth:`run_sweep` with ``resume=True``."""
        return self.run_sweep(resume=True)

    # -- results browser -----------------------------------------------------------------------

    def load_results(self, ds: Any = None) -> Any:
        """Show a sweep Dataset (default: open the store at ``store``) in the results browser."""
        if ds is None:
            from nephlab.cluster import open_sweep

            if not self.store.strip():
                raise ValueError("store is empty; give the path of a sweep store to open")
            ds = open_sweep(Path(self.store.strip()).expanduser())
        numeric = [str(k) for k, v in ds.data_vars.items() if np.issubdtype(v.dtype, np.number) and v.ndim >= 1]
        if not numeric:
            raise ValueError("the dataset has no numeric variable to show")
        self._dataset = ds.load() if hasattr(ds, "load") else ds
        with param.parameterized.batch_call_watchers(self):
            self.param.variable.objects = numeric
            if self.variable not in numeric:
                outputs = [v for v in numeric if v not in ("status", "attempts", "wall_time_s")]
                self.variable = "n_mean" if "n_mean" in outputs else (outputs or numeric)[0]
        self._update_dims()
        return self._dataset

    @param.depends("variable", watch=True)
    def _update_dims(self) -> None:
        if self._dataset is None or self.variable is None:
            return
        dims = list(self._dataset[self.variable].dims)
        with param.parameterized.batch_call_watchers(self):
            self.param.x_dim.objects = dims
            self.param.y_dim.objects = [None, *dims]
            if self.x_dim not in dims:
                self.x_dim = dims[0]
            if self.y_dim not in dims or self.y_dim == self.x_dim:
                self.y_dim = next((d for d in dims if d != self.x_dim), None)
        self._update_selectors()

    @param.depends("x_dim", "y_dim", watch=True)
    def _update_selectors(self) -> None:
        if self._dataset is None or self.variable is None:
            self._sel_box[:] = []
            return
        da = self._dataset[self.variable]
        rest = [d for d in da.dims if d not in (self.x_dim, self.y_dim)]
        widgets = []
        for d in rest:
            n = da.sizes[d]
            self._indices.setdefault(d, n - 1)  # other dims start at their last value (e.g. t_max)
            self._indices[d] = min(self._indices[d], n - 1)
            w = pn.widgets.IntSlider(label=f"{d} index", start=0, end=max(n - 1, 1), value=self._indices[d],
                                     disabled=n == 1, css_classes=[f"nl-index-{d}"], width=260)
            w.param.watch(lambda e, d=d: self._set_index(d, e.new), "value")
            widgets.append(w)
        self._sel_box[:] = widgets
        self._redraw()

    def _set_index(self, dim: str, value: int) -> None:
        self._indices[dim] = int(value)
        self._redraw()

    def selection(self):
        """The 1D/2D slice of ``variable`` the browser shows (an ``xarray.DataArray``)."""
        if self._dataset is None or self.variable is None:
            raise RuntimeError("no results loaded: run a sweep or press Open")
        da = self._dataset[self.variable]
        sel = {d: self._indices.get(d, 0) for d in da.dims if d not in (self.x_dim, self.y_dim)}
        return da.isel(sel)

    def _results_plot(self):
        if self._dataset is None or self.variable is None or self.x_dim is None:
            return hv.Curve([]).opts(title="no results yet", responsive=True, min_height=300, hooks=[_canvas])
        da = self.selection()
        x = self.x_dim
        xs = _axis(da[x].values) if x in da.coords else np.arange(da.sizes[x])
        fixed = ", ".join(f"{d}={_fmt(self._dataset[self.variable][d].values[i]) if d in self._dataset.coords else i}"
                          for d, i in self._indices.items() if d in self._dataset[self.variable].dims and d not in (x, self.y_dim))
        title = f"{self.variable}" + (f" ({fixed})" if fixed else "")
        if self.y_dim:
            y = self.y_dim
            ys = _axis(da[y].values) if y in da.coords else np.arange(da.sizes[y])
            z = np.asarray(da.transpose(y, x).values, dtype=float)
            return hv.QuadMesh((xs, ys, z), kdims=[x, y], vdims=[self.variable]).opts(
                title=title, colorbar=True, cmap="viridis", responsive=True, min_height=320, tools=["hover"],
                hooks=[_canvas])
        return hv.Curve((xs, np.asarray(da.values, dtype=float)), x, self.variable).opts(
            title=title, responsive=True, min_height=320, tools=["hover"], hooks=[_canvas])

    def _redraw(self) -> None:
        self._plot_pane.object = self._results_plot()

    def figure(self):
        """The results browser's current plot as a Matplotlib figure (for PNG/SVG export)."""
        from matplotlib.figure import Figure

        da = self.selection()
        fig = Figure(figsize=(6, 4.5), layout="constrained")
        ax = fig.subplots()
        x = self.x_dim
        xs = _axis(da[x].values) if x in da.coords else np.arange(da.sizes[x])
        if self.y_dim:
            y = self.y_dim
            ys = _axis(da[y].values) if y in da.coords else np.arange(da.sizes[y])
            m = ax.pcolormesh(xs, ys, np.asarray(da.transpose(y, x).values, float), shading="auto")
            fig.colorbar(m, ax=ax, label=self.variable)
            ax.set(xlabel=x, ylabel=y)
        else:
            ax.plot(xs, np.asarray(da.values, float))
            ax.set(xlabel=x, ylabel=self.variable)
        ax.set_title(self.variable)
        return fig

    def export(self, path: str | Path) -> Path:
        """``.png``/``.svg``/``.pdf``: the browser's plot; ``.nc``: the loaded sweep Dataset
        (bookkeeping strings dropped: netCDF stores numbers)."""
        suffix = Path(path).suffix.lower()
        if suffix in (".png", ".svg", ".pdf"):
            return export_figure(self.figure(), path)
        if suffix in (".nc", ".zarr"):
            if self._dataset is None:
                raise RuntimeError("no results loaded: run a sweep or press Open")
            ds = self._dataset.drop_vars([k for k, v in self._dataset.data_vars.items() if v.dtype == object])
            return export_dataset(ds, path)
        raise ValueError(f"path {str(path)!r}: suffix must be one of .png .svg .pdf .nc .zarr, got {suffix!r}")

    # -- layout --------------------------------------------------------------------------------

    @param.depends("points_done", "points_total")
    def _count(self) -> str:
        return f"points: {self.points_done}/{self.points_total}"

    def _parts(self) -> dict[str, Any]:
        if self._layout is not None:
            return self._layout
        refresh = pn.widgets.Button(label="Refresh", css_classes=["nl-refresh"], width=90)
        refresh.on_click(self._guard(self.refresh))
        address = pn.widgets.TextInput.from_param(self.param.cluster, label="cluster (address or profile)",
                                                  css_classes=["nl-cluster-address"], width=180)
        task = pn.widgets.Select.from_param(self.param.task, css_classes=["nl-task"], width=140)
        grid = pn.widgets.TextAreaInput.from_param(self.param.grid, label="swept parameters (NAME=EXPR per line)",
                                                   css_classes=["nl-grid"], height=90, width=280)
        store = pn.widgets.TextInput.from_param(self.param.store, label="store (zarr)", css_classes=["nl-store"],
                                                placeholder="sweeps/<task>-<time>.zarr", width=280)
        chunk = pn.widgets.IntInput.from_param(self.param.chunk, css_classes=["nl-chunk"], width=65)
        retries = pn.widgets.IntInput.from_param(self.param.retries, css_classes=["nl-retries"], width=65)
        run = pn.widgets.Button(label="Run sweep", color="primary", css_classes=["nl-sweep-run"], width=100,
                                disabled=self.param.running)
        run.on_click(self._guard(self.run_sweep))
        resume = pn.widgets.Button(label="Resume", color="success", css_classes=["nl-sweep-resume"], width=80,
                                   disabled=self.param.running)
        resume.on_click(self._guard(self.resume_sweep))
        open_ = pn.widgets.Button(label="Open", css_classes=["nl-open"], width=70)
        open_.on_click(self._guard(self.load_results))
        variable = pn.widgets.Select.from_param(self.param.variable, css_classes=["nl-variable"], width=160)
        xd = pn.widgets.Select.from_param(self.param.x_dim, label="x", css_classes=["nl-x-dim"], width=110)
        yd = pn.widgets.Select.from_param(self.param.y_dim, label="y (none: lines)", css_classes=["nl-y-dim"], width=110)
        side = [
            pn.Row(address, refresh), pn.pane.Markdown("### Sweep"), pn.Row(task, chunk, retries), grid,
            pn.pane.Markdown("fixed parameters (from the task spec; swept ones are overridden)"),
            self._fixed_box, store, pn.Row(run, resume, open_),
            live_text(lambda *_: self._count(), self.param.points_done, self.param.points_total,
                      css_classes=["nl-sweep-count"]),
        ]
        browser = pn.Column(pn.pane.Markdown("### Results"), pn.Row(variable, xd, yd), self._sel_box,
                            self._plot_pane, sizing_mode="stretch_width")
        main = pn.Column(pn.pane.Markdown("### Cluster"), self._status_view, browser, sizing_mode="stretch_width",
                         css_classes=["nl-cluster"])
        self._layout = {"sidebar": side, "main": main}
        return self._layout

    def sidebar(self) -> list[Any]:
        """Cluster address, sweep launcher (task, grid, fixed parameters, store, Run/Resume/Open)."""
        return self._parts()["sidebar"]

    def main(self) -> pn.viewable.Viewable:
        """Cluster status and the results browser."""
        return self._parts()["main"]

    def _guard(self, fn):
        def handler(*_: Any) -> None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - a button never raises into the page
                self.report_error(exc)

        return handler


def _count_finished(path: Path) -> int:
    from nephlab.cluster import SweepStore

    try:
        return int(np.count_nonzero(SweepStore.open(path).status() != 0))
    except (FileNotFoundError, ValueError):
        return 0


def _chunk_keys(client: Any) -> set:
    """Keys of the sweep-chunk futures (``nephlab.cluster.sweep._run_chunk``) this client holds."""
    return {k for k in list(getattr(client, "futures", {}) or {}) if str(k).startswith("_run_chunk-")}


def _cancel_client_futures(client: Any, before: set) -> None:
    """Cancel the sweep chunks submitted since ``before`` was taken (this sweep's, not other work
    on a shared client); they are recorded as failed in the store, so Resume computes them again."""
    from distributed import Future

    keys = sorted(_chunk_keys(client) - before, key=str)
    if keys:
        client.cancel([Future(k, client) for k in keys])


def _axis(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values)
    return v.astype(float) if np.issubdtype(v.dtype, np.number) else np.arange(len(v), dtype=float)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
