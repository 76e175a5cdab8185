"""``ShearFlowExplorer``: planar Couette flow of a Lennard-Jones (or WCA) fluid by NEMD, live.

Thin over the ``nemd_shear`` task (:func:`nephlab.tasks.nemd_shear.simulate`, i.e.
:func:`nephlab.md.nemd_shear` with the task's parameters): the controls are generated from its
spec (only the parameters that apply: ``r_cut`` for ``potential="lj"``); Run streams the
production run through ``nemd_shear``'s ``on_sample`` hook (live P_xy and temperature traces,
the velocity profile u_x(y) against γ̇·y, an x–y view of the particles, η ± its block-averaged
error); Flow curve runs one ``nemd_shear`` per shear rate of a list and adds each η(γ̇) point
with its error bar as it completes, with the quadratic zero-shear extrapolation
(:meth:`nephlab.md.FlowCurveResult.from_results`) once three rates are in.

Defaults are the task's except ``n_steps`` and ``equilibrate`` (short runs: a first result in
seconds on two cores; the statistical errors are large, and they are shown). Complete results are
cached per process (shared by sessions): the default run is computed by :meth:`warm` when
``nephlab serve`` starts. Reduced LJ units (σ, ε, τ, k_B = 1).
"""

from __future__ import annotations

import collections
import io
import json
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from nephlab.tasks import get_task
from nephlab.tasks.nemd_shear import simulate

from ._base import Component, Job, TextLine, _kernel_loop, _session_doc, auto_glyphs
from ._controls import param_for

__all__ = ["ShearFlowExplorer", "parse_rates", "shear_run"]

_SPEC = get_task("nemd_shear").spec
_P = _SPEC.param
_NAMES = ("potential", "n_particles", "rho", "T", "r_cut", "lattice", "dtype", "shear_rate", "n_steps", "dt",
          "equilibrate", "sample_every", "thermostat", "n_bins", "seed")  # backend: the JAX engine streams
_MAX_RATES = 16
_MAX_DRAWN = 4000  # particles drawn in the x-y view
_TRIPLE = {"potential": "lj", "rho": 0.8442, "T": 0.722, "r_cut": 2.5}
_REFERENCE = ("reference: η* = 3.24 ± 0.04 at the LJ triple point (N = 2048, long runs; Ferrario et al., "
              "Phys. Rev. A 44, 6936 (1991))")

_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16
_INFLIGHT: dict = {}  # key -> threading.Event set when the run computing it ends


def _key(p: dict) -> tuple:
    return tuple(sorted(p.items()))


def shear_run(p: dict, on_sample: Any = None, stop: Any = None) -> Any:
    """:func:`nephlab.tasks.nemd_shear.simulate` of validated task values ``p``, cached per process.

    A cached result is returned at once (``on_sample`` is not called). While another thread
    computes the same values (the server's warm-up, another session), this one waits for that
    result instead of computing it twice; ``stop()`` returning True ends the wait (returns None).
    A run that ``on_sample`` stopped early is returned but not cached.

    Example:
        >>> p = _SPEC.validate({"n_steps": 200, "equilibrate": 0})
        >>> shear_run(p).pxy.shape   # doctest: +SKIP
        (20,)
    """
    key = _key(p)
    while True:
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
            busy = _INFLIGHT.get(key)
            if busy is None:
                _INFLIGHT[key] = threading.Event()
                break
        while not busy.wait(0.1):
            if stop is not None and stop():
                return None
    try:
        r = simulate(p, on_sample=on_sample)
        if len(r.times) == p["n_steps"] // p["sample_every"]:
            with _CACHE_LOCK:
                _CACHE[key] = r
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        return r
    finally:
        with _CACHE_LOCK:
            _INFLIGHT.pop(key).set()


