"""The ``lindblad`` task: :func:`nephlab.mesolve` on a model preset, and
:func:`lindblad_custom` for your own operators from Python.

Presets: see :mod:`nephlab.tasks._models` (driven damped oscillator with Kerr term and
detuning, qubit, coupled qubits, XX spin chain). Outputs: ``n_mean(time)`` (⟨a†a⟩, or the total
excitation of spin models), ``entropy(time)`` (von Neumann, nats), ``purity(time)`` (Tr ρ²) and
the final state ``rho_final_real/imag(row, col)``. Points that share ``model``, ``n``,
``n_times``, ``t_max``, ``method`` (and tolerances) run as one batched ``mesolve`` call.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..quantum.methods import Problem, auto_method, get_method, method_choices, method_options
from . import _models
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import device_param, gpu_resources, on_device

__all__ = ["LINDBLAD", "SPEC", "bloch_ops", "inputs", "lindblad_custom", "solver_kwargs", "stream"]

METHODS: tuple[str, ...] = method_choices()  # "auto" and every registered method
FIXED_STEP: tuple[str, ...] = tuple(m for m in METHODS if "dt" in method_options(m))

SPEC = TaskSpec(
    "lindblad",
    "Lindblad master equation (nephlab.mesolve) of a model preset from its initial state "
    "(vacuum / all spins down): <n>(t), entropy, purity and the final state.",
    _models.model_params()
    + (
        Param("t_max", "float", 10.0, "final time (start at t = 0)", units="time", minimum=0.0,
              exclusive_minimum=True, maximum=1e6),
        Param("n_times", "int", 101, "number of saved times in [0, t_max]", minimum=2, maximum=100_000),
        Param("method", "str", "auto", "mesolve method (auto: expm for small time-independent problems, else tsit5)",
              choices=METHODS),
        Param("dt", "float", 0.01, f"step of the fixed-step methods {', '.join(FIXED_STEP)} (ignored by the others)",
              units="time", minimum=0.0, exclusive_minimum=True),
        Param("rtol", "float", 1e-6, "relative tolerance of the adaptive methods", minimum=0.0,
              exclusive_minimum=True, maximum=0.1),
        Param("atol", "float", 1e-8, "absolute tolerance of the adaptive methods", minimum=0.0,
              exclusive_minimum=True, maximum=0.1),
        device_param(),
    ),
    check=lambda p: _models.check_model("lindblad", p),
)


def solver_kwargs(p: Mapping[str, Any]) -> dict:
    """The ``mesolve`` keywords of a point: method, tolerances, and ``dt`` if the method takes it.

    Example:
        >>> solver_kwargs({"method": "rk4", "rtol": 1e-6, "atol": 1e-8, "dt": 0.01})["dt"]
        0.01
        >>> "dt" in solver_kwargs({"method": "tsit5", "rtol": 1e-6, "atol": 1e-8, "dt": 0.01})
        False
    """
    kw: dict[str, Any] = {"method": p["method"], "rtol": p["rtol"], "atol": p["atol"]}
    if "dt" in method_options(p["method"]):
        kw["dt"] = p["dt"]
    return kw


def _tlist(p: dict) -> np.ndarray:
    return np.linspace(0.0, p["t_max"], p["n_times"])


def bloch_ops(d: int) -> dict[str, np.ndarray]:
    """``{"sigma_x", "sigma_y", "sigma_z"}`` (QuTiP's convention) for a two-level system, else ``{}``.

    Example:
        >>> list(bloch_ops(2)), bloch_ops(3)
        (['sigma_x', 'sigma_y', 'sigma_z'], {})
    """
    from ..quantum import sigmax, sigmay, sigmaz

    return {k: np.asarray(f()) for k, f in (("sigma_x", sigmax), ("sigma_y", sigmay), ("sigma_z", sigmaz))} if d == 2 else {}


def inputs(p: Mapping[str, Any]) -> dict[str, Any]:
    """The :func:`nephlab.mesolve` inputs of a validated point: ``H``, ``c_ops``, ``rho0``, ``tlist``,
    ``solver`` (method keywords, :func:`solver_kwargs`) and ``e_ops`` ``{name: operator}``:
    ``n_mean`` (what the task records), the quadratures ``x = (a + a†)/√2``, ``p = (a - a†)/(√2 i)``
    of the oscillator, and the Bloch components of a two-level model (:func:`bloch_ops`).

    Example:
        >>> sorted(inputs(SPEC.validate({"model": "qubit"}))["e_ops"])
        ['n_mean', 'sigma_x', 'sigma_y', 'sigma_z']
    """
    m = _models.build(dict(p))
    e_ops = {"n_mean": m.number}
    if p["model"] == "oscillator":
        a = m.lowering[0]
        e_ops.update(x=(a + a.conj().T) / np.sqrt(2.0), p=(a - a.conj().T) / (1j * np.sqrt(2.0)))
    e_ops.update(bloch_ops(m.H.shape[0]))
    return {"H": m.H, "c_ops": m.c_ops(p["gamma"], p["nth"]), "rho0": m.rho0, "tlist": _tlist(dict(p)),
            "solver": solver_kwargs(p), "e_ops": e_ops}


def _outputs(res, idx=()) -> dict[str, np.ndarray]:
    return _split(res, [idx])[0]


def _split(res, indices) -> list[dict[str, np.ndarray]]:
    """Per-point outputs of one (possibly batched) result: entropy, purity and the states are
    computed once for the whole batch and then sliced, so a batch of N points costs O(N)."""
    final = np.asarray(res.final_state)
    times = np.asarray(res.times, dtype=float)
    n_mean = np.asarray(res.expect[0]).astype(float)
    entropy = np.asarray(res.entropy()).astype(float) + 0.0  # no -0.0
    purity = np.asarray(res.purity()).astype(float)
    return [
        {
            "time": times,
            "n_mean": n_mean[idx],
            "entropy": entropy[idx],
            "purity": purity[idx],
            "rho_final_real": final[idx].real.copy(),
            "rho_final_imag": final[idx].imag.copy(),
        }
        for idx in indices
    ]


def stream(inp: Mapping[str, Any], recorder: Any = None, *, device: str = "auto", chunk: int = 0,
           attrs: Mapping[str, Any] | None = None):
    """Solve ``inp`` (the dict of :func:`inputs`, or your own operators under the same keys) with one
    streamed :func:`nephlab.mesolve` call on ``device`` (``auto``/``cpu``/``gpu``), recording every
    saved time as it is computed in ``recorder`` (a new :class:`nephlab.quantum.Recorder` with
    ``attrs`` by default); a dashboard reads the recorder while the solve runs.

    ``chunk``: saved times per compiled chunk (0: mesolve's default). Raises what mesolve or the
    recorder's ``on_point`` raise (a cancelled job stops the solve that way).

    Example:
        >>> rec = stream(inputs(SPEC.validate({"model": "qubit", "t_max": 1.0, "n_times": 3})))
        >>> rec.n_done, rec.e_names[0]
        (3, 'n_mean')
    """
    import jax

    from .. import mesolve
    from .._config import resolve_device
    from ..quantum import Recorder

    e_ops = dict(inp["e_ops"])
    if recorder is None:
        recorder = Recorder(inp["tlist"], inp["H"].shape[-1], list(e_ops), attrs=attrs)
    with jax.default_device(resolve_device(device, "device")):
        mesolve(inp["H"], inp["rho0"], inp["tlist"], inp["c_ops"], e_ops=list(e_ops.values()) or None,
                store_states=False, on_save=recorder, chunk=chunk or None, **inp["solver"])
    return recorder


def run(p: dict) -> dict[str, np.ndarray]:
    """Solve one validated point; return the named output arrays (see the module docstring).

    Example:
        >>> out = run(SPEC.validate({"n": 4, "n_times": 3, "t_max": 1.0}))
        >>> out["n_mean"].shape, out["rho_final_real"].shape
        ((3,), (4, 4))
    """
    from .. import mesolve

    m = _models.build(p)
    with on_device(p["device"], "lindblad"):
        res = mesolve(m.H, m.rho0, _tlist(p), m.c_ops(p["gamma"], p["nth"]), e_ops=[m.number], **solver_kwargs(p))
        return _outputs(res)


def batch_key(p: dict) -> tuple:
    """Points with equal keys share one batched solve: same operator shapes, times and solver."""
    return (p["model"], _models.dimension(p["model"], p["n"]), p["n_times"], p["t_max"], p["method"],
            p["dt"] if "dt" in method_options(p["method"]) else None, p["rtol"], p["atol"], p["nth"] > 0, p["device"])


def run_many(points: list[dict]) -> list[dict[str, np.ndarray]]:
    """Solve many validated points with equal :func:`batch_key` in ONE ``mesolve`` call
    (H and c_ops stacked along a leading batch axis).

    Example:
        >>> pts = [SPEC.validate({"n": 4, "n_times": 3, "F": F}) for F in (0.1, 0.2)]
        >>> [o["n_mean"].shape for o in run_many(pts)]
        [(3,), (3,)]
    """
    from .. import mesolve

    if not points:
        return []
    keys = {batch_key(p) for p in points}
    if len(keys) != 1:
        raise ValueError(f"lindblad.run_many: points must share one batch_key, got {len(keys)} different keys")
    models = [_models.build(p) for p in points]
    H = np.stack([m.H for m in models])
    cs = [m.c_ops(p["gamma"], p["nth"]) for m, p in zip(models, points)]
    c_ops = [np.stack([c[k] for c in cs]) for k in range(len(cs[0]))]
    p0 = points[0]
    with on_device(p0["device"], "lindblad"):
        res = mesolve(H, models[0].rho0, _tlist(p0), c_ops, e_ops=[models[0].number], **solver_kwargs(p0))
        return _split(res, [(i,) for i in range(len(points))])


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """The outputs as an ``xarray.Dataset``: dims ``time``, ``row``, ``col``; variables
    ``n_mean``, ``entropy``, ``purity``, ``rho_final_real``, ``rho_final_imag`` (all float64).

    Example:
        >>> ds = to_dataset(run(SPEC.validate({"n": 3, "n_times": 2})), SPEC.validate({"n": 3, "n_times": 2}))
        >>> sorted(ds.data_vars)
        ['entropy', 'n_mean', 'purity', 'rho_final_imag', 'rho_final_real']
    """
    import xarray as xr

    d = out["rho_final_real"].shape[-1]
    idx = np.arange(d)
    what = "<a†a>" if p.get("model", "oscillator") == "oscillator" else "total excitation Σ<σ+σ->"
    ds = xr.Dataset(
        {
            "n_mean": ("time", out["n_mean"], {"long_name": f"mean excitation {what}", "units": ""}),
            "entropy": ("time", out["entropy"], {"long_name": "von Neumann entropy -Tr ρ ln ρ", "units": "nats"}),
            "purity": ("time", out["purity"], {"long_name": "purity Tr ρ²", "units": ""}),
            "rho_final_real": (("row", "col"), out["rho_final_real"], {"long_name": "Re ρ(t_max)", "units": ""}),
            "rho_final_imag": (("row", "col"), out["rho_final_imag"], {"long_name": "Im ρ(t_max)", "units": ""}),
        },
        coords={
            "time": ("time", out["time"], {"units": "time", "long_name": "time (ħ = 1)"}),
            "row": ("row", idx, {"long_name": "basis index"}),
            "col": ("col", idx, {"long_name": "basis index"}),
        },
    )
    return ds


def estimate(p: dict) -> dict:
    """Rough cost of one point (order of magnitude, compilation excluded).

    ``memory_bytes``: the method's own estimate (:meth:`nephlab.quantum.methods.Method.memory_bytes`,
    states stored at every time). ``seconds``: the method's :meth:`~nephlab.quantum.methods.Method.seconds`
    given the cost of one right-hand side: the operators' storage (banded "dia" with w diagonals,
    or dense with w = d) gives ~8 w d² (2 + 2K) flops (K collapse operators) at 5 GFLOP/s plus
    0.5 ms of overhead, and r the largest of the model's rates and couplings. Recommended
    device: ``gpu`` for d >= 64. ``memory_bytes_dense``/``memory_bytes_sparse``: the same call
    with dense and with sparse operator storage (:func:`nephlab.quantum.mesolve.footprints`);
    ``suggestion`` (only where the dense footprint exceeds the free memory here): what to do.

    Example:
        >>> e = estimate(SPEC.validate({"n": 10}))
        >>> e["device"], e["memory_bytes"] > 0
        ('cpu', True)
    """
    from ..quantum import _ops

    d = _models.dimension(p["model"], p["n"])
    T = p["n_times"]
    m = _models.build(p)
    c_ops = m.c_ops(p["gamma"], p["nth"])
    problem = Problem(n=d, n_times=T, n_c_ops=len(c_ops), n_eops=1)
    options = {k: v for k, v in solver_kwargs(p).items() if k != "method"}
    meth = (get_method(p["method"]) or auto_method(problem)).configure(**options)
    mem = meth.memory_bytes(problem)
    fmt, offsets = _ops.choose_format([m.H] + c_ops)
    w = len(offsets) if fmt == "dia" else d
    rhs = 5e-4 + 8.0 * w * d * d * (2 + 2 * len(c_ops)) / 5e9
    rate = p["gamma"] * (1 + 2 * p["nth"]) + 2 * abs(p["F"]) + abs(p["delta"]) + abs(p["J"]) + abs(p["kerr"]) * d
    seconds = meth.seconds(n=d, n_times=T, t_max=p["t_max"], rate=rate, rhs_seconds=rhs)
    out = {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
           "device": "gpu" if d >= 64 else "cpu"}
    out.update(_footprints(meth, problem, m.H, c_ops))
    return out


def _footprints(meth, problem, H, c_ops) -> dict:
    """Dense and sparse memory of the point and, where it does not fit this machine, a suggestion."""
    import dataclasses

    import scipy.sparse as sp

    from ..quantum._ops import gathered_rows
    from ..quantum.mesolve import MEMORY_FRACTION, _available_bytes, footprints

    heff = sp.csr_matrix(H) - 0.5j * sum((sp.csr_matrix(L).conj().T @ sp.csr_matrix(L) for L in c_ops), sp.csr_matrix(H.shape))
    nnz = [heff.nnz] + [int(np.count_nonzero(L)) for L in c_ops]
    rows = max(gathered_rows(m) for m in [heff] + [sp.csr_matrix(L) for L in c_ops])
    fp = footprints(dataclasses.replace(problem, op_nnz=int(sum(nnz)), max_nnz=rows), meth)
    out: dict = {"memory_bytes_dense": fp["dense"], "memory_bytes_sparse": fp.get("sparse", fp["dense"])}
    avail, what = _available_bytes()
    if fp["dense"] > MEMORY_FRACTION * avail:
        tips = []
        if type(meth).supports_sparse and fp["sparse"] <= MEMORY_FRACTION * avail:
            tips.append(f"sparse operators (mesolve format='sparse', about {fp['sparse'] / 1e9:.2g} GB)")
        tips.append("trajectories (mcsolve: one ket per trajectory)")
        tips.append("a GPU or cluster profile with more memory")
        out["suggestion"] = (f"needs about {fp['dense'] / 1e9:.2g} GB dense but {avail / 1e9:.2g} GB of {what} is "
                             "available here; use " + ", ".join(tips))
    return out


LINDBLAD = register(Task(SPEC, run, to_dataset, batch_fn=run_many, batch_key=batch_key, resources=gpu_resources,
                         estimate=estimate))


def lindblad_custom(
    H: Any,
    c_ops: Any,
    rho0: Any,
    *,
    t_max: float = 10.0,
    n_times: int = 101,
    e_ops: Mapping[str, Any] | None = None,
    method: str = "auto",
    **mesolve_options: Any,
):
    """The ``lindblad`` task for your own operators (Python only: operators are not JSON).

    Args:
        H: Hamiltonian (n, n) (or batch (..., n, n), or any form :func:`nephlab.mesolve` takes),
            energy units (ħ = 1).
        c_ops: list of collapse operators (n, n), units sqrt(1/time).
        rho0: initial density matrix (n, n) or ket (n,).
        t_max: final time (> 0); times are ``linspace(0, t_max, n_times)``.
        n_times: number of saved times (>= 2).
        e_ops: ``{name: operator (n, n)}``: each Hermitian one becomes a variable ``name(time)``
            (real), a non-Hermitian one ``name_real``/``name_imag``.
        method: mesolve method name.
        **mesolve_options: passed to :func:`nephlab.mesolve` (``rtol``, ``atol``, ``dt``, ...).

    Returns:
        ``xarray.Dataset`` with ``entropy(time)``, ``purity(time)``, ``rho_final_real/imag(row,
        col)``, the ``e_ops`` variables (batch dims ``batch_0``, ... first when batched) and the
        provenance attrs of :func:`~nephlab.tasks.run_task` (``task='lindblad_custom'``;
        ``params`` holds the scalar arguments only).

    Example:
        >>> import numpy as np
        >>> a = np.diag([1.0, np.sqrt(2)], 1)
        >>> rho0 = np.diag([0.0, 1.0, 0.0])
        >>> ds = lindblad_custom(a.T @ a, [np.sqrt(0.5) * a], rho0, t_max=1.0, n_times=5, e_ops={"n": a.T @ a})
        >>> round(float(ds.n[-1]), 6) == round(float(np.exp(-0.5)), 6)
        True
    """
    import xarray as xr

    from .. import mesolve
    from ._registry import _device, _version

    if isinstance(t_max, bool) or not isinstance(t_max, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(t_max)) or t_max <= 0:
        raise ValueError(f"t_max must be a finite number > 0 (time units), got {t_max!r}")
    if isinstance(n_times, bool) or not isinstance(n_times, (int, np.integer)) or n_times < 2:
        raise ValueError(f"n_times must be an integer >= 2, got {n_times!r}")
    if e_ops is not None and not isinstance(e_ops, Mapping):
        raise TypeError(f"e_ops must be a dict {{name: operator}}, got {type(e_ops).__name__}")
    names = list(e_ops or {})
    for k in names:
        if not isinstance(k, str) or not k.isidentifier() or k in ("entropy", "purity", "time", "row", "col"):
            raise ValueError(f"e_ops key {k!r} must be an identifier other than entropy, purity, time, row, col")
    t0 = time.perf_counter()
    tl = np.linspace(0.0, float(t_max), int(n_times))
    res = mesolve(H, rho0, tl, c_ops, e_ops=[e_ops[k] for k in names] if names else None, method=method,
                  **mesolve_options)
    wall = time.perf_counter() - t0
    bdims = [f"batch_{i}" for i in range(len(res.batch_shape))]
    final = np.asarray(res.final_state)
    d = final.shape[-1]
    data: dict[str, Any] = {
        "entropy": (bdims + ["time"], np.asarray(res.entropy(), dtype=float), {"units": "nats"}),
        "purity": (bdims + ["time"], np.asarray(res.purity(), dtype=float), {"units": ""}),
        "rho_final_real": (bdims + ["row", "col"], final.real.copy()),
        "rho_final_imag": (bdims + ["row", "col"], final.imag.copy()),
    }
    for k, v in zip(names, res.expect or []):
        v = np.asarray(v)
        if np.iscomplexobj(v):
            data[f"{k}_real"] = (bdims + ["time"], v.real.copy())
            data[f"{k}_imag"] = (bdims + ["time"], v.imag.copy())
        else:
            data[k] = (bdims + ["time"], v.astype(float))
    ds = xr.Dataset(data, coords={"time": ("time", tl, {"units": "time"}), "row": np.arange(d), "col": np.arange(d)})
    params = {"t_max": float(t_max), "n_times": int(n_times), "method": str(method), "e_ops": names}
    ds.attrs.update(task="lindblad_custom", params=json.dumps(params, sort_keys=True), nephlab_version=_version(),
                    device=_device(), wall_time_s=float(wall), solver_method=res.method)
    return ds
