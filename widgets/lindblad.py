"""``LindbladExplorer``: solve a Lindblad master equation live and look at ρ(t).

Inputs: a preset of the ``lindblad`` task (controls from its spec; only the chosen model's
parameters shown; a refused value shown next to its control) or your own operators.
Views: |ρ| heatmap and Hinton diagram with a time slider; entropy and purity; populations;
expectation values; a Bloch sphere (oblique projection) for two-level systems; the Wigner
function W(x, p) of ρ at the slider's time (:func:`nephlab.quantum.wigner`, computed only once its
panel is opened, then at each slider move), with a GIF/MP4 export of W(x, p, t).
Run: one :func:`nephlab.mesolve` call streams every saved time through its ``on_save`` hook into a
:class:`~nephlab.quantum.Recorder` (:func:`nephlab.tasks.lindblad.stream`; no restarts); the plots
follow at up to ~10 Hz; Cancel stops the solve at the next saved time. On the Dask cluster
(``executor="cluster"``) the solve arrives at once. The default preset's result is computed once
per process (:meth:`LindbladExplorer.warm`) and shown on first paint.
Export: PNG/SVG/PDF of the views (Matplotlib), netCDF of the data, GIF/MP4 of |ρ(t)| and of
W(x, p, t) (MP4 with the ffmpeg binary bundled by ``imageio-ffmpeg``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from nephlab import _validate
from nephlab.quantum import Recorder, wigner
from nephlab.quantum._convert import as_density_matrix, as_operator, check_dims
from nephlab.tasks import get_task
from nephlab.tasks.lindblad import bloch_ops, inputs, solver_kwargs, stream

from ._base import (Component, JobContext, _session_doc, auto_glyphs, export_animation, export_dataset, export_figure, figure_to_rgb,
                    lazy_card, live_text)
from ._controls import param_for

__all__ = ["LindbladExplorer"]

_SPEC = get_task("lindblad").spec
_P = _SPEC.param
PRESETS: tuple[str, ...] = tuple(_P("model").choices)
_MAX_LINES, _MAX_EXPECT, _HINTON_MAX = 12, 8, 32  # populations drawn, expectations drawn, Hinton block
_BLOCH = ("sigma_x", "sigma_y", "sigma_z")
_WIGNER_POINTS = 81  # grid points per quadrature of the Wigner panel
_WIGNER_MODELS = ("oscillator", "custom")  # one bosonic mode in the Fock basis |0>, ..., |d-1>
_PLOTS = {"rho": "rho-heatmap", "hinton": "hinton", "entropy": "entropy", "populations": "populations",
          "expect": "expect", "bloch": "bloch"}


def _bloch_proj(x, y, z):
    """Oblique projection (azimuth 35°, elevation 20°) of Bloch vectors onto the page."""
    az, el = np.deg2rad(35.0), np.deg2rad(20.0)
    u = -np.asarray(x) * np.sin(az) + np.asarray(y) * np.cos(az)
    v = np.asarray(z) * np.cos(el) - (np.asarray(x) * np.cos(az) + np.asarray(y) * np.sin(az)) * np.sin(el)
    return u, v


def wigner_grid(d: int, points: int = _WIGNER_POINTS) -> np.ndarray:
    """The quadrature grid (points,) of the Wigner panel for a Fock space of dimension ``d``.

    Symmetric about 0 with half-width ``sqrt(2 d + 1) + 1.5`` (QuTiP's ``g = √2``: the Fock state
    |d-1⟩ is a ring of radius sqrt(2 d - 1), a coherent state |α⟩ is centred at √2 α), so every
    state the truncated space holds lies inside it.

    Example:
        >>> wigner_grid(10, 5).round(4).tolist()
        [-6.0826, -3.0413, 0.0, 3.0413, 6.0826]
    """
    d, points = _validate.integer(d, "d", minimum=1), _validate.integer(points, "points", minimum=2)
    half = float(np.sqrt(2.0 * d + 1.0) + 1.5)
    return np.linspace(-half, half, points)


def _attrs(params: dict) -> dict:
    return {"model": str(params["model"]), "params": params}


@functools.lru_cache(maxsize=4)
def _preset_run(key: tuple) -> Recorder:
    """The solution of a preset (``key``: its sorted parameter items), shared read-only by sessions."""
    return stream(inputs(dict(key)), device=dict(key)["device"], attrs=_attrs(dict(key)))


def _check_custom(H: Any, c_ops: Any, rho0: Any, e_ops: Any) -> dict | None:
    """Custom operators, checked like mesolve's inputs (errors name the argument), or None."""
    if H is None:
        if c_ops is not None or rho0 is not None or e_ops is not None:
            raise ValueError("c_ops, rho0 and e_ops need H: pass H=... for a custom model")
        return None
    if not isinstance(c_ops, (list, tuple, type(None))):
        raise TypeError(f"c_ops must be a list of (d, d) operators, got {type(c_ops).__name__}")
    if not isinstance(e_ops, (dict, type(None))):
        raise TypeError(f"e_ops must be a dict {{name: operator}}, got {type(e_ops).__name__}")
    c_ops, e_ops = list(c_ops or []), dict(e_ops or {})
    for k in e_ops:
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"e_ops keys must be identifiers (they name variables), got {k!r}")
    Hm = as_operator(H, "H", batch=False, hermitian=True, kind="Hamiltonian")
    ops = {**{f"c_ops[{i}]": c for i, c in enumerate(c_ops)}, **{f"e_ops[{k!r}]": v for k, v in e_ops.items()},
           "rho0": np.eye(len(Hm))[0] if rho0 is None else rho0}
    arr = {k: as_density_matrix(x, k) if k == "rho0" else as_operator(x, k, batch=False) for k, x in ops.items()}
    for k, a in arr.items():
        check_dims(a, len(Hm), k, "H")
    return {"H": Hm, "c_ops": [arr[f"c_ops[{i}]"] for i in range(len(c_ops))], "rho0": arr["rho0"],
            "e_ops": {k: arr[f"e_ops[{k!r}]"] for k in e_ops}}


