"""Ready-made problems on the presets of the ``scgf``, ``cloning`` and ``committor`` tasks.

One set-up per preset, shared by the tasks (:mod:`nephlab.tasks.scgf`,
:mod:`nephlab.tasks.cloning`, :mod:`nephlab.tasks.committor`), the
``LargeDeviationExplorer`` dashboard and notebooks, so that a parameter set means the same model
everywhere. Every function takes ``params``, a mapping with the parameter names of those tasks
(``nephlab tasks scgf`` lists them; the dicts returned by ``TaskSpec.validate`` fit), and reads
only the keys the chosen model needs.

Markov jump presets (rates in 1/time; :data:`MARKOV_MODELS`):

- ``two_state``: rates ``a`` (0 -> 1) and ``b`` (1 -> 0);
- ``ring_random_walk``: ``L`` sites, hops right at ``p``, left at ``q``;
- ``tasep_ring``: ``L`` sites, ``n_particles`` particles hopping right at ``rate``;
- ``east``, ``fredrickson_andersen``: ``L`` spins, up-spin density ``c``, ``boundary``;
- ``custom``: the rate matrix ``rates`` written as text, ``"0 1; 2 0"`` (:func:`parse_rate_matrix`).

Quantum-jump presets (:data:`~nephlab.largedev.quantum_jumps.QUANTUM_MODELS`, the ``scgf`` task only):
``quantum_two_level`` (resonance fluorescence) and ``quantum_cavity`` (driven damped cavity),
photon counting from the tilted Liouvillian (:mod:`nephlab.largedev.quantum_jumps`; parameters
``drive``, ``decay``, ``detuning``, ``n_fock``). :func:`markov_scgf`, :func:`markov_theta` and
:func:`finite_size_curves` dispatch to them; ``activity`` is the number of emitted photons.

Observables (``observable``): ``activity`` (number of jumps, every model) or ``current`` (net
number of hops to the right, ``ring_random_walk`` and ``tasep_ring``). SCGF convention
``θ(s) = lim (1/t) ln E[exp(-s A_t)]`` (see :mod:`nephlab.largedev`).

Committor presets (``potential``; overdamped Langevin with γ = 1, ``beta`` in 1/energy):
``double_well_1d`` (``V = (x² - 1)²``, A = {x <= a}, B = {x >= b}), ``double_well_2d``
(``V = (x² - 1)² + y²`` on [-1.5, 1.5]², the same half-planes) and ``muller_brown`` (disks of
radius ``radius`` around the two deep minima :data:`MULLER_BROWN_A` and :data:`MULLER_BROWN_B`, on
the box :data:`MULLER_BROWN_BOX`).

Example:
    >>> p = {"model": "two_state", "a": 1.0, "b": 1.0, "s_min": 0.0, "s_max": 1.0, "n_s": 3}
    >>> [round(float(t), 6) for t in markov_scgf(p).theta]   # e^{-s} - 1
    [0.0, -0.393469, -0.632121]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nephlab._validate import integer, one_of, rate_matrix
from nephlab.largedev.markov import MarkovJumpProcess, Observable, RateFunctionResult, ScgfResult, kink_indices
from nephlab.largedev import models as _models
from nephlab.largedev import quantum_jumps as _quantum

__all__ = ["MARKOV_MODELS", "COMMITTOR_POTENTIALS", "MULLER_BROWN_A", "MULLER_BROWN_B", "MULLER_BROWN_BOX",
           "CommittorProblem", "committor_problem", "finite_size_curves", "finite_size_sizes", "markov_cloning",
           "markov_model", "markov_scgf", "markov_theta", "parse_rate_matrix", "pooled_estimate",
           "rate_function_grid", "transition_paths"]

MARKOV_MODELS: tuple[str, ...] = ("two_state", "ring_random_walk", "tasep_ring", "east", "fredrickson_andersen",
                                  "custom")
"""The Markov jump presets, in the order of the tasks' ``model`` choices."""

