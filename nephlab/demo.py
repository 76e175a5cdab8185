"""``nephlab demo``: a driven, damped harmonic oscillator in one call.

Model (ħ = 1, ω = 1): ``H = a†a + F (a + a†)`` on ``n`` Fock levels, one decay channel
``L = sqrt(γ) a`` with ``γ = 0.1``, start in a thermal state with ``n̄0 = 0.5``, times ``0..20``.

The dynamics is linear, so the state stays a displaced thermal state: its amplitude follows
``α(t) = α_ss (1 - exp(-(iω + γ/2) t))`` with ``α_ss = -F / (ω - iγ/2)`` and its thermal
occupation cools as ``n̄(t) = n̄0 e^{-γt}`` (the bath is at zero temperature). Hence, exactly,

    <n>(t) = |α(t)|² + n̄(t),   S(t) = (n̄+1) ln(n̄+1) - n̄ ln n̄,   Tr ρ² = 1 / (2 n̄ + 1),

and the demo prints the numerical values beside these, then writes a two-panel PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

OMEGA = 1.0
GAMMA = 0.1
T_FINAL = 20.0
N_TIMES = 201
NBAR0 = 0.5


def thermal_entropy(nbar) -> np.ndarray:
    """Von Neumann entropy (nats) of a thermal (or displaced thermal) state of occupation n̄."""
    nbar = np.asarray(nbar, dtype=float)
    return (nbar + 1) * np.log1p(nbar) - np.where(nbar > 0, nbar * np.log(np.where(nbar > 0, nbar, 1.0)), 0.0)


def analytic_n_ss(F: float, omega: float = OMEGA, gamma: float = GAMMA) -> float:
    """Steady-state photon number ``F² / (ω² + γ²/4)`` of ``H = ω a†a + F(a + a†)``, ``L = √γ a``.

    Example:
        >>> round(analytic_n_ss(0.5), 6)
        0.249377
    """
    return float(F**2 / (omega**2 + gamma**2 / 4.0))


def analytic_n(t, F: float, omega: float = OMEGA, gamma: float = GAMMA, nbar0: float = 0.0) -> np.ndarray:
    """Exact ``<n>(t) = |α(t)|² + n̄0 e^{-γt}`` from a thermal state of occupation ``nbar0``,
    with ``α(t) = α_ss (1 - e^{-(iω+γ/2)t})``.

    Example:
        >>> float(analytic_n(0.0, 0.5, nbar0=0.5))
        0.5
    """
    t = np.asarray(t, dtype=float)
    alpha_ss = -F / (omega - 0.5j * gamma)
    alpha = alpha_ss * (1.0 - np.exp(-(1j * omega + 0.5 * gamma) * t))
    return np.abs(alpha) ** 2 + nbar0 * np.exp(-gamma * t)


def run(n: int = 25, F: float = 0.5):
    """Solve the demo model; return the ``nephlab`` result (expectation value: ``<a†a>``)."""
    import nephlab
    from nephlab.quantum.operators import destroy, num, thermal_dm

    if n < 2:
        raise ValueError(f"n must be an integer >= 2 (Fock levels), got {n}")
    a = destroy(n)
    ad = a.conj().T
    H = OMEGA * num(n) + F * (a + ad)
    tlist = np.linspace(0.0, T_FINAL, N_TIMES)
    return nephlab.mesolve(H, thermal_dm(n, NBAR0), tlist, [np.sqrt(GAMMA) * a], e_ops=[num(n)])


def main(args: argparse.Namespace | None = None) -> int:
    """Run the demo with ``args.n``, ``args.F`` and ``args.out`` (PNG path); return 0."""
    n = int(getattr(args, "n", 25))
    F = float(getattr(args, "F", 0.5))
    out = Path(getattr(args, "out", "nephlab-demo.png"))

    res = run(n, F)
    t = np.asarray(res.times)
    nbar = np.real(np.asarray(res.expect[0]))
    S = np.asarray(res.entropy())
    P = np.asarray(res.purity())
    n_ss = analytic_n_ss(F)
    exact = analytic_n(t, F, nbar0=NBAR0)
    nth = NBAR0 * np.exp(-GAMMA * t)
    S_exact = thermal_entropy(nth)

    print(f"nephlab demo: H = a†a + F(a + a†), L = sqrt({GAMMA}) a, n = {n}, F = {F}, thermal start n̄0 = {NBAR0}")
    print(f"{'t':>6} {'<n>':>10} {'exact <n>':>10} {'S_vN':>10} {'exact S':>10} {'purity':>10}")
    shown = np.round(np.stack([nbar, exact, S, S_exact, P], axis=1), 6) + 0.0  # + 0.0: no "-0.000000"
    for i in np.linspace(0, len(t) - 1, 11).round().astype(int):
        print(f"{t[i]:6.1f} " + " ".join(f"{v:10.6f}" for v in shown[i]))
    stats = getattr(res, "stats", {}) or {}
    wall = stats.get("wall_time", float("nan"))
    print(
        f"method: {res.method}   device: {stats.get('device', '?')}   "
        f"wall time: {wall:.3f} s   steps: {stats.get('steps', '?')}"
    )
    print(f"max |<n> - exact| over t: {np.max(np.abs(nbar - exact)):.2e}; "
          f"max |S - exact| (n = {n} levels truncate the thermal tail): {np.max(np.abs(S - S_exact)):.2e}")
    print(
        f"steady state: analytic <n>_ss = F²/(ω²+γ²/4) = {n_ss:.6f}; <n>(t={t[-1]:g}) = "
        f"{nbar[-1]:.6f} (the amplitude relaxes as exp(-γt/2), not yet settled at t = {t[-1]:g})"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    ax0.plot(t, nbar, label=r"nephlab $\langle n \rangle(t)$")
    ax0.plot(t, exact, ls=":", color="C3", label="exact")
    ax0.axhline(n_ss, color="k", ls="--", lw=1, label=r"analytic $\langle n \rangle_{ss}$")
    ax0.set_xlabel("t  (1/ω)")
    ax0.set_ylabel(r"$\langle a^\dagger a \rangle$")
    ax0.set_title(f"driven damped oscillator, F = {F}, γ = {GAMMA}")
    ax0.legend()
    ax1.plot(t, S, label=r"$S_{vN}$ (nats)")
    ax1.plot(t, S_exact, ls=":", color="C3", label="exact")
    ax1.plot(t, P, label="purity Tr ρ²")
    ax1.plot(t, 1.0 / (2.0 * nth + 1.0), ls=":", color="k", label="exact 1/(2n̄+1)")
    ax1.set_xlabel("t  (1/ω)")
    ax1.set_title("entropy and purity: the bath cools the thermal part")
    ax1.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out.resolve()}")
    return 0
