"""``LindbladExplorer``: solve a Lindblad master equation live and look at ρ(t).

Inputs: the presets of the ``lindblad`` task (driven damped oscillator, qubit, coupled qubits,
spin chain; controls built from that task's spec, so bounds and units match the engine) or your
own operators (``LindbladExplorer(H=..., c_ops=..., rho0=..., e_ops={...})``); method; device.

Views: |ρ| heatmap and Hinton diagram with a time slider; entropy and purity; populations;
expectation values; a Bloch sphere (oblique projection) for two-level systems.

Run: the time axis is cut into ``n_chunks`` windows, solved one after the other with
:func:`nephlab.mesolve` (in a thread, or window by window on the Dask cluster when
``executor == "cluster"``); the plots follow at up to ~10 Hz; Cancel stops between windows.

Export: PNG/SVG/PDF of the views (Matplotlib), netCDF of the data, GIF/MP4 of |ρ(t)|.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from nephlab._config import DEVICE_CHOICES, available_devices, resolve_device
from nephlab.tasks import get_task
from nephlab.tasks.lindblad import solver_kwargs

from ._base import Component, JobContext, export_animation, export_dataset, export_figure, figure_to_rgb
from ._controls import controls_from_spec, link_controls, param_for


__all__ = ["LindbladExplorer", "restart_state", "solve_window"]

_SPEC = get_task("lindblad").spec
_P = _SPEC.param
PRESETS: tuple[str, ...] = tuple(_P("model").choices)
SPEC_NAMES: tuple[str, ...] = ("model", "n", "F", "gamma", "kerr", "delta", "J", "nth", "t_max", "n_times",
                               "method", "dt", "rtol", "atol")
_MAX_LINES = 12  # populations drawn: levels 0 .. 11
_MAX_EXPECT = 8  # expectation values drawn
_HINTON_MAX = 32  # the Hinton diagram shows at most the top-left 32 x 32 block


def _bloch_proj(x, y, z):
    """Oblique projection (azimuth 35°, elevation 20°) of Bloch vectors onto the page."""
    az, el = np.deg2rad(35.0), np.deg2rad(20.0)
    u = -np.asarray(x) * np.sin(az) + np.asarray(y) * np.cos(az)
    v = np.asarray(z) * np.cos(el) - (np.asarray(x) * np.cos(az) + np.asarray(y) * np.sin(az)) * np.sin(el)
    return u, v


def _session_doc_or_none():
    from ._base import _session_doc

    return _session_doc()


def _push_notebook(layout) -> None:
    """In Jupyter, send in-place changes of Bokeh models to the browser (no-op elsewhere)."""
    try:
        if pn.state._views:  # rendered in a notebook through a comm
            pn.io.push_notebook(layout)
    except Exception:  # noqa: BLE001 - not displayed in a notebook
        pass


def _devices() -> list[str]:
    """The device choices that work here (from :func:`nephlab._config.available_devices`)."""
    return list(available_devices())


def solve_window(H, rho, tlist, c_ops, e_ops, solver: dict, device: str = "cpu") -> dict[str, np.ndarray]:
    """One streaming window: :func:`nephlab.mesolve` from ``rho`` over ``tlist`` on ``device``.

    A plain module-level function (picklable), so the cluster executor can run it on a worker.

    Args:
        H: Hamiltonian (d, d) complex, energy units (ħ = 1).
        rho: state at ``tlist[0]`` (d, d).
        tlist: times (T,), increasing.
        c_ops: collapse operators, list of (d, d).
        e_ops: observables, list of (d, d).
        solver: ``method`` and its options (``rtol``, ``atol``, ``dt``).
        device: ``"auto"``, ``"cpu"`` or ``"gpu"`` (see :func:`nephlab._config.resolve_device`).

    Returns:
        ``{"states": (T, d, d) complex, "expect": (len(e_ops), T) complex, "entropy": (T,),
        "purity": (T,)}``.

    Example:
        >>> import numpy as np
        >>> sm = np.array([[0, 0], [1, 0]], complex)
        >>> out = solve_window(np.zeros((2, 2)), np.diag([1.0, 0]).astype(complex), np.linspace(0, 1, 3),
        ...                    [sm], [sm.T @ sm], {"method": "expm"})
        >>> bool(abs(out["expect"][0, -1].real - np.exp(-1)) < 1e-10)
        True
    """
    import jax

    import nephlab

    with jax.default_device(resolve_device(device, "device")):
        res = nephlab.mesolve(H, rho, tlist, c_ops, e_ops=list(e_ops) or None, **solver)
    states = np.asarray(res.states)
    expect = np.stack([np.asarray(e) for e in res.expect]).astype(complex) if e_ops else np.zeros((0, len(tlist)), complex)
    return {"states": states, "expect": expect, "entropy": np.asarray(res.entropy(), dtype=float),
            "purity": np.asarray(res.purity(), dtype=float)}


def restart_state(rho: np.ndarray, tol: float) -> tuple[np.ndarray, float]:
    """The state that starts the next streaming window, and the size of the correction made.

    An adaptive solver returns ρ only up to its tolerance, so the end state of a window can have
    eigenvalues slightly below zero, which :func:`nephlab.mesolve` (rightly) refuses as an
    initial state. Negative eigenvalues down to ``-tol`` (set from the solver tolerances) are
    set to zero and the trace restored; the returned correction (the largest eigenvalue
    change, recorded as ``max_psd_correction`` in the dataset attrs) is at solver-error level.
    Anything more negative raises ValueError: that is a failed solve, not round-off.

    Example:
        >>> r, c = restart_state(np.diag([1.0 + 1e-10, -1e-10]).astype(complex), tol=1e-8)
        >>> np.round(r.real, 12).tolist(), round(c, 15)
        ([[1.0, 0.0], [0.0, 0.0]], 1e-10)
    """
    herm = 0.5 * (rho + rho.conj().T)
    lam, vec = np.linalg.eigh(herm)
    if lam.min() >= 0.0:
        return herm, 0.0
    if lam.min() < -tol:
        raise ValueError(
            f"the state at the end of a window has eigenvalue {lam.min():.3g} < -{tol:.3g} (beyond the solver "
            "tolerance); tighten rtol/atol or reduce dt")
    fixed = np.clip(lam, 0.0, None)
    fixed /= fixed.sum()
    corr = float(np.abs(fixed - lam).max())
    return (vec * fixed) @ vec.conj().T, corr


@dataclass
class _Problem:
    H: np.ndarray
    c_ops: list[np.ndarray]
    rho0: np.ndarray
    e_ops: dict[str, np.ndarray]
    tlist: np.ndarray
    solver: dict
    params: dict
    bloch: bool


@dataclass
class _Data:
    """Buffers filled by the worker thread; ``n_done`` time points are valid."""

    times: np.ndarray
    states: np.ndarray
    expect: np.ndarray
    entropy: np.ndarray
    purity: np.ndarray
    e_names: list[str]
    params: dict
    bloch: bool
    n_done: int = 0
    extra: dict = field(default_factory=dict)


def _as_op(x: Any, name: str) -> np.ndarray:
    if type(x).__name__ == "Qobj":
        x = x.full()
    a = np.asarray(x)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array or QuTiP Qobj, got dtype {a.dtype}")
    return a.astype(np.complex128)


def _dataset(D: _Data):
    """The computed part of ``D`` as an ``xarray.Dataset`` (see :meth:`LindbladExplorer.to_dataset`)."""
    import xarray as xr

    N = D.n_done
    st = D.states[:N]
    d = st.shape[-1]
    idx = np.arange(d)
    vars_: dict[str, Any] = {
        "rho_real": (("time", "row", "col"), st.real.copy(), {"long_name": "Re ρ(t)"}),
        "rho_imag": (("time", "row", "col"), st.imag.copy(), {"long_name": "Im ρ(t)"}),
        "entropy": ("time", D.entropy[:N].copy(), {"long_name": "von Neumann entropy", "units": "nats"}),
        "purity": ("time", D.purity[:N].copy(), {"long_name": "purity Tr ρ²"}),
        "populations": (("time", "level"), np.einsum("tii->ti", st).real.copy(), {"long_name": "ρ_ii"}),
    }
    for name, e in zip(D.e_names, D.expect[:, :N]):
        vars_[name] = ("time", e.real.copy(), {"long_name": f"<{name}>"})
        if np.abs(e.imag).max(initial=0.0) > 1e-12:
            vars_[f"{name}_imag"] = ("time", e.imag.copy())
    return xr.Dataset(vars_, coords={"time": ("time", D.times[:N].copy(), {"units": "time"}),
                                     "row": idx, "col": idx, "level": idx},
                      attrs={"model": str(D.params.get("model")), "params": json.dumps(D.params),
                             "max_psd_correction": float(D.extra.get("max_psd_correction", 0.0))})


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

    Params: ``model`` (presets of the ``lindblad`` task, plus ``"custom"``), ``n``, ``F``,
    ``gamma``, ``kerr``, ``delta``, ``J``, ``nth``, ``t_max``, ``n_times``, ``method``, ``dt``,
    ``rtol``, ``atol`` (declared from the task spec), ``device`` (``"cpu"``/``"gpu"``),
    ``n_chunks`` (streamed windows), ``time_index`` (the time slider), ``n_done`` (time points
    computed), plus those of :class:`~nephlab.widgets._base.Component`.

    DOM hooks (CSS classes): ``nl-run`` (Run button), ``nl-param-<name>`` (controls),
    ``nl-time`` (time slider), ``nl-rho-heatmap``, ``nl-hinton``, ``nl-entropy``,
    ``nl-populations``, ``nl-expect``, ``nl-bloch`` (plots), ``nl-updates`` (text
    ``"updates: U, points: N/T"``), ``nl-progress``, ``nl-status``, ``nl-cancel``,
    ``nl-export-<png|svg|nc|gif|mp4>`` (downloads).

    Example:
        >>> ex = LindbladExplorer(model="qubit", F=0.5, gamma=0.2, t_max=2.0, n_times=21, n_chunks=4)
        >>> ds = ex.run().wait()
        >>> ds.sizes["time"], round(float(ds.purity[0]), 12)
        (21, 1.0)
    """

    model = param_for(_P("model"), objects=[*PRESETS, "custom"])
    n = param_for(_P("n"))
    F = param_for(_P("F"))
    gamma = param_for(_P("gamma"))
    kerr = param_for(_P("kerr"))
    delta = param_for(_P("delta"))
    J = param_for(_P("J"))
    nth = param_for(_P("nth"))
    t_max = param_for(_P("t_max"))
    n_times = param_for(_P("n_times"))
    method = param_for(_P("method"))
    dt = param_for(_P("dt"))
    rtol = param_for(_P("rtol"))
    atol = param_for(_P("atol"))
    device = param.Selector(default="cpu", objects=list(DEVICE_CHOICES), doc="JAX device of the solve")
    n_chunks = param.Integer(default=20, bounds=(1, 10_000), doc="time windows streamed to the plots")
    time_index = param.Integer(default=0, bounds=(0, None), doc="index of the time shown by |ρ|, Hinton, Bloch")
    follow = param.Boolean(default=True, doc="while running, the time slider follows the newest state")
    n_done = param.Integer(default=0, bounds=(0, None), doc="time points computed so far")

    def __init__(self, H: Any = None, c_ops: Any = None, rho0: Any = None, e_ops: dict | None = None, **params: Any):
        self._custom = self._check_custom(H, c_ops, rho0, e_ops)
        if self._custom is not None:
            params.setdefault("model", "custom")
        super().__init__(**params)
        self.param.device.objects = _devices()
        if self.model == "custom" and self._custom is None:
            raise ValueError("model='custom' needs operators: LindbladExplorer(H=..., c_ops=..., rho0=...)")
        self._data: _Data | None = None
        self._views: dict[str, Any] | None = None
        self._layout: pn.viewable.Viewable | None = None

    # -- inputs --------------------------------------------------------------------------------

    @staticmethod
    def _check_custom(H: Any, c_ops: Any, rho0: Any, e_ops: Any) -> dict | None:
        if H is None:
            if c_ops is not None or rho0 is not None or e_ops is not None:
                raise ValueError("c_ops, rho0 and e_ops need H: pass H=... for a custom model")
            return None
        Hm = _as_op(H, "H")
        if Hm.ndim != 2 or Hm.shape[0] != Hm.shape[1] or Hm.shape[0] < 2:
            raise ValueError(f"H must be a square matrix (d, d) with d >= 2, got shape {Hm.shape}")
        d = Hm.shape[0]
        if not np.allclose(Hm, Hm.conj().T, atol=1e-12 * max(1.0, np.abs(Hm).max())):
            raise ValueError("H must be Hermitian (H == H†)")
        if c_ops is None:
            cl = []
        elif isinstance(c_ops, (list, tuple)):
            cl = [_as_op(c, f"c_ops[{i}]") for i, c in enumerate(c_ops)]
        else:
            raise TypeError(f"c_ops must be a list of (d, d) operators, got {type(c_ops).__name__}")
        for i, c in enumerate(cl):
            if c.shape != (d, d):
                raise ValueError(f"c_ops[{i}] has shape {c.shape}; allowed: ({d}, {d}) like H")
        if rho0 is None:
            r = np.zeros((d, d), complex)
            r[0, 0] = 1.0
        else:
            r = _as_op(rho0, "rho0")
            if r.ndim == 2 and r.shape == (d, 1):
                r = r[:, 0]
            if r.shape == (d,):
                r = np.outer(r, r.conj())
            if r.shape != (d, d):
                raise ValueError(f"rho0 has shape {r.shape}; allowed: ({d}, {d}) or a ket ({d},)")
        if e_ops is None:
            eo: dict[str, np.ndarray] = {}
        elif isinstance(e_ops, dict):
            eo = {}
            for k, v in e_ops.items():
                if not isinstance(k, str) or not k.isidentifier():
                    raise ValueError(f"e_ops keys must be identifiers (they name variables), got {k!r}")
                eo[k] = _as_op(v, f"e_ops[{k!r}]")
                if eo[k].shape != (d, d):
                    raise ValueError(f"e_ops[{k!r}] has shape {eo[k].shape}; allowed: ({d}, {d}) like H")
        else:
            raise TypeError(f"e_ops must be a dict {{name: operator}}, got {type(e_ops).__name__}")
        return {"H": Hm, "c_ops": cl, "rho0": r, "e_ops": eo}

    def task_params(self) -> dict[str, Any]:
        """The validated ``lindblad`` task parameters of the current state (preset models).

        Raises the spec's ValueError naming the parameter for an invalid combination
        (e.g. a spin chain that is too long).

        Example:
            >>> LindbladExplorer(model="qubit").task_params()["model"]
            'qubit'
        """
        if self.model == "custom":
            raise ValueError("model='custom' has no task parameters: its operators are Python objects")
        return _SPEC.validate({k: getattr(self, k) for k in SPEC_NAMES})

    def problem(self) -> _Problem:
        """The operators, initial state, observables, times and solver options to solve."""
        tlist = np.linspace(0.0, float(self.t_max), int(self.n_times))
        solver = solver_kwargs({k: getattr(self, k) for k in ("method", "rtol", "atol", "dt")})
        if self.model == "custom":
            c = self._custom
            assert c is not None
            H, cops, rho0, eo = c["H"], c["c_ops"], c["rho0"], dict(c["e_ops"])
            params = {k: getattr(self, k) for k in ("t_max", "n_times", "method", "dt", "rtol", "atol")}
            params["model"] = "custom"
        else:
            from nephlab.tasks import _models

            params = self.task_params()
            m = _models.build(params)
            H, cops, rho0 = m.H, m.c_ops(params["gamma"], params["nth"]), m.rho0
            eo = {"n_mean": m.number}
            if self.model == "oscillator":
                a = m.lowering[0]
                eo["x"] = (a + a.conj().T) / np.sqrt(2.0)
                eo["p"] = (a - a.conj().T) / (1j * np.sqrt(2.0))
        d = H.shape[0]
        bloch = d == 2
        if bloch:
            eo.setdefault("sigma_x", np.array([[0, 1], [1, 0]], complex))
            eo.setdefault("sigma_y", np.array([[0, -1j], [1j, 0]], complex))
            eo.setdefault("sigma_z", np.array([[1, 0], [0, -1]], complex))
        return _Problem(H, list(cops), rho0, eo, tlist, solver, params, bloch)

    # -- running -------------------------------------------------------------------------------

    def run(self, *_: Any):
        """Start the solve in the background; return the :class:`~nephlab.widgets._base.Job`
        (``.wait()`` returns :meth:`to_dataset`). Invalid inputs raise here, before any work."""
        prob = self.problem()
        T, d = len(prob.tlist), prob.H.shape[0]
        names = list(prob.e_ops)
        data = _Data(
            times=prob.tlist, states=np.zeros((T, d, d), complex), expect=np.full((len(names), T), np.nan, complex),
            entropy=np.full(T, np.nan), purity=np.full(T, np.nan), e_names=names, params=prob.params, bloch=prob.bloch,
        )
        self._data = data
        self.n_done = 0
        self.time_index = 0
        self.param.time_index.bounds = (0, T - 1)
        device = self.device
        n_chunks = min(int(self.n_chunks), T - 1)

        psd_tol = 10.0 * max(float(self.atol), float(self.rtol) * 1e-2, 1e-12)

        def work(ctx: JobContext):
            w = math.ceil((T - 1) / n_chunks)
            dtime = prob.tlist[1] - prob.tlist[0]
            rho = prob.rho0
            i0 = 0
            data.states[0] = rho
            while i0 < T - 1:
                ctx.check()
                # every window has w + 1 times (the last one runs past t_max): one compilation
                tl = prob.tlist[i0] + dtime * np.arange(w + 1)
                out = ctx.compute(solve_window, prob.H, rho, tl, prob.c_ops, list(prob.e_ops.values()),
                                  prob.solver, device)
                i1 = min(i0 + w, T - 1)
                k = i1 - i0 + 1
                data.states[i0:i1 + 1] = out["states"][:k]
                data.expect[:, i0:i1 + 1] = out["expect"][:, :k]
                data.entropy[i0:i1 + 1] = out["entropy"][:k]
                data.purity[i0:i1 + 1] = out["purity"][:k]
                rho, corr = restart_state(out["states"][k - 1], tol=psd_tol)
                data.extra["max_psd_correction"] = max(data.extra.get("max_psd_correction", 0.0), corr)
                data.n_done = i1 + 1
                i0 = i1
                ctx.emit(i1 + 1, progress=i1 / (T - 1), status=f"t = {prob.tlist[i1]:.4g} / {prob.tlist[-1]:.4g}")
            return _dataset(data)

        def show(n_done: int) -> None:
            with param.parameterized.batch_call_watchers(self):
                self.n_done = int(n_done)
                if self.follow:
                    self.time_index = int(n_done) - 1

        return self.start_job(work, on_update=show, on_done=lambda ds: show(data.n_done), label="solving")

    # -- data ----------------------------------------------------------------------------------

    def _require_data(self) -> _Data:
        if self._data is None or self._data.n_done == 0:
            raise RuntimeError("nothing computed yet: call run() (or press Run) first")
        return self._data

    def to_dataset(self):
        """The computed part as an ``xarray.Dataset`` (real dtypes only).

        Variables: ``rho_real``/``rho_imag`` (time, row, col), ``entropy`` (time, nats),
        ``purity`` (time), ``populations`` (time, level), one per observable (``n_mean``, ...;
        ``<name>_imag`` too when its expectation has an imaginary part above 1e-12).
        Attrs: ``model``, ``params`` (JSON).

        Example:
            >>> ex = LindbladExplorer(model="qubit", t_max=1.0, n_times=5, n_chunks=2); _ = ex.run().wait()
            >>> sorted(ex.to_dataset().data_vars)[:3]
            ['entropy', 'n_mean', 'populations']
        """
        return _dataset(self._require_data())

    def state(self, index: int | None = None) -> np.ndarray:
        """ρ at time index ``index`` (default: the slider's), complex (d, d)."""
        D = self._require_data()
        i = self.time_index if index is None else int(index)
        if not 0 <= i < D.n_done:
            raise ValueError(f"index must be in [0, {D.n_done - 1}] (computed time points), got {i}")
        return D.states[i].copy()

    # -- views (HoloViews, Bokeh backend) ------------------------------------------------------

    def _t_index(self) -> int:
        D = self._data
        if D is None or D.n_done == 0:
            return 0
        return int(min(self.time_index, D.n_done - 1))

    # -- views (Bokeh figures fed by ColumnDataSources: an update sends only new data) ---------

    def _build_views(self) -> dict[str, Any]:
        from bokeh.core.properties import value
        from bokeh.models import ColorBar, ColumnDataSource, Label, Legend, LegendItem, LinearColorMapper, Span
        from bokeh.palettes import Category10_10
        from bokeh.plotting import figure

        fig_opts = dict(sizing_mode="stretch_width", height=300, tools="pan,wheel_zoom,box_zoom,reset,save,hover")
        src = {k: ColumnDataSource(data=v) for k, v in {
            "rho": {"image": [np.zeros((2, 2))], "dw": [2], "dh": [2]},
            "hinton": {"x": [], "y": [], "w": [], "color": []},
            "ent": {"t": [], "S": [], "P": []},
            "pops": {"t": [], **{f"p{k}": [] for k in range(_MAX_LINES)}},
            "expect": {"t": [], **{f"e{k}": [] for k in range(_MAX_EXPECT)}},
            "traj": {"u": [], "v": []},
            "point": {"u": [], "v": []},
        }.items()}
        mapper = LinearColorMapper(palette="Viridis256", low=0.0, high=1.0)
        f_rho = figure(title="|ρ| (press Run)", x_range=(-0.5, 1.5), y_range=(1.5, -0.5), x_axis_label="col",
                       y_axis_label="row", **fig_opts)
        f_rho.image(image="image", x=-0.5, y=-0.5, dw="dw", dh="dh", source=src["rho"], color_mapper=mapper)
        f_rho.add_layout(ColorBar(color_mapper=mapper, width=10), "right")
        f_hin = figure(title="Hinton diagram of Re ρ (blue > 0, red < 0)", x_range=f_rho.x_range,
                       y_range=f_rho.y_range, x_axis_label="col", y_axis_label="row", **fig_opts)
        f_hin.rect(x="x", y="y", width="w", height="w", fill_color="color", line_color=None, source=src["hinton"])
        f_ent = figure(title="entropy and purity", x_axis_label="time", **fig_opts)
        f_ent.line("t", "S", source=src["ent"], color="#c0392b", legend_label="entropy S [nats]", line_width=2)
        f_ent.line("t", "P", source=src["ent"], color="#2471a3", legend_label="purity Tr ρ²", line_width=2)
        f_ent.legend.location = "top_right"
        f_ent.legend.background_fill_alpha = 0.6
        f_pop = figure(title="populations ρ_ii", x_axis_label="time", **fig_opts)
        f_exp = figure(title="expectation values", x_axis_label="time", **fig_opts)
        # one line per column; unused ones hidden; streamed row by row (only new points travel)
        lines = {"pops": [], "expect": []}
        for key, f, col, n in (("pops", f_pop, "p", _MAX_LINES), ("expect", f_exp, "e", _MAX_EXPECT)):
            items = []
            for k in range(n):
                r = f.line("t", f"{col}{k}", source=src[key], color=Category10_10[k % 10], line_width=2, visible=False)
                items.append(LegendItem(label=value(f"{col}{k}"), renderers=[r], visible=False))
                lines[key].append((r, items[-1]))
            f.add_layout(Legend(items=items, location="top_right", background_fill_alpha=0.6))
        spans = []
        for f in (f_ent, f_pop, f_exp):
            sp = Span(location=0.0, dimension="height", line_color="gray", line_dash="dashed")
            f.add_layout(sp)
            spans.append(sp)
        f_blo = figure(title="Bloch sphere", x_range=(-1.35, 1.35), y_range=(-1.35, 1.35), match_aspect=True,
                       tools="save", height=300, sizing_mode="stretch_width")
        f_blo.axis.visible = False
        f_blo.grid.visible = False
        th = np.linspace(0, 2 * np.pi, 121)
        for circ in ((np.cos(th), np.sin(th), 0 * th), (np.cos(th), 0 * th, np.sin(th)), (0 * th, np.cos(th), np.sin(th))):
            u, v = _bloch_proj(*circ)
            f_blo.line(u, v, color="lightgray")
        for lab, vec in (("x", (1.15, 0, 0)), ("y", (0, 1.15, 0)), ("z", (0, 0, 1.15))):
            u, v = _bloch_proj(*vec)
            f_blo.line([0, float(u)], [0, float(v)], color="gray", line_dash="dotted")
            f_blo.add_layout(Label(x=float(u), y=float(v), text=lab))
        f_blo.line("u", "v", source=src["traj"], color="#2471a3", line_width=2)
        f_blo.scatter("u", "v", source=src["point"], color="#c0392b", size=9)
        return {"src": src, "mapper": mapper, "spans": spans, "rho": f_rho, "hinton": f_hin, "entropy": f_ent,
                "populations": f_pop, "expect": f_exp, "bloch": f_blo, "lines": lines}

    @param.depends("n_done", "time_index", watch=True)
    def _refresh_views(self) -> None:
        from bokeh.core.properties import value

        V = self._views
        D = self._data
        if V is None or D is None or D.n_done == 0:
            return
        N, i = D.n_done, self._t_index()
        src = V["src"]
        t_i = float(D.times[i])
        a = np.abs(D.states[i])
        d = a.shape[0]
        if V.get("dim") != d:
            for f in (V["rho"], V["hinton"]):
                f.x_range.start, f.x_range.end = -0.5, d - 0.5
                f.y_range.start, f.y_range.end = d - 0.5, -0.5
            V["dim"] = d
        V["mapper"].high = max(float(a.max()), 1e-12)
        src["rho"].data = {"image": [a], "dw": [d], "dh": [d]}
        V["rho"].title.text = f"|ρ(t = {t_i:.3g})|"
        r = D.states[i].real
        m = min(d, _HINTON_MAX)
        rb = r[:m, :m]
        w = np.sqrt(np.abs(rb) / max(np.abs(rb).max(), 1e-300)) * 0.9
        ii, jj = np.nonzero(w > 1e-3)
        src["hinton"].data = {"x": jj, "y": ii, "w": w[ii, jj],
                              "color": np.where(rb[ii, jj] >= 0, "#2471a3", "#c0392b")}
        V["hinton"].title.text = (f"Hinton diagram of Re ρ(t = {t_i:.3g}) (blue > 0, red < 0)"
                                  + (f", block {m}x{m}" if m < d else ""))
        t = D.times[:N]
        if V.get("run") is not D:  # a new run: reset the series, name and show the lines it uses
            V["run"], V["n_sent"] = D, 0
            for key, col, n, labels in (("ent", None, 0, None),
                                        ("pops", "p", _MAX_LINES, [f"ρ_{k},{k}" for k in range(min(d, _MAX_LINES))]),
                                        ("expect", "e", _MAX_EXPECT, [f"<{nm}>" for nm in D.e_names[:_MAX_EXPECT]])):
                src[key].data = {c: [] for c in src[key].data}
                if col is not None:
                    for k, (r, item) in enumerate(V["lines"][key]):
                        on = k < len(labels)
                        r.visible = item.visible = on
                        if on:
                            item.label = value(labels[k])  # a text, not a column name
            src["traj"].data = {"u": [], "v": []}
        n0 = V["n_sent"]
        if N > n0:  # stream only the new points
            sl = slice(n0, N)
            src["ent"].stream({"t": D.times[sl], "S": D.entropy[sl], "P": D.purity[sl]})
            pops = np.einsum("tii->it", D.states[sl]).real
            row = {"t": D.times[sl]}
            row.update({f"p{k}": (pops[k] if k < d else np.full(N - n0, np.nan)) for k in range(_MAX_LINES)})
            src["pops"].stream(row)
            row = {"t": D.times[sl]}
            ne = len(D.e_names)
            row.update({f"e{k}": (D.expect[k, sl].real if k < ne else np.full(N - n0, np.nan))
                        for k in range(_MAX_EXPECT)})
            src["expect"].stream(row)
            if D.bloch:
                k = {n: j for j, n in enumerate(D.e_names)}
                u, v = _bloch_proj(*(D.expect[k[c], sl].real for c in ("sigma_x", "sigma_y", "sigma_z")))
                src["traj"].stream({"u": u, "v": v})
            V["n_sent"] = N
        for sp in V["spans"]:
            sp.location = t_i
        if D.bloch:
            k = {n: j for j, n in enumerate(D.e_names)}
            u, v = _bloch_proj(*(D.expect[k[c], i].real for c in ("sigma_x", "sigma_y", "sigma_z")))
            src["point"].data = {"u": [float(u)], "v": [float(v)]}
            V["bloch"].title.text = f"Bloch sphere, t = {t_i:.3g}"
        else:
            src["point"].data = {"u": [], "v": []}
            V["bloch"].title.text = "Bloch sphere (two-level systems only)"
        if self._layout is not None and _session_doc_or_none() is None:
            _push_notebook(self._layout)

    @param.depends("updates", "n_done")
    def _counter(self) -> str:
        D = self._data
        tot = 0 if D is None else len(D.times)
        return f"updates: {self.updates}, points: {self.n_done}/{tot}"

    # -- exports -------------------------------------------------------------------------------

    def figure(self):
        """A Matplotlib figure of the current views (|ρ|, entropy/purity, populations, expectations)."""
        from matplotlib.figure import Figure

        D = self._require_data()
        N, i = D.n_done, self._t_index()
        fig = Figure(figsize=(10, 7), layout="constrained")
        ax = fig.subplots(2, 2)
        im = ax[0, 0].imshow(np.abs(D.states[i]), cmap="viridis", origin="upper")
        fig.colorbar(im, ax=ax[0, 0])
        ax[0, 0].set(title=f"|ρ(t = {D.times[i]:.3g})|", xlabel="col", ylabel="row")
        t = D.times[:N]
        ax[0, 1].plot(t, D.entropy[:N], label="entropy S [nats]")
        ax[0, 1].plot(t, D.purity[:N], label="purity Tr ρ²")
        pops = np.einsum("tii->it", D.states[:N]).real
        for k in range(min(pops.shape[0], _MAX_LINES)):
            ax[1, 0].plot(t, pops[k], label=f"ρ_{k}{k}")
        for j, name in enumerate(D.e_names):
            ax[1, 1].plot(t, D.expect[j, :N].real, label=f"<{name}>")
        for a, title in ((ax[0, 1], "entropy and purity"), (ax[1, 0], "populations"), (ax[1, 1], "expectation values")):
            a.axvline(D.times[i], color="gray", ls="--", lw=0.8)
            a.set(title=title, xlabel="time")
            a.legend(fontsize="small", loc="best")
        return fig

    def animation_frames(self, max_frames: int = 100) -> list[np.ndarray]:
        """RGB frames (H, W, 3) uint8 of |ρ(t)| (at most ``max_frames``, evenly spaced in time)."""
        from matplotlib.figure import Figure

        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
            raise ValueError(f"max_frames must be an integer >= 1, got {max_frames!r}")
        D = self._require_data()
        idx = np.unique(np.linspace(0, D.n_done - 1, min(max_frames, D.n_done)).round().astype(int))
        vmax = float(np.abs(D.states[: D.n_done]).max())
        fig = Figure(figsize=(4, 3.6), dpi=80)
        ax = fig.subplots()
        im = ax.imshow(np.abs(D.states[0]), cmap="viridis", vmin=0.0, vmax=vmax)
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
            >>> ex = LindbladExplorer(model="qubit", t_max=1.0, n_times=5, n_chunks=1); _ = ex.run().wait()
            >>> ex.export(os.path.join(tempfile.mkdtemp(), "rho.nc")).suffix
            '.nc'
        """
        suffix = Path(path).suffix.lower()
        if suffix in (".png", ".svg", ".pdf"):
            return export_figure(self.figure(), path, **kwargs)
        if suffix in (".nc", ".zarr"):
            return export_dataset(self.to_dataset(), path)
        if suffix in (".gif", ".mp4"):
            frames = self.animation_frames(kwargs.pop("max_frames", 100))
            return export_animation(frames, path, **kwargs)
        raise ValueError(f"path {str(path)!r}: suffix must be one of .png .svg .pdf .nc .zarr .gif .mp4, got {suffix!r}")

    def _download(self, suffix: str) -> pn.widgets.FileDownload:
        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                p = self.export(Path(tmp) / f"lindblad{suffix}")
                return io.BytesIO(p.read_bytes())

        return pn.widgets.FileDownload(callback=cb, filename=f"lindblad{suffix}", label=suffix[1:].upper(),
                                       css_classes=[f"nl-export-{suffix[1:]}"], color="light", width=70)

    # -- layout --------------------------------------------------------------------------------

    def spec_widgets(self) -> dict[str, pn.widgets.Widget]:
        """The parameter widgets (from the ``lindblad`` task spec), linked to this explorer."""
        ctl = controls_from_spec(_SPEC, SPEC_NAMES, width=130)
        ctl["model"].options = list(self.param.model.objects)
        link_controls(self, ctl)
        return ctl

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is not None:
            return self._layout
        ctl = self.spec_widgets()
        device = pn.widgets.Select.from_param(self.param.device, css_classes=["nl-param-device"], width=130)
        chunks = pn.widgets.IntInput.from_param(self.param.n_chunks, css_classes=["nl-param-n_chunks"], width=130)
        run = pn.widgets.Button(label="Run", color="primary", css_classes=["nl-run"], width=120,
                                disabled=self.param.running)
        run.on_click(self._on_run)
        slider = pn.widgets.IntSlider.from_param(self.param.time_index, label="time index",
                                                 css_classes=["nl-time"], sizing_mode="stretch_width")
        ctl_items = [ctl[k] for k in SPEC_NAMES if k not in ("dt", "rtol", "atol")]
        advanced = pn.Card(ctl["dt"], ctl["rtol"], ctl["atol"], chunks, title="solver options", collapsed=True,
                           width=300)
        grid = pn.GridBox(ncols=2, sizing_mode="stretch_width", min_height=900)

        def add_plots() -> None:
            self._views = V = self._build_views()
            grid[:] = [pn.Column(pn.pane.Bokeh(V[k], sizing_mode="stretch_width"), css_classes=[f"nl-{css}"],
                                 sizing_mode="stretch_width")
                       for k, css in (("rho", "rho-heatmap"), ("hinton", "hinton"), ("entropy", "entropy"),
                                      ("populations", "populations"), ("expect", "expect"), ("bloch", "bloch"))]
            self._refresh_views()

        if _session_doc_or_none() is not None:
            pn.state.onload(add_plots)  # served: controls first, plots right after the page loaded
        else:
            add_plots()
        exports = pn.GridBox(*[self._download(s) for s in (".png", ".svg", ".nc", ".gif", ".mp4")], ncols=3)
        sidebar = pn.Column(pn.GridBox(*ctl_items, device, ncols=2), advanced, run, pn.pane.Markdown("**Export**"),
                            exports, width=310)
        main = pn.Column(self.status_bar(), pn.pane.Str(self._counter, css_classes=["nl-updates"]), slider, grid,
                         sizing_mode="stretch_width")
        self._layout = pn.Row(sidebar, main, sizing_mode="stretch_width", css_classes=["nl-lindblad"])
        return self._layout

    def _on_run(self, *_: Any) -> None:
        try:
            self.run()
        except (ValueError, TypeError, RuntimeError) as exc:
            self.status = f"error: {exc}"