COMMITTOR_POTENTIALS: tuple[str, ...] = ("double_well_1d", "double_well_2d", "muller_brown")
"""The committor presets, in the order of the ``committor`` task's ``potential`` choices."""

MULLER_BROWN_A: tuple[float, float] = (-0.558, 1.442)
"""Centre of basin A: the deepest Müller–Brown minimum (V = -146.70), length units."""
MULLER_BROWN_B: tuple[float, float] = (0.623, 0.028)
"""Centre of basin B: the second-deepest Müller–Brown minimum (V = -108.17), length units."""
MULLER_BROWN_BOX: tuple[tuple[float, float], tuple[float, float]] = ((-1.5, 1.2), (-0.2, 2.0))
"""``((x_min, x_max), (y_min, y_max))`` of the Müller–Brown grid, length units."""

_DW_BOX = (-1.5, 1.5)
_SIZED = ("ring_random_walk", "tasep_ring", "east", "fredrickson_andersen")
_MIN_SIZE = {"ring_random_walk": 3, "tasep_ring": 2, "east": 2, "fredrickson_andersen": 2}


def _get(params: Mapping[str, Any], name: str, why: str) -> Any:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping of task parameters, got {type(params).__name__}")
    if name not in params:
        raise ValueError(f"params has no {name!r}, which {why} needs; give the task's parameters "
                         "(e.g. get_task('scgf').spec.validate({...}))")
    return params[name]


# --------------------------------------------------------------------------------------------
# Markov jump presets
# --------------------------------------------------------------------------------------------
def parse_rate_matrix(text: str, name: str = "rates") -> np.ndarray:
    """A rate matrix written as text: rows separated by ``;`` or newlines, entries by spaces or commas.

    Args:
        text: e.g. ``"0 1; 2 0"``; ``rates[i, j]`` is the rate (1/time) of ``i -> j``; the
            diagonal is ignored (set to 0); off-diagonals must be finite and >= 0 (checked by
            :func:`nephlab._validate.rate_matrix`).
        name: the argument's name in error messages.

    Returns:
        ``(n, n)`` float array, ``n >= 2``, zero diagonal.

    Example:
        >>> parse_rate_matrix("0 1; 2, 0").tolist()
        [[0.0, 1.0], [2.0, 0.0]]
        >>> parse_rate_matrix("0 1 2; 1 0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: rates = '0 1 2; 1 0' is not a square matrix: rows of 3, 2 entries; allowed: n >= 2 rows of n ...
    """
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str like '0 1; 2 0', got {type(text).__name__}")
    rows = [r.replace(",", " ").split() for r in text.replace("\n", ";").split(";") if r.strip()]
    try:
        m = [[float(x) for x in r] for r in rows]
    except ValueError:
        raise ValueError(f"{name} = {text!r}: entries must be numbers; allowed: rows like '0 1; 2 0'") from None
    if len(m) < 2 or any(len(r) != len(m) for r in m):
        raise ValueError(f"{name} = {text!r} is not a square matrix: rows of {', '.join(str(len(r)) for r in m)} "
                         "entries; allowed: n >= 2 rows of n numbers, like '0 1; 2 0'")
    return rate_matrix(m, name)


