"""``ProtocolDesigner``: draw a finite-time protocol λ(t) and see its exact work on every edit.

A thin component over :mod:`nephlab.control.designer` and :mod:`nephlab.control.landau_zener`:
every number it shows comes from those functions, called with the parameters of three tasks, and
its controls are generated from their specs:

- ``optimal_protocol`` (``problem``, ``tau``; ``lam_i``, ``lam_f``, ``k`` for
  ``"trap_translation"``, ``U = k (x - λ)²/2``; ``k_i``, ``k_f`` for ``"stiffness"``,
  ``U = λ x²/2``; ``gamma``, ``kBT``): λ(t) is piecewise linear through draggable control points
  (Bokeh ``PointDrawTool``) between the fixed end values (:func:`~nephlab.control.points_protocol`);
  every edit shows the exact ⟨W⟩, Var W, ⟨W⟩ - ΔF and the speed limit L²/τ
  (:func:`~nephlab.control.evaluate_protocol`, a few ms), over the linear ramp, the
  Schmiedl–Seifert optimum, ``optimize_protocol`` and the Pontryagin optimum
  (:func:`~nephlab.control.reference_protocols`, computed in the background, cached per process);
- ``langevin_work`` (``n_traj``, ``n_steps``, ``method``, ``seed``, ``n_boot``): validation of the
  drawn protocol by a Langevin ensemble and the Jarzynski estimate of ΔF
  (:func:`~nephlab.control.langevin_check`, in :data:`LANGEVIN_CHUNKS` chunks);
- ``landau_zener`` (``delta0``, ``omega``, ``T``, ``n_slices``): the quantum tab, a Landau–Zener
  transfer by a linear sweep, counterdiabatic driving and GRAPE (:func:`~nephlab.control.landau_zener`).

``n_points`` (the number of draggable points) is the only setting of the component's own.
Units: ħ = k_B = 1; see ``nephlab tasks optimal_protocol`` for every parameter's units and bounds.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from nephlab.control import (
    REFERENCE_NAMES,
    LandauZenerResult,
    LangevinCheck,
    evaluate_protocol,
    landau_zener,
    langevin_check,
    points_protocol,
    reference_protocols,
)
from nephlab.tasks import get_task

from ._base import (Cancelled, Component, Job, JobContext, _session_doc, auto_glyphs, holoviews, hv_pane, lazy_card, live_text,
                    tabs)
from ._controls import param_for

__all__ = ["LANGEVIN_CHUNKS", "LANGEVIN_PARAMS", "PHYSICS_PARAMS", "ProtocolDesigner", "QUANTUM_PARAMS",
           "ramp_points"]

OPT = get_task("optimal_protocol").spec
LANGEVIN = get_task("langevin_work").spec
QUANTUM = get_task("landau_zener").spec
PPO = get_task("ppo_protocol").spec
PHYSICS_PARAMS = ("problem", "tau", "lam_i", "lam_f", "k", "k_i", "k_f", "gamma", "kBT")
"""Parameters of the ``optimal_protocol`` task the designer shows (``n_times`` is its own grid)."""
LANGEVIN_PARAMS = ("n_traj", "n_steps", "method", "seed", "n_boot")
"""Parameters of the ``langevin_work`` task used by the Langevin validation."""
QUANTUM_PARAMS = ("delta0", "omega", "T", "n_slices")
NEURAL_PARAMS = ("n_decisions", "total_steps", "n_envs")
"""The ``ppo_protocol`` parameters of the neural protocol's controls (its physics is the designer's)."""
NEURAL = "neural (PPO)"
PRETRAINED = {"trap_translation": "trap-translation", "stiffness": "trap-stiffness"}
"""The shipped policy (:func:`nephlab.learn.pretrained`) that *Load pretrained* uses per problem."""
"""Parameters of the ``landau_zener`` task shown in the quantum tab (the others keep their defaults)."""
LANGEVIN_CHUNKS = 8
"""Chunks of the Langevin validation (progress and cancellation granularity)."""
_COLORS = {"designer": "#1f77b4", "linear ramp": "#7f7f7f", "optimal (Schmiedl-Seifert)": "#d62728",
           "optimize_protocol": "#2ca02c", "Pontryagin": "#9467bd", NEURAL: "#ff7f0e"}
_SLUGS = {"linear ramp": "linear_ramp", "optimal (Schmiedl-Seifert)": "optimal", "optimize_protocol": "optimized",
          "Pontryagin": "pontryagin", NEURAL: "neural"}


def _protocol_kw(values: dict[str, Any]) -> dict[str, Any]:
    """Keywords of the :mod:`nephlab.control.designer` functions from ``optimal_protocol`` values."""
    return {n: values[n] for n in PHYSICS_PARAMS if n != "problem"}


def ramp_points(values: dict[str, Any], n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` control points on the linear ramp, equally spaced in t, for ``optimal_protocol`` values.

    Example:
        >>> t, lam = ramp_points(OPT.validate({"lam_f": 5.0}), 3)
        >>> t.tolist(), lam.tolist()
        ([0.0, 0.5, 1.0], [0.0, 2.5, 5.0])
    """
    a, b = ((values["lam_i"], values["lam_f"]) if values["problem"] == "trap_translation"
            else (values["k_i"], values["k_f"]))
    t = np.linspace(0.0, values["tau"], n_points)
    return t, a + (b - a) * t / values["tau"]


