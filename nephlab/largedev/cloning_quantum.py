"""Cloning (population dynamics) over quantum-jump trajectories: θ(s) of counted quantum jumps.

A population of ``n_clones`` pure states follows the quantum-jump unravelling of the Lindblad
equation (Monte-Carlo wave functions, time step ``dt``): each step a clone evolves with the
non-Hermitian ``H_eff = H - i/2 Σ_k c_k†c_k`` (exact step propagator), loses norm ``p``, and jumps
with probability ``p`` into channel k (chosen with weight ``||c_k ψ||²``), then is renormalised.
A clone that jumped in channel k gets the weight ``e^{-s w_k}``, one that did not the weight 1;
the population is resampled in proportion to the weights (multinomial), and

    θ(s) ≈ (1/(t_max - t_burn)) Σ_{steps after t_burn} ln(mean weight of the step)

estimates θ(s) = lim (1/t) ln ⟨exp(-s A_t)⟩ (the convention of :mod:`nephlab.largedev` and of
:func:`nephlab.quantum.counting_statistics`), ``A_t = Σ_k w_k N_k(t)``. Biases: O(dt) from the
time step (at most one jump per step), O(1/n_clones) from the finite population and O(1/t) from
the finite time; ``stderr`` (from ``n_runs`` independent populations) is statistical only.
Units: ħ = 1, time as in H; s in 1/[w].

Example:
    >>> import numpy as np
    >>> from nephlab.quantum import sigmam, sigmax
    >>> r = quantum_cloning(0.5 * sigmax(), [sigmam()], [1.0], 0.0, n_clones=10, t_max=1.0, dt=0.1, seed=0)
    >>> r.scgf                                      # s = 0: every weight is 1
    0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import scipy.linalg

from nephlab._result import ResultBase, attr, var
from nephlab._validate import integer, real_number

__all__ = ["QuantumCloningResult", "quantum_cloning"]


@dataclass(frozen=True, repr=False)
class QuantumCloningResult(ResultBase):
    """θ(s) by cloning over quantum-jump trajectories (see :func:`quantum_cloning`).

    Attributes:
        s: counting field (1/[w]).
        scgf: mean of the runs' estimates (1/time).
        stderr: its standard error, ``std(scgf_runs, ddof=1)/sqrt(n_runs)`` (NaN for one run).
        scgf_runs: ``(n_runs,)`` the independent estimates.
        n_clones, t_max, dt: the population size and the times.

    ``to_xarray()`` gives a Dataset with ``scgf_runs(run)`` and the scalars in attrs.
    """

    s: float = attr()
    scgf: float = attr()
    stderr: float = attr()
    scgf_runs: np.ndarray = var("run", units="1/time", long_name="per-run SCGF estimate")
    n_clones: int = attr()
    t_max: float = attr()
    dt: float = attr()

    xarray_attrs = {"units": "scgf, stderr: 1/time; s: 1/[w]; dt, t_max: time"}


def _positive(x: Any, name: str) -> float:
    v = real_number(x, name)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return v


def quantum_cloning(H: Any, c_ops: Sequence[Any], weights: Any, s: float, *, n_clones: int = 500,
                    t_max: float = 20.0, dt: float = 0.005, n_runs: int = 4, burn_in_fraction: float = 0.2,
                    seed: int = 0) -> QuantumCloningResult:
    """θ(s) of the weighted jump count ``A_t = Σ_k w_k N_k(t)`` by cloning quantum trajectories.

    Args:
        H: Hermitian Hamiltonian (n, n), energy units (ħ = 1); array or ``Qobj``.
        c_ops: K collapse operators (n, n), units sqrt(1/time).
        weights: K real counting weights (as :func:`nephlab.quantum.counting_statistics`).
        s: finite counting field (1/[w]).
        n_clones: population size (>= 2). t_max: duration (> 0). dt: time step (> 0, <= t_max).
        n_runs: independent populations (>= 1), seeds ``seed, seed + 1, ...``.
        burn_in_fraction: leading fraction of [0, t_max] left out of the estimate, in [0, 1).
        seed: integer seed (``numpy.random.default_rng``).

    Returns:
        :class:`QuantumCloningResult` (θ in 1/time). Each clone starts in the first basis state.

    Example:
        >>> from nephlab.quantum import sigmam, sigmax
        >>> r = quantum_cloning(0.5 * sigmax(), [sigmam()], [1.0], 0.5, n_clones=50, t_max=2.0, dt=0.05, n_runs=2)
        >>> r.scgf_runs.shape, r.scgf < 0
        ((2,), True)
    """
    from nephlab.quantum._convert import to_numpy

    Hm = np.asarray(to_numpy(H, "H"), complex)
    if Hm.ndim != 2 or Hm.shape[0] != Hm.shape[1]:
        raise ValueError(f"H must be a square (n, n) operator, got shape {Hm.shape}")
    if not np.allclose(Hm, Hm.conj().T, atol=1e-12):
        raise ValueError("H must be Hermitian")
    if not isinstance(c_ops, (list, tuple)) or not c_ops:
        raise TypeError(f"c_ops must be a non-empty list of (n, n) collapse operators, got {c_ops!r}")
    C = [np.asarray(to_numpy(c, f"c_ops[{k}]"), complex) for k, c in enumerate(c_ops)]
    for k, c in enumerate(C):
        if c.shape != Hm.shape:
            raise ValueError(f"c_ops[{k}] must have the shape of H {Hm.shape}, got {c.shape}")
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(C),) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must hold one finite real weight per collapse operator ({len(C)},), got {weights!r}")
    sv = real_number(s, "s")
    if not math.isfinite(sv):
        raise ValueError(f"s must be finite, got {s!r}")
    n_clones, n_runs = integer(n_clones, "n_clones", minimum=2), integer(n_runs, "n_runs")
    t_max, dt = _positive(t_max, "t_max"), _positive(dt, "dt")
    if dt > t_max:
        raise ValueError(f"dt = {dt!r} must be <= t_max = {t_max!r}")
    burn = real_number(burn_in_fraction, "burn_in_fraction")
    if not 0.0 <= burn < 1.0:
        raise ValueError(f"burn_in_fraction must be in [0, 1), got {burn_in_fraction!r}")
    seed = integer(seed, "seed", minimum=0)

    n = Hm.shape[0]
    U = scipy.linalg.expm(-1j * dt * (Hm - 0.5j * sum(c.conj().T @ c for c in C)))  # no-jump step
    factors = np.exp(-sv * w)
    n_steps = max(1, int(round(t_max / dt)))
    first = int(burn * n_steps)
    runs = np.empty(n_runs)
    for r in range(n_runs):
        rng = np.random.default_rng(seed + r)
        psi = np.zeros((n_clones, n), complex)
        psi[:, 0] = 1.0
        log_sum = 0.0
        for step in range(n_steps):
            phi = psi @ U.T
            p = 1.0 - np.einsum("ci,ci->c", phi.conj(), phi).real  # norm lost: jump probability
            jump = rng.random(n_clones) < p
            weight = np.ones(n_clones)
            if jump.any():
                jp = psi[jump]
                cps = np.stack([jp @ c.T for c in C], axis=1)  # (J, K, n)
                rates = np.einsum("jki,jki->jk", cps.conj(), cps).real
                cum = np.cumsum(rates, axis=1)
                u = rng.random(jp.shape[0]) * cum[:, -1]
                k = np.minimum((u[:, None] >= cum).sum(axis=1), len(C) - 1)
                phi[jump] = cps[np.arange(jp.shape[0]), k]
                weight[jump] = factors[k]
            phi /= np.linalg.norm(phi, axis=1, keepdims=True)
            mean_w = weight.mean()
            if step >= first:
                log_sum += math.log(mean_w)
            if jump.any() and sv != 0.0:  # resample in proportion to the weights
                psi = phi[rng.choice(n_clones, size=n_clones, p=weight / weight.sum())]
            else:
                psi = phi
        runs[r] = log_sum / ((n_steps - first) * dt)
    se = float(runs.std(ddof=1) / math.sqrt(n_runs)) if n_runs > 1 else float("nan")
    return QuantumCloningResult(sv, float(runs.mean()), se, runs, n_clones, t_max, dt)