def markov_model(params: Mapping[str, Any]) -> tuple[MarkovJumpProcess, Observable]:
    """The process and observable of a Markov jump preset: the one model builder of the ``scgf``
    and ``cloning`` tasks and of the large-deviation explorer.

    Args:
        params: ``model`` (one of :data:`MARKOV_MODELS`), ``observable`` (``"activity"``, the
            default, or ``"current"``) and the model's parameters (see the module docstring).

    Returns:
        ``(process, observable)``: a :class:`~nephlab.largedev.MarkovJumpProcess` and the
        :class:`~nephlab.largedev.Observable` to pass to its ``scgf``/``scgf_curve``/
        ``rate_function`` or to :func:`~nephlab.largedev.cloning`.

    Example:
        >>> proc, obs = markov_model({"model": "ring_random_walk", "observable": "current",
        ...                           "L": 4, "p": 2.0, "q": 1.0})
        >>> proc.n_states, obs.name, round(proc.mean(obs), 12)   # mean current p - q
        (4, 'current', 1.0)
    """
    m = one_of(_get(params, "model", "markov_model"), "params['model']", MARKOV_MODELS)
    observable = params.get("observable", "activity")
    one_of(observable, "params['observable']", ("activity", "current"))
    if observable == "current" and m not in ("ring_random_walk", "tasep_ring"):
        raise ValueError(f"params['observable'] = 'current' is not defined for model {m!r}; allowed: 'activity' "
                         "(or model 'ring_random_walk' / 'tasep_ring')")
    need = lambda k: _get(params, k, f"model {m!r}")  # noqa: E731
    g = None
    if m == "two_state":
        proc = _models.two_state(need("a"), need("b"))
    elif m == "ring_random_walk":
        proc, g = _models.ring_random_walk(need("L"), need("p"), need("q"))
    elif m == "tasep_ring":
        proc, g = _models.tasep_ring(need("L"), need("n_particles"), need("rate"))
    elif m == "custom":
        proc = MarkovJumpProcess(parse_rate_matrix(need("rates"), "params['rates']"))
    else:
        fn = _models.east if m == "east" else _models.fredrickson_andersen
        proc = fn(need("L"), need("c"), need("boundary"))
    return proc, (Observable.current(g) if observable == "current" else Observable.activity())


def _s_grid(params: Mapping[str, Any], n: int | None = None) -> np.ndarray:
    lo, hi = float(_get(params, "s_min", "the s grid")), float(_get(params, "s_max", "the s grid"))
    n_s = integer(_get(params, "n_s", "the s grid"), "params['n_s']", minimum=2) if n is None else n
    if not lo < hi:
        raise ValueError(f"params['s_min'] = {lo!r} and params['s_max'] = {hi!r}: allowed: s_min < s_max")
    return np.linspace(lo, hi, n_s)


def markov_scgf(params: Mapping[str, Any], s: Any = None) -> ScgfResult:
    """θ(s), θ'(s) and θ''(s) of a preset on a grid of s (the ``scgf`` task's computation).

    Args:
        params: a preset (:func:`markov_model`), plus ``s_min``, ``s_max``, ``n_s`` unless ``s``
            is given.
        s: the tilts (1/[A]), scalar or shape ``(m,)``; default ``linspace(s_min, s_max, n_s)``.

    Returns:
        :class:`~nephlab.largedev.ScgfResult`, arrays of shape ``(m,)`` (θ in 1/time).

    Example:
        >>> r = markov_scgf({"model": "two_state", "a": 1.0, "b": 3.0}, [0.0])
        >>> abs(float(r.theta[0])) < 1e-12, round(float(-r.dtheta[0]), 12)   # θ(0) = 0, mean activity 2ab/(a+b)
        (True, 1.5)
    """
    if params.get("model") in _quantum.QUANTUM_MODELS:
        return _quantum.quantum_scgf(params, _s_grid(params) if s is None else s)
    proc, obs = markov_model(params)
    return proc.scgf_curve(_s_grid(params) if s is None else s, obs)


def markov_theta(params: Mapping[str, Any], s: Any) -> Any:
    """Exact θ(s) of a preset (largest eigenvalue of the tilted generator), 1/time.

    Args:
        params: a preset (:func:`markov_model`).
        s: scalar or array of tilts (1/[A]).

    Returns:
        float for scalar ``s``, else an array of the shape of ``s``.

    Example:
        >>> round(markov_theta({"model": "two_state", "a": 1.0, "b": 1.0}, 1.0), 9)   # e^{-1} - 1
        -0.632120559
    """
    if params.get("model") in _quantum.QUANTUM_MODELS:
        return _quantum.quantum_theta(params, s)
    proc, obs = markov_model(params)
    out = proc.scgf(s, obs)
    return float(out) if np.ndim(out) == 0 else np.asarray(out)