def _cost_or_none(p: Any) -> Any:
    try:
        return evaluate_protocol(p)
    except ValueError:  # e.g. a stiffness protocol that crosses zero: no exact moments
        return None


def _fmt(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.6g}"


def _live_text(value: Any, css: str, render: Any = str) -> pn.widgets.StaticText:
    """Text that changes with a param (``render(value)``, fixed-width), updated on every edit:
    :func:`nephlab.widgets._base.live_text` (a change sends only the text; a ``pn.pane.Str``'s
    first change re-sent its stylesheets, all paid by a session's first edit).

    Example:
        >>> import param
        >>> class P(param.Parameterized):
        ...     work = param.Number(1.5)
        >>> _live_text(P().param.work, "nl-work", "⟨W⟩ = {}".format).value
        '<pre>⟨W⟩ = 1.5</pre>'
    """
    return live_text(render, value, css_classes=[css])


class ProtocolDesigner(Component):
    """Draw λ(t) for a Brownian particle in a harmonic trap; see the exact work on every edit.

    Parameters: those of the ``optimal_protocol`` task (:data:`PHYSICS_PARAMS`), of the
    ``langevin_work`` task (:data:`LANGEVIN_PARAMS`) and of the ``landau_zener`` task
    (:data:`QUANTUM_PARAMS`), same names, defaults, bounds and units; plus ``n_points``.

    State (read-only outputs): ``points`` (``(n_points, 2)``: t, λ), ``work``, ``work_var``,
    ``delta_f``, ``dissipation``, ``bound``, ``length`` (:class:`~nephlab.control.ProtocolCost`),
    ``latency_ms`` (wall time of the last edit's evaluation), ``references`` (name -> Protocol)
    and ``reference_costs``, ``langevin`` (:class:`~nephlab.control.LangevinCheck`), ``quantum``
    (:class:`~nephlab.control.LandauZenerResult`). ``auto_references``: compute the references in
    the background once the view is built (after the page was sent).

    Python API: :meth:`set_points`, :meth:`move_point`, :meth:`protocol`,
    :meth:`compute_references`, :meth:`validate_langevin`, :meth:`compute_quantum`,
    :meth:`comparison`, :meth:`figure`, :meth:`to_dataset`, :meth:`export`.

    DOM hooks: ``nl-work``, ``nl-dissipation``, ``nl-bound``, ``nl-latency``, the Bokeh figure
    ``nl-protocol-figure`` (control points: renderer ``nl-control-points``), ``nl-protocol-plot``,
    ``nl-protocol-table``, ``nl-reference-status``, ``nl-validate``, ``nl-langevin``,
    ``nl-quantum-run``, ``nl-quantum-table``, ``nl-param-<name>``, and the status area's.

    Example:
        >>> import math
        >>> d = ProtocolDesigner(n_points=2, lam_f=5.0)
        >>> d.set_points([0.0, 1.0], [0.0, 5.0])   # the linear ramp 0 -> 5 in tau = 1
        >>> round(d.work, 9) == round(25 / math.e, 9)
        True
    """

    title = "Protocol designer"

    problem = param_for(OPT.param("problem"))
    tau = param_for(OPT.param("tau"))
    lam_i = param_for(OPT.param("lam_i"))
    lam_f = param_for(OPT.param("lam_f"))
    k = param_for(OPT.param("k"))
    k_i = param_for(OPT.param("k_i"))
    k_f = param_for(OPT.param("k_f"))
    gamma = param_for(OPT.param("gamma"))
    kBT = param_for(OPT.param("kBT"))
    n_traj = param_for(LANGEVIN.param("n_traj"))
    n_steps = param_for(LANGEVIN.param("n_steps"))
    method = param_for(LANGEVIN.param("method"))
    seed = param_for(LANGEVIN.param("seed"))
    n_boot = param_for(LANGEVIN.param("n_boot"))
    delta0 = param_for(QUANTUM.param("delta0"))
    omega = param_for(QUANTUM.param("omega"))
    T = param_for(QUANTUM.param("T"))
    n_slices = param_for(QUANTUM.param("n_slices"))
    n_decisions = param_for(PPO.param("n_decisions"))
    total_steps = param_for(PPO.param("total_steps"))
    n_envs = param_for(PPO.param("n_envs"))
    n_points = param.Integer(default=6, bounds=(2, 32), doc="number of draggable control points")

    points = param.Array(default=None, doc="control points (n_points, 2): columns t, λ")
    work = param.Number(default=float("nan"), doc="⟨W⟩ of the drawn protocol (energy)")
    work_var = param.Number(default=float("nan"), doc="Var W (energy²)")
    delta_f = param.Number(default=float("nan"), doc="ΔF (energy)")
    dissipation = param.Number(default=float("nan"), doc="⟨W⟩ - ΔF (energy)")
    bound = param.Number(default=float("nan"), doc="speed limit L²/τ (energy)")
    length = param.Number(default=float("nan"), doc="thermodynamic length of the drawn path")
    latency_ms = param.Number(default=float("nan"), doc="wall time of the last edit's evaluation (ms)")
    auto_references = param.Boolean(default=True, doc="compute the references in the background once the view "
                                    "is built")
    references = param.Dict(default={}, doc="reference protocols by name")
    reference_costs = param.Dict(default={}, doc="ProtocolCost (or None) of each reference")
    reference_status = param.String(default="not computed", doc="state of the reference computation")
    langevin = param.ClassSelector(class_=LangevinCheck, default=None, doc="last Langevin validation")
    quantum = param.ClassSelector(class_=LandauZenerResult, default=None, doc="last quantum comparison")
    neural = param.Dict(default={}, doc="the neural (PPO) protocol: edges, lam, work, source ('trained'/'pretrained')")
    training = param.List(default=[], doc="training curve: (environment steps, mean work per episode)")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._fig = None
        self._plot = None
        self._sources: dict[str, Any] = {}
        self._syncing = False
        self._doc = None
        self._table: pn.pane.DataFrame | None = None
        self._ref_key: tuple | None = None
        self.latencies_ms: list[float] = []
        self.spec_controls(OPT, PHYSICS_PARAMS, width=260)
        self.spec_controls(LANGEVIN, LANGEVIN_PARAMS, width=260)
        self.spec_controls(QUANTUM, QUANTUM_PARAMS, width=260)
        self.spec_controls(PPO, NEURAL_PARAMS, width=260)
        self._train_fig = None
        self._train_plot: Any = None
        self._train_opt: Any = None
        self._train_src: Any = None
        if self.points is None:
            self._reset_points()
        else:
            self.set_points(np.asarray(self.points)[:, 0], np.asarray(self.points)[:, 1])

    # ---- parameters -----------------------------------------------------------------------------
    def _kw(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in PHYSICS_PARAMS if n != "problem"}

    def _reset_points(self) -> None:
        self.set_points(*ramp_points({n: getattr(self, n) for n in PHYSICS_PARAMS}, self.n_points))

    @param.depends("problem", "tau", "lam_i", "lam_f", "k_i", "k_f", "n_points", watch=True)
    def _on_shape(self) -> None:
        self._reset_points()
        self._refresh_references()
        self._drop_neural()

    @param.depends("k", "gamma", "kBT", watch=True)
    def _on_physics(self) -> None:
        self._evaluate()
        self._refresh_references()
        self._drop_neural()

    def _drop_neural(self) -> None:
        """The neural protocol belongs to the parameters it was trained for: drop it when they change."""
        if getattr(self, "_loading_pretrained", False):
            return
        if self.neural or self.training:
            with param.parameterized.batch_call_watchers(self):
                self.param.update(neural={}, training=[])
            self._sync_plot()

    # ---- editing --------------------------------------------------------------------------------
    def protocol(self):
        """The drawn protocol (:func:`nephlab.control.points_protocol` of the control points)."""
        pts = np.asarray(self.points, dtype=float)
        return points_protocol(self.problem, pts[:, 0], pts[:, 1], **self._kw())

    def set_points(self, times: Any, values: Any) -> None:
        """Replace the control points and re-evaluate (the programmatic equivalent of a drag).

        Args:
            times: shape ``(m,)``, each in ``[0, tau]`` (time).
            values: shape ``(m,)``, λ at those times (length, or stiffness > 0).

        Raises:
            ValueError: naming the argument and the allowed range (nothing changes).

        Example:
            >>> d = ProtocolDesigner(n_points=3, problem="stiffness")
            >>> d.set_points([0.0, 0.5, 1.0], [1.0, 2.5, 4.0])
            >>> d.points.shape
            (3, 2)
        """
        t0 = time.perf_counter()
        t = np.asarray(times, dtype=float).ravel()
        v = np.asarray(values, dtype=float).ravel()
        prot = points_protocol(self.problem, t, v, **self._kw())  # validates
        self.points = np.stack([t, v], axis=1)
        self._evaluate(prot, t0)

    def move_point(self, index: int, t: float | None = None, lam: float | None = None) -> None:
        """Move control point ``index`` to time ``t`` and/or value ``lam`` (None keeps it).

        Example:
            >>> d = ProtocolDesigner(n_points=4)
            >>> before = d.work
            >>> d.move_point(1, lam=0.9)
            >>> d.work != before
            True
        """
        pts = np.array(self.points, dtype=float)
        if not isinstance(index, (int, np.integer)) or not -len(pts) <= index < len(pts):
            raise ValueError(f"index={index!r}; allowed: an int in [0, {len(pts) - 1}]")
        if t is not None:
            pts[index, 0] = t
        if lam is not None:
            pts[index, 1] = lam
        self.set_points(pts[:, 0], pts[:, 1])

    def _evaluate(self, prot: Any = None, t0: float | None = None) -> None:
        t0 = time.perf_counter() if t0 is None else t0
        try:
            prot = self.protocol() if prot is None else prot
            c = evaluate_protocol(prot)
        except ValueError as exc:
            self.report_error(exc)
            return
        # one websocket message for the plot, the numbers, the table and the latency (served; a
        # no-op elsewhere), instead of one per widget and one per data source
        with pn.io.unlocked():
            with param.parameterized.batch_call_watchers(self):
                self.param.update(work=c.work, work_var=c.work_var, delta_f=c.delta_f, dissipation=c.dissipation,
                                  bound=c.bound, length=c.length)
            self._sync_plot(prot)
            self.latency_ms = 1e3 * (time.perf_counter() - t0)
        self.latencies_ms.append(self.latency_ms)

    # ---- references -----------------------------------------------------------------------------
    def _ref_args(self) -> tuple:
        return (self.problem, *sorted(self._kw().items()))

    def compute_references(self) -> dict[str, Any]:
        """Compute the four reference protocols now (blocking; seconds on a first call, then cached)."""
        self._apply_references(self._reference_result(self._ref_args()))
        return self.references

    @staticmethod
    def _reference_result(args: tuple) -> tuple:
        refs = reference_protocols(args[0], **dict(args[1:]))
        return args, refs, {name: _cost_or_none(p) for name, p in refs.items()}

    def _apply_references(self, res: tuple) -> None:
        args, refs, costs = res
        if args != self._ref_args():  # the parameters changed meanwhile: compute those
            job = self.jobs.get("references")
            if job is not None and not job.done:  # called as the job's on_done: restart once it finished
                def wait(_ctx: JobContext) -> None:
                    with contextlib.suppress(BaseException):  # its outcome is not needed, only its end
                        job.wait()

                Job(wait, on_done=lambda _: self._refresh_references(),
                    doc=self._doc if self._doc is not None else "auto").start()
            else:
                self._refresh_references()
            return
        self._ref_key = args
        with param.parameterized.batch_call_watchers(self):
            self.param.update(references=refs, reference_costs=costs, reference_status="ready")
        self._sync_plot()

    def _refresh_references(self) -> None:
        """Recompute the references in the background when the physics changed (once the view is built)."""
        if self._fig is None or not self.auto_references:
            self.param.update(references={}, reference_costs={}, reference_status="not computed")
            return
        args = self._ref_args()
        if args == self._ref_key:
            return
        job = self.jobs.get("references")
        if job is not None and not job.done:
            return  # it ends in _apply_references, which sees the new parameters and restarts
        self.reference_status = "computing references (optimize_protocol, Pontryagin) ..."
        def work(ctx: JobContext) -> tuple:
            res = self._reference_result(args)
            ctx.check()  # a cancelled job (the session ended) applies nothing
            return res

        self.start_job(work, on_done=self._apply_references,
                       on_error=lambda exc: setattr(self, "reference_status", f"error: {exc}"),
                       label="computing the reference protocols", key="references")

    def comparison(self):
        """Comparison table (pandas DataFrame): ⟨W⟩, Var W, ⟨W⟩ - ΔF and L²/τ of the drawn and the
        reference protocols (:class:`~nephlab.control.ProtocolCost`; NaN where a reference has none).

        Example:
            >>> ProtocolDesigner(n_points=2).comparison().index.tolist()
            ['designer']
        """
        import pandas as pd

        rows = {"designer": (self.work, self.work_var, self.dissipation, self.bound)}
        for name, p in self.references.items():
            c = self.reference_costs.get(name)
            rows[name] = (p.work, np.nan, np.nan, np.nan) if c is None else (c.work, c.work_var, c.dissipation,
                                                                            c.bound)
        if self.neural:
            w = self.neural["work"]
            rows[NEURAL] = (w, np.nan, w - self.delta_f, np.nan)
        return pd.DataFrame.from_dict(rows, orient="index", columns=["work", "work_var", "dissipation",
                                                                     "bound L²/τ"])

    # ---- the neural (PPO) protocol --------------------------------------------------------------
    def _neural_values(self) -> dict[str, Any]:
        return self.spec_values(PPO)

    @staticmethod
    def _neural_result(policy: Any, values: dict[str, Any], source: str) -> dict[str, Any]:
        """The policy's mean-action protocol on the decision intervals and its exact mean work."""
        from nephlab.learn import evaluate_policy, policy_protocol
        from nephlab.tasks.ppo_protocol import env_and_params

        env, params = env_and_params(values)
        n, tau = values["n_decisions"], values["tau"]
        edges = np.linspace(0.0, tau, n + 1)
        lam = np.asarray(policy_protocol(policy, env, 0.5 * (edges[1:] + edges[:-1]), params=params), dtype=float)
        exact_env, exact_params = env_and_params(values, exact_moments=True)
        work = float(evaluate_policy(policy, exact_env, n_traj=2, seed=0, params=exact_params).mean)
        return {"edges": edges, "lam": lam, "work": work, "source": source, "policy": policy}

    def train_neural(self, background: bool = True):
        """Train a neural protocol by PPO (the ``ppo_protocol`` task's training, on the designer's
        physics and ``n_decisions``/``total_steps``/``n_envs``); the training curve (mean work per
        episode against environment steps) streams into :attr:`training`, the result lands in
        :attr:`neural` with its exact mean work (moment equations). Cancel stops training.

        Args:
            background: True: return the job at once (UI); False: block and return :attr:`neural`.

        Example:
            >>> d = ProtocolDesigner(n_points=3, n_decisions=2, total_steps=64, n_envs=16)
            >>> res = d.train_neural(background=False)  # doctest: +SKIP
            >>> len(d.training), res["source"]  # doctest: +SKIP
            (2, 'trained')
        """
        from nephlab.learn import train_ppo
        from nephlab.tasks.ppo_protocol import env_and_params

        values = self._neural_values()
        env, params = env_and_params(values)
        per_update = values["n_envs"] * values["n_decisions"]
        n_updates = values["total_steps"] // per_update
        if n_updates < 1:
            raise ValueError(f"total_steps={values['total_steps']} is less than one PPO update of n_envs * "
                             f"n_decisions = {per_update} environment steps")
        kBT = values["kBT"]
        self.param.update(neural={}, training=[])
        self._sync_plot()

        def work(ctx: JobContext) -> dict[str, Any]:
            curve: list[tuple[int, float]] = []

            def streamed(i: Any, mean_return: Any) -> None:  # called from inside the jitted loop
                ctx.check()
                curve.append(((int(i) + 1) * per_update, -float(mean_return) * kBT))
                ctx.emit(list(curve), progress=(int(i) + 1) / n_updates,
                         status=f"PPO: update {int(i) + 1} of {n_updates}, ⟨W⟩ = {curve[-1][1]:.4g}")

            try:
                res = train_ppo(env, total_steps=values["total_steps"], n_envs=values["n_envs"], seed=values["seed"],
                                params=params, callback=streamed)
            except Exception:
                ctx.check()  # a cancel surfaces as JAX's runtime error: report it as a cancel
                raise
            return {**self._neural_result(res.policy, values, "trained"), "curve": curve}

        def done(res: dict[str, Any]) -> None:
            curve = res.pop("curve")
            with param.parameterized.batch_call_watchers(self):
                self.param.update(training=curve, neural=res)
            self._sync_plot()

        job = self.start_job(work, on_update=lambda curve: setattr(self, "training", curve), on_done=done,
                             label="training PPO", key="neural")
        return job if background else (job.wait(), self.neural)[1]

    def load_pretrained(self, background: bool = True):
        """Load the shipped policy of the current problem (:data:`PRETRAINED`, via
        :func:`nephlab.learn.pretrained`): the designer takes the parameters it was trained for
        (τ, the end points, k, γ, k_BT, ``n_decisions``) and shows its protocol and exact work.

        Example:
            >>> d = ProtocolDesigner(n_points=3)
            >>> res = d.load_pretrained(background=False)  # doctest: +SKIP
            >>> d.lam_f, res["source"]  # doctest: +SKIP
            (5.0, 'pretrained')
        """
        from nephlab.learn import policy_header, pretrained, pretrained_path

        name = PRETRAINED[self.problem]
        policy, ep = pretrained(name), policy_header(pretrained_path(name))["env_params"]
        ends = ({"lam_i": ep["lam_i"], "lam_f": ep["lam_f"], "k": ep["k"]} if self.problem == "trap_translation"
                else {"k_i": ep["lam_i"], "k_f": ep["lam_f"]})
        self._loading_pretrained = True
        try:
            self.param.update(tau=ep["tau"], gamma=ep["gamma"], kBT=ep["kBT"], n_decisions=ep["n_steps"], **ends)
        finally:
            self._loading_pretrained = False
        self.param.update(neural={}, training=[])
        values = self._neural_values()

        def done(res: dict[str, Any]) -> None:
            self.neural = res
            self._sync_plot()

        job = self.start_job(lambda ctx: self._neural_result(policy, values, f"pretrained ({name})"),
                             on_done=done, label=f"loading {name}", key="neural")
        return job if background else (job.wait(), self.neural)[1]

    @param.depends("training", watch=True)
    def _sync_training(self) -> None:
        if self._train_src is None:
            return
        steps = [s for s, _ in self.training]
        self._train_src.data = {"steps": steps, "work": [w for _, w in self.training]}
        ss = self.reference_costs.get("optimal (Schmiedl-Seifert)")
        w_star = self.references["optimal (Schmiedl-Seifert)"].work if "optimal (Schmiedl-Seifert)" in self.references \
            else (ss.work if ss is not None else None)
        self._train_opt.data = ({"steps": [0, max(steps)], "work": [w_star, w_star]} if steps and w_star is not None
                                else {"steps": [], "work": []})
        self.push(self._train_plot)

    def _build_training_figure(self):
        from bokeh.models import ColumnDataSource
        from bokeh.plotting import figure

        fig = figure(width=640, height=220, name="nl-training-figure", x_axis_label="environment steps",
                     y_axis_label="mean work per episode", title="neural protocol: PPO training (press Train PPO)",
                     tools="pan,wheel_zoom,reset", toolbar_location="above")
        self._train_src = ColumnDataSource({"steps": [], "work": []})
        self._train_opt = ColumnDataSource({"steps": [], "work": []})
        fig.line("steps", "work", source=self._train_src, color=_COLORS[NEURAL], line_width=2, legend_label="PPO")
        fig.line("steps", "work", source=self._train_opt, color=_COLORS["optimal (Schmiedl-Seifert)"],
                 line_dash="dashed", line_width=2, legend_label="exact optimum W*")
        fig.legend.location = "top_right"
        auto_glyphs(fig)
        return fig

    # ---- Langevin validation and the quantum tab -------------------------------------------------
    def validate_langevin(self, background: bool = True):
        """Validate the drawn protocol by :func:`nephlab.control.langevin_check` with the
        ``langevin_work`` parameters, :data:`LANGEVIN_CHUNKS` chunks; partial results stream into
        ``self.langevin`` (a :class:`~nephlab.control.LangevinCheck`).

        Args:
            background: True: return the :class:`~widgets._base.Job` at once (UI); False: block
                and return the result.
        """
        lv = self.spec_values(LANGEVIN)
        prot = self.protocol()

        def work(ctx: JobContext):
            def chunk(part: LangevinCheck) -> None:
                ctx.check()
                ctx.emit(part, progress=part.n / part.n_traj, status=f"Langevin: {part.n} of {part.n_traj} "
                         "trajectories")

            return langevin_check(prot, **{n: lv[n] for n in LANGEVIN_PARAMS}, n_chunks=LANGEVIN_CHUNKS,
                                  on_chunk=chunk, compute=ctx.compute)

        job = self.start_job(work, on_update=lambda r: setattr(self, "langevin", r),
                             on_done=lambda r: setattr(self, "langevin", r), label="Langevin validation")
        return job if background else job.wait()

    def compute_quantum(self, background: bool = False):
        """:func:`nephlab.control.landau_zener` with the ``landau_zener`` parameters; result in ``self.quantum``."""
        q = self.spec_values(QUANTUM)
        job = self.start_job(
            lambda ctx: landau_zener(q["delta0"], q["omega"], q["T"], n_slices=q["n_slices"], n_prop=q["n_prop"],
                                     seed=q["seed"], max_iter=q["max_iter"]),
            on_done=lambda r: setattr(self, "quantum", r), label="counterdiabatic and GRAPE pulses", key="quantum")
        return job if background else job.wait()

    def release(self) -> None:
        """Drop the Langevin samples, the pulses and the references when the session ends."""
        self.param.update(langevin=None, quantum=None, references={}, reference_costs={})

    @classmethod
    def warm(cls) -> None:
        """Compile the edit path for both problems (default points) and cache the default references."""
        for problem in OPT.param("problem").choices:
            values = OPT.validate({"problem": problem})
            t, lam = ramp_points(values, cls.param.n_points.default)
            evaluate_protocol(points_protocol(problem, t, lam, **_protocol_kw(values)))
        for problem in OPT.param("problem").choices:
            values = OPT.validate({"problem": problem})
            cls._reference_result((problem, *sorted(_protocol_kw(values).items())))

    # ---- data and figures ------------------------------------------------------------------------
    def to_dataset(self, n_times: int = 201):
        """The drawn and reference protocols on a common grid, and the comparison, as a Dataset.

        Variables: ``lam_<name>(time)``, ``point_time``/``point_value`` (dim ``point``), ``work``,
        ``work_var``, ``dissipation``, ``bound`` (dim ``protocol``); attrs: the parameters.

        Example:
            >>> ds = ProtocolDesigner(n_points=3).to_dataset(n_times=11)
            >>> ds["lam_designer"].shape, ds.attrs["problem"]
            ((11,), 'trap_translation')
        """
        import xarray as xr

        t = np.linspace(0.0, self.tau, n_times)
        data = {"lam_designer": ("time", np.asarray(self.protocol().lam(t)))}
        for name, p in self.references.items():
            data["lam_" + _SLUGS[name]] = ("time", np.asarray(p.lam(t)))
        if self.neural:
            edges, lam = self.neural["edges"], self.neural["lam"]
            idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(lam) - 1)
            data["lam_neural"] = ("time", np.asarray(lam)[idx])
        table = self.comparison()
        for col, var in (("work", "work"), ("work_var", "work_var"), ("dissipation", "dissipation"),
                         ("bound L²/τ", "bound")):
            data[var] = ("protocol", table[col].to_numpy(dtype=float))
        pts = np.asarray(self.points)
        data["point_time"] = ("point", pts[:, 0])
        data["point_value"] = ("point", pts[:, 1])
        ds = xr.Dataset(data, coords={"time": t, "protocol": [str(i) for i in table.index]})
        ds.attrs.update({n: getattr(self, n) for n in PHYSICS_PARAMS})
        ds.attrs["delta_f"] = self.delta_f
        return ds

    def figure(self):
        """A Matplotlib figure of the drawn protocol, its control points and the references."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3.5))
        ax = fig.subplots()
        for name, p in self.references.items():
            ax.plot(p.times, p.values, "--", color=_COLORS[name], label=f"{name}: ⟨W⟩={p.work:.4g}")
        p = self.protocol()
        ax.plot(p.times, p.values, "-", color=_COLORS["designer"], lw=2, label=f"designer: ⟨W⟩={self.work:.4g}")
        pts = np.asarray(self.points)
        ax.plot(pts[:, 0], pts[:, 1], "o", color=_COLORS["designer"])
        ax.set_xlabel("t")
        ax.set_ylabel("λ(t)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    # ---- view ------------------------------------------------------------------------------------
    def _plot_data(self, p: Any = None) -> dict[str, dict[str, list]]:
        p = self.protocol() if p is None else p
        out = {"designer": {"t": p.times.tolist(), "lam": p.values.tolist()}}
        for name in REFERENCE_NAMES:
            ref = self.references.get(name)
            out[name] = {"t": [], "lam": []} if ref is None else {"t": ref.times.tolist(), "lam": ref.values.tolist()}
        if self.neural:  # piecewise constant: a step line through the interval edges
            e, lam = np.asarray(self.neural["edges"]), np.asarray(self.neural["lam"])
            out[NEURAL] = {"t": np.repeat(e, 2)[1:-1].tolist(), "lam": np.repeat(lam, 2).tolist()}
        else:
            out[NEURAL] = {"t": [], "lam": []}
        pts = np.asarray(self.points)
        out["points"] = {"t": pts[:, 0].tolist(), "lam": pts[:, 1].tolist()}
        return out

    def _sync_plot(self, prot: Any = None) -> None:
        if self._fig is None:
            return
        self._syncing = True
        try:
            for name, d in self._plot_data(prot).items():
                src = self._sources.get(name)  # the reference lines join the figure after the first paint
                if src is not None and dict(src.data) != d:
                    src.data = d
        finally:
            self._syncing = False
        self.push(self._plot)

    def _on_drag(self, attr: str, old: Any, new: Any) -> None:
        if self._syncing:
            return
        try:
            t, lam = np.asarray(new["t"], float), np.asarray(new["lam"], float)
            if t.size != lam.size or t.size != len(self.points):
                raise ValueError(f"the plot has {t.size} control points; the designer has {len(self.points)}")
            self.set_points(t, lam)
            if self.error.startswith("edit rejected"):
                self.error, self.status = "", "idle"
        except ValueError as exc:
            self.report_error(f"edit rejected: {exc}")

    def _build_figure(self):
        """The figure with the drawn protocol and its control points; :meth:`_add_reference_lines`
        adds the reference and neural lines (empty until computed) once the page was sent."""
        from bokeh.models import ColumnDataSource, PointDrawTool
        from bokeh.plotting import figure

        fig = figure(width=640, height=360, name="nl-protocol-figure", x_axis_label="t", y_axis_label="λ(t)",
                     tools="pan,wheel_zoom,reset", toolbar_location="above")
        data = self._plot_data()
        self._sources = {name: ColumnDataSource(data[name]) for name in ("designer", "points")}
        fig.line("t", "lam", source=self._sources["designer"], color=_COLORS["designer"], line_width=3,
                 legend_label="designer")
        rend = fig.scatter("t", "lam", source=self._sources["points"], size=14, color=_COLORS["designer"],
                           name="nl-control-points")
        tool = PointDrawTool(renderers=[rend], add=False, drag=True, empty_value=0.0)
        fig.add_tools(tool)
        fig.toolbar.active_tap = tool
        fig.toolbar.active_drag = tool
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        auto_glyphs(fig)  # the lines; the control points (point draw tool) keep their glyphs
        self._sources["points"].on_change("data", self._on_drag)
        return fig

    def _add_reference_lines(self) -> None:
        """Add the four reference lines and the neural one to the figure, under the drawn protocol
        and before it in the legend (as if drawn first, as ``figure.line`` with :func:`auto_glyphs`).

        Until the references are computed (after the page was sent) these lines are empty: a
        served page leaves out their 40 models (source, selection, view, glyph, legend item, ...)
        from its first paint and adds them with the references' computation (``defer``). They are
        built detached and attached in one held change (two events, one model-graph walk).
        """
        from bokeh.core.property.vectorization import value
        from bokeh.models import ColumnDataSource, GlyphRenderer, LegendItem, Line
        from panel.io.document import hold

        fig = self._fig
        if fig is None or NEURAL in self._sources:
            return
        data = self._plot_data()
        lines, items = [], []
        for name in (*REFERENCE_NAMES, NEURAL):
            self._sources[name] = ColumnDataSource(data[name])
            style = dict(line_dash="dashed", line_width=2) if name != NEURAL else dict(line_width=2.5)
            line = GlyphRenderer(data_source=self._sources[name], nonselection_glyph="auto", muted_glyph="auto",
                                 glyph=Line(x="t", y="lam", line_color=_COLORS[name], **style))
            lines.append(line)
            items.append(LegendItem(label=value(name), renderers=[line]))
        legend = fig.legend[0]
        with hold(fig.document, freeze=True):
            fig.renderers = lines + list(fig.renderers)  # drawn under the designer's line and points
            legend.items = items + list(legend.items)
        self.push(self._plot)

    def _show_references(self) -> None:
        self._add_reference_lines()
        self._refresh_references()
        if self._table is not None:
            # a markup pane's first update re-sends its stylesheets (the theme's joins those of the
            # first render): let that happen now, in the step after the first paint, not in the
            # first edit when the user drags before the references arrive
            self._table.param.trigger("object")

    def _download(self, suffix: str):
        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                return io.BytesIO(self.export(Path(tmp) / f"protocol{suffix}").read_bytes())
        return pn.widgets.FileDownload(callback=cb, filename=f"protocol{suffix}", label=f"Export {suffix[1:]}",
                                       color="light", css_classes=[f"nl-export-{suffix[1:]}"])

    def _button(self, label: str, css: str, action) -> pn.widgets.Button:
        button = pn.widgets.Button(label=label, color="primary", css_classes=[css], width=260)

        def click(_):
            try:
                action()
            except (RuntimeError, ValueError) as exc:  # a job of that kind runs, or a refused value
                self.report_error(exc)
        button.on_click(click)
        return button

    def sidebar(self) -> list[Any]:
        points = pn.widgets.IntInput.from_param(self.param.n_points, width=260, css_classes=["nl-param-n_points"])
        # one Column: the template adds each sidebar entry as a document root (cost grows with the count)
        # the three other tasks' sections are built when first opened: a page sends, and a browser
        # lays out, only the protocol's controls
        card = dict(width=290, margin=(5, 0))
        return [pn.Column(
            pn.pane.Markdown("### Protocol (`optimal_protocol`)"), *self.control_views(PHYSICS_PARAMS), points,
            lazy_card("Langevin validation (langevin_work)", lambda: [
                *self.control_views(LANGEVIN_PARAMS),
                self._button("Validate by Langevin + Jarzynski", "nl-validate", self.validate_langevin)],
                css_classes=["nl-section-langevin"], **card),
            lazy_card("Landau–Zener transfer (landau_zener)", lambda: [
                *self.control_views(QUANTUM_PARAMS),
                self._button("Compute CD and GRAPE pulses", "nl-quantum-run",
                             lambda: self.compute_quantum(background=True))],
                css_classes=["nl-section-quantum"], **card),
            lazy_card("Neural protocol (ppo_protocol)", lambda: [
                *self.control_views(NEURAL_PARAMS),
                self._button("Train PPO", "nl-train", self.train_neural),
                self._button("Load pretrained policy", "nl-pretrained", self.load_pretrained)],
                css_classes=["nl-section-neural"], **card),
            margin=0)]

    def main(self) -> pn.viewable.Viewable:
        if self._fig is None:
            self._doc = _session_doc()
            self._fig = self._build_figure()
            self._plot = pn.pane.Bokeh(self._fig, css_classes=["nl-protocol-plot"])
            self._train_fig = self._build_training_figure()
            self._train_plot = pn.pane.Bokeh(self._train_fig, css_classes=["nl-training"])
            self._sync_training()
            self.defer(self._show_references)  # after the page was sent (served); now in a notebook
        shown = (("nl-work", "⟨W⟩ = {}", "work"), ("nl-dissipation", "⟨W⟩ - ΔF = {}", "dissipation"),
                 ("nl-bound", "speed limit L²/τ = {}", "bound"), ("nl-latency", "edit latency {} ms", "latency_ms"))
        numbers = [_live_text(self.param[name], css, lambda x, f=f: f.format(_fmt(x))) for css, f, name in shown]
        table = self._table = pn.pane.DataFrame(
            pn.bind(lambda *_: self.comparison(), self.param.work, self.param.work_var, self.param.reference_costs),
            css_classes=["nl-protocol-table"], float_format="{:.6g}".format)
        classical = pn.Column(self._plot, pn.Row(*numbers),
                              _live_text(self.param.reference_status, "nl-reference-status"), table,
                              pn.Row(self._download(".png"), self._download(".svg"), self._download(".nc")),
                              pn.pane.Markdown(pn.bind(_langevin_text, self.param.langevin),
                                               css_classes=["nl-langevin"]),
                              pn.pane.Markdown(pn.bind(_neural_text, self.param.neural), css_classes=["nl-neural"]),
                              self._train_plot)
        quantum = pn.Column(pn.panel(pn.bind(_quantum_plot, self.param.quantum)),
                            pn.pane.DataFrame(pn.bind(_quantum_table, self.param.quantum),
                                              css_classes=["nl-quantum-table"]))
        return tabs(("Classical (harmonic trap)", classical), ("Quantum (Landau–Zener)", quantum), dynamic=True,
                    sizing_mode="stretch_width")


class _QuietCancel(logging.Filter):
    """JAX logs an exception raised in a ``jax.debug.callback`` before re-raising it; a cancel
    (:class:`Cancelled` raised by the training callback to stop PPO) is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, Cancelled)


