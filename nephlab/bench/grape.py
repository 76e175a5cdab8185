"""GRAPE benchmark: nephlab vs qutip-qoc on the qutip-qoc Hadamard problem, side by side.

The problem (qutip-qoc ``tests/interactive/GRAPE_gate_closed``)::

    H(t) = 0.05 σz + u_x(t) σx + u_y(t) σy + u_z(t) σz,   u_j ∈ [-1, 1]
    t ∈ [0, π/2], 250 piecewise-constant slices, target: Hadamard gate (global phase free)
    initial guess: u_x = sin t, u_y = cos t, u_z = tanh t on the 250 slices

Both codes run L-BFGS-B with bounds. Accuracy targets are given in qutip-qoc's metric
``ε = 1 - |Tr(U_H† U)| / d``; nephlab minimises the squared gate infidelity
``1 - |Tr(U_H† U)|² / d² = 2ε - ε²`` and is asked for that value. After each run the final gate
is rebuilt independently (SciPy ``expm`` slice by slice) and both metrics are printed.

For each target and code: the first call (for nephlab it includes JIT compilation) and the
median of R further calls. Run ``python benchmarks/grape.py --help`` for options.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

T_END = math.pi / 2
N_SLICES = 250
OMEGA = 0.1

_SX = np.array([[0, 1], [1, 0]], complex)
_SY = np.array([[0, -1j], [1j, 0]])
_SZ = np.diag([1.0, -1.0]).astype(complex)
_HAD = np.array([[1, 1], [1, -1]], complex) / math.sqrt(2)


def _guess() -> np.ndarray:
    t = np.linspace(0, T_END, N_SLICES)
    return np.stack([np.sin(t), np.cos(t), np.tanh(t)])


def gate_errors(controls: np.ndarray) -> tuple[float, float]:
    """(ε_qoc = 1 - |Tr|/d, ε_sq = 1 - |Tr|²/d²) of piecewise-constant controls, by SciPy expm."""
    import scipy.linalg

    U = np.eye(2, dtype=complex)
    dt = T_END / N_SLICES
    for k in range(N_SLICES):
        Hk = 0.5 * OMEGA * _SZ + controls[0, k] * _SX + controls[1, k] * _SY + controls[2, k] * _SZ
        U = scipy.linalg.expm(-1j * Hk * dt) @ U
    ov = abs(np.trace(_HAD.conj().T @ U)) / 2
    return 1 - ov, 1 - ov**2


def run_nephlab(eps: float) -> np.ndarray:
    from nephlab.control.grape import grape

    res = grape(0.5 * OMEGA * _SZ, [_SX, _SY, _SZ], None, _HAD, T_END, N_SLICES, u_bounds=(-1, 1),
                u0=_guess(), fidelity="gate", target_infidelity=2 * eps - eps**2)
    return res.controls


def run_qutip_qoc(eps: float) -> np.ndarray:
    import qutip as qt
    from qutip_qoc import Objective, optimize_pulses

    g = _guess()
    H = [qt.Qobj(0.5 * OMEGA * _SZ), qt.sigmax(), qt.sigmay(), qt.sigmaz()]
    cp = {f"ctrl_{a}": {"guess": g[j], "bounds": [-1, 1]} for j, a in enumerate("xyz")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = optimize_pulses(
            objectives=Objective(qt.qeye(2), H, qt.Qobj(_HAD)), control_parameters=cp,
            tlist=np.linspace(0, T_END, N_SLICES), algorithm_kwargs={"alg": "GRAPE", "fid_err_targ": eps},
        )
    return np.asarray(res.optimized_controls, dtype=float)


def _time(fn: Callable[[float], np.ndarray], eps: float, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    u = fn(eps)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        u = fn(eps)
        times.append(time.perf_counter() - t0)
    e1, e2 = gate_errors(u)
    return {"first_s": first, "median_s": statistics.median(times), "eps_qoc": e1, "eps_sq": e2}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("nephlab", "jax", "numpy", "scipy", "qutip", "qutip_qoc", "qutip_qtrl"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            out[mod] = "n/a"
    return out


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical cores)"
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the benchmark; print a table (and optionally write JSON). Returns an exit code."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="1e-3,1e-7", help="comma-separated ε targets in qutip-qoc's metric")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats after the first call")
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    ap.add_argument("--skip-qutip-qoc", action="store_true")
    a = ap.parse_args(argv)
    targets = [float(x) for x in a.targets.split(",")]
    rows = []
    print(f"GRAPE Hadamard benchmark ({N_SLICES} slices, T = π/2); machine: {_cpu()}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()))
    hdr = f"{'target ε':>9} | {'code':>10} | {'first (s)':>9} | {'median (s)':>10} | {'ε=1-|Tr|/d':>11} | {'1-|Tr|²/d²':>10} | {'qoc/nephlab':>11}"
    print(hdr)
    print("-" * len(hdr))
    for eps in targets:
        neph = _time(run_nephlab, eps, a.repeats)
        qoc: dict[str, Any] | None = None
        if not a.skip_qutip_qoc:
            try:
                qoc = _time(run_qutip_qoc, eps, a.repeats)
            except Exception as exc:  # noqa: BLE001 - peer missing or broken: report n/a
                print(f"qutip-qoc: n/a ({type(exc).__name__}: {exc})")
        ratio = qoc["median_s"] / neph["median_s"] if qoc else float("nan")
        for name, r in (("nephlab", neph), ("qutip-qoc", qoc)):
            if r is None:
                print(f"{eps:9.0e} | {name:>10} | {'n/a':>9} | {'n/a':>10} | {'n/a':>11} | {'n/a':>10} |")
                continue
            rt = f"{ratio:11.2f}" if name == "nephlab" and qoc else ""
            print(f"{eps:9.0e} | {name:>10} | {r['first_s']:9.3f} | {r['median_s']:10.4f} | {r['eps_qoc']:11.2e} | {r['eps_sq']:10.2e} | {rt}")
        rows.append({"target_eps": eps, "nephlab": neph, "qutip_qoc": qoc, "ratio_qoc_over_nephlab": ratio})
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"machine": _cpu(), "versions": _versions(), "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