def rate_function_grid(curve: ScgfResult, kink_tol: float = 1e-2) -> RateFunctionResult:
    """The rate function at the tilted means of an s grid: the Legendre transform in parametric form.

    For a differentiable θ (every finite irreducible chain) the supremum in
    ``I(x) = sup_s [-s x - θ(s)]`` at ``x = -θ'(s_i)`` is attained at ``s_i``, so
    ``x_i = -θ'(s_i)`` and ``I(x_i) = s_i θ'(s_i) - θ(s_i)`` exactly (no optimisation), one
    point per grid point; :meth:`~nephlab.largedev.MarkovJumpProcess.rate_function` gives I at
    arbitrary x (by optimisation). ``kink`` flags a slope jump of θ on the grid
    (:func:`~nephlab.largedev.markov.kink_indices`, the test of ``rate_function``).

    Args:
        curve: θ, θ' on a grid (:func:`markov_scgf`, or ``MarkovJumpProcess.scgf_curve``), with
            at least 2 points.
        kink_tol: smallest slope jump flagged ([A]/time).

    Returns:
        :class:`~nephlab.largedev.RateFunctionResult` with ``x`` ([A]/time) increasing,
        ``I`` (1/time), ``s_star`` (the s of each point), ``at_boundary`` all False (each
        supremum is attained on the grid), ``kink``/``kink_s``, ``s_grid`` and ``theta``.

    Example:
        >>> c = markov_scgf({"model": "two_state", "a": 1.0, "b": 1.0}, [-1.0, 0.0, 1.0])
        >>> r = rate_function_grid(c)
        >>> x = r.x; bool(np.allclose(r.I, x * np.log(x) - x + 1, atol=1e-12))   # Poisson
        True
    """
    if not isinstance(curve, ScgfResult):
        raise TypeError(f"curve must be a ScgfResult (markov_scgf(...)), got {type(curve).__name__}")
    s, th, d1 = (np.asarray(v, dtype=float) for v in (curve.s, curve.theta, curve.dtheta))
    if s.size < 2:
        raise ValueError(f"curve must have at least 2 points of s, got {s.size}")
    order = np.argsort(-d1, kind="stable")  # x = -θ' increases with -s
    kinks = kink_indices(s, th, kink_tol) if s.size >= 3 else np.zeros(0, dtype=int)
    return RateFunctionResult(-d1[order], (s * d1 - th)[order], s[order], np.zeros(s.size, dtype=bool),
                              bool(kinks.size), s[kinks], s, th)


def finite_size_sizes(params: Mapping[str, Any], n_sizes: int = 3) -> list[int]:
    """The system sizes of :func:`finite_size_curves`: ``L - n_sizes + 1, ..., L`` (the smallest
    size of the model at least), or ``[1]`` for the models without a size (two-state, custom).

    Example:
        >>> finite_size_sizes({"model": "east", "L": 6}), finite_size_sizes({"model": "ring_random_walk", "L": 4})
        ([4, 5, 6], [3, 4])
    """
    n_sizes = integer(n_sizes, "n_sizes")
    m = one_of(_get(params, "model", "finite_size_sizes"), "params['model']", MARKOV_MODELS)
    if m not in _SIZED:
        return [1]
    L = integer(_get(params, "L", f"model {m!r}"), "params['L']", minimum=_MIN_SIZE[m])
    return sorted({max(_MIN_SIZE[m], L - k) for k in range(n_sizes)})


def _at_size(params: Mapping[str, Any], size: int) -> dict:
    out = dict(params)
    if out["model"] in _SIZED:
        if out["model"] == "tasep_ring":  # the same density n_particles / L
            out["n_particles"] = min(size - 1, max(1, round(params["n_particles"] * size / params["L"])))
        out["L"] = size
    return out


