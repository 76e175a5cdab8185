"""Markov jump model presets shared by the ``scgf`` and ``cloning`` tasks: the parameters
and cross-parameter checks. The model builder is :func:`nephlab.largedev.markov_model` (also used by
the large-deviation explorer), so a parameter set means the same process everywhere.

``two_state`` (rates ``a``: 0 -> 1, ``b``: 1 -> 0), ``ring_random_walk`` (``L`` sites, hops right
at ``p``, left at ``q``), ``tasep_ring`` (``L`` sites, ``n_particles``, hop rate ``rate``),
``east`` and ``fredrickson_andersen`` (``L`` spins, up-density ``c``, ``boundary``), ``custom``
(the rate matrix ``rates`` as text, rows separated by ``;``). Observables: ``activity`` (number
of jumps) for every model; ``current`` (net displacement) for the ring walk and the TASEP.

The ``scgf`` task also takes the quantum-jump presets of
:mod:`nephlab.largedev.quantum_jumps` (``quantum_two_level``, ``quantum_cavity``: photon counting
of a driven damped two-level system or cavity; parameters ``drive``, ``decay``, ``detuning``,
``n_fock``); the ``cloning`` task does not.
"""

from __future__ import annotations

from math import comb

from ..largedev.markov import MarkovJumpProcess
from ..largedev.presets import MARKOV_MODELS, parse_rate_matrix
from ..largedev.quantum_jumps import QUANTUM_MODELS, check_quantum
from ._spec import Param

__all__ = ["MARKOV_MODELS", "MAX_STATES", "check", "markov_params", "n_states"]

MAX_STATES = 5000
_KCM = ("east", "fredrickson_andersen")
_SIZED = ("ring_random_walk", "tasep_ring") + _KCM


def markov_params(quantum: bool = False) -> tuple[Param, ...]:
    """The model parameters shared by ``scgf`` and ``cloning`` (``quantum=True``: also the
    quantum-jump presets and their parameters, for ``scgf``)."""
    q = (("model", QUANTUM_MODELS),)
    extra = (
        Param("drive", "float", 0.3, "drive: Rabi frequency Ω (quantum_two_level) or amplitude F (quantum_cavity)",
              units="1/time", minimum=0.0, maximum=1e3, when=q),
        Param("decay", "float", 1.0, "emission rate γ (quantum_two_level) or κ (quantum_cavity); photons are counted",
              units="1/time", minimum=0.0, exclusive_minimum=True, maximum=1e3, when=q),
        Param("detuning", "float", 0.0, "detuning Δ of the drive from the transition (quantum presets)",
              units="1/time", minimum=-1e3, maximum=1e3, when=q),
        Param("n_fock", "int", 16, "Fock cutoff of quantum_cavity (|0> ... |n_fock-1>); refused if the coherent "
              "steady state leaks past it or θ(s_min) changes with 6 more levels (s < 0 needs more)", minimum=2, maximum=30, when=(("model", ("quantum_cavity",)),)),
    ) if quantum else ()
    return (
        Param("model", "str", "two_state", "Markov jump model" + (" or quantum-jump preset" if quantum else ""),
              choices=MARKOV_MODELS + (QUANTUM_MODELS if quantum else ())),
        Param("observable", "str", "activity", "counted observable: jumps (activity) or net current",
              choices=("activity", "current")),
        Param("a", "float", 1.0, "rate 0 -> 1 (two_state)", units="1/time", minimum=0.0, exclusive_minimum=True,
              when=(("model", ("two_state",)),)),
        Param("b", "float", 1.0, "rate 1 -> 0 (two_state)", units="1/time", minimum=0.0, exclusive_minimum=True,
              when=(("model", ("two_state",)),)),
        Param("L", "int", 6, "sites (ring_random_walk, tasep_ring) or spins (east, fredrickson_andersen)",
              minimum=2, maximum=5000, when=(("model", _SIZED),)),
        Param("p", "float", 1.0, "right hop rate (ring_random_walk)", units="1/time", minimum=0.0,
              exclusive_minimum=True, when=(("model", ("ring_random_walk",)),)),
        Param("q", "float", 0.5, "left hop rate (ring_random_walk)", units="1/time", minimum=0.0,
              exclusive_minimum=True, when=(("model", ("ring_random_walk",)),)),
        Param("n_particles", "int", 3, "particles (tasep_ring), 0 < n_particles < L", minimum=1,
              when=(("model", ("tasep_ring",)),)),
        Param("rate", "float", 1.0, "hop rate (tasep_ring)", units="1/time", minimum=0.0, exclusive_minimum=True,
              when=(("model", ("tasep_ring",)),)),
        Param("c", "float", 0.3, "up-spin density (east, fredrickson_andersen)", minimum=0.0, maximum=1.0,
              exclusive_minimum=True, exclusive_maximum=True, when=(("model", _KCM),)),
        Param("boundary", "str", "open", "boundary of the kinetically constrained models", choices=("open", "periodic"),
              when=(("model", _KCM),)),
        Param("rates", "str", "0 1 0; 0 0 2; 3 0 0", "rate matrix of model 'custom': rows separated by ';', "
              "rates[i, j] of i -> j (diagonal ignored)", units="1/time", when=(("model", ("custom",)),)),
    ) + extra


def n_states(p: dict) -> int:
    """Number of configurations of the model (before building it).

    Example:
        >>> n_states({"model": "east", "L": 4, "boundary": "open"})
        16
    """
    m, L = p["model"], p["L"]
    if m in QUANTUM_MODELS:  # the dimension of the tilted Liouvillian
        return 4 if m == "quantum_two_level" else p["n_fock"] ** 2
    if m == "two_state":
        return 2
    if m == "custom":
        return parse_rate_matrix(p["rates"]).shape[0]
    if m == "ring_random_walk":
        return L
    if m == "tasep_ring":
        return comb(L, p["n_particles"])
    return 2**L - (1 if p["boundary"] == "periodic" else 0) if L < 64 else 2**63


def check(task: str, p: dict) -> None:
    """Cross-parameter checks (ValueError naming the parameters)."""
    m = p["model"]
    if m in QUANTUM_MODELS:
        if p["observable"] != "activity":
            raise ValueError(f"task {task!r}: parameter 'observable' = {p['observable']!r} is not defined for "
                             f"model={m!r}; allowed: 'activity' (the number of emitted photons)")
        return check_quantum(p, task)
    if m == "ring_random_walk" and p["L"] < 3:
        raise ValueError(f"task {task!r}: parameter 'L' = {p['L']} is too small for model='ring_random_walk'; allowed: L >= 3")
    if m == "tasep_ring" and not p["n_particles"] < p["L"]:
        raise ValueError(f"task {task!r}: parameter 'n_particles' = {p['n_particles']} must be < L = {p['L']} "
                         "for model='tasep_ring'")
    if p["observable"] == "current" and m not in ("ring_random_walk", "tasep_ring"):
        raise ValueError(f"task {task!r}: parameter 'observable' = 'current' is not defined for model={m!r}; "
                         "allowed: 'activity' (or use model 'ring_random_walk' / 'tasep_ring')")
    if m == "custom":
        try:
            W = parse_rate_matrix(p["rates"], "rates")
            MarkovJumpProcess(W).check_irreducible()
        except ValueError as exc:
            raise ValueError(f"task {task!r}: parameter 'rates': {exc}") from None
    ns = n_states(p)
    if ns > MAX_STATES:
        raise ValueError(f"task {task!r}: model={m!r} with L={p['L']} has {ns} states; allowed: at most "
                         f"{MAX_STATES} (reduce 'L')")
