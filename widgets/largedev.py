"""``LargeDeviationExplorer``: θ(s), I(x), the s-ensemble, cloning and committors, thin over
:mod:`nephlab.largedev.presets` (controls: the ``scgf``, ``cloning`` and ``committor`` task specs).
Model families: Markov jump processes, and "quantum jumps" (``quantum_two_level``,
``quantum_cavity``: photon counting from the tilted Liouvillian, :mod:`nephlab.largedev.quantum_jumps`).

Results are cached across sessions (``functools.lru_cache`` of the parameters that apply); all
computing runs in background jobs, and the views change only in the jobs' callbacks (UI loop).
Units: rates and θ in 1/time; s in 1/[A]; Müller–Brown energies as in the paper, β in 1/energy.
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

from nephlab.largedev import (committor_problem, finite_size_curves, markov_cloning, markov_scgf, markov_theta,
                              rate_function_grid, transition_paths)
from nephlab.largedev.quantum_jumps import QUANTUM_MODELS
from nephlab.tasks import get_task

from ._base import Cancelled, Component, Job, TextLine, _session_doc, auto_glyphs, export_animation, lazy_card, tabs
from ._controls import param_for

__all__ = ["LargeDeviationExplorer", "cloning_result", "committor_path", "committor_result", "scgf_curves",
           "size_curves"]

SCGF, CLONING, COMMITTOR = (get_task(n).spec for n in ("scgf", "cloning", "committor"))
_SCGF = ("model", "observable", "a", "b", "L", "p", "q", "n_particles", "rate", "c", "boundary", "rates", "drive",
         "decay", "detuning", "n_fock", "s_min", "s_max", "n_s")
_CLONE = ("s", "n_clones", "t_max", "n_runs", "burn_in_fraction", "seed")
_MB = ("potential", "beta", "radius", "n_grid")
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _key(spec: Any, values: dict) -> tuple:
    """The hashable cache key of validated values: the parameters that apply, sorted."""
    return tuple(sorted((k, values[k]) for k in spec.active(values)))


@functools.lru_cache(maxsize=32)
def scgf_curves(key: tuple) -> tuple:
    """``(ScgfResult, RateFunctionResult)`` of an ``scgf`` point (``key``: sorted (name, value) pairs)."""
    curve = markov_scgf(dict(key))
    return curve, rate_function_grid(curve)


@functools.lru_cache(maxsize=32)
def size_curves(key: tuple) -> Any:
    """:func:`~nephlab.largedev.finite_size_curves` of an ``scgf`` point."""
    return finite_size_curves(dict(key))


@functools.lru_cache(maxsize=8)
def cloning_result(key: tuple) -> tuple:
    """``(CloningResult, exact θ(s))`` of a ``cloning`` point (deterministic: fixed seed)."""
    return markov_cloning(dict(key)), markov_theta(dict(key), dict(key)["s"])


@functools.lru_cache(maxsize=8)
def committor_result(key: tuple) -> tuple:
    """``(CommittorProblem, q)`` of a ``committor`` point."""
    prob = committor_problem(dict(key))
    return prob, prob.solve()


@functools.lru_cache(maxsize=128)
def committor_path(key: tuple, i: int) -> np.ndarray:
    """Transition path ``i`` (seed ``i``) of a 2D ``committor`` point, ``(n, 3)``: t, x, y."""
    return transition_paths(*committor_result(key), n_paths=1, seed=i)[0]


class LargeDeviationExplorer(Component):
    """Explore large deviations of Markov jump processes, of quantum jumps and rare transitions.

    The ``model`` menu holds the Markov jump presets and the quantum-jump family
    (``quantum_two_level``: resonance fluorescence; ``quantum_cavity``: a driven damped cavity;
    parameters ``drive``, ``decay``, ``detuning``, ``n_fock``): θ(s) of the emitted-photon count from
    the tilted Liouvillian (:func:`~nephlab.largedev.quantum_jumps.quantum_scgf`), I(x) by the same
    Legendre transform. Cloning runs on the Markov presets only.

    Parameters: the ``scgf`` task's; the ``cloning`` task's ``s``, ``n_clones``, ``t_max``, ``n_runs``,
    ``burn_in_fraction``, ``seed``; the ``committor`` task's ``beta``, ``radius``, ``n_grid`` for its
    ``muller_brown`` preset, ``beta`` from 0.05 (the task's β = 3 suits the double wells, barrier 1;
    Müller–Brown barriers are ~100, where β = 3 is refused). ``n_paths``: paths drawn (seed = index).

    Results: ``curve``, ``rate_fn``, ``sizes`` (:func:`~nephlab.largedev.markov_scgf`,
    :func:`~nephlab.largedev.rate_function_grid`, :func:`~nephlab.largedev.finite_size_curves`),
    ``clone``/``clone_exact`` (:func:`~nephlab.largedev.markov_cloning`), ``committor`` =
    ``(problem, q)``, ``paths`` (:func:`~nephlab.largedev.transition_paths`). Jobs: ``"theta"``
    (:meth:`recompute` on every change; :meth:`wait`), ``"cloning"``, ``"committor"``.

    DOM hooks: ``nl-theta``, ``nl-rate-function``, ``nl-phase-diagram``, ``nl-ld-model``,
    ``nl-theta-summary``, ``nl-clone-run``, ``nl-clone-plot``, ``nl-clone-summary``,
    ``nl-committor``, ``nl-committor-run``, ``nl-player``.

    Example:
        >>> ex = LargeDeviationExplorer(model="two_state", a=1.0, b=1.0, n_s=5, s_min=0.0, s_max=1.0)
        >>> round(float(ex.wait()[0].theta[-1]), 9) == round(float(np.exp(-1.0) - 1), 9)
        True
    """

    title = "Large-deviation explorer"
    (model, observable, a, b, L, p, q, n_particles, rate, c, boundary, rates, drive, decay, detuning, n_fock, s_min,
     s_max, n_s) = (param_for(SCGF.param(n)) for n in _SCGF)
    s, n_clones, t_max, n_runs, burn_in_fraction, seed = (param_for(CLONING.param(n)) for n in _CLONE)
    potential = param_for(COMMITTOR.param("potential"), default="muller_brown", constant=True)
    beta = param_for(COMMITTOR.param("beta"), default=0.05)
    radius, n_grid = (param_for(COMMITTOR.param(n)) for n in ("radius", "n_grid"))
    n_paths = param.Integer(4, bounds=(1, 64), doc="transition paths drawn (path i uses seed i)")
    path_index = param.Integer(0, bounds=(0, None), doc="the path the player shows")
    frame = param.Integer(0, bounds=(0, None), doc="player frame")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.curve = self.rate_fn = self.sizes = self.curve_model = self.clone = self.committor = None
        self.clone_params = None
        self.clone_exact, self.paths, self._views, self._side = float("nan"), [], None, None
        self._stale, self._restart = False, None
        self._ctl = (self.spec_controls(SCGF), self.spec_controls(CLONING, _CLONE),
                     self.spec_controls(COMMITTOR, _MB[1:]))
        self._ctl[0]["model"].css_classes = [*self._ctl[0]["model"].css_classes, "nl-ld-model"]
        self.param.watch(lambda *_e: self.recompute(), list(SCGF.names))
        self.param.watch(lambda *_e: self._draw_clone(), list(SCGF.names) + list(_CLONE))
        self.param.watch(lambda *_e: self._draw_path(), ["frame", "path_index"])
        self.defer(self.recompute)
        if _session_doc() is None:  # notebook, Python: show θ(s) at once (an update sent before the
            self.wait()             # notebook's comm opened would be lost)

    @classmethod
    def warm(cls) -> None:
        """Cache the default θ(s), I(x), s-ensemble, cloning run (compiling its kernel), committor and paths."""
        key = _key(SCGF, SCGF.validate({}))
        scgf_curves(key), size_curves(key), cloning_result(_key(CLONING, CLONING.validate({})))
        mb = _key(COMMITTOR, COMMITTOR.validate({n: getattr(cls, n) for n in _MB}))
        [committor_path(mb, i) for i in range(cls.n_paths)]

    def release(self) -> None:
        self.curve = self.rate_fn = self.sizes = self.clone = self.committor = self._views = self.paths = None

    def _values(self, spec: Any, names: Any = None) -> dict:
        return spec.validate({n: getattr(self, n) for n in names or spec.names if n in self.param})

    # ---- θ(s), I(x), s-ensemble ------------------------------------------------------------------
    def recompute(self) -> Job | None:
        """Recompute θ(s), I(x) and the s-ensemble (``"theta"`` job); a change while it runs cancels
        it and starts again once it stopped. Returns the job (None if the parameters are refused:
        the error is shown)."""
        job = self.jobs.get("theta")
        if job is not None and not job.done:
            self._stale = True
            job.cancel()
            return job
        self._stale = False
        try:
            key, m = _key(SCGF, self.spec_values(SCGF)), self.model
        except (TypeError, ValueError):
            return None

        def work(ctx):
            curve, rate = scgf_curves(key)
            ctx.emit((curve, rate, None, m), progress=0.5, status="θ(s) ready; s-ensemble ...")
            ctx.check()
            return curve, rate, size_curves(key), m

        def done(res: tuple) -> None:
            self._show_theta(res)
            self._theta_stopped(res)  # parameters changed after the job's last check

        return self.start_job(work, on_update=self._show_theta, on_done=done, on_error=self._theta_stopped,
                              label=f"θ(s): {self.model}", key="theta")

    def _theta_stopped(self, _res: Any) -> None:
        if not self._stale or self.closed:
            return
        self._stale, old = False, self.jobs["theta"]  # in its callbacks: restart once it is done

        def wait(_ctx):
            with contextlib.suppress(BaseException):
                old.wait()

        self._restart = Job(wait, on_done=lambda _r: None if self.closed else self.recompute()).start()

    def wait(self, timeout: float | None = None, *, key: str = "theta") -> Any:
        """Wait for the job under ``key``; for ``"theta"`` (default) until θ(s) matches the
        parameters (restarts included), returning ``(curve, rate_fn, sizes)``."""
        if key != "theta":
            return super().wait(timeout, key=key)
        pending = lambda: [j for j in (self._restart, self.jobs.get("theta")) if j is not None]  # noqa: E731
        while True:
            jobs = pending()
            for job in jobs:
                with contextlib.suppress(Cancelled):
                    job.wait(timeout)
            if jobs == pending() and all(j.done for j in jobs):  # no restart began meanwhile
                if not self._stale:
                    return self.curve, self.rate_fn, self.sizes
                self.recompute()  # a change raced with the end of the job (plain Python only)

    def _show_theta(self, res: tuple) -> None:
        self.curve, self.rate_fn, sizes, self.curve_model = res
        self.sizes, V = self.sizes if sizes is None else sizes, self._views
        if V is None or self.curve is None:
            return
        c, r, n, m = self.curve, self.rate_fn, self.sizes, self.curve_model
        V["theta_src"].data, V["rate_src"].data = {"s": c.s, "theta": c.theta}, {"x": r.x, "I": r.I}
        V["theta"].object.title.text = f"SCGF θ(s): {m} ({c.observable})"
        kink = "; kink flagged (dynamical phase transition)" if r.kink else ""
        V["summary"].text = f"{m}: θ({c.s[0]:.3g}) = {c.theta[0]:.6g}, θ({c.s[-1]:.3g}) = {c.theta[-1]:.6g}{kink}"
        if sizes is not None:
            V["size_src"].data = {"xs": [n.s] * len(n.sizes), "ys": list(n.activity),
                                  "label": [f"L = {k}" for k in n.sizes], "color": list(_COLORS[:len(n.sizes)])}
        self.push(V["theta"], V["rate"], V["phase"], V["summary"])

    # ---- cloning ---------------------------------------------------------------------------------
    def run_cloning(self) -> Job | None:
        """The ``cloning`` task's population dynamics for the current parameters (``"cloning"`` job)."""
        try:
            p = self.spec_values(CLONING)
            return self.start_job(lambda _ctx: cloning_result(_key(CLONING, p)), on_done=lambda r: self._cloned(r, p),
                                  key="cloning", label=f"cloning: {p['n_runs']} runs of {p['n_clones']} clones")
        except (TypeError, ValueError, RuntimeError) as exc:  # refused values are shown by spec_values
            return self.report_error(exc) if isinstance(exc, RuntimeError) else None

    def _cloned(self, res: tuple, p: dict) -> None:
        (self.clone, self.clone_exact), self.clone_params = res, p
        self._draw_clone()

    def _current_clone(self) -> Any:
        with contextlib.suppress(TypeError, ValueError):
            return self.clone if self.clone_params == self._values(CLONING) else None

    def clone_summary(self) -> str:
        """One line: exact θ(s) and the pooled cloning estimate (or what Run cloning will do)."""
        r = self._current_clone()
        if r is None and self.model in QUANTUM_MODELS:
            return ("cloning runs on the Markov presets; for quantum jumps call "
                    "nephlab.largedev.cloning_quantum.quantum_cloning")
        if r is None:
            return f"press Run cloning: θ(s = {self.s:g}) by {self.n_runs} runs of {self.n_clones} clones"
        return (f"exact θ({r.s:g}) = {self.clone_exact:.6g}; cloning: {r.scgf:.6g} ± {r.stderr:.2g} (statistical; "
                f"{r.n_runs} runs of {r.n_clones} clones, t = {r.t_max:g}: finite-size bias not included)")

    def _draw_clone(self) -> None:
        V = self._views
        if V is None:
            return
        r = self._current_clone()
        n = 0 if r is None else r.n_runs
        V["clone_src"].data = {"xs": [r.times] * n if r else [], "ys": list(r.running_scgf) if r else [],
                               "color": [_COLORS[i % len(_COLORS)] for i in range(n)]}
        V["exact"].location = self.clone_exact if r else None
        V["clone_summary"].text = self.clone_summary()
        self.push(V["clone"], V["clone_summary"])

    # ---- committor -------------------------------------------------------------------------------
    def compute_committor(self) -> Job | None:
        """The Müller–Brown committor and ``n_paths`` transition paths (``"committor"`` job)."""
        key, n = _key(COMMITTOR, self._values(COMMITTOR, _MB)), self.n_paths

        def work(ctx):
            com, paths = committor_result(key), []
            ctx.emit((com, []), progress=0.3, status="committor ready; sampling paths")
            for i in range(n):
                ctx.check()
                paths.append(committor_path(key, i))
                ctx.emit((com, list(paths)), progress=0.3 + 0.7 * (i + 1) / n)
            return com, paths

        try:
            return self.start_job(work, on_update=self._show_committor, on_done=self._show_committor,
                                  label="committor", key="committor")
        except RuntimeError as exc:  # already running
            return self.report_error(exc)

    def _show_committor(self, res: tuple) -> None:
        self.committor, self.paths = res
        if self._views is not None and self.committor is not None:
            (prob, q), V = self.committor, self._views
            x, y = prob.x, prob.y
            V["q_src"].data = {"image": [q.T], "x": [x[0]], "y": [y[0]], "dw": [x[-1] - x[0]], "dh": [y[-1] - y[0]]}
            V["paths_src"].data = {"xs": [p[:, 1] for p in self.paths], "ys": [p[:, 2] for p in self.paths]}
            V["committor"].object.title.text = f"Müller–Brown committor, β = {prob.beta:g}: {len(self.paths)} paths"
            self._draw_path()

    def _draw_path(self) -> None:
        V = self._views
        if V is None:
            return
        data = {"x": [], "y": []}
        if self.paths:
            path = self.paths[min(self.path_index, len(self.paths) - 1)]
            V["player"].end = max(1, len(path) - 1)
            i = min(self.frame, len(path) - 1)
            data = {"x": path[: i + 1, 1], "y": path[: i + 1, 2]}
        V["path_src"].data, V["point_src"].data = data, {"x": data["x"][-1:], "y": data["y"][-1:]}
        self.push(V["committor"])

    # ---- data, figures, exports ------------------------------------------------------------------
    def to_dataset(self):
        """θ(s), I(x), the s-ensemble, the cloning runs and the committor as an ``xarray.Dataset``.

        Example:
            >>> ex = LargeDeviationExplorer(n_s=5); _ = ex.wait()
            >>> ex.to_dataset()["theta"].dims, ex.to_dataset().attrs["model"]
            (('s',), 'two_state')
        """
        import xarray as xr

        if self.curve is None:
            raise ValueError("no θ(s) yet: call wait() first")
        c, r, v = self.curve, self.rate_fn, self._values(SCGF)
        ds = xr.Dataset({"theta": ("s", c.theta), "dtheta": ("s", c.dtheta), "I": ("x", r.I)},
                        coords={"s": c.s, "x": r.x}, attrs={k: v[k] for k in SCGF.active(v)})
        ds.attrs.update(kink=int(r.kink), convention="theta(s) = lim (1/t) ln E[exp(-s A_t)]")
        if self.sizes is not None:
            ds["activity_per_site"] = (("L", "s_sizes"), self.sizes.activity)
            ds = ds.assign_coords(L=self.sizes.sizes, s_sizes=self.sizes.s)
        if self.clone is not None:
            ds["clone_scgf"] = ("run", self.clone.scgf_runs)
            ds.attrs.update(clone_exact=self.clone_exact, clone_s=self.clone.s)
        if self.committor is not None:
            ds["committor"] = (("mb_x", "mb_y"), self.committor[1])
            ds = ds.assign_coords(mb_x=self.committor[0].x, mb_y=self.committor[0].y)
        return ds

    def figure(self):
        """A Matplotlib figure: θ(s), I(x) and the s-ensemble."""
        from matplotlib.figure import Figure

        ds, fig = self.to_dataset(), Figure(figsize=(10, 3.2))
        ax1, ax2, ax3 = fig.subplots(1, 3)
        ax1.plot(ds.s, ds.theta), ax1.set(xlabel="s", ylabel="θ(s)")
        ax2.plot(ds.x, ds.I), ax2.set(xlabel="x", ylabel="I(x)")
        for n in ds.coords.get("L", []):
            ax3.plot(ds.s_sizes, ds.activity_per_site.sel(L=n), label=f"L = {int(n)}")
        ax3.set(xlabel="s", ylabel="-θ'(s)/L"), ax3.legend(fontsize=7)
        fig.suptitle(self.model), fig.tight_layout()
        return fig

    def export_playback(self, path: str | Path, n_frames: int = 30, fps: float = 10.0) -> Path:
        """The selected transition path replayed over the committor, as GIF or MP4."""
        from matplotlib.figure import Figure

        if self.committor is None or not self.paths:
            raise ValueError("no transition path yet: run compute_committor() first")
        (prob, q), tp = self.committor, self.paths[min(self.path_index, len(self.paths) - 1)]
        frames = []
        for i in np.linspace(1, len(tp), n_frames).astype(int):
            ax = Figure(figsize=(4, 3.2), dpi=60).subplots()
            ax.contourf(prob.x, prob.y, q.T, levels=20, cmap="RdBu_r")
            ax.plot(tp[:i, 1], tp[:i, 2], "k-", lw=1), ax.plot(tp[i - 1, 1], tp[i - 1, 2], "yo")
            frames.append(ax.figure)
        return export_animation(frames, path, fps=fps)

    # ---- view ------------------------------------------------------------------------------------
    def _download(self, suffix: str, anim: bool = False):
        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / f"largedev{suffix}"
                (self.export_playback(out) if anim else self.export(out))
                return io.BytesIO(out.read_bytes())
        return pn.widgets.FileDownload(callback=cb, filename=f"largedev{suffix}", label=f"Export {suffix[1:]}",
                                       color="light", css_classes=[f"nl-export-{suffix[1:]}"])

    def sidebar(self) -> list:
        if self._side is None:
            buttons = []
            for name, css, fn in (("Run cloning", "nl-clone-run", self.run_cloning),
                                  ("Compute committor", "nl-committor-run", self.compute_committor)):
                buttons.append(pn.widgets.Button(label=name, color="primary", css_classes=[css]))
                buttons[-1].on_click(lambda _e, fn=fn: fn())
            npaths = pn.widgets.IntInput.from_param(self.param.n_paths, name="paths to draw")
            md = pn.pane.Markdown
            # the cloning and committor options (all but the cloning's s) are built when first opened
            card = dict(width=290, margin=(5, 0))
            options = [n for n in _CLONE if n != "s"]
            self._side = [md("**Model and s grid** (task `scgf`)"), *self.control_views(self._ctl[0]),
                          md("**Cloning** (task `cloning`)"), *self.control_views(["s"]),
                          lazy_card("cloning options", lambda: self.control_views(options),
                                    css_classes=["nl-section-cloning"], **card), buttons[0],
                          md("**Committor** (task `committor`, Müller–Brown)"),
                          lazy_card("committor options", lambda: [*self.control_views(self._ctl[2]), npaths],
                                    css_classes=["nl-section-committor"], **card), buttons[1]]
        return self._side

    def main(self) -> pn.viewable.Viewable:
        if self._views is None:
            self._views = self._build_views()
            self._show_theta((self.curve, self.rate_fn, self.sizes, self.curve_model)), self._draw_clone()
            self._show_committor((self.committor, self.paths))
        return self._views["layout"]

    def _build_views(self) -> dict[str, Any]:
        from bokeh.models import ColumnDataSource, LinearColorMapper, Span
        from bokeh.plotting import figure

        src = {k: ColumnDataSource(data={c: [] for c in cols.split()}) for k, cols in (
            ("theta", "s theta"), ("rate", "x I"), ("size", "xs ys label color"), ("clone", "xs ys color"),
            ("q", "image x y dw dh"), ("paths", "xs ys"), ("path", "x y"), ("point", "x y"))}
        opts = dict(height=300, sizing_mode="stretch_width", tools="pan,wheel_zoom,box_zoom,reset,save,hover")
        f_th = figure(title="SCGF θ(s)", x_axis_label="s", y_axis_label="θ(s) [1/time]", **opts)
        f_th.line("s", "theta", source=src["theta"], line_width=2)
        f_th.add_layout(Span(location=0, dimension="width", line_color="gray", line_dash="dotted"))
        f_I = figure(title="rate function I(x)", x_axis_label="x", y_axis_label="I(x) [1/time]", **opts)
        f_I.line("x", "I", source=src["rate"], line_width=2)
        f_ph = figure(title="s-ensemble: -θ'(s)/L", x_axis_label="s", y_axis_label="rate per site", **opts)
        f_ph.multi_line("xs", "ys", source=src["size"], color="color", legend_field="label", line_width=2)
        f_cl = figure(title="cloning: running θ estimate per run (exact: dashed)", x_axis_label="t",
                      y_axis_label="θ estimate [1/time]", **opts)
        f_cl.multi_line("xs", "ys", source=src["clone"], color="color", line_width=1.5)
        exact = Span(location=None, dimension="width", line_color="black", line_dash="dashed")
        f_cl.add_layout(exact)
        f_q = figure(title="Müller–Brown committor: press Compute committor", x_range=(-1.5, 1.2),
                     y_range=(-0.2, 2.0), x_axis_label="x", y_axis_label="y", height=420, sizing_mode="stretch_width")
        f_q.image("image", x="x", y="y", dw="dw", dh="dh", source=src["q"],
                  color_mapper=LinearColorMapper(palette="RdBu11", low=0.0, high=1.0))
        f_q.multi_line("xs", "ys", source=src["paths"], color="black", alpha=0.35)
        f_q.line("x", "y", source=src["path"], color="yellow", line_width=2)
        f_q.scatter("x", "y", source=src["point"], color="yellow", size=10)
        auto_glyphs(f_th, f_I, f_ph, f_cl, f_q)
        player = pn.widgets.Player(label="playback", start=0, end=200, value=0, loop_policy="once", interval=50,
                                   css_classes=["nl-player"])
        player.link(self, value="frame")
        V = {f"{k}_src": v for k, v in src.items()}
        V.update(exact=exact, player=player, clone_summary=TextLine("", css_classes=["nl-clone-summary"]),
                 summary=TextLine("computing θ(s) ...", css_classes=["nl-theta-summary"]))
        for k, f, css in (("theta", f_th, "nl-theta"), ("rate", f_I, "nl-rate-function"), ("phase", f_ph,
                          "nl-phase-diagram"), ("clone", f_cl, "nl-clone-plot"), ("committor", f_q, "nl-committor")):
            f.css_classes = [*f.css_classes, css]  # the DOM hook on the plot itself (a pane's class is not)
            V[k] = pn.pane.Bokeh(f, css_classes=[css])
        exports = pn.Row(*(self._download(s) for s in (".png", ".svg", ".nc")))
        anims = pn.Row(self._download(".gif", True), self._download(".mp4", True))
        path_pick = pn.widgets.IntInput.from_param(self.param.path_index, name="path", width=100)
        V["layout"] = tabs(
            ("θ(s) and I(x)", pn.Column(V["summary"], pn.Row(V["theta"], V["rate"]), V["phase"], exports)),
            ("Cloning", pn.Column(V["clone_summary"], V["clone"])),
            ("Committor and paths", pn.Column(V["committor"], pn.Row(player, path_pick), anims)),
            # served: a tab is built when first shown (a notebook gets every tab at once)
            dynamic=_session_doc() is not None, sizing_mode="stretch_width")
        return V