def finite_size_curves(params: Mapping[str, Any], n_sizes: int = 3, n_s: int = 21):
    """θ(s) and the observable's rate per site ``-θ'(s)/L`` for several sizes (the s-ensemble).

    For a kinetically constrained model (East, FA) the activity per site drops more and more
    sharply near s = 0+ as L grows: the finite-size signature of the dynamical phase transition.
    Sizes: :func:`finite_size_sizes`; the TASEP keeps its density ``n_particles / L`` (rounded);
    the models without a size use ``L = 1``. Computed by
    :func:`~nephlab.largedev.activity_phase_diagram` on ``linspace(s_min, s_max,
    max(3, min(n_s, params['n_s'])))``.

    Args:
        params: a preset (:func:`markov_model`) with ``s_min``, ``s_max``, ``n_s``.
        n_sizes: at most this many sizes. n_s: at most this many points of s.

    Returns:
        :class:`~nephlab.largedev.PhaseDiagramResult`: ``sizes (k,)``, ``s (m,)``,
        ``theta (k, m)`` (1/time), ``activity (k, m)`` = ``-θ'(s)/L`` ([A]/time per site),
        ``susceptibility``, ``s_star``.

    Example:
        >>> p = {"model": "east", "L": 4, "c": 0.3, "boundary": "open", "s_min": 0.0, "s_max": 1.0, "n_s": 3}
        >>> r = finite_size_curves(p)
        >>> r.sizes.tolist(), r.activity.shape
        ([2, 3, 4], (3, 3))
        >>> round(float(r.activity[-1, 0]), 12)   # 2c(1-c)(1 + (L-1)c)/L
        0.1995
    """
    n = max(3, min(integer(n_s, "n_s", minimum=2), integer(_get(params, "n_s", "the s grid"), "params['n_s']",
                                                               minimum=2)))
    if params.get("model") in _quantum.QUANTUM_MODELS:  # no size: L = 1, the photon flux -θ'(s)
        return _quantum.quantum_phase_curves(_quantum.quantum_scgf(params, _s_grid(params, n)))
    return _models.activity_phase_diagram(lambda size: markov_model(_at_size(params, size)),
                                          finite_size_sizes(params, n_sizes), _s_grid(params, n))


def markov_cloning(params: Mapping[str, Any]):
    """The ``cloning`` task's population-dynamics run on a preset.

    :func:`~nephlab.largedev.cloning` of :func:`markov_model` at ``s`` with ``n_clones``,
    ``t_max``, ``n_runs`` independent populations (one vectorised call, one ``seed``), and
    ``burn_in = burn_in_fraction * t_max``; trajectories are not stored. The same params give the
    same numbers.

    Args:
        params: a preset with ``s`` (1/[A]), ``n_clones``, ``t_max`` (time), ``n_runs``,
            ``burn_in_fraction`` and ``seed``.

    Returns:
        :class:`~nephlab.largedev.CloningResult`: ``scgf`` ± ``stderr`` (1/time), ``scgf_runs
        (n_runs,)``, ``times (n_steps,)``, ``running_scgf (n_runs, n_steps)``.

    Example:
        >>> p = {"model": "two_state", "a": 1.0, "b": 1.0, "s": 0.5, "n_clones": 100, "t_max": 10.0,
        ...      "n_runs": 2, "burn_in_fraction": 0.1, "seed": 0}
        >>> r = markov_cloning(p)
        >>> r.scgf_runs.shape, r.running_scgf.shape[0]
        ((2,), 2)
    """
    from nephlab.largedev.cloning import cloning

    proc, obs = markov_model(params)
    g = lambda k: _get(params, k, "markov_cloning")  # noqa: E731
    return cloning(proc, g("s"), obs, n_clones=g("n_clones"), t_max=g("t_max"), seed=g("seed"),
                   n_runs=g("n_runs"), burn_in=float(g("burn_in_fraction")) * float(g("t_max")),
                   store_trajectories=False)