def parse_rates(text: Any) -> list[float]:
    """The shear rates of a flow curve from ``"0.25, 0.5, 1"`` (commas or spaces), checked
    against the ``nemd_shear`` spec's ``shear_rate`` (finite, in bounds) and nonzero.

    Example:
        >>> parse_rates("0.25, 0.5 1")
        [0.25, 0.5, 1.0]
    """
    if not isinstance(text, str):
        raise TypeError(f"rates must be a str of comma-separated shear rates, got {type(text).__name__}")
    parts = [t for t in re.split(r"[,\s;]+", text.strip()) if t]
    if not parts:
        raise ValueError(f"rates must list at least one shear rate (1/tau), e.g. '0.25, 0.5, 1', got {text!r}")
    if len(parts) > _MAX_RATES:
        raise ValueError(f"rates lists {len(parts)} shear rates; at most {_MAX_RATES} are allowed")
    out = []
    for t in parts:
        try:
            v = float(t)
        except ValueError:
            raise ValueError(f"rates: {t!r} is not a number; give shear rates (1/tau) separated by commas") from None
        v = _P("shear_rate").check(v, _SPEC.name)
        if v == 0:
            raise ValueError("rates: a shear rate of 0 has no viscosity (η = −⟨P_xy⟩/γ̇); give nonzero rates")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ValueError(f"rates: {text!r} repeats a shear rate; give each rate once")
    return out


