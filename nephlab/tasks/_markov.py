"""Markov jump model presets shared by the ``scgf`` and ``cloning`` tasks
(:mod:`nephlab.largedev.models`).

``two_state`` (rates ``a``: 0 -> 1, ``b``: 1 -> 0), ``ring_random_walk`` (``L`` sites, hops right
at ``p``, left at ``q``), ``tasep_ring`` (``L`` sites, ``n_particles``, hop rate ``rate``),
``east`` and ``fredrickson_andersen`` (``L`` spins, up-density ``c``, ``boundary``). Observables:
``activity`` (number of jumps) for every model; ``current`` (net displacement) for the ring
walk and the TASEP.
"""

from __future__ import annotations

from math import comb

from ._spec import Param

MARKOV_MODELS: tuple[str, ...] = ("two_state", "ring_random_walk", "tasep_ring", "east", "fredrickson_andersen")
MAX_STATES = 5000
_KCM = ("east", "fredrickson_andersen")


def markov_params() -> tuple[Param, ...]:
    """The model parameters shared by ``scgf`` and ``cloning``."""
    return (
        Param("model", "str", "two_state", "Markov jump model", choices=MARKOV_MODELS),
        Param("observable", "str", "activity", "counted observable: jumps (activity) or net current",
              choices=("activity", "current")),
        Param("a", "float", 1.0, "rate 0 -> 1 (two_state)", units="1/time", minimum=0.0, exclusive_minimum=True,
              when=(("model", ("two_state",)),)),
        Param("b", "float", 1.0, "rate 1 -> 0 (two_state)", units="1/time", minimum=0.0, exclusive_minimum=True,
              when=(("model", ("two_state",)),)),
        Param("L", "int", 6, "sites (ring_random_walk, tasep_ring) or spins (east, fredrickson_andersen)",
              minimum=2, maximum=5000, when=(("model", MARKOV_MODELS[1:]),)),
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
    )


def n_states(p: dict) -> int:
    """Number of configurations of the model (before building it).

    Example:
        >>> n_states({"model": "east", "L": 4, "boundary": "open"})
        16
    """
    m, L = p["model"], p["L"]
    if m == "two_state":
        return 2
    if m == "ring_random_walk":
        return L
    if m == "tasep_ring":
        return comb(L, p["n_particles"])
    return 2**L - (1 if p["boundary"] == "periodic" else 0) if L < 64 else 2**63


def check(task: str, p: dict) -> None:
    """Cross-parameter checks (ValueError naming the parameters)."""
    m = p["model"]
    if m == "ring_random_walk" and p["L"] < 3:
        raise ValueError(f"task {task!r}: parameter 'L' = {p['L']} is too small for model='ring_random_walk'; allowed: L >= 3")
    if m == "tasep_ring" and not p["n_particles"] < p["L"]:
        raise ValueError(f"task {task!r}: parameter 'n_particles' = {p['n_particles']} must be < L = {p['L']} "
                         "for model='tasep_ring'")
    if p["observable"] == "current" and m not in ("ring_random_walk", "tasep_ring"):
        raise ValueError(f"task {task!r}: parameter 'observable' = 'current' is not defined for model={m!r}; "
                         "allowed: 'activity' (or use model 'ring_random_walk' / 'tasep_ring')")
    ns = n_states(p)
    if ns > MAX_STATES:
        raise ValueError(f"task {task!r}: model={m!r} with L={p['L']} has {ns} states; allowed: at most "
                         f"{MAX_STATES} (reduce 'L')")


def build(p: dict):
    """``(process, increments or None)`` for validated params.

    Example:
        >>> proc, g = build({"model": "ring_random_walk", "L": 4, "p": 2.0, "q": 1.0})
        >>> proc.n_states, g.shape
        (4, (4, 4))
    """
    from ..largedev import models

    m = p["model"]
    if m == "two_state":
        return models.two_state(p["a"], p["b"]), None
    if m == "ring_random_walk":
        return models.ring_random_walk(p["L"], p["p"], p["q"])
    if m == "tasep_ring":
        return models.tasep_ring(p["L"], p["n_particles"], p["rate"])
    if m == "east":
        return models.east(p["L"], p["c"], p["boundary"]), None
    return models.fredrickson_andersen(p["L"], p["c"], p["boundary"]), None
