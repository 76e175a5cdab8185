"""The ``spectrum`` task: the steady-state emission spectrum of a ``lindblad`` model preset
(:func:`nephlab.quantum.spectrum`), with the steady state's photon statistics.

``S(ω) = ∫ dτ e^{-iωτ} (⟨L†(τ) L(0)⟩ - |⟨L⟩|²)`` with ``L`` the preset's lowering operator (``a``
for the oscillator, ``Σ_i σ-_i`` for the spin presets), in the frame rotating with the drive
(ω measured from the drive frequency): QuTiP's two-sided convention without the coherent peak,
so ``∫ S dω / 2π = ⟨L†L⟩ - |⟨L⟩|²``. Also ``g2_0 = ⟨L†L†LL⟩ / ⟨L†L⟩²`` and ``n_ss = ⟨L†L⟩``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _models
from ._registry import Task, recommend_executor, register
from ._spec import Param, TaskSpec
from ._util import check_ordered, dataset, scalar

__all__ = ["SPEC", "SPECTRUM"]


def _check(p: dict) -> None:
    _models.check_model("spectrum", p)
    check_ordered("spectrum", p, "w_min", "w_max")


SPEC = TaskSpec(
    "spectrum",
    "Steady-state emission spectrum S(ω) of a Lindblad model preset (quantum regression theorem, "
    "Liouvillian resolvent), with <L†L> and g2(0) of the steady state.",
    _models.model_params()
    + (
        Param("w_min", "float", -3.0, "lowest frequency, measured from the drive", units="energy",
              minimum=-1e4, maximum=1e4),
        Param("w_max", "float", 3.0, "highest frequency, measured from the drive", units="energy",
              minimum=-1e4, maximum=1e4),
        Param("n_w", "int", 301, "points of the frequency grid", minimum=2, maximum=100_000),
    ),
    check=_check,
)


def run(p: dict) -> dict[str, np.ndarray]:
    """Compute one validated point.

    Example (resonance fluorescence: one atom emits one photon at a time, g2(0) = 0):
        >>> out = run(SPEC.validate({"model": "qubit", "F": 0.5, "gamma": 1.0, "n_w": 5}))
        >>> out["spectrum"].shape, round(float(out["g2_0"]), 12)
        ((5,), 0.0)
    """
    from ..quantum import spectrum, steadystate

    m = _models.build(p)
    c_ops = m.c_ops(p["gamma"], p["nth"])
    L = m.lowering.sum(axis=0)
    Ld = L.conj().T
    w = np.linspace(p["w_min"], p["w_max"], p["n_w"])
    rho = np.asarray(steadystate(m.H, c_ops))
    S = np.asarray(spectrum(m.H, w, c_ops, Ld, L, state0=rho), dtype=float)
    n_ss = float(np.real(np.trace(Ld @ L @ rho)))
    g2 = float(np.real(np.trace(Ld @ Ld @ L @ L @ rho))) / n_ss**2 if n_ss > 0 else float("nan")
    coh = float(abs(np.trace(L @ rho)) ** 2)
    return {"omega": w, "spectrum": S, "n_ss": scalar(n_ss), "g2_0": scalar(g2), "coherent_part": scalar(coh)}


def to_dataset(out: Mapping[str, np.ndarray], p: Mapping[str, Any]):
    """Dataset with ``spectrum(omega)`` and scalars ``n_ss``, ``g2_0``, ``coherent_part``."""
    return dataset(
        {
            "spectrum": (("omega",), out["spectrum"], "1/energy", "S(omega) of L† and L, coherent part removed"),
            "n_ss": ((), out["n_ss"], "", "steady-state <L†L>"),
            "g2_0": ((), out["g2_0"], "", "g2(0) = <L†L†LL>/<L†L>^2 in the steady state"),
            "coherent_part": ((), out["coherent_part"], "", "|<L>|^2, the weight of the removed coherent peak"),
        },
        {"omega": (out["omega"], "energy", "frequency from the drive")},
    )


def estimate(p: dict) -> dict:
    """Memory: the d²×d² Liouvillian and its Schur form (three dense copies, 16 d⁴ bytes each)
    plus a bounded workspace over ω. Time: one Schur decomposition (~25 d⁶ flops) and one
    triangular solve per frequency (d⁴ flops), at 2 GFLOP/s.

    Example:
        >>> estimate(SPEC.validate({"model": "qubit"}))["executor"]
        'in-process'
    """
    d = _models.dimension(p["model"], p["n"])
    mem = 3 * 16 * d**4 + 64 * 2**20
    seconds = 1e-3 + (25.0 * d**6 + p["n_w"] * 4.0 * d**4) / 2e9
    return {"memory_bytes": int(mem), "seconds": float(seconds), "executor": recommend_executor(mem, seconds),
            "device": "cpu"}


SPECTRUM = register(Task(SPEC, run, to_dataset, estimate=estimate))