class ShearFlowExplorer(Component):
    """NEMD shear flow, live: stress and temperature traces, velocity profile, particles, flow curve.

    Params: the ``nemd_shear`` task's (without ``backend``: the JAX engine streams), with shorter
    runs by default (``n_steps=2000``, ``equilibrate=200``); ``rates``: the flow curve's shear
    rates (text, e.g. ``"0.25, 0.5, 1, 2"``; a refused list is shown under it).

    Results: ``result`` (the :class:`~nephlab.md.ShearResult` shown: the latest partial one while
    Run streams), ``result_params`` (its task values: ``nemd_shear`` with them gives the same
    numbers), ``flow_results`` (one ShearResult per completed rate) and :attr:`flow` (their
    :class:`~nephlab.md.FlowCurveResult`). Jobs: ``"main"`` (:meth:`run`), ``"flow"``
    (:meth:`run_flow`).

    DOM hooks: ``nl-md-pxy``, ``nl-md-temperature``, ``nl-md-profile``, ``nl-md-particles``,
    ``nl-md-flow`` (plots), ``nl-md-run``, ``nl-md-flow-run`` (buttons), ``nl-md-rates`` (the rates
    input, ``nl-error-rates`` under it), ``nl-md-summary``, ``nl-md-flow-summary`` (text),
    ``nl-param-<name>``, ``nl-export-<png|svg|nc>``.

    Example:
        >>> ex = ShearFlowExplorer(n_steps=200, equilibrate=0)
        >>> r = ex.run().wait()                          # doctest: +SKIP
        >>> r.viscosity > 0, len(r.pxy)                  # doctest: +SKIP
        (True, 20)
    """

    title = "Shear-flow explorer"
    potential, n_particles, rho, T, r_cut, lattice, dtype, shear_rate, dt, sample_every, thermostat, n_bins, seed = (
        param_for(_P(n)) for n in ("potential", "n_particles", "rho", "T", "r_cut", "lattice", "dtype", "shear_rate",
                                   "dt", "sample_every", "thermostat", "n_bins", "seed"))
    n_steps = param_for(_P("n_steps"), default=2000)
    equilibrate = param_for(_P("equilibrate"), default=200)
    rates = param.String(default="0.25, 0.5, 1, 2", doc="shear rates of the flow curve (1/tau), comma separated")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.result = self.result_params = self.flow_params = None
        self.flow_results: list = []
        self._views = self._side = None
        self.spec_controls(_SPEC, _NAMES, width=135)
        self._rates_input = pn.widgets.TextInput.from_param(self.param.rates, name="flow-curve rates [1/tau]",
                                                            css_classes=["nl-md-rates"], width=280)
        self._error_lines["rates"] = pn.pane.Str("", css_classes=["nl-control-error", "nl-error-rates"],
                                                 styles={"color": "#c62828", "font-size": "0.85em"},
                                                 visible=False, margin=(0, 10))
        self.param.watch(lambda *_: self._check_rates(), "rates")
        self._check_rates()

    @classmethod
    def warm(cls) -> None:
        """Compile the engine for the default system and cache the default run for every session."""
        shear_run(_SPEC.validate({n: getattr(cls, n) for n in _NAMES}))

    def release(self) -> None:
        self.result = self._views = None
        self.flow_results = []

    # ---- inputs ----------------------------------------------------------------------------
    def task_params(self, **overrides: Any) -> dict[str, Any]:
        """The validated ``nemd_shear`` task values of the current state (refused: shown and raised)."""
        bad = {k: v for k, v in self._control_errors.items() if k != "rates"}
        if bad:
            raise ValueError(f"a control holds a refused value: {next(iter(bad.values()))}")
        return self.spec_values(_SPEC, **overrides)

    def _check_rates(self) -> list[float] | None:
        try:
            rates = parse_rates(self.rates)
        except (TypeError, ValueError) as exc:
            self.report_error(exc, control="rates")
            return None
        self.clear_error(control="rates")
        return rates

    # ---- one run, streamed -----------------------------------------------------------------
    def run(self, *_: Any) -> Job:
        """Start one NEMD run in the background (``"main"`` job), streaming partial results to the
        views; ``.wait()`` returns the :class:`~nephlab.md.ShearResult`. Cancel keeps the samples so
        far on screen. Refused values raise here (and are shown)."""
        p = self.task_params()
        n = p["n_steps"] // p["sample_every"]
        latest: list = [None]

        def work(ctx):
            ctx.emit(None, progress=0.0, status=f"γ̇ = {p['shear_rate']:g}: equilibrating {p['equilibrate']} steps")

            def on_sample(part):
                latest[0] = part
                ctx.emit(part, progress=len(part.times) / n, status=f"γ̇ = {p['shear_rate']:g}: sample "
                         f"{len(part.times)}/{n}, η = {part.viscosity:.4g} ± {part.stderr:.2g}")
                return ctx.cancelled

            r = shear_run(p, on_sample, stop=lambda: ctx.cancelled)
            ctx.check()
            return r

        def stopped(_exc):
            if latest[0] is not None:
                self._show(latest[0], p, partial=True)

        return self.start_job(work, on_update=lambda r: self._show(r, p, partial=True),
                              on_done=lambda r: self._show(r, p), on_error=stopped,
                              label=f"NEMD at γ̇ = {p['shear_rate']:g}")

    # ---- flow curve ------------------------------------------------------------------------
    def run_flow(self, *_: Any) -> Job:
        """Run ``nemd_shear`` at each of :attr:`rates` (``"flow"`` job; the other parameters as
        shown); each point appears as it completes. ``.wait()`` returns the ShearResults."""
        rates = self._check_rates()
        if rates is None:
            raise ValueError(self._control_errors["rates"])
        p = self.task_params()
        points = [_SPEC.validate({**p, "shear_rate": g}) for g in rates]
        done: list = []

        def work(ctx):
            for i, q in enumerate(points):
                ctx.check()
                r = shear_run(q, lambda _part: ctx.cancelled, stop=lambda: ctx.cancelled)
                ctx.check()
                done.append(r)
                ctx.emit(list(done), progress=(i + 1) / len(points),
                         status=f"flow curve: {i + 1}/{len(points)} rates (γ̇ = {q['shear_rate']:g} done)")
            return list(done)

        self.flow_results, self.flow_params = [], p
        self._draw_flow()
        return self.start_job(work, on_update=self._show_flow, on_done=self._show_flow,
                              on_error=lambda _e: self._show_flow(list(done)), key="flow",
                              label=f"flow curve: {len(points)} rates")

    @property
    def flow(self) -> Any:
        """:class:`~nephlab.md.FlowCurveResult` of the completed rates (None before the first)."""
        if not self.flow_results:
            return None
        from nephlab.md import FlowCurveResult  # the MD engine loads in the job, not with the page

        return FlowCurveResult.from_results(self.flow_results)

    def _show_flow(self, results: list) -> None:
        self.flow_results = list(results)
        self._draw_flow()

    # ---- views -----------------------------------------------------------------------------
    def summary(self, partial: bool = False) -> str:
        """One line: η ± its block-averaged error, ⟨T⟩, the samples, the system."""
        r, p = self.result, self.result_params
        if r is None:
            return "press Run: NEMD planar shear (SLLOD, Lees–Edwards)"
        pot = f"LJ r_c = {p['r_cut']:g}" if p["potential"] == "lj" else "WCA"
        head = "running: " if partial else ""
        return (f"{head}η = {r.viscosity:.4g} ± {r.stderr:.2g} (mε)^½/σ² at γ̇ = {r.shear_rate:g}/τ; "
                f"⟨T⟩ = {np.mean(r.temperature):.4g}; {len(r.times)} samples over t = {r.times[-1]:.3g} τ; "
                f"N = {r.n_particles}, ρ = {r.rho:g}, {pot}, {r.thermostat}")

    def flow_summary(self) -> str:
        """One line: the points so far and the zero-shear extrapolation (from three rates)."""
        fc = self.flow
        if fc is None:
            return "press Flow curve: one NEMD run per rate"
        n = len(fc.shear_rate)
        if n < 3:
            text = f"{n} rate(s) done; the zero-shear fit η0 + a γ̇² needs 3"
        else:
            text = (f"zero-shear extrapolation η0 = {fc.zero_shear_viscosity:.4g} ± {fc.zero_shear_stderr:.2g} "
                    f"(weighted fit η0 + a γ̇² over {n} rates, a = {fc.quadratic_coefficient:.3g})")
        p = self.flow_params or {}
        if all(p.get(k) == v for k, v in _TRIPLE.items()):
            text += f"; {_REFERENCE}; small N and short runs give large errors"
        return text

    def _show(self, r: Any, p: dict, partial: bool = False) -> None:
        if r is not None:
            self.result, self.result_params = r, p
        V = self._views
        if V is None or self.result is None:
            return
        r = self.result
        L = 2 * len(r.profile_y) * float(r.profile_y[0])  # bin centres (i + 1/2) L / n_bins
        V["pxy_src"].data = {"t": r.times, "pxy": r.pxy}
        V["temp_src"].data = {"t": r.times, "T": r.temperature}
        V["target"].location = r.T
        V["temperature"].object.y_range.min_interval = 0.1 * r.T  # isokinetic: T exact, no axis of 1e-12
        V["profile_src"].data = {"y": r.profile_y, "vx": r.profile_vx}
        V["ref_src"].data = {"y": [0.0, L], "vx": [0.0, r.shear_rate * L]}
        pos = np.asarray(r.positions)[:_MAX_DRAWN]
        V["part_src"].data = {"x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2]}
        V["box_src"].data = {"x": [0, L, L, 0, 0], "y": [0, 0, L, L, 0]}
        V["mapper"].high = L
        V["pxy"].object.title.text = f"shear stress P_xy(t): ⟨P_xy⟩ = {r.pxy_mean:.4g} ± {r.pxy_stderr:.2g} ε/σ³"
        V["summary"].text = self.summary(partial)
        self.push(V["pxy"], V["temperature"], V["profile"], V["particles"], V["summary"])

    def _draw_flow(self) -> None:
        V = self._views
        if V is None:
            return
        fc = self.flow
        if fc is None:
            V["flow_src"].data = {"g": [], "eta": [], "lo": [], "hi": []}
            V["fit_src"].data = {"g": [], "eta": []}
            V["zero_src"].data = {"g": [], "eta": [], "lo": [], "hi": []}
        else:
            g, eta, err = fc.shear_rate, fc.viscosity, fc.stderr
            V["flow_src"].data = {"g": g, "eta": eta, "lo": eta - err, "hi": eta + err}
            if len(g) >= 3:
                e0, s0, a = fc.zero_shear_viscosity, fc.zero_shear_stderr, fc.quadratic_coefficient
                x = np.linspace(0.0, float(np.max(np.abs(g))), 50)
                V["fit_src"].data = {"g": x, "eta": e0 + a * x * x}
                V["zero_src"].data = {"g": [0.0], "eta": [e0], "lo": [e0 - s0], "hi": [e0 + s0]}
            else:
                V["fit_src"].data = {"g": [], "eta": []}
                V["zero_src"].data = {"g": [], "eta": [], "lo": [], "hi": []}
        V["flow_summary"].text = self.flow_summary()
        self.push(V["flow"], V["flow_summary"])

    def _build_views(self) -> dict[str, Any]:
        from bokeh.models import ColumnDataSource, DataRange1d, LinearColorMapper, Span
        from bokeh.plotting import figure

        src = {k: ColumnDataSource(data={c: [] for c in cols.split()}) for k, cols in (
            ("pxy", "t pxy"), ("temp", "t T"), ("profile", "y vx"), ("ref", "y vx"), ("part", "x y z"),
            ("box", "x y"), ("flow", "g eta lo hi"), ("fit", "g eta"), ("zero", "g eta lo hi"))}
        opts = dict(height=280, sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save,hover")
        f_p = figure(title="shear stress P_xy(t)", x_axis_label="t [τ]", y_axis_label="P_xy [ε/σ³]", **opts)
        f_p.line("t", "pxy", source=src["pxy"], line_width=1.2)
        f_p.add_layout(Span(location=0, dimension="width", line_color="gray", line_dash="dotted"))
        f_T = figure(title="temperature (peculiar); target dashed", x_axis_label="t [τ]",
                     y_axis_label="T [ε/k_B]", y_range=DataRange1d(min_interval=0.1 * float(self.T)), **opts)
        f_T.line("t", "T", source=src["temp"], line_width=1.2, color="#c0392b")
        target = Span(location=float(self.T), dimension="width", line_color="black", line_dash="dashed")
        f_T.add_layout(target)
        f_u = figure(title="streaming velocity u_x(y); line: γ̇·y", x_axis_label="y [σ]", y_axis_label="u_x [σ/τ]",
                     **opts)
        f_u.line("y", "vx", source=src["ref"], color="gray", line_dash="dashed", line_width=1.5)
        f_u.scatter("y", "vx", source=src["profile"], size=8)
        mapper = LinearColorMapper(palette="Viridis256", low=0.0, high=1.0)
        f_x = figure(title="particles, x–y projection (colour: z)", x_axis_label="x [σ]", y_axis_label="y [σ]",
                     match_aspect=True, height=280, sizing_mode="stretch_width", tools="pan,wheel_zoom,reset,save")
        f_x.circle("x", "y", radius=0.5, source=src["part"], fill_color={"field": "z", "transform": mapper},
                   line_color=None, fill_alpha=0.7)
        f_x.line("x", "y", source=src["box"], color="black")
        f_f = figure(title="flow curve η(γ̇) ± stderr; zero-shear fit η0 + a γ̇² (orange)", x_axis_label="γ̇ [1/τ]",
                     y_axis_label="η [(mε)^½/σ²]", **opts)
        f_f.segment("g", "lo", "g", "hi", source=src["flow"], color="#1f77b4")
        f_f.scatter("g", "eta", source=src["flow"], size=8, color="#1f77b4")
        f_f.line("g", "eta", source=src["fit"], color="#ff7f0e", line_width=2)
        f_f.segment("g", "lo", "g", "hi", source=src["zero"], color="#ff7f0e")
        f_f.scatter("g", "eta", source=src["zero"], size=10, marker="diamond", color="#ff7f0e")
        auto_glyphs(f_p, f_T, f_u, f_x, f_f)
        V: dict[str, Any] = {f"{k}_src": v for k, v in src.items()}
        V.update(target=target, mapper=mapper,
                 summary=TextLine(self.summary(), css_classes=["nl-md-summary"], sizing_mode="stretch_width"),
                 flow_summary=TextLine(self.flow_summary(), css_classes=["nl-md-flow-summary"],
                                       sizing_mode="stretch_width"))
        for k, f, css in (("pxy", f_p, "nl-md-pxy"), ("temperature", f_T, "nl-md-temperature"),
                          ("profile", f_u, "nl-md-profile"), ("particles", f_x, "nl-md-particles"),
                          ("flow", f_f, "nl-md-flow")):
            f.css_classes = [*f.css_classes, css]  # the DOM hook on the plot itself
            V[k] = pn.pane.Bokeh(f, css_classes=[css], sizing_mode="stretch_width")
        exports = pn.Row(*(self._download(s) for s in (".png", ".svg", ".nc")))
        V["layout"] = pn.Column(V["summary"], pn.Row(V["pxy"], V["temperature"], sizing_mode="stretch_width"),
                                pn.Row(V["profile"], V["particles"], sizing_mode="stretch_width"),
                                V["flow_summary"], V["flow"], exports, sizing_mode="stretch_width")
        return V

    def sidebar(self) -> list:
        if self._side is None:
            run = pn.widgets.Button(label="Run", color="primary", css_classes=["nl-md-run"], width=120,
                                    disabled=self.param.running)
            run.on_click(lambda _e: self._guarded(self.run))
            flow = pn.widgets.Button(label="Flow curve", color="primary", css_classes=["nl-md-flow-run"], width=120)
            flow.on_click(lambda _e: self._guarded(self.run_flow))
            ctl = self.control_views(_NAMES)
            md = pn.pane.Markdown
            self._side = [md("**Fluid** (task `nemd_shear`)"), pn.GridBox(*ctl[:7], ncols=2),
                          md("**Shear run**"), pn.GridBox(*ctl[7:], ncols=2), run,
                          md("**Flow curve** η(γ̇): one run per rate"), self._rates_input, self._error_lines["rates"],
                          flow]
        return self._side

    def _guarded(self, fn) -> None:
        try:
            fn()
        except (TypeError, ValueError, RuntimeError) as exc:
            self.report_error(exc)

    def main(self) -> pn.viewable.Viewable:
        if self._views is None:
            self._views = self._build_views()
            self._show(None, self.result_params)
            self._draw_flow()
            if _session_doc() is not None or _kernel_loop() is not None:  # shown: a page or a notebook
                self.defer(self._first_run)
        return self._views["layout"]

    def _first_run(self) -> None:
        """The first run, once the page reached the browser (served) or the notebook shows it; the
        default parameters' result comes from the per-process cache (:meth:`warm`)."""
        if self.result is None and not self.closed and not self.running:
            self._guarded(self.run)

    # ---- data, figures, exports ------------------------------------------------------------
    def to_dataset(self):
        """The run shown (:meth:`nephlab.md.ShearResult.to_xarray`; attr ``params``: its task values
        as JSON) and the flow curve (variables ``flow_*`` over ``flow_shear_rate``), an ``xarray.Dataset``.

        Example:
            >>> ex = ShearFlowExplorer(n_steps=200, equilibrate=0); _ = ex.run().wait()   # doctest: +SKIP
            >>> float(ex.to_dataset().viscosity) == ex.result.viscosity                   # doctest: +SKIP
            True
        """
        if self.result is None:
            raise ValueError("nothing computed yet: call run() (or press Run) first")
        ds = self.result.to_xarray()
        ds.attrs["params"] = json.dumps(self.result_params)
        fc = self.flow
        if fc is not None:
            fds = fc.to_xarray().rename({"shear_rate": "flow_shear_rate"})
            for k, v in fds.data_vars.items():
                ds[f"flow_{k}"] = v
            ds.attrs.update({f"flow_{k}": fds.attrs[k] for k in ("zero_shear_viscosity", "zero_shear_stderr",
                                                                  "quadratic_coefficient", "fit_max_rate")})
            ds.attrs["flow_params"] = json.dumps(self.flow_params)
        return ds

    def figure(self):
        """A Matplotlib figure of the views: P_xy(t), T(t), u_x(y), particles, η(γ̇)."""
        from matplotlib.figure import Figure

        if self.result is None:
            raise ValueError("nothing computed yet: call run() (or press Run) first")
        r = self.result
        L = 2 * len(r.profile_y) * float(r.profile_y[0])
        fig = Figure(figsize=(13, 7), layout="constrained")
        ax = fig.subplots(2, 3)
        ax[0, 0].plot(r.times, r.pxy, lw=0.8)
        ax[0, 0].set(title=f"P_xy: ⟨P_xy⟩ = {r.pxy_mean:.4g} ± {r.pxy_stderr:.2g}", xlabel="t [τ]",
                     ylabel="P_xy [ε/σ³]")
        ax[0, 1].plot(r.times, r.temperature, color="C3", lw=0.8)
        ax[0, 1].axhline(r.T, color="k", ls="--", lw=0.8)
        ax[0, 1].set(title="temperature", xlabel="t [τ]", ylabel="T [ε/k_B]")
        ax[0, 2].plot([0, L], [0, r.shear_rate * L], "k--", lw=1, label="γ̇·y")
        ax[0, 2].plot(r.profile_y, r.profile_vx, "o", label="u_x(y)")
        ax[0, 2].set(title="velocity profile", xlabel="y [σ]", ylabel="u_x [σ/τ]")
        ax[0, 2].legend(fontsize="small")
        pos = np.asarray(r.positions)[:_MAX_DRAWN]
        ax[1, 0].scatter(pos[:, 0], pos[:, 1], c=pos[:, 2], s=12, cmap="viridis")
        ax[1, 0].set(title="particles (x–y; colour z)", xlabel="x [σ]", ylabel="y [σ]", aspect="equal")
        fc = self.flow
        if fc is not None:
            ax[1, 1].errorbar(fc.shear_rate, fc.viscosity, fc.stderr, fmt="o", label="NEMD")
            if len(fc.shear_rate) >= 3:
                x = np.linspace(0, float(np.max(np.abs(fc.shear_rate))), 50)
                ax[1, 1].plot(x, fc.zero_shear_viscosity + fc.quadratic_coefficient * x * x, color="C1",
                              label="η0 + a γ̇²")
                ax[1, 1].errorbar([0.0], [fc.zero_shear_viscosity], [fc.zero_shear_stderr], fmt="D", color="C1")
            ax[1, 1].legend(fontsize="small")
        ax[1, 1].set(title="flow curve", xlabel="γ̇ [1/τ]", ylabel="η [(mε)^½/σ²]")
        ax[1, 2].axis("off")
        ax[1, 2].text(0, 0.5, self.summary().replace("; ", "\n"), fontsize=9, va="center")
        return fig

    def _download(self, suffix: str) -> pn.widgets.FileDownload:
        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                return io.BytesIO(self.export(Path(tmp) / f"shear{suffix}").read_bytes())

        return pn.widgets.FileDownload(callback=cb, filename=f"shear{suffix}", label=f"Export {suffix[1:]}",
                                       color="light", css_classes=[f"nl-export-{suffix[1:]}"])