def pooled_estimate(estimates: Any, stderrs: Any = None) -> tuple[float, float]:
    """Mean of independent estimates and its standard error.

    With two or more estimates the error is the spread between them, ``std(ddof=1)/sqrt(n)``
    (no assumption on each estimate's own error bar); with one estimate it is that estimate's
    own ``stderrs[0]`` (NaN if not given).

    Args:
        estimates: shape ``(n,)``, ``n >= 1``, finite (e.g. ``CloningResult.scgf_runs``).
        stderrs: shape ``(n,)`` or a scalar, the estimates' own errors, or None.

    Returns:
        ``(mean, stderr)``, floats in the units of the estimates.

    Example:
        >>> pooled_estimate([1.0, 2.0, 3.0])
        (2.0, 0.5773502691896258)
        >>> pooled_estimate([1.5], 0.1)
        (1.5, 0.1)
    """
    est = np.asarray(estimates, dtype=float).reshape(-1)
    if est.size < 1 or not np.all(np.isfinite(est)):
        raise ValueError(f"estimates must be a non-empty array of finite numbers, got {estimates!r}")
    if est.size >= 2:
        return float(est.mean()), float(est.std(ddof=1) / math.sqrt(est.size))
    err = float("nan") if stderrs is None else float(np.asarray(stderrs, dtype=float).reshape(-1)[0])
    return float(est[0]), err


# --------------------------------------------------------------------------------------------
# committor presets
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CommittorProblem:
    """A committor preset set up on its grid (see :func:`committor_problem`).

    Attributes:
        potential: the preset's name; beta: inverse temperature (1/energy).
        V: the potential (energy): ``V(x)`` in 1D, vectorised ``V(X, Y)`` in 2D.
        A, B: the reactant and product sets: thresholds ``a``, ``b`` (1D: A = {x <= a},
            B = {x >= b}), boolean functions ``f(X, Y)`` or disks ``((cx, cy), r)`` (2D).
        x: grid ``(nx,)``; y: grid ``(ny,)`` with the spacing of x, or None in 1D (length).
    """

    potential: str
    beta: float
    V: Callable
    A: Any
    B: Any
    x: np.ndarray
    y: np.ndarray | None

    @property
    def ndim(self) -> int:
        """1 or 2."""
        return 1 if self.y is None else 2

    def solve(self) -> np.ndarray:
        """The committor q (probability to reach B before A) on the grid: ``(nx,)`` by exact
        quadrature (:func:`~nephlab.largedev.committor_1d`) or ``(nx, ny)`` by the grid solve of
        :func:`~nephlab.largedev.committor_2d`.

        Example:
            >>> prob = committor_problem({"potential": "double_well_1d", "beta": 3.0, "a": -1.0, "b": 1.0,
            ...                           "n_grid": 3})
            >>> [round(float(v), 9) for v in prob.solve()]
            [0.0, 0.5, 1.0]
        """
        from nephlab.largedev.committor import committor_1d, committor_2d

        if self.y is None:
            return np.asarray(committor_1d(self.V, self.A, self.B, self.beta, self.x), float)
        return np.asarray(committor_2d(self.V, self.A, self.B, self.beta, self.x, self.y), float)


