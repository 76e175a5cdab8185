"""``LargeDeviationExplorer``: SCGFs, rate functions, the s-ensemble, cloning and committors.

Tabs:

- **θ(s) and I(x)**: pick a model (two-state, ring random walk, TASEP, East, FA, or a custom rate
  matrix) and an observable (activity, or the particle current for the walk and TASEP); the
  scaled cumulant generating function ``θ(s) = lim (1/t) ln E[exp(-s A_t)]``
  (:meth:`nephlab.largedev.MarkovJumpProcess.scgf`, exact leading eigenvalue of the tilted
  generator) and its Legendre transform ``I(x)``
  (:meth:`~nephlab.largedev.MarkovJumpProcess.rate_function`).
- **s-ensemble**: the activity per site ``k(s)/N = -θ'(s)/N``
  (:meth:`~nephlab.largedev.MarkovJumpProcess.scgf_derivative`) for several system sizes: the
  finite-size signature of a dynamical phase transition (sharpening crossover near s = 0 for
  kinetically constrained models).
- **Cloning**: population dynamics (:func:`nephlab.largedev.cloning`) run by run in the
  background; each run's running estimate streams to the plot next to the exact θ(s).
- **Committor**: the Müller–Brown committor (:func:`nephlab.largedev.committor_2d`) as a
  heatmap with sampled transition paths, and a player that replays one path.

Units: rates and θ in 1/time; s is dimensionless for the activity (conjugate to the number of
jumps); the Müller–Brown energies are those of the original paper, ``beta`` in 1/energy.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import param

from nephlab.tasks import Param, TaskSpec

from ._base import Component, JobContext, holoviews, hv_pane, export_animation, export_dataset, export_figure
from ._controls import controls_from_spec, param_for, link_controls

__all__ = [
    "CLONING_SPEC",
    "COMMITTOR_SPEC",
    "LD_SPEC",
    "LargeDeviationExplorer",
    "activity_curves",
    "build_model",
    "cloning_run",
    "muller_brown_committor",
    "parse_rate_matrix",
    "transition_paths",
]

MODELS = ("two_state", "random_walk", "tasep", "east", "fa", "custom")
_A_CENTER, _B_CENTER, _RADIUS = (-0.558, 1.442), (0.623, 0.028), 0.15

LD_SPEC = TaskSpec(
    "largedev_explorer",
    "Large deviations of a Markov jump process: SCGF, rate function, s-ensemble",
    (
        Param("model", "str", "two_state", "model preset", choices=MODELS),
        Param("observable", "str", "activity", "counted observable (current: random_walk and tasep only)",
              choices=("activity", "current")),
        Param("a", "float", 1.0, "two-state rate 0 -> 1", units="1/time", minimum=0.0, exclusive_minimum=True,
              maximum=1e3),
        Param("b", "float", 3.0, "two-state rate 1 -> 0", units="1/time", minimum=0.0, exclusive_minimum=True,
              maximum=1e3),
        Param("L", "int", 8, "ring size (random walk, TASEP)", minimum=3, maximum=12),
        Param("p", "float", 2.0, "random walk: rate of a step to the right; TASEP hop rate", units="1/time",
              minimum=0.0, exclusive_minimum=True, maximum=1e3),
        Param("q", "float", 1.0, "random walk: rate of a step to the left", units="1/time", minimum=0.0,
              exclusive_minimum=True, maximum=1e3),
        Param("N", "int", 5, "number of spins (East, FA)", minimum=2, maximum=9),
        Param("c", "float", 0.3, "up-spin concentration (East, FA)", minimum=0.0, maximum=1.0,
              exclusive_minimum=True, exclusive_maximum=True),
        Param("rates", "str", "0 1 0; 0 0 2; 3 0 0", "custom rate matrix: rows separated by ';', "
              "rates[i, j] of i -> j (diagonal ignored)"),
        Param("s_min", "float", -1.5, "smallest s", minimum=-10.0, maximum=10.0),
        Param("s_max", "float", 1.5, "largest s", minimum=-10.0, maximum=10.0),
        Param("n_s", "int", 41, "points of the s grid", minimum=5, maximum=401),
    ),
)

CLONING_SPEC = TaskSpec(
    "largedev_cloning",
    "Cloning (population dynamics) estimate of theta(s), run by run",
    (
        Param("s_clone", "float", 0.5, "bias s of the cloning runs", minimum=-5.0, maximum=5.0),
        Param("n_clones", "int", 200, "population size", minimum=2, maximum=100_000),
        Param("t_max", "float", 20.0, "simulated time per run", units="time", minimum=0.0,
              exclusive_minimum=True, maximum=1e5),
        Param("n_runs", "int", 6, "independent runs (one per streamed update)", minimum=1, maximum=1000),
        Param("seed", "int", 0, "seed of the first run (run i uses seed + i)", minimum=0),
    ),
)

COMMITTOR_SPEC = TaskSpec(
    "largedev_committor",
    "Muller-Brown committor between its two deep minima, and transition paths",
    (
        Param("beta", "float", 0.05, "inverse temperature", units="1/energy", minimum=0.0,
              exclusive_minimum=True, maximum=1.0),
        Param("h", "float", 0.05, "grid spacing", units="length", minimum=0.01, maximum=0.2),
        Param("n_paths", "int", 4, "transition paths to sample", minimum=1, maximum=64),
        Param("path_seed", "int", 0, "seed of the path sampler", minimum=0),
    ),
)


# ---------------------------------------------------------------------------------------------
# pure helpers
# ---------------------------------------------------------------------------------------------
def parse_rate_matrix(text: str) -> np.ndarray:
    """Parse ``"0 1; 2 0"`` (rows separated by ``;`` or newlines, entries by spaces or commas).

    Args:
        text: the matrix; ``rates[i, j]`` is the rate (1/time) of ``i -> j``; the diagonal is
            ignored; off-diagonals must be finite and >= 0.

    Returns:
        ``(n, n)`` float array.

    Example:
        >>> parse_rate_matrix("0 1; 2, 0").tolist()
        [[0.0, 1.0], [2.0, 0.0]]
    """
    if not isinstance(text, str):
        raise TypeError(f"rates must be a str like '0 1; 2 0', got {type(text).__name__}")
    rows = [r for r in text.replace("\n", ";").split(";") if r.strip()]
    try:
        m = [[float(x) for x in r.replace(",", " ").split()] for r in rows]
    except ValueError:
        raise ValueError(f"rates={text!r}: entries must be numbers; allowed: rows like '0 1; 2 0'") from None
    n = len(m)
    if n < 2 or any(len(r) != n for r in m):
        raise ValueError(f"rates={text!r} is not a square matrix with n >= 2 rows of n entries")
    a = np.array(m)
    off = ~np.eye(n, dtype=bool)
    if not np.all(np.isfinite(a)) or np.any(a[off] < 0):
        raise ValueError(f"rates={text!r}: off-diagonal rates must be finite and >= 0")
    return a


def build_model(values: dict[str, Any], size: int | None = None) -> tuple[Any, dict[str, Any], int]:
    """The Markov jump process of a validated :data:`LD_SPEC` dict.

    Args:
        values: ``LD_SPEC.validate(...)`` output.
        size: override of the system size (``L`` or ``N``) for the s-ensemble curves.

    Returns:
        ``(process, observable_kwargs, size)``; ``observable_kwargs`` is ``{"observable":
        "activity"}`` or ``{"observable": "current", "increments": g}``; ``size`` the number of
        sites (1 for two-state and custom).

    Example:
        >>> proc, obs, n = build_model(LD_SPEC.validate({"model": "east", "N": 3}))
        >>> proc.n_states, obs, n
        (8, {'observable': 'activity'}, 3)
    """
    from nephlab.largedev import MarkovJumpProcess, east, fredrickson_andersen, ring_random_walk, tasep_ring, two_state

    model, obs = values["model"], values["observable"]
    if obs == "current" and model not in ("random_walk", "tasep"):
        raise ValueError(f"observable='current' is defined for model 'random_walk' and 'tasep', not {model!r}; "
                         "use observable='activity'")
    if model == "two_state":
        return two_state(values["a"], values["b"]), {"observable": "activity"}, 1
    if model == "custom":
        return MarkovJumpProcess(parse_rate_matrix(values["rates"])), {"observable": "activity"}, 1
    if model in ("random_walk", "tasep"):
        L = int(size or values["L"])
        proc, g = ring_random_walk(L, values["p"], values["q"]) if model == "random_walk" else \
            tasep_ring(L, L // 2, values["p"])
        kw = {"observable": "current", "increments": g} if obs == "current" else {"observable": "activity"}
        return proc, kw, L
    N = int(size or values["N"])
    fn = east if model == "east" else fredrickson_andersen
    return fn(N, values["c"]), {"observable": "activity"}, N


def _sizes(values: dict[str, Any]) -> list[int]:
    model = values["model"]
    if model in ("two_state", "custom"):
        return [1]
    top = values["L"] if model in ("random_walk", "tasep") else values["N"]
    lo = 3 if model in ("random_walk", "tasep") else 2
    return sorted({max(lo, top - 2), max(lo, top - 1), top})


def activity_curves(values: dict[str, Any], s: Any) -> dict[int, np.ndarray]:
    """s-ensemble: ``-θ'(s)/size`` (the observable's rate per site) for up to three sizes.

    Args:
        values: a validated :data:`LD_SPEC` dict. s: grid, shape ``(m,)``.

    Returns:
        ``{size: array (m,)}`` (1/time per site).

    Example:
        >>> v = LD_SPEC.validate({"model": "two_state", "a": 1.0, "b": 1.0})
        >>> round(float(activity_curves(v, [0.0])[1][0]), 12)   # mean activity 2ab/(a+b)
        1.0
    """
    out = {}
    for n in _sizes(values):
        proc, obs, size = build_model(values, n)
        kw = {k: v for k, v in obs.items() if k != "observable"}
        out[size] = np.array([-proc.scgf_derivative(float(x), obs["observable"], **kw) for x in np.asarray(s)]) / size
    return out


def cloning_run(rates: np.ndarray, s: float, observable: Any, n_clones: int, t_max: float, seed: int) -> dict:
    """One cloning run (:func:`nephlab.largedev.cloning`), reduced to what the UI plots.

    Module-level (picklable) so that it can run on a Dask worker.

    Returns:
        dict with ``scgf``, ``stderr`` (1/time), ``times`` (n_steps,) and ``running`` (the
        running estimate (1/t) Σ ln(mean weight), (n_steps,)).

    Example:
        >>> r = cloning_run(np.array([[0.0, 1.0], [1.0, 0.0]]), 0.5, "activity", 50, 5.0, 0)
        >>> sorted(r)
        ['running', 'scgf', 'stderr', 'times']
    """
    from nephlab.largedev import cloning

    r = cloning(rates, float(s), observable, n_clones=int(n_clones), t_max=float(t_max), seed=int(seed),
                store_trajectories=False)
    return {"scgf": float(r.scgf), "stderr": float(r.stderr), "times": np.asarray(r.times),
            "running": np.asarray(r.running_scgf[0])}


def muller_brown_committor(beta: float = 0.05, h: float = 0.05) -> dict[str, np.ndarray]:
    """Committor ``q`` of the Müller–Brown potential from the deep minimum A to minimum B.

    A and B are disks of radius 0.15 around (-0.558, 1.442) and (0.623, 0.028);
    :func:`nephlab.largedev.committor_2d` on the grid ``x = [-1.5, 1.2]``, ``y = [-0.25, 2.0]``
    with spacing ``h``.

    Returns:
        dict with ``x`` (nx,), ``y`` (ny,), ``q`` (nx, ny) and ``V`` (nx, ny).

    Example:
        >>> c = muller_brown_committor(h=0.1)
        >>> c["q"].shape == (c["x"].size, c["y"].size), float(c["q"].min()), float(c["q"].max())
        (True, 0.0, 1.0)
    """
    from nephlab.largedev import committor_2d, muller_brown

    vals = COMMITTOR_SPEC.validate({"beta": beta, "h": h})
    h = vals["h"]
    x = np.arange(-1.5, 1.2 + 1e-9, h)
    y = np.arange(-0.25, 2.0 + 1e-9, h)
    q = committor_2d(muller_brown, (_A_CENTER, _RADIUS), (_B_CENTER, _RADIUS), vals["beta"], x, y)
    X, Y = np.meshgrid(x, y, indexing="ij")
    return {"x": x, "y": y, "q": q, "V": muller_brown(X, Y)}


def transition_paths(committor: dict[str, np.ndarray], beta: float, n_paths: int = 4, seed: int = 0,
                     max_steps: int = 200_000) -> list[np.ndarray]:
    """Transition paths A -> B of the Müller–Brown explorer: :func:`nephlab.largedev.reactive_paths_2d`
    on the committor's grid (exact reactive paths of the discretised dynamics).

    Returns:
        list of ``(n_i, 3)`` arrays with columns ``t``, ``x``, ``y`` (time units of γ = 1).

    Example:
        >>> c = muller_brown_committor(h=0.1)
        >>> paths = transition_paths(c, 0.05, n_paths=1, seed=0)
        >>> paths[0].shape[1]
        3
    """
    from nephlab.largedev import muller_brown, reactive_paths_2d

    return reactive_paths_2d(muller_brown, (_A_CENTER, _RADIUS), (_B_CENTER, _RADIUS), float(beta),
                             committor["x"], committor["y"], q=committor["q"], n_paths=n_paths, seed=seed,
                             max_steps=max_steps)


# ---------------------------------------------------------------------------------------------
# the component
# ---------------------------------------------------------------------------------------------
class LargeDeviationExplorer(Component):
    """Explore large deviations of Markov jump processes and rare transitions.

    Parameters: :data:`LD_SPEC` (model and s grid), :data:`CLONING_SPEC`, :data:`COMMITTOR_SPEC`.

    State (outputs): ``s`` (grid), ``theta`` (θ(s), 1/time), ``x_rate``/``I_rate`` (the rate
    function), ``kink`` (a dynamical phase transition was flagged), ``activity`` ({size:
    -θ'(s)/size}), ``clone_runs`` (list of :func:`cloning_run` dicts), ``clone_exact``,
    ``committor`` (:func:`muller_brown_committor`), ``paths`` (:func:`transition_paths`),
    ``frame`` (the player's position).

    Python API: :meth:`recompute`, :meth:`run_cloning`, :meth:`compute_committor`,
    :meth:`clone_estimate`, :meth:`to_dataset`, :meth:`figure`, :meth:`export`,
    :meth:`export_playback`.

    DOM hooks: ``nl-theta`` (the θ(s) plot), ``nl-rate-function``, ``nl-phase-diagram``,
    ``nl-ld-model`` (the model picker; also ``nl-param-model``), ``nl-theta-summary`` (text
    with θ at the ends of the grid, changes on every redraw), ``nl-clone-run``,
    ``nl-clone-plot``, ``nl-clone-summary``, ``nl-committor``, ``nl-committor-run``,
    ``nl-player``.

    Example:
        >>> ex = LargeDeviationExplorer(model="two_state", a=1.0, b=1.0, n_s=5, s_min=0.0, s_max=1.0)
        >>> round(float(ex.theta[-1]), 9) == round(float(-1 + np.exp(-1.0)), 9)
        True
    """

    model = param_for(LD_SPEC.param("model"))
    observable = param_for(LD_SPEC.param("observable"))
    a = param_for(LD_SPEC.param("a"))
    b = param_for(LD_SPEC.param("b"))
    L = param_for(LD_SPEC.param("L"))
    p = param_for(LD_SPEC.param("p"))
    q = param_for(LD_SPEC.param("q"))
    N = param_for(LD_SPEC.param("N"))
    c = param_for(LD_SPEC.param("c"))
    rates = param_for(LD_SPEC.param("rates"))
    s_min = param_for(LD_SPEC.param("s_min"))
    s_max = param_for(LD_SPEC.param("s_max"))
    n_s = param_for(LD_SPEC.param("n_s"))

    s_clone = param_for(CLONING_SPEC.param("s_clone"))
    n_clones = param_for(CLONING_SPEC.param("n_clones"))
    t_max = param_for(CLONING_SPEC.param("t_max"))
    n_runs = param_for(CLONING_SPEC.param("n_runs"))
    seed = param_for(CLONING_SPEC.param("seed"))

    beta = param_for(COMMITTOR_SPEC.param("beta"))
    h = param_for(COMMITTOR_SPEC.param("h"))
    n_paths = param_for(COMMITTOR_SPEC.param("n_paths"))
    path_seed = param_for(COMMITTOR_SPEC.param("path_seed"))

    s = param.Array(default=None, doc="s grid")
    theta = param.Array(default=None, doc="θ(s) (1/time)")
    x_rate = param.Array(default=None, doc="x grid of the rate function (observable per time)")
    I_rate = param.Array(default=None, doc="I(x) (1/time)")
    kink = param.Boolean(default=False, doc="a kink (dynamical phase transition) was flagged in θ(s)")
    activity = param.Dict(default={}, doc="{size: -θ'(s)/size}")
    n_redraws = param.Integer(default=0, doc="number of θ(s) recomputations")
    clone_runs = param.List(default=[], doc="cloning runs so far")
    clone_exact = param.Number(default=float("nan"), doc="exact θ(s_clone)")
    committor = param.Dict(default={}, doc="Müller–Brown committor")
    paths = param.List(default=[], doc="transition paths (n_i, 3): t, x, y")
    path_index = param.Integer(default=0, bounds=(0, None), doc="path shown by the player")
    frame = param.Integer(default=0, bounds=(0, None), doc="player frame")

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.recompute()

    # ---- θ(s), I(x), s-ensemble ----------------------------------------------------------------
    def spec_values(self) -> dict[str, Any]:
        """The model parameters validated by :data:`LD_SPEC` (plain dict)."""
        v = LD_SPEC.validate({p.name: getattr(self, p.name) for p in LD_SPEC.params})
        if not v["s_min"] < v["s_max"]:
            raise ValueError(f"s_min={v['s_min']!r} must be < s_max={v['s_max']!r}")
        return v

    def process(self):
        """``(MarkovJumpProcess, observable_kwargs, size)`` of the current model (:func:`build_model`)."""
        return build_model(self.spec_values())

    @param.depends("model", "observable", "a", "b", "L", "p", "q", "N", "c", "rates", "s_min", "s_max", "n_s",
                   watch=True)
    def _on_model(self) -> None:
        if self.observable == "current" and self.model not in ("random_walk", "tasep"):
            self.observable = "activity"  # re-enters _on_model; the status below says why
            self.status = f"model {self.model!r} has no current: observable set to 'activity'"
            return
        try:
            self.recompute()
        except (ValueError, TypeError) as exc:
            self.status = f"error: {exc}"

    def recompute(self) -> None:
        """Recompute θ(s), I(x) and the s-ensemble curves for the current model (blocking, fast)."""
        v = self.spec_values()
        proc, obs, _ = build_model(v)
        kw = {k: x for k, x in obs.items() if k != "observable"}
        s = np.linspace(v["s_min"], v["s_max"], v["n_s"])
        theta = np.asarray(proc.scgf(s, obs["observable"], **kw))
        lo = -proc.scgf_derivative(float(s[-1]), obs["observable"], **kw)
        hi = -proc.scgf_derivative(float(s[0]), obs["observable"], **kw)
        x = np.linspace(lo, hi, 15)
        rf = proc.rate_function(x, obs["observable"], s_grid=s, **kw)
        act = activity_curves(v, s[:: max(1, v["n_s"] // 20)])
        with param.parameterized.batch_call_watchers(self):
            self.param.update(s=s, theta=theta, x_rate=np.asarray(rf.x), I_rate=np.asarray(rf.I), kink=bool(rf.kink),
                              activity={int(k): a for k, a in act.items()}, clone_runs=[],
                              clone_exact=float(proc.scgf(float(self.s_clone), obs["observable"], **kw)))
        self.n_redraws += 1
        self.status = f"{v['model']}: {proc.n_states} states, θ(s) on {v['n_s']} points"

    # ---- cloning --------------------------------------------------------------------------------
    def clone_estimate(self) -> tuple[float, float]:
        """Pooled cloning estimate of θ(s_clone) and its standard error over the runs so far."""
        if not self.clone_runs:
            return float("nan"), float("nan")
        est = np.array([r["scgf"] for r in self.clone_runs])
        if est.size == 1:
            return float(est[0]), float(self.clone_runs[0]["stderr"])
        return float(est.mean()), float(est.std(ddof=1) / math.sqrt(est.size))

    def run_cloning(self, background: bool = True):
        """Run ``n_runs`` cloning runs at ``s_clone`` one after the other, streaming each to the plot.

        Returns the :class:`~widgets._base.Job` (``background=True``) or the list of runs.
        """
        v = self.spec_values()
        cv = CLONING_SPEC.validate({p.name: getattr(self, p.name) for p in CLONING_SPEC.params})
        proc, obs, _ = build_model(v)
        rates = proc.rates().toarray() if hasattr(proc.rates(), "toarray") else np.asarray(proc.rates())
        observable = "activity" if obs["observable"] == "activity" else np.asarray(obs["increments"].toarray())
        kw = {k: x for k, x in obs.items() if k != "observable"}
        self.clone_exact = float(proc.scgf(cv["s_clone"], obs["observable"], **kw))
        self.clone_runs = []

        def work(ctx: JobContext):
            runs: list[dict] = []
            for i in range(cv["n_runs"]):
                ctx.check()
                runs.append(ctx.compute(cloning_run, rates, cv["s_clone"], observable, cv["n_clones"], cv["t_max"],
                                        cv["seed"] + i))
                ctx.emit(list(runs), progress=(i + 1) / cv["n_runs"],
                         status=f"cloning: run {i + 1} of {cv['n_runs']}")
            return runs

        def update(runs):
            self.clone_runs = runs

        job = self.start_job(work, on_update=update, on_done=update, label="cloning")
        return job if background else job.wait()

    # ---- committor ------------------------------------------------------------------------------
    def compute_committor(self, background: bool = True):
        """Müller–Brown committor and ``n_paths`` transition paths (background job by default)."""
        cv = COMMITTOR_SPEC.validate({p.name: getattr(self, p.name) for p in COMMITTOR_SPEC.params})

        def work(ctx: JobContext):
            com = ctx.compute(muller_brown_committor, cv["beta"], cv["h"])
            ctx.emit({"committor": com, "paths": []}, progress=0.3, status="committor ready; sampling paths")
            paths = []
            for i in range(cv["n_paths"]):
                ctx.check()
                paths += ctx.compute(transition_paths, com, cv["beta"], 1, cv["path_seed"] + i)
                ctx.emit({"committor": com, "paths": list(paths)}, progress=0.3 + 0.7 * (i + 1) / cv["n_paths"])
            return {"committor": com, "paths": paths}

        def update(res):
            self.committor = res["committor"]
            self.paths = res["paths"]

        job = self.start_job(work, on_update=update, on_done=update, label="committor")
        return job if background else job.wait()

    # ---- data, figures, exports -----------------------------------------------------------------
    def to_dataset(self):
        """θ(s), I(x), the s-ensemble and the cloning runs as an ``xarray.Dataset``.

        Example:
            >>> ds = LargeDeviationExplorer(n_s=5).to_dataset()
            >>> ds["theta"].dims, ds.attrs["model"]
            (('s',), 'two_state')
        """
        import xarray as xr

        data: dict[str, Any] = {"theta": ("s", np.asarray(self.theta)), "I": ("x", np.asarray(self.I_rate))}
        s_act = np.asarray(self.s)[:: max(1, int(self.n_s) // 20)]
        for size, act in self.activity.items():
            data[f"activity_per_site_{size}"] = ("s_activity", np.asarray(act))
        coords = {"s": np.asarray(self.s), "x": np.asarray(self.x_rate), "s_activity": s_act}
        if self.clone_runs:
            data["clone_scgf"] = ("run", np.array([r["scgf"] for r in self.clone_runs]))
            data["clone_stderr"] = ("run", np.array([r["stderr"] for r in self.clone_runs]))
        if self.committor:
            data["committor"] = (("mb_x", "mb_y"), self.committor["q"])
            coords.update(mb_x=self.committor["x"], mb_y=self.committor["y"])
        ds = xr.Dataset(data, coords=coords)
        ds.attrs.update(self.spec_values())
        ds.attrs["kink"] = int(self.kink)
        ds.attrs["clone_exact"] = self.clone_exact
        ds.attrs["convention"] = "theta(s) = lim (1/t) ln E[exp(-s A_t)]"
        return ds

    def figure(self):
        """A Matplotlib figure: θ(s), I(x) and the s-ensemble."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.2))
        ax1, ax2, ax3 = fig.subplots(1, 3)
        ax1.plot(self.s, self.theta)
        ax1.set_xlabel("s")
        ax1.set_ylabel("θ(s)")
        ax2.plot(self.x_rate, self.I_rate)
        ax2.set_xlabel("x")
        ax2.set_ylabel("I(x)")
        s_act = np.asarray(self.s)[:: max(1, int(self.n_s) // 20)]
        for size, act in self.activity.items():
            ax3.plot(s_act, act, label=f"size {size}")
        ax3.set_xlabel("s")
        ax3.set_ylabel("-θ'(s)/size")
        ax3.legend(fontsize=7)
        fig.suptitle(self.model)
        fig.tight_layout()
        return fig

    def export(self, path: str | Path) -> Path:
        """Export by suffix: ``.png``/``.svg``/``.pdf`` (:meth:`figure`) or ``.nc`` (:meth:`to_dataset`)."""
        p = Path(path)
        if p.suffix.lower() in (".nc", ".zarr"):
            return export_dataset(self.to_dataset(), p)
        return export_figure(self.figure(), p)

    def _playback_frames(self, n_frames: int = 30) -> list:
        from matplotlib.figure import Figure

        if not self.committor or not self.paths:
            raise ValueError("no transition path yet: run compute_committor() first")
        path = self.paths[min(self.path_index, len(self.paths) - 1)]
        c = self.committor
        frames = []
        for i in np.linspace(1, len(path), n_frames).astype(int):
            fig = Figure(figsize=(4, 3.2), dpi=60)
            ax = fig.subplots()
            ax.contourf(c["x"], c["y"], c["q"].T, levels=20, cmap="RdBu_r")
            ax.plot(path[:i, 1], path[:i, 2], "k-", lw=1)
            ax.plot(path[i - 1, 1], path[i - 1, 2], "yo")
            ax.set_xlabel("x")
            ax.set_ylabel("y")
            frames.append(fig)
        return frames

    def export_playback(self, path: str | Path, n_frames: int = 30, fps: float = 10.0) -> Path:
        """The selected transition path replayed over the committor, as GIF or MP4."""
        return export_animation(self._playback_frames(n_frames), path, fps=fps)

    # ---- view -----------------------------------------------------------------------------------
    def _controls(self, spec: TaskSpec, names=None) -> list:
        widgets = controls_from_spec(spec, names, width=240)
        link_controls(self, widgets, on_error=lambda exc: setattr(self, "status", f"rejected: {exc}"))
        if "model" in widgets:
            widgets["model"].css_classes = list(widgets["model"].css_classes) + ["nl-ld-model"]
        return list(widgets.values())

    def _theta_plot(self, s, theta, kink):
        hv = holoviews()

        curve = hv.Curve((s, theta), "s", "θ(s)").opts(backend="bokeh", width=420, height=300,
                                                       title=f"SCGF θ(s): {self.model}",
                                                       line_width=2, tools=["hover"])
        return curve * hv.HLine(0).opts(backend="bokeh", color="gray", line_dash="dotted")

    def _rate_plot(self, x, I):
        hv = holoviews()

        return hv.Curve((x, I), "x", "I(x)").opts(backend="bokeh", width=420, height=300, title="rate function I(x)",
                                                  line_width=2, tools=["hover"])

    def _phase_plot(self, activity):
        hv = holoviews()

        s_act = np.asarray(self.s)[:: max(1, int(self.n_s) // 20)]
        curves = [hv.Curve((s_act, a), "s", "activity per site", label=f"size {n}") for n, a in activity.items()]
        return hv.Overlay(curves).opts(backend="bokeh", width=420, height=300, title="s-ensemble: -θ'(s)/size",
                                       legend_position="top_right")

    def _clone_plot(self, runs):
        hv = holoviews()

        items = [hv.Curve((r["times"], r["running"]), "t", "running θ estimate", label=f"run {i}")
                 for i, r in enumerate(runs)] or [hv.Curve(([], []), "t", "running θ estimate")]
        items.append(hv.HLine(self.clone_exact).opts(backend="bokeh", color="black", line_dash="dashed"))
        return hv.Overlay(items).opts(backend="bokeh", width=520, height=320,
                                      title=f"cloning at s = {self.s_clone} (exact: dashed)",
                                      show_legend=False)

    def _clone_text(self, runs) -> str:
        est, err = self.clone_estimate()
        if not runs:
            return f"exact θ({self.s_clone}) = {self.clone_exact:.6g}; no cloning run yet"
        return (f"exact θ({self.s_clone}) = {self.clone_exact:.6g}; cloning: {est:.6g} ± {err:.2g} "
                f"({len(runs)} runs)")

    def _committor_plot(self, committor, paths, path_index, frame):
        hv = holoviews()

        if not committor:
            return hv.Image(np.zeros((2, 2)), bounds=(-1.5, -0.25, 1.2, 2.0)).opts(
                backend="bokeh", width=520, height=420, title="Müller–Brown committor: press Compute committor")
        c = committor
        img = hv.Image((c["x"], c["y"], c["q"].T), ["x", "y"], "q").opts(backend="bokeh", cmap="RdBu_r",
                                                                         colorbar=True, width=520,
                                                                         height=420, title="Müller–Brown committor")
        items = [img]
        for j, pth in enumerate(paths):
            items.append(hv.Path([pth[:, 1:]]).opts(backend="bokeh", color="black", alpha=0.35, line_width=1))
        if paths:
            pth = paths[min(path_index, len(paths) - 1)]
            i = min(frame, len(pth) - 1)
            items.append(hv.Path([pth[: i + 1, 1:]]).opts(backend="bokeh", color="yellow", line_width=2))
            items.append(hv.Points([tuple(pth[i, 1:])]).opts(backend="bokeh", color="yellow", size=10))
        return hv.Overlay(items)

    def _download(self, suffix: str, kind: str = "plot"):
        def cb():
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / f"largedev{suffix}"
                (self.export_playback(out) if kind == "anim" else self.export(out))
                return io.BytesIO(out.read_bytes())
        return pn.widgets.FileDownload(callback=cb, filename=f"largedev{suffix}", label=f"Export {suffix[1:]}",
                                       button_type="light", css_classes=[f"nl-export-{suffix[1:]}"])

    def __panel__(self) -> pn.viewable.Viewable:
        theta = hv_pane(pn.bind(self._theta_plot, self.param.s, self.param.theta, self.param.kink),
                                  css_classes=["nl-theta"])
        rate = hv_pane(pn.bind(self._rate_plot, self.param.x_rate, self.param.I_rate),
                                 css_classes=["nl-rate-function"])
        phase = hv_pane(pn.bind(self._phase_plot, self.param.activity), css_classes=["nl-phase-diagram"])
        summary = pn.pane.Str(pn.bind(lambda s, th, k, n: f"θ({s[0]:.3g}) = {th[0]:.6g}, θ({s[-1]:.3g}) = "
                                      f"{th[-1]:.6g}" + ("; kink flagged (dynamical phase transition)" if k else ""),
                                      self.param.s, self.param.theta, self.param.kink, self.param.n_redraws),
                              css_classes=["nl-theta-summary"])
        ld_tab = pn.Row(pn.Column(*self._controls(LD_SPEC), width=270),
                        pn.Column(summary, pn.Row(theta, rate), phase,
                                  pn.Row(self._download(".png"), self._download(".svg"), self._download(".nc"))))
        crun = pn.widgets.Button(name="Run cloning", button_type="primary", css_classes=["nl-clone-run"],
                                 disabled=self.param.running)
        crun.on_click(lambda _: self.run_cloning())
        clone_tab = pn.Row(pn.Column(*self._controls(CLONING_SPEC), crun, width=270),
                           pn.Column(pn.pane.Str(pn.bind(self._clone_text, self.param.clone_runs),
                                                 css_classes=["nl-clone-summary"]),
                                     hv_pane(pn.bind(self._clone_plot, self.param.clone_runs),
                                                       css_classes=["nl-clone-plot"])))
        mrun = pn.widgets.Button(name="Compute committor", button_type="primary", css_classes=["nl-committor-run"],
                                 disabled=self.param.running)
        mrun.on_click(lambda _: self.compute_committor())
        player = pn.widgets.Player(name="playback", start=0, end=200, value=0, loop_policy="once", interval=50,
                                   css_classes=["nl-player"])

        def _player_end(paths, idx):
            if paths:
                player.end = max(1, len(paths[min(idx, len(paths) - 1)]) - 1)
        pn.bind(_player_end, self.param.paths, self.param.path_index, watch=True)
        player.link(self, value="frame")
        path_pick = pn.widgets.IntInput.from_param(self.param.path_index, name="path", width=100)
        com_tab = pn.Row(pn.Column(*self._controls(COMMITTOR_SPEC), mrun, path_pick, width=270),
                         pn.Column(hv_pane(pn.bind(self._committor_plot, self.param.committor,
                                                             self.param.paths, self.param.path_index,
                                                             self.param.frame), css_classes=["nl-committor"]),
                                   player, pn.Row(self._download(".gif", "anim"), self._download(".mp4", "anim"))))
        return pn.Column(self.status_bar(), pn.Tabs(("θ(s) and I(x)", ld_tab), ("Cloning", clone_tab),
                                                    ("Committor and paths", com_tab)), sizing_mode="stretch_width")