logging.getLogger("jax._src.debugging").addFilter(_QuietCancel())


def _neural_text(res: dict) -> str:
    if not res:
        return "No neural protocol yet: *Train PPO* or *Load pretrained policy*."
    return (f"**{NEURAL}**, {res['source']}: {len(res['lam'])} decisions, exact ⟨W⟩ = {res['work']:.5g} "
            "(moment equations; the policy's mean action)")


def _langevin_text(res: LangevinCheck | None) -> str:
    if res is None:
        return "No Langevin validation yet."
    lines = [f"**Langevin ensemble**: {res.n} of {res.n_traj} trajectories, ⟨W⟩ = {res.work_mean:.5g} "
             f"± {res.work_stderr:.2g} (exact {res.work_exact:.5g})"]
    if res.complete:
        lo, hi = res.delta_f_ci
        lines.append(f"**Jarzynski** ΔF = {res.delta_f:.4g}, 95 % CI [{lo:.4g}, {hi:.4g}] "
                     f"(exact {res.delta_f_exact:.4g})")
        lines += [f"⚠ {w}" for w in res.warnings]
    return "\n\n".join(lines)


def _quantum_plot(res: LandauZenerResult | None):
    if res is None:
        return pn.pane.Markdown("Press *Compute CD and GRAPE pulses* to run the Landau–Zener comparison.")
    hv = holoviews()
    step = lambda y: (np.repeat(res.grape_edges, 2)[1:-1], np.repeat(y, 2))  # noqa: E731
    u = res.grape_controls
    curves = [hv.Curve((res.time, res.delta), "t", "amplitude", label="Δ(t) (linear sweep)"),
              hv.Curve((res.time, res.cd), "t", "amplitude", label="counterdiabatic c(t) σy"),
              hv.Curve(step(u[0]), "t", "amplitude", label="GRAPE u_z σz/2"),
              hv.Curve(step(u[1]), "t", "amplitude", label="GRAPE u_x σx/2")]
    return hv_pane(hv.Overlay(curves).opts(backend="bokeh", width=640, height=340, legend_position="bottom_right"),
                   css_classes=["nl-quantum-plot"])


def _quantum_table(res: LandauZenerResult | None):
    import pandas as pd

    return pd.DataFrame({"fidelity": {} if res is None else res.fidelity})