def committor_problem(params: Mapping[str, Any]) -> CommittorProblem:
    """The potential, the sets A and B and the grid of a committor preset (the ``committor`` task's set-up).

    Args:
        params: ``potential`` (one of :data:`COMMITTOR_POTENTIALS`), ``beta`` (1/energy),
            ``n_grid`` (points along x), and ``a``, ``b`` (double wells) or ``radius`` (Müller–Brown).

    Returns:
        :class:`CommittorProblem`. Grids: 1D ``linspace(a, b, n_grid)``; ``double_well_2d``
        ``linspace(-1.5, 1.5, n_grid)`` in x and y; ``muller_brown`` ``linspace(-1.5, 1.2,
        n_grid)`` in x and the same spacing from y = -0.2 to 2.0.

    Example:
        >>> prob = committor_problem({"potential": "muller_brown", "beta": 0.05, "radius": 0.1, "n_grid": 28})
        >>> prob.x.size, prob.y.size, prob.A
        (28, 23, ((-0.558, 1.442), 0.1))
    """
    from nephlab.largedev.potentials import double_well_1d, double_well_2d, muller_brown

    pot = one_of(_get(params, "potential", "committor_problem"), "params['potential']", COMMITTOR_POTENTIALS)
    need = lambda k: _get(params, k, f"potential {pot!r}")  # noqa: E731
    beta = float(need("beta"))
    n = integer(need("n_grid"), "params['n_grid']", minimum=3)
    if pot == "muller_brown":
        (x0, x1), (y0, y1) = MULLER_BROWN_BOX
        x = np.linspace(x0, x1, n)
        h = x[1] - x[0]
        y = y0 + h * np.arange(int(round((y1 - y0) / h)) + 1)
        r = float(need("radius"))
        return CommittorProblem(pot, beta, muller_brown, (MULLER_BROWN_A, r), (MULLER_BROWN_B, r), x, y)
    a, b = float(need("a")), float(need("b"))
    if not a < b:
        raise ValueError(f"params['a'] = {a!r} and params['b'] = {b!r}: allowed: a < b")
    if pot == "double_well_1d":
        return CommittorProblem(pot, beta, double_well_1d, a, b, np.linspace(a, b, n), None)
    if not (_DW_BOX[0] < a and b < _DW_BOX[1]):
        raise ValueError(f"params['a'] = {a!r}, params['b'] = {b!r} must lie inside the box {_DW_BOX} of "
                         "potential 'double_well_2d'")
    g = np.linspace(*_DW_BOX, n)
    return CommittorProblem(pot, beta, double_well_2d, lambda X, Y: X <= a, lambda X, Y: X >= b, g, g)


def transition_paths(problem: CommittorProblem, q: Any = None, n_paths: int = 1, seed: int = 0,
                     max_steps: int = 200_000) -> list[np.ndarray]:
    """Transition paths A -> B of a 2D committor preset: exact reactive paths of the grid
    dynamics (:func:`~nephlab.largedev.reactive_paths_2d`, Doob's h-transform by q).

    Args:
        problem: a 2D :class:`CommittorProblem`.
        q: its committor ``(nx, ny)`` (:meth:`CommittorProblem.solve`), computed if None.
        n_paths: number of paths (>= 1); seed: NumPy seed; max_steps: jumps at most per path.

    Returns:
        list of ``n_paths`` arrays ``(n_i, 3)``, columns ``t`` (time, γ = 1), ``x``, ``y``.

    Example:
        >>> prob = committor_problem({"potential": "double_well_2d", "beta": 3.0, "a": -1.0, "b": 1.0,
        ...                           "n_grid": 31})
        >>> path = transition_paths(prob, seed=1)[0]
        >>> path.shape[1], bool(path[-1, 1] >= 1.0)
        (3, True)
    """
    from nephlab.largedev.committor import reactive_paths_2d

    if not isinstance(problem, CommittorProblem):
        raise TypeError(f"problem must be a CommittorProblem (committor_problem(params)), got "
                        f"{type(problem).__name__}")
    if problem.y is None:
        raise ValueError(f"problem: transition paths need a 2D potential, got {problem.potential!r}; allowed: "
                         "'double_well_2d' or 'muller_brown'")
    return reactive_paths_2d(problem.V, problem.A, problem.B, problem.beta, problem.x, problem.y, q=q,
                             n_paths=n_paths, seed=seed, max_steps=max_steps)

