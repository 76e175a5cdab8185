"""Built-in Markov jump models for large-deviation studies.

Every model returns a :class:`~nephlab.largedev.markov.MarkovJumpProcess` (rates in 1/time,
``rates[i, j]`` = rate of ``i -> j``); models with a natural current also return its increments
matrix (sparse, antisymmetric). Configurations of many-body models are stored in
``process.states`` as an ``(n_states, L)`` int array of occupations / spins.

Example:
    >>> p = two_state(1.0, 2.0)
    >>> p.stationary().round(6).tolist()
    [0.666667, 0.333333]
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import scipy.sparse as sp

from nephlab._validate import integer, positive_float
from nephlab.largedev.markov import MarkovJumpProcess

__all__ = ["two_state", "ring_random_walk", "tasep_ring", "east", "fredrickson_andersen"]


def two_state(a, b) -> MarkovJumpProcess:
    """Two-state process with rate ``a`` for 0 -> 1 and ``b`` for 1 -> 0 (1/time, > 0).

    Activity SCGF: ``theta(s) = -(a+b)/2 + sqrt((a-b)^2/4 + a b exp(-2 s))``.

    Example:
        >>> round(float(two_state(1.0, 3.0).scgf(0.0, "activity")), 12)
        0.0
    """
    a, b = positive_float(a, "a"), positive_float(b, "b")
    return MarkovJumpProcess([[0.0, a], [b, 0.0]])


def ring_random_walk(L, p, q):
    """Biased random walk on a ring of ``L >= 3`` sites: ``i -> i+1`` at rate p, ``i -> i-1`` at q.

    Returns ``(process, increments)`` with ``increments[i, i+1] = +1``,
    ``increments[i, i-1] = -1`` (the net displacement current, sparse ``(L, L)``).
    Current SCGF: ``theta(s) = p (e^{-s} - 1) + q (e^{s} - 1)``; Gallavotti–Cohen symmetry
    ``theta(s) = theta(ln(p/q) - s)``.

    Example:
        >>> proc, g = ring_random_walk(5, 2.0, 1.0)
        >>> round(proc.mean("current", increments=g), 12)
        1.0
    """
    L = integer(L, "L", minimum=3)
    p, q = positive_float(p, "p"), positive_float(q, "q")
    i = np.arange(L)
    rows = np.r_[i, i]
    cols = np.r_[(i + 1) % L, (i - 1) % L]
    rates = sp.csr_matrix((np.r_[np.full(L, p), np.full(L, q)], (rows, cols)), shape=(L, L))
    g = sp.csr_matrix((np.r_[np.ones(L), -np.ones(L)], (rows, cols)), shape=(L, L))
    return MarkovJumpProcess(rates, states=i), g


def _bits(codes, L):
    return ((codes[:, None] >> np.arange(L)) & 1).astype(np.int8)


def tasep_ring(L, n, rate=1.0):
    """TASEP on a ring of ``L`` sites with ``n`` particles (``0 < n < L``), hops to the right.

    A particle at site i jumps to ``(i+1) mod L`` at ``rate`` (1/time) if that site is empty.
    The ``C(L, n)`` configurations are enumerated (``process.states``, shape ``(C(L,n), L)``).

    Returns ``(process, increments)``; ``increments`` counts +1 per hop (the total particle
    current through all bonds; antisymmetric, sparse). Mean current ``rate n (L-n)/(L-1)``.

    Example:
        >>> proc, g = tasep_ring(4, 2)
        >>> proc.n_states, round(proc.mean("current", increments=g), 12)
        (6, 1.333333333333)
    """
    L = integer(L, "L", minimum=2)
    n = integer(n, "n", minimum=1)
    if n >= L:
        raise ValueError(f"n must satisfy 0 < n < L = {L}, got n = {n}")
    rate = positive_float(rate, "rate")
    codes = np.array(sorted(sum(1 << k for k in c) for c in combinations(range(L), n)), dtype=np.int64)
    occ = _bits(codes, L)
    sites = np.arange(L)
    nxt = (sites + 1) % L
    can = (occ[:, sites] == 1) & (occ[:, nxt] == 0)          # (C, L)
    src, site = np.nonzero(can)
    new = codes[src] ^ (1 << site) ^ (1 << nxt[site])
    dst = np.searchsorted(codes, new)
    N = codes.size
    rates = sp.csr_matrix((np.full(src.size, rate), (src, dst)), shape=(N, N))
    g = sp.csr_matrix((np.r_[np.ones(src.size), -np.ones(src.size)],
                       (np.r_[src, dst], np.r_[dst, src])), shape=(N, N))
    return MarkovJumpProcess(rates, states=occ), g


def _kcm(N, c, facilitated, boundary):
    N = integer(N, "N", minimum=2)
    c = positive_float(c, "c")
    if c >= 1:
        raise ValueError(f"c must be in (0, 1), got {c}")
    if boundary not in ("open", "periodic"):
        raise ValueError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    codes = np.arange(2 ** N, dtype=np.int64)
    if boundary == "periodic":
        codes = codes[1:]          # all-down is absorbing-from-nowhere: drop it
    spins = _bits(codes, N)
    f = facilitated(spins)                                    # (C, N) bool
    src, site = np.nonzero(f)
    up = spins[src, site] == 1
    rate = np.where(up, 1.0 - c, c)
    dst = np.searchsorted(codes, codes[src] ^ (1 << site))
    M = codes.size
    rates = sp.csr_matrix((rate, (src, dst)), shape=(M, M))
    return MarkovJumpProcess(rates, states=spins)


def east(N, c, boundary="open") -> MarkovJumpProcess:
    """East model of ``N`` spins: spin i flips iff spin i-1 is up; up at rate c, down at 1-c.

    ``boundary="open"``: spin 0 is always facilitated (a frozen up spin at site -1), ``2^N``
    states; ``"periodic"``: spin 0 is facilitated by spin N-1, the all-down state is dropped
    (``2^N - 1`` states). The stationary law is the product Bernoulli(c) measure (conditioned
    on not all-down when periodic). Use the ``"activity"`` observable for the s-ensemble.

    Example:
        >>> p = east(3, 0.3)
        >>> p.n_states, round(float(p.stationary()[0]), 6)   # all-down: 0.7**3
        (8, 0.343)
    """
    def fac(s):
        left = np.roll(s, 1, axis=1)
        if boundary == "open":
            left[:, 0] = 1
        return left == 1
    return _kcm(N, c, fac, boundary)


def fredrickson_andersen(N, c, boundary="open") -> MarkovJumpProcess:
    """One-spin facilitated Fredrickson–Andersen model of ``N`` spins.

    Spin i flips iff at least one neighbour is up; up at rate c, down at 1-c (1/time).
    ``boundary="open"``: frozen up spins outside both ends (``2^N`` states); ``"periodic"``:
    ring, all-down state dropped (``2^N - 1`` states). Stationary law: product Bernoulli(c).

    Example:
        >>> p = fredrickson_andersen(3, 0.5)
        >>> np.allclose(p.stationary(), 1 / 8)
        True
    """
    def fac(s):
        left, right = np.roll(s, 1, axis=1), np.roll(s, -1, axis=1)
        if boundary == "open":
            left[:, 0] = 1
            right[:, -1] = 1
        return (left == 1) | (right == 1)
    return _kcm(N, c, fac, boundary)