class LindbladExplorer(Component):
    """Interactive Lindblad solver: presets or custom operators, streamed ρ(t), exports.

    Args:
        H, c_ops, rho0: custom operators (optional; with ``H`` the model becomes ``"custom"``):
            Hamiltonian (d, d) in energy units (ħ = 1), a list of collapse operators (d, d)
            (units sqrt(1/time)), and the initial state (d, d) or ket (d,) (default: the first
            basis state). NumPy/JAX arrays or QuTiP ``Qobj``.
        e_ops: ``{name: operator (d, d)}`` observables to plot (custom model; presets plot
            ⟨n⟩, and the quadratures or Bloch components where they apply).
        **params: any parameter below (``model``, ``n``, ``F``, ``gamma``, ...).

    Params: those of the ``lindblad`` task spec (``model`` also takes ``"custom"``), ``chunk``
    (saved times per compiled chunk of the streamed solve, 0: automatic), ``time_index`` (the time
    slider), ``follow``, ``n_done`` (time points computed), ``show_wigner`` (the Wigner panel W(x, p) at
    the slider's time, :meth:`wigner`; computed only while shown), and those of the base Component.

    DOM hooks (CSS classes): ``nl-run`` (Run button), ``nl-param-<name>`` (controls),
    ``nl-error-<name>`` (a refused value), ``nl-time`` (time slider), ``nl-rho-heatmap``,
    ``nl-hinton``, ``nl-entropy``, ``nl-populations``, ``nl-expect``, ``nl-bloch`` (plots),
    ``nl-updates`` (text ``"updates: U, points: N/T"``), ``nl-progress``, ``nl-status``,
    ``nl-cancel``, ``nl-error``, ``nl-export-<png|svg|nc|gif|mp4>`` (downloads), ``nl-wigner-toggle``
    (shows the Wigner panel), ``nl-wigner`` (the panel), ``nl-export-wigner-<gif|mp4>``.

    Example:
        >>> ex = LindbladExplorer(model="qubit", F=0.5, gamma=0.2, t_max=2.0, n_times=21, chunk=4)
        >>> ds = ex.run().wait()
        >>> ds.sizes["time"], round(float(ds.purity[0]), 12)
        (21, 1.0)
    """

    title = "Lindblad explorer"
    model = param_for(_P("model"), objects=[*PRESETS, "custom"])
    n, F, gamma, kerr, delta, J, nth, t_max, n_times, method, dt, rtol, atol, device = (
        param_for(_P(k)) for k in ("n", "F", "gamma", "kerr", "delta", "J", "nth", "t_max", "n_times", "method", "dt",
                                   "rtol", "atol", "device"))
    chunk = param.Integer(default=0, bounds=(0, None), doc="saved times per compiled chunk (0: automatic)")
    time_index = param.Integer(default=0, bounds=(0, None), doc="index of the time shown by |ρ|, Hinton, Bloch")
    follow = param.Boolean(default=True, doc="while running, the time slider follows the newest state")
    n_done = param.Integer(default=0, bounds=(0, None), doc="time points computed so far")
    show_wigner = param.Boolean(default=False, doc="show the Wigner panel W(x, p) (computed only while shown)")

    def __init__(self, H: Any = None, c_ops: Any = None, rho0: Any = None, e_ops: dict | None = None, **params: Any):
        self._custom = _check_custom(H, c_ops, rho0, e_ops)
        if self._custom is not None:
            params.setdefault("model", "custom")
        super().__init__(**params)
        if self.model == "custom" and self._custom is None:
            raise ValueError("model='custom' needs operators: LindbladExplorer(H=..., c_ops=..., rho0=...)")
        self._data: Recorder | None = None
        self._views = self._side = self._main = None  # built by main() / sidebar() once
        self._wigner: dict | None = None  # the Wigner panel's Bokeh models, built when first shown
        self._wigner_cache: dict[tuple[int, int], np.ndarray] = {}  # (id of the run, time index) -> W
        ctl = self.spec_controls(_SPEC, width=135)  # linked both ways; a refused value is shown, not reverted
        if self._custom is not None:  # custom operators: the model menu offers "custom", the presets' values hide
            ctl["model"].options = list(self.param.model.objects)

            def presets_only(*_: Any) -> None:
                for k in ("F", "gamma", "delta", "nth"):
                    ctl[k].visible = self.model != "custom"

            self.param.watch(presets_only, "model")
            presets_only()

    def task_params(self) -> dict[str, Any]:
        """The validated ``lindblad`` task parameters of the current state (preset models).

        Example:
            >>> LindbladExplorer(model="qubit").task_params()["model"]
            'qubit'
        """
        if self.model == "custom":
            raise ValueError("model='custom' has no task parameters: its operators are Python objects")
        return self.spec_values(_SPEC)

    def problem(self) -> tuple[dict, dict]:
        """``(inputs, params)``: what a run solves (``H``, ``c_ops``, ``rho0``, ``tlist``, ``e_ops``
        ``{name: op}``, ``solver``, as :func:`nephlab.tasks.lindblad.inputs`) and what it records."""
        if self.model != "custom":
            p = self.task_params()
            return inputs(p), p
        c, p = self._custom, {k: getattr(self, k) for k in ("t_max", "n_times", "method", "dt", "rtol", "atol", "device")}
        return ({**c, "e_ops": {**c["e_ops"], **bloch_ops(len(c["H"]))}, "solver": solver_kwargs(p),
                 "tlist": np.linspace(0.0, float(self.t_max), int(self.n_times))}, {**p, "model": "custom"})

    def run(self, *_: Any):
        """Start the streamed solve in the background; return the :class:`~nephlab.widgets._base.Job`
        (``.wait()`` returns :meth:`to_dataset`). Invalid inputs raise here, before any work, and so
        does a value a control refused (shown next to it; the run would not use it)."""
        if self._control_errors:
            raise ValueError(f"a control holds a refused value: {next(iter(self._control_errors.values()))}")
        inp, p = self.problem()
        tl, chunk = inp["tlist"], self.chunk
        rec = self._start(Recorder(tl, len(inp["H"]), list(inp["e_ops"]), attrs=_attrs(p)))

        def work(ctx: JobContext):  # the worker thread: no UI here
            if ctx.client is not None:  # the cluster: the whole solve on a worker, arriving at once
                done = ctx.compute(stream, inp, device=p["device"])
                for k in ("states", "expect", "entropy", "purity", "n_done"):
                    setattr(rec, k, getattr(done, k))
                return rec.to_dataset()

            def point(j: int) -> None:
                ctx.check()
                ctx.emit(j + 1, progress=j / (len(tl) - 1), status=f"t = {tl[j]:.4g} / {tl[-1]:.4g}")

            rec.on_point = point
            return stream(inp, rec, device=p["device"], chunk=chunk).to_dataset()

        shown = lambda _: self._show(rec.n_done)  # noqa: E731 - done, cancelled or failed: what was computed
        return self.start_job(work, on_update=self._show, on_done=shown, on_error=shown, label="solving")

    def _start(self, run: Recorder) -> Recorder:
        self._data = run
        self.param.time_index.bounds = (0, len(run.times) - 1)
        with param.parameterized.batch_call_watchers(self):
            self.n_done, self.time_index = 0, 0
        return run

    def _show(self, n_done: int) -> None:
        with param.parameterized.batch_call_watchers(self):
            self.n_done = int(n_done)
            if self.follow:
                self.time_index = int(n_done) - 1

    def _first_paint(self) -> None:
        """Show the preset's shared result (computed once per process, see :meth:`warm`)."""
        if self.model == "custom" or self._data is not None:
            return
        try:
            key = tuple(sorted(self.task_params().items()))
        except ValueError:  # already shown in the status area
            return

        def show(run: Recorder) -> None:
            if self._data is None and not self.closed:
                self._show(self._start(run).n_done)

        self.start_job(lambda ctx: _preset_run(key), on_done=show, label="loading", key="first")

    @classmethod
    def warm(cls) -> None:
        """Compile the streamed solve of the default preset and cache its result for every session."""
        _preset_run(tuple(sorted(cls().task_params().items())))

    def release(self) -> None:  # the session ended
        self._data, self._wigner_cache = None, {}

    def _from_widget(self, name: str, p: Any, spec: Any, value: Any) -> None:
        if name == "model" and value == "custom" and self._custom is not None:  # not a task preset
            self.model = "custom"
            return self.clear_error(control=name)
        super()._from_widget(name, p, spec, value)

    def _require_data(self) -> Recorder:
        if self._data is None or self._data.n_done == 0:
            raise RuntimeError("nothing computed yet: call run() (or press Run) first")
        return self._data

    def to_dataset(self):
        """The computed part as an ``xarray.Dataset`` (:meth:`nephlab.quantum.Recorder.to_dataset`;
        attrs ``model``, ``params`` (JSON)).

        Example:
            >>> ex = LindbladExplorer(model="qubit", t_max=1.0, n_times=5); _ = ex.run().wait()
            >>> sorted(ex.to_dataset().data_vars)[:3]
            ['entropy', 'n_mean', 'populations']
        """
        return self._require_data().to_dataset()

    def state(self, index: int | None = None) -> np.ndarray:
        """ρ at time index ``index`` (default: the slider's), complex (d, d)."""
        D, i = self._require_data(), self.time_index if index is None else int(index)
        if not 0 <= i < D.n_done:
            raise ValueError(f"index must be in [0, {D.n_done - 1}] (computed time points), got {i}")
        return D.states[i].copy()

    def wigner(self, index: int | None = None, points: int = _WIGNER_POINTS) -> tuple[np.ndarray, np.ndarray]:
        """The Wigner panel's data: ``(xvec, W)`` with ``W = nephlab.quantum.wigner(ρ(t_index), xvec, xvec)``.

        The state is read as one bosonic mode in the Fock basis |0⟩ … |d-1⟩ (QuTiP's convention,
        ``g = √2``, [x, p] = i); ``xvec`` (points,) is :func:`wigner_grid` of the dimension d,
        used for x and p; ``W`` is (points, points), ``W[j, k]`` at ``(x_k, p_j)``, 1/area units.

        Example:
            >>> ex = LindbladExplorer(model="oscillator", n=4, F=0.0, t_max=1.0, n_times=3); _ = ex.run().wait()
            >>> x, W = ex.wigner(0, points=3)              # the vacuum: W(0, 0) = 1/π
            >>> round(float(W[1, 1] * np.pi), 10)
            1.0
        """
        D = self._require_data()
        i = self.time_index if index is None else int(index)
        rho, x = self.state(i), wigner_grid(D.states.shape[-1], points)
        key = (id(D), i, int(points))
        if key not in self._wigner_cache:
            if len(self._wigner_cache) > 256:
                self._wigner_cache.clear()
            self._wigner_cache[key] = wigner(rho, x, x)
        return x, self._wigner_cache[key]

    def wigner_frames(self, max_frames: int = 60) -> list[np.ndarray]:
        """RGB frames (H, W, 3) uint8 of W(x, p, t) (at most ``max_frames``, evenly spaced in time;
        one symmetric colour scale for the whole animation)."""
        from matplotlib.figure import Figure

        max_frames, D = _validate.integer(max_frames, "max_frames", minimum=1), self._require_data()
        idx = np.unique(np.linspace(0, D.n_done - 1, min(max_frames, D.n_done)).round().astype(int))
        data = [self.wigner(int(k)) for k in idx]
        x = data[0][0]
        vmax = max(float(np.abs(W).max()) for _, W in data) or 1.0
        fig = Figure(figsize=(4, 3.6), dpi=80)
        ax = fig.subplots()
        im = ax.imshow(data[0][1], cmap="RdBu_r", vmin=-vmax, vmax=vmax, origin="lower",
                       extent=(x[0], x[-1], x[0], x[-1]))
        fig.colorbar(im, ax=ax)
        ax.set(xlabel="x", ylabel="p")
        frames = []
        for k, (_, W) in zip(idx, data):
            im.set_data(W)
            ax.set_title(f"W(x, p, t = {D.times[k]:.3g})")
            frames.append(figure_to_rgb(fig))
        return frames

    def export_wigner(self, path: str | Path, *, fps: float = 10.0, max_frames: int = 60) -> Path:
        """Write the animation of W(x, p, t) as ``.gif`` or ``.mp4`` (see :meth:`wigner_frames`).

        Example:
            >>> import tempfile, os
            >>> ex = LindbladExplorer(model="oscillator", n=4, t_max=1.0, n_times=3); _ = ex.run().wait()
            >>> ex.export_wigner(os.path.join(tempfile.mkdtemp(), "w.gif")).suffix
            '.gif'
        """
        suffix = Path(path).suffix.lower()
        if suffix not in (".gif", ".mp4"):
            raise ValueError(f"path {str(path)!r}: suffix must be .gif or .mp4 (W(x, p, t) animation), got {suffix!r}")
        return export_animation(self.wigner_frames(max_frames), path, fps=fps)

    def _t_index(self) -> int:
        return 0 if self._data is None or self._data.n_done == 0 else int(min(self.time_index, self._data.n_done - 1))

    # -- views (Bokeh figures fed by ColumnDataSources: an update sends only new data) ---------

    def _build_views(self, first_only: bool = False) -> dict[str, Any]:
        """The data sources and the |ρ| figure, and (unless ``first_only``) the other five figures
        (:meth:`_build_more`)."""
        from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper
        from bokeh.plotting import figure

        opts = dict(sizing_mode="stretch_width", height=300, tools="pan,wheel_zoom,box_zoom,reset,save,hover")
        src = {k: ColumnDataSource(data=v) for k, v in {
            "rho": {"image": [np.zeros((2, 2))], "dw": [2], "dh": [2]}, "hinton": {"x": [], "y": [], "w": [], "color": []},
            "ent": {"t": [], "S": [], "P": []}, "pops": {"t": [], **{f"p{k}": [] for k in range(_MAX_LINES)}},
            "expect": {"t": [], **{f"e{k}": [] for k in range(_MAX_EXPECT)}}, "traj": {"u": [], "v": []},
            "point": {"u": [], "v": []}}.items()}
        mapper = LinearColorMapper(palette="Viridis256", low=0.0, high=1.0)
        f_rho = figure(title="|ρ| (press Run)", x_range=(-0.5, 1.5), y_range=(1.5, -0.5), x_axis_label="col",
                       y_axis_label="row", **opts)
        f_rho.image(image="image", x=-0.5, y=-0.5, dw="dw", dh="dh", source=src["rho"], color_mapper=mapper)
        f_rho.add_layout(ColorBar(color_mapper=mapper, width=10), "right")
        auto_glyphs(f_rho)
        V = {"src": src, "mapper": mapper, "rho": f_rho}
        return V if first_only else self._build_more(V)

    def _build_more(self, V: dict[str, Any]) -> dict[str, Any]:
        """Add the Hinton, entropy, population, expectation and Bloch figures to the views ``V``."""
        from bokeh.core.properties import value
        from bokeh.models import GlyphRenderer, Label, Legend, LegendItem, Line, Span
        from bokeh.palettes import Category10_10
        from bokeh.plotting import figure

        opts = dict(sizing_mode="stretch_width", height=300, tools="pan,wheel_zoom,box_zoom,reset,save,hover")
        src, f_rho = V["src"], V["rho"]
        f_hin = figure(title="Hinton diagram of Re ρ (blue > 0, red < 0)", x_range=f_rho.x_range,
                       y_range=f_rho.y_range, x_axis_label="col", y_axis_label="row", **opts)
        f_hin.rect(x="x", y="y", width="w", height="w", fill_color="color", line_color=None, source=src["hinton"])
        f_ent = figure(title="entropy and purity", x_axis_label="time", **opts)
        f_ent.line("t", "S", source=src["ent"], color="#c0392b", legend_label="entropy S [nats]", line_width=2)
        f_ent.line("t", "P", source=src["ent"], color="#2471a3", legend_label="purity Tr ρ²", line_width=2)
        f_ent.legend.location, f_ent.legend.background_fill_alpha = "top_right", 0.6
        f_pop = figure(title="populations ρ_ii", x_axis_label="time", **opts)
        f_exp = figure(title="expectation values", x_axis_label="time", **opts)
        lines: dict[str, list] = {"pops": [], "expect": []}  # one line per column; unused ones hidden
        for key, f, col, n in (("pops", f_pop, "p", _MAX_LINES), ("expect", f_exp, "e", _MAX_EXPECT)):
            for k in range(n):
                # a bare renderer: BokehJS derives the nonselection and muted glyphs ("auto") that
                # figure.line would send as two more models per line (these lines are never selected)
                r = GlyphRenderer(data_source=src[key], glyph=Line(x="t", y=f"{col}{k}", line_color=Category10_10[k % 10],
                                                                   line_width=2), visible=False)
                f.renderers.append(r)
                lines[key].append((r, LegendItem(label=value(f"{col}{k}"), renderers=[r], visible=False)))
            f.add_layout(Legend(items=[it for _, it in lines[key]], location="top_right", background_fill_alpha=0.6))
        spans = [Span(location=0.0, dimension="height", line_color="gray", line_dash="dashed") for _ in range(3)]
        for f, sp in zip((f_ent, f_pop, f_exp), spans):
            f.add_layout(sp)
        f_blo = figure(title="Bloch sphere", x_range=(-1.35, 1.35), y_range=(-1.35, 1.35), match_aspect=True,
                       tools="save", height=300, sizing_mode="stretch_width")
        f_blo.axis.visible = f_blo.grid.visible = False
        th = np.linspace(0, 2 * np.pi, 121)
        for circ in ((np.cos(th), np.sin(th), 0 * th), (np.cos(th), 0 * th, np.sin(th)), (0 * th, np.cos(th), np.sin(th))):
            f_blo.line(*_bloch_proj(*circ), color="lightgray")
        for lab, vec in (("x", (1.15, 0, 0)), ("y", (0, 1.15, 0)), ("z", (0, 0, 1.15))):
            u, v = (float(c) for c in _bloch_proj(*vec))
            f_blo.line([0, u], [0, v], color="gray", line_dash="dotted")
            f_blo.add_layout(Label(x=u, y=v, text=lab))
        f_blo.line("u", "v", source=src["traj"], color="#2471a3", line_width=2)
        f_blo.scatter("u", "v", source=src["point"], color="#c0392b", size=9)
        auto_glyphs(f_hin, f_ent, f_blo)
        V.update(spans=spans, hinton=f_hin, entropy=f_ent, populations=f_pop, expect=f_exp, bloch=f_blo, lines=lines)
        return V

    @param.depends("n_done", "time_index", watch=True)
    def _refresh(self) -> None:
        """Apply the data to the Bokeh models (on the UI loop: from on_update/on_done or the slider)."""
        from bokeh.core.properties import value

        V, D = self._views, self._data
        if V is None or D is None or D.n_done == 0:
            return
        N, i, src = D.n_done, self._t_index(), V["src"]
        bloch = all(k in D.e_names for k in _BLOCH)
        xyz = (lambda sel: [D.expect[D.e_names.index(k), sel].real for k in _BLOCH]) if bloch else None
        t_i, a = float(D.times[i]), np.abs(D.states[i])
        d = a.shape[0]
        if V.get("dim") != d:  # the Hinton diagram shares these ranges
            f = V["rho"]
            f.x_range.start, f.x_range.end, f.y_range.start, f.y_range.end = -0.5, d - 0.5, d - 0.5, -0.5
            V["dim"] = d
        V["mapper"].high = max(float(a.max()), 1e-12)
        src["rho"].data = {"image": [a], "dw": [d], "dh": [d]}
        V["rho"].title.text = f"|ρ(t = {t_i:.3g})|"
        m = min(d, _HINTON_MAX)
        rb = D.states[i].real[:m, :m]
        w = np.sqrt(np.abs(rb) / max(np.abs(rb).max(), 1e-300)) * 0.9
        ii, jj = np.nonzero(w > 1e-3)
        src["hinton"].data = {"x": jj, "y": ii, "w": w[ii, jj], "color": np.where(rb[ii, jj] >= 0, "#2471a3", "#c0392b")}
        more = "bloch" in V  # the five figures after |ρ| (a served page builds them after its first paint)
        if more:
            V["hinton"].title.text = f"Hinton diagram of Re ρ(t = {t_i:.3g}) (blue > 0, red < 0)" + (
                f", block {m}x{m}" if m < d else "")
        if V.get("run") is not D:  # a new run: reset the series, name and show the lines it uses
            V["run"], V["n_sent"] = D, 0
            for key, labels in (("pops", [f"ρ_{k},{k}" for k in range(min(d, _MAX_LINES))]),
                                ("expect", [f"<{nm}>" for nm in D.e_names[:_MAX_EXPECT]])):
                for k, (r, item) in enumerate(V["lines"][key] if more else ()):
                    r.visible = item.visible = k < len(labels)
                    if k < len(labels):
                        item.label = value(labels[k])  # a text, not a column name
            for key in ("ent", "pops", "expect", "traj"):
                src[key].data = {c: [] for c in src[key].data}
            self.push(self._main)  # a notebook must see the reset before the stream, or points arrive twice
        n0 = V["n_sent"]
        if N > n0:
            # stream only the new points; the run's last points replace the whole series instead,
            # so that the final picture is complete even if a streamed patch went astray
            complete = N == len(D.times)
            sl = slice(0, N) if complete else slice(n0, N)
            pops, ne, nan = np.einsum("tii->it", D.states[sl]).real, len(D.e_names), np.full(sl.stop - sl.start, np.nan)
            cols = {"ent": {"t": D.times[sl], "S": D.entropy[sl], "P": D.purity[sl]},
                    "pops": {"t": D.times[sl], **{f"p{k}": pops[k] if k < d else nan for k in range(_MAX_LINES)}},
                    "expect": {"t": D.times[sl], **{f"e{k}": D.expect[k, sl].real if k < ne else nan
                                                    for k in range(_MAX_EXPECT)}}}
            if bloch:
                cols["traj"] = dict(zip("uv", _bloch_proj(*xyz(sl))))
            for key, c in cols.items():
                if complete:
                    src[key].data = c
                else:
                    src[key].stream(c)
            V["n_sent"] = N
        for sp in V.get("spans", ()):
            sp.location = t_i
        u, v = _bloch_proj(*xyz(i)) if bloch else ([], [])
        src["point"].data = {"u": np.atleast_1d(u), "v": np.atleast_1d(v)}
        if more:
            V["bloch"].title.text = (f"Bloch sphere, t = {t_i:.3g}" if bloch else
                                     "Bloch sphere (two-level systems only)")
        self.push(self._main)

    def _wigner_panel(self) -> pn.Column:
        """The Wigner panel: a toggle, and (once shown) the W(x, p) plot and its GIF/MP4 downloads."""
        toggle = pn.widgets.Toggle.from_param(self.param.show_wigner, name="Wigner W(x, p)", color="light",
                                              css_classes=["nl-wigner-toggle"], width=160)
        self._wigner_box = pn.Column(sizing_mode="stretch_width", css_classes=["nl-wigner"])
        return pn.Column(toggle, self._wigner_box, sizing_mode="stretch_width")

    def _build_wigner(self) -> dict[str, Any]:
        from bokeh.models import ColorBar, ColumnDataSource, LinearColorMapper
        from bokeh.plotting import figure

        src = ColumnDataSource(data={"image": [np.zeros((2, 2))], "x": [-1.0], "y": [-1.0], "dw": [2.0], "dh": [2.0]})
        mapper = LinearColorMapper(palette="RdBu11", low=-0.1, high=0.1)  # RdBu11: red > 0 ... blue < 0
        f = figure(title="Wigner function W(x, p)", x_axis_label="x", y_axis_label="p", match_aspect=True,
                   height=380, sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save,hover")
        f.image(image="image", x="x", y="y", dw="dw", dh="dh", source=src, color_mapper=mapper)
        f.add_layout(ColorBar(color_mapper=mapper, width=10), "right")
        note = pn.pane.Markdown("", css_classes=["nl-wigner-note"])
        downloads = pn.Row(*[self._download(s, wigner=True) for s in (".gif", ".mp4")])
        return {"src": src, "mapper": mapper, "fig": f, "note": note,
                "layout": [note, pn.pane.Bokeh(f, sizing_mode="stretch_width"), downloads]}

    @param.depends("n_done", "time_index", "show_wigner", watch=True)
    def _refresh_wigner(self) -> None:
        """Compute and show W(x, p) at the slider's time, only while the panel is shown."""
        if self._main is None or not self.show_wigner:
            return
        if self._wigner is None:  # first opening: build the plot
            self._wigner = self._build_wigner()
            self._wigner_box.objects = self._wigner["layout"]
        V, D = self._wigner, self._data
        if D is None or D.n_done == 0:
            V["note"].object = "W(x, p) appears once states are computed (press Run)."
            return
        i = self._t_index()
        x, W = self.wigner(i)
        h = float(x[-1] - x[0])
        V["src"].data = {"image": [W], "x": [float(x[0])], "y": [float(x[0])], "dw": [h], "dh": [h]}
        m = max(float(np.abs(W).max()), 1e-12)
        V["mapper"].low, V["mapper"].high = -m, m
        V["fig"].title.text = f"Wigner function W(x, p, t = {float(D.times[i]):.3g})"
        model = D.attrs.get("model", self.model)
        V["note"].object = ("" if model in _WIGNER_MODELS else
                            f"Model {model!r}: the basis is read as Fock states |0⟩ … |{D.states.shape[-1] - 1}⟩ "
                            "of one mode; W(x, p) is meant for model 'oscillator' or a custom cavity.")
        self.push(self._main)

    @param.depends("updates", "n_done")
    def _counter(self) -> str:
        return f"updates: {self.updates}, points: {self.n_done}/{0 if self._data is None else len(self._data.times)}"

    def figure(self):
        """A Matplotlib figure of the current views (|ρ|, entropy/purity, populations, expectations)."""
        from matplotlib.figure import Figure

        D = self._require_data()
        N, i = D.n_done, self._t_index()
        fig = Figure(figsize=(10, 7), layout="constrained")
        ax = fig.subplots(2, 2)
        fig.colorbar(ax[0, 0].imshow(np.abs(D.states[i]), cmap="viridis", origin="upper"), ax=ax[0, 0])
        ax[0, 0].set(title=f"|ρ(t = {D.times[i]:.3g})|", xlabel="col", ylabel="row")
        t, pops = D.times[:N], np.einsum("tii->it", D.states[:N]).real
        for a, ys, labels in ((ax[0, 1], [D.entropy[:N], D.purity[:N]], ["entropy S [nats]", "purity Tr ρ²"]),
                              (ax[1, 0], pops[:_MAX_LINES], [f"ρ_{k}{k}" for k in range(_MAX_LINES)]),
                              (ax[1, 1], D.expect[:, :N].real, [f"<{nm}>" for nm in D.e_names])):
            for y, lab in zip(ys, labels):
                a.plot(t, y, label=lab)
        for a, title in ((ax[0, 1], "entropy and purity"), (ax[1, 0], "populations"), (ax[1, 1], "expectation values")):
            a.axvline(D.times[i], color="gray", ls="--", lw=0.8)
            a.set(title=title, xlabel="time")
            a.legend(fontsize="small", loc="best")
        return fig

    def animation_frames(self, max_frames: int = 100) -> list[np.ndarray]:
        """RGB frames (H, W, 3) uint8 of |ρ(t)| (at most ``max_frames``, evenly spaced in time)."""
        from matplotlib.figure import Figure

        max_frames, D = _validate.integer(max_frames, "max_frames"), self._require_data()
        idx = np.unique(np.linspace(0, D.n_done - 1, min(max_frames, D.n_done)).round().astype(int))
        fig = Figure(figsize=(4, 3.6), dpi=80)
        ax = fig.subplots()
        im = ax.imshow(np.abs(D.states[0]), cmap="viridis", vmin=0.0, vmax=float(np.abs(D.states[: D.n_done]).max()))
        fig.colorbar(im, ax=ax)
        frames = []
        for k in idx:
            im.set_data(np.abs(D.states[k]))
            ax.set_title(f"|ρ(t = {D.times[k]:.3g})|")
            frames.append(figure_to_rgb(fig))
        return frames

    def export(self, path: str | Path, **kwargs: Any) -> Path:
        """Write what the explorer shows; the format follows the suffix of ``path``:
        ``.png``/``.svg``/``.pdf`` (figure), ``.nc``/``.zarr`` (data), ``.gif``/``.mp4`` (|ρ(t)|
        animation; ``fps``, ``max_frames`` accepted).

        Example:
            >>> import tempfile, os
            >>> ex = LindbladExplorer(model="qubit", t_max=1.0, n_times=5); _ = ex.run().wait()
            >>> ex.export(os.path.join(tempfile.mkdtemp(), "rho.nc")).suffix
            '.nc'
        """
        suffix = Path(path).suffix.lower()
        if suffix in (".png", ".svg", ".pdf"):
            return export_figure(self.figure(), path, **kwargs)
        if suffix in (".nc", ".zarr"):
            return export_dataset(self.to_dataset(), path)
        if suffix in (".gif", ".mp4"):
            return export_animation(self.animation_frames(kwargs.pop("max_frames", 100)), path, **kwargs)
        raise ValueError(f"path {str(path)!r}: suffix must be one of .png .svg .pdf .nc .zarr .gif .mp4, got {suffix!r}")

    def _download(self, suffix: str, wigner: bool = False) -> pn.widgets.FileDownload:
        name = ("wigner" if wigner else "lindblad") + suffix
        write = self.export_wigner if wigner else self.export

        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                return io.BytesIO(write(Path(tmp) / name).read_bytes())

        css = f"nl-export-wigner-{suffix[1:]}" if wigner else f"nl-export-{suffix[1:]}"
        return pn.widgets.FileDownload(callback=cb, filename=name, label=("W(x,p) " if wigner else "") + suffix[1:].upper(),
                                       css_classes=[css], color="light", width=110 if wigner else 70)

    # -- layout --------------------------------------------------------------------------------

    def sidebar(self) -> list[Any]:
        """Controls from the ``lindblad`` spec (with their error lines), solver options, Run, exports."""
        if self._side is not None:
            return self._side
        ctl = self.controls
        chunk = pn.widgets.IntInput.from_param(self.param.chunk, css_classes=["nl-param-chunk"], width=135)
        run = pn.widgets.Button(label="Run", color="primary", css_classes=["nl-run"], width=120,
                                disabled=self.param.running)
        run.on_click(self._on_run)
        solver = ("dt", "rtol", "atol")
        self._side = [
            pn.GridBox(*self.control_views([k for k in ctl if k not in solver]), ncols=2),
            lazy_card("solver options", lambda: [*self.control_views(solver), chunk], width=290,
                      css_classes=["nl-solver-options"]),
            run, pn.pane.Markdown("**Export**"),
            pn.GridBox(*[self._download(s) for s in (".png", ".svg", ".nc", ".gif", ".mp4")], ncols=3)]
        return self._side

    def main(self) -> pn.viewable.Viewable:
        """The six plots, the time slider and the update counter; the preset's result after first paint."""
        if self._main is not None:
            return self._main
        # served with one plot first (Component.first_plots): the other five figures are built
        # after the page reached the browser, not only sent after it (their construction was a
        # third of the session's CPU before the first response)
        later = self.first_plots is not None and self.first_plots <= 1 and _session_doc() is not None
        V = self._views = self._build_views(first_only=later)
        slider = pn.widgets.IntSlider.from_param(self.param.time_index, label="time index", css_classes=["nl-time"],
                                                 sizing_mode="stretch_width")
        cells = {k: pn.Column(pn.pane.Bokeh(V[k], sizing_mode="stretch_width") if k in V else
                              pn.Spacer(height=300, sizing_mode="stretch_width"),
                              css_classes=[f"nl-{css}"], sizing_mode="stretch_width") for k, css in _PLOTS.items()}
        grid = pn.GridBox(*cells.values(), ncols=2, sizing_mode="stretch_width", min_height=900)
        counter = live_text(lambda *_: self._counter(), self.param.updates, self.param.n_done, css_classes=["nl-updates"])
        self._main = pn.Column(counter, slider, grid, self._wigner_panel(), sizing_mode="stretch_width",
                               css_classes=["nl-lindblad"])
        self._refresh()
        self._refresh_wigner()
        self.defer(self._first_paint)
        if later:
            self.defer(lambda: self._show_more(cells))
        return self._main

    def _show_more(self, cells: dict[str, pn.Column]) -> None:
        """Build the five figures after |ρ| and put them in their cells (served, after the first paint)."""
        V = self._views
        if V is None or "bloch" in V or self.closed:
            return
        self._build_more(V)
        doc = _session_doc()
        with pn.io.hold(doc) if doc is not None else contextlib.nullcontext():
            for k, cell in cells.items():
                if k != "rho":
                    cell.objects = [pn.pane.Bokeh(V[k], sizing_mode="stretch_width")]
            V.pop("run", None)  # the next refresh names and shows the run's lines and sends its series
            self._refresh()

    def _on_run(self, *_: Any) -> None:
        try:
            self.run()
        except (ValueError, TypeError, RuntimeError) as exc:
            self.report_error(exc)
