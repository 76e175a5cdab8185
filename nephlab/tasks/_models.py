"""Model presets shared by the ``lindblad`` and ``steadystate`` tasks (NumPy, complex128).

Units: ħ = 1; energies (``F``, ``kerr``, ``delta``, ``J``) in energy units, ``gamma`` in 1/time.
Spins use QuTiP's convention: ``basis(2, 0)`` is the excited state (σz = +1), ``σ-`` lowers.

Presets (``H`` in the frame rotating with the drive; each decay channel ``sqrt(γ(n_th+1)) L``
plus, when ``nth > 0``, ``sqrt(γ n_th) L†``):

- ``oscillator``: ``n`` Fock levels, ``H = δ a†a + (K/2) a†² a² + F (a + a†)``, ``L = a``;
  starts in the vacuum; ``n_mean = <a†a>``.
- ``qubit``: dimension 2, ``H = (δ/2) σz + F σx``, ``L = σ-``; starts in the ground state;
  ``n_mean`` = excited population.
- ``coupled_qubits``: dimension 4, ``H = Σ_i [(δ/2) σz_i + F σx_i] + J (σ+_1 σ-_2 + σ-_1 σ+_2)``,
  ``L_i = σ-_i``; starts in both ground states; ``n_mean`` = total excitation.
- ``spin_chain``: ``n`` spins (dimension 2**n), open XX chain
  ``H = Σ_i [(δ/2) σz_i + F σx_i] + J Σ_i (σ+_i σ-_{i+1} + h.c.)``, ``L_i = σ-_i``; starts with all
  spins down; ``n_mean`` = total excitation.

The Kerr term acts only in the ``oscillator`` preset; ``J`` only in the spin presets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODELS: tuple[str, ...] = ("oscillator", "qubit", "coupled_qubits", "spin_chain")
MAX_SPINS = 10
MAX_FOCK = 200

_SM = np.array([[0, 0], [1, 0]], dtype=np.complex128)  # σ-: |0>=excited -> |1>=ground
_SZ = np.diag([1.0, -1.0]).astype(np.complex128)
_SX = np.array([[0, 1], [1, 0]], dtype=np.complex128)


@dataclass(frozen=True)
class Model:
    """The operators of a preset: ``H`` (d, d), the lowering operators ``lowering`` (k, d, d)
    (one per decay channel), the observable ``number`` (d, d) and the initial state ``rho0``."""

    H: np.ndarray
    lowering: np.ndarray
    number: np.ndarray
    rho0: np.ndarray

    def c_ops(self, gamma: float, nth: float) -> list[np.ndarray]:
        """Collapse operators ``sqrt(γ(n_th+1)) L`` (and ``sqrt(γ n_th) L†`` when ``nth > 0``)."""
        ops = [np.sqrt(gamma * (nth + 1.0)) * L for L in self.lowering]
        if nth > 0:
            ops += [np.sqrt(gamma * nth) * L.conj().T for L in self.lowering]
        return ops


def dimension(model: str, n: int) -> int:
    """Hilbert-space dimension of a preset: ``n`` (oscillator), 2, 4, or ``2**n`` (spin chain).

    Example:
        >>> dimension("spin_chain", 3), dimension("qubit", 10)
        (8, 2)
    """
    return {"oscillator": n, "qubit": 2, "coupled_qubits": 4, "spin_chain": 2**n}[model]


def check_model(task: str, params: dict) -> None:
    """Cross-parameter checks of the presets (ValueError naming the parameters)."""
    if params["model"] == "spin_chain" and params["n"] > MAX_SPINS:
        raise ValueError(
            f"task {task!r}: parameter 'n' = {params['n']} is too large for model='spin_chain' "
            f"(n is the number of spins, dimension 2**n); allowed: 2 <= n <= {MAX_SPINS}"
        )


def _site(op: np.ndarray, i: int, N: int) -> np.ndarray:
    out = np.ones((1, 1), dtype=np.complex128)
    for j in range(N):
        out = np.kron(out, op if j == i else np.eye(2, dtype=np.complex128))
    return out


def _spins(N: int, F: float, delta: float, J: float) -> Model:
    sm = [_site(_SM, i, N) for i in range(N)]
    sz = [_site(_SZ, i, N) for i in range(N)]
    sx = [_site(_SX, i, N) for i in range(N)]
    d = 2**N
    H = np.zeros((d, d), dtype=np.complex128)
    for i in range(N):
        H += 0.5 * delta * sz[i] + F * sx[i]
    for i in range(N - 1):
        hop = sm[i].conj().T @ sm[i + 1]
        H += J * (hop + hop.conj().T)
    number = sum(s.conj().T @ s for s in sm)
    rho0 = np.zeros((d, d), dtype=np.complex128)
    rho0[-1, -1] = 1.0  # |1...1>: every spin in its ground state
    return Model(H, np.stack(sm), number, rho0)


def build(params: dict) -> Model:
    """The :class:`Model` of validated task params (keys ``model``, ``n``, ``F``, ``kerr``,
    ``delta``, ``J``).

    Example:
        >>> m = build({"model": "oscillator", "n": 3, "F": 0.5, "kerr": 0.0, "delta": 1.0, "J": 0.0})
        >>> m.H.shape, float(m.H[1, 1].real), float(m.H[0, 1].real)
        ((3, 3), 1.0, 0.5)
    """
    model, n = params["model"], params["n"]
    F, delta = params["F"], params["delta"]
    if model == "oscillator":
        a = np.diag(np.sqrt(np.arange(1, n, dtype=float)), 1).astype(np.complex128)
        ad = a.conj().T
        H = delta * ad @ a + 0.5 * params["kerr"] * ad @ ad @ a @ a + F * (a + ad)
        rho0 = np.zeros((n, n), dtype=np.complex128)
        rho0[0, 0] = 1.0
        return Model(H, a[None], ad @ a, rho0)
    if model == "qubit":
        return _spins(1, F, delta, 0.0)
    if model == "coupled_qubits":
        return _spins(2, F, delta, params["J"])
    if model == "spin_chain":
        return _spins(n, F, delta, params["J"])
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def model_params() -> tuple:
    """The preset parameters shared by ``lindblad`` and ``steadystate`` (model, n, F, gamma,
    kerr, delta, J, nth) as :class:`~nephlab.tasks.Param` objects."""
    from ._spec import Param

    return (
        Param("model", "str", "oscillator", "model preset (see nephlab.tasks._models)", choices=MODELS),
        Param("n", "int", 10, "dimension: Fock levels (oscillator) or number of spins (spin_chain); "
              "qubit (2) and coupled_qubits (4) ignore it", minimum=2, maximum=MAX_FOCK,
              when=(("model", ("oscillator", "spin_chain")),)),
        Param("F", "float", 0.25, "drive amplitude (coefficient of a + a†, or of σx per spin)", units="energy"),
        Param("gamma", "float", 0.5, "decay rate of each channel", units="1/time", minimum=0.0,
              exclusive_minimum=True),
        Param("kerr", "float", 0.0, "Kerr nonlinearity K in (K/2) a†² a² (oscillator only)", units="energy",
              when=(("model", ("oscillator",)),)),
        Param("delta", "float", 0.0, "detuning of the drive: δ a†a or (δ/2) σz per spin", units="energy"),
        Param("J", "float", 0.5, "spin-spin exchange coupling (coupled_qubits, spin_chain)", units="energy",
              when=(("model", ("coupled_qubits", "spin_chain")),)),
        Param("nth", "float", 0.0, "thermal occupation of the bath (0: zero temperature)", minimum=0.0),
    )
