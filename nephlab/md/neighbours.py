"""Neighbour lists of the JAX MD engine: dense full lists in a deforming triclinic box, built with
gathers only.

Geometry (as :mod:`nephlab.md.engine`): fractional positions ``s`` in ``[0, 1)³``, box matrix
``h = [[L, xy, 0], [0, L, 0], [0, 0, L]]`` with ``|xy| <= L/2``, ``r = h s``; minimum images by
rounding the fractional separation.

Format. ``idx`` ``(K, N)`` int32: ``idx[k, i]`` is the k-th neighbour of particle i, padded with
``N``; every pair within the list cut-off appears in both rows (a *full* list), so forces are a
reduction over ``k`` per particle with no scatter. ``K`` (:func:`neighbour_capacity`) depends on
(N, L, cut-off) only, so one system compiles once; a denser configuration overflows (flagged, see
:class:`Neighbours`) and the caller re-allocates with ``grow``.

Build (:func:`build`, all gathers, one sort of N cell indices):

1. Cells in fractional coordinates: a grid of ``nx × ny × nz`` cells (:func:`cell_grid`) whose
   widths hold the cut-off for every tilt up to the flip point (or, for a box that never tilts,
   ``sheared=False``, for the cubic box only): a pair within ``r`` has
   ``|Δs_x| <= r sqrt(1 + (xy/L)²)/L <= r sqrt(1.25)/L`` and ``|Δs_y|, |Δs_z| <= r/L``, so it lies
   in the same or an adjacent cell (periodically). The grid is fixed for the run; the box's
   tilt enters only through the distances.
2. The particles are sorted by cell (one argsort of N cell indices; cell starts by a binary
   search) and gathered into ``(cells, C)`` slots (``C``: the cell capacity,
   :func:`cell_capacity`). The particle in slot a of cell c has as candidates the ``27 × C``
   slots of c's 27 neighbouring cells; they are compared block-wise, cell against neighbour
   cell (one gather per cell and neighbour cell, then broadcast arithmetic: per-candidate
   gathers cost ~2x more on CPU; computing only the 13 forward blocks and transposing them
   into the backward ones cost ~1.5x more, XLA's CPU code for the transposed flags being slow).
   A box with fewer than 4 cells across its narrowest plane spacing (:func:`use_cell_list`)
   compares every particle with all N instead.
3. The candidates within the cut-off are packed into 32-bit words per row (one reduction), the
   words' population counts give a per-row prefix count, and output slot k of row i finds its
   word by counting the words whose prefix is <= k and its bit by a binary search with
   population counts of the word's low bits: compaction without cumulative sums over the
   candidates and without scatters (the one scatter is the N-element inverse of the sort).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from .._validate import integer, positive_float

__all__ = ["Neighbours", "build", "cell_capacity", "cell_grid", "empty", "grid_skin", "max_occupancy",
           "neighbour_capacity", "use_cell_list"]

_SHELL = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.int32)   # (27, 3)
_BITS = 32


def _box(L: Any, cutoff: Any) -> tuple[float, float]:
    """``(L, cutoff)`` as floats, each finite and > 0 (σ); a clear error otherwise."""
    return positive_float(L, "L"), positive_float(cutoff, "cutoff")


def _grid(grid: Any) -> tuple[int, int, int]:
    if not isinstance(grid, (tuple, list)) or len(grid) != 3:
        raise ValueError(f"grid must be a tuple (nx, ny, nz) of positive integers, got {grid!r}")
    return tuple(integer(g, "grid") for g in grid)  # type: ignore[return-value]


class Neighbours(NamedTuple):
    """A dense full neighbour list.

    ``idx`` ``(K, N)`` int32, the neighbours of particle i in column i (padding ``N``);
    ``overflow`` (bool scalar): a cell held more than ``C`` particles or a particle more than
    ``K`` neighbours (the list is then incomplete: re-allocate with ``grow``); ``slots`` ``(C,)``
    int32 ``arange(C)``, the candidate slots per cell (all-pairs builds: ``C = N``), carried so
    the cell capacity is a shape and not a compile-time constant.
    """
    idx: Any
    overflow: Any
    slots: Any

    @property
    def did_buffer_overflow(self):
        return self.overflow

    @property
    def cell_size_too_small(self):
        return jnp.zeros((), bool)


def min_plane_spacing(L: float, sheared: bool = True) -> float:
    """Smallest plane spacing of the box over tilts |xy| <= L/2: ``L/sqrt(1.25)`` (σ); ``L`` for a
    box that never tilts (``sheared=False``).

    Example:
        >>> round(min_plane_spacing(10.0), 4), min_plane_spacing(10.0, sheared=False)
        (8.9443, 10.0)
    """
    L = positive_float(L, "L")
    return L / math.sqrt(1.25) if sheared else L


def use_cell_list(L: float, cutoff: float, sheared: bool = True) -> bool:
    """Cell lists pay only with >= 4 cells per side (27 cells of candidates < N); the cells are
    sized for the flip-point box, whose narrowest plane spacing is ``L/sqrt(1.25)`` (``L`` for a box
    that never tilts, ``sheared=False``).

    Example:
        >>> use_cell_list(8.3975, 2.8), use_cell_list(16.0, 2.8)   # L (sigma), r_c + skin (sigma)
        (False, True)
    """
    L, cutoff = _box(L, cutoff)
    return min_plane_spacing(L, sheared) / cutoff >= 4.0


def cell_grid(L: float, cutoff: float, sheared: bool = True) -> tuple[int, int, int] | None:
    """Cells per side ``(nx, ny, nz)`` in fractional coordinates for a box of edge ``L`` (σ) and list
    cut-off ``cutoff`` (σ), valid for every tilt ``|xy| <= L/2`` (``sheared=False``: only for the
    untilted box, ``xy = 0``); None where the box is too small for cell lists to pay
    (:func:`use_cell_list`).

    Example:
        >>> cell_grid(26.66, 2.8)        # N = 16000 at rho = 0.8442: x cells narrower (tilted box)
        (8, 9, 9)
        >>> cell_grid(26.66, 2.8, sheared=False)
        (9, 9, 9)
        >>> cell_grid(9.5, 2.8) is None
        True
    """
    L, cutoff = _box(L, cutoff)
    if not use_cell_list(L, cutoff, sheared):
        return None
    nx = int(math.floor(min_plane_spacing(L, sheared) / cutoff))
    nyz = int(math.floor(L / cutoff))
    return nx, nyz, nyz


def grid_skin(L: float, r_cut: float, skin: float, skin_min: float, sheared: bool = True) -> float:
    """The Verlet skin in ``[skin_min, skin]`` (σ) with the most cells per side for a box of edge
    ``L`` (σ) and cut-off ``r_cut`` (σ): ``skin`` itself unless a smaller skin, down to ``skin_min``,
    adds a layer of cells in y and z (then the largest such skin, ``L/n - r_cut`` rounded down to
    1e-4). The build compares each particle with the 27 × (cell capacity) slots around it, so
    finer cells make it cheaper.

    Example:
        >>> round(grid_skin(16.796, 2.5, 0.3, 0.2, sheared=False), 4)   # N = 4000: 6 cells, not 5
        0.2993
        >>> grid_skin(26.66, 2.5, 0.3, 0.2)                             # N = 16000: unchanged
        0.3
    """
    L, r_cut = _box(L, r_cut)
    skin, skin_min = positive_float(skin, "skin"), positive_float(skin_min, "skin_min")
    if skin_min > skin:
        raise ValueError(f"skin_min must be <= skin={skin:g}, got {skin_min!r}")
    n_yz = math.floor(L / (r_cut + skin))
    best = math.floor((L / (n_yz + 1) - r_cut) * 1e4) / 1e4    # the largest skin with one more layer
    if best >= skin_min and use_cell_list(L, r_cut + best, sheared):
        return float(best)
    return skin


def cell_capacity(n: int, grid: tuple[int, int, int], grow: int = 0) -> int:
    """Particles a cell of ``grid`` can hold: the mean occupancy ``n / cells`` plus 2 standard
    deviations of a Poisson count plus 2, times 1.25 per re-allocation ``grow``. A dense liquid
    fluctuates far less than a Poisson gas (its S(0) ~ 0.1 makes the variance ~10x smaller), and
    the build's cost grows as the capacity squared; a cell that overflows at any rebuild of a run
    is flagged and grown, and the engine sizes the first list for the starting configuration's
    fullest cell (:func:`max_occupancy`: a lattice is far less uniform per cell than a liquid).

    Example:
        >>> cell_capacity(4000, (5, 5, 5))    # 32 particles per cell on average
        46
    """
    n, grow, grid = integer(n, "n"), integer(grow, "grow", 0), _grid(grid)
    mean = n / float(np.prod(grid))
    return int(math.ceil((mean + 2.0 * math.sqrt(mean) + 2.0) * 1.25 ** grow))


def max_occupancy(s: Any, grid: tuple[int, int, int]) -> int:
    """The most particles in one cell of ``grid`` for fractional positions ``s`` ``(N, 3)`` in
    ``[0, 1)`` (host, NumPy; the build's cell assignment).

    Example:
        >>> max_occupancy(np.array([[0.1, 0.1, 0.1], [0.2, 0.1, 0.1], [0.9, 0.5, 0.5]]), (4, 4, 4))
        2
    """
    g = np.asarray(_grid(grid))
    a = np.asarray(s)
    ci = np.clip(np.floor(a * g.astype(a.dtype)).astype(np.int64), 0, g - 1)
    return int(np.bincount((ci[:, 0] * g[1] + ci[:, 1]) * g[2] + ci[:, 2]).max())


def neighbour_capacity(n: int, L: float, cutoff: float, grow: int = 0) -> int:
    """Row length ``K`` of the full list: the ideal-gas count within ``cutoff`` (σ) at density
    ``n/L³`` (σ⁻³) plus 2 standard deviations of a Poisson count plus 8, rounded up to a
    multiple of 8 (at most ``n - 1``), times 1.25 per re-allocation ``grow``. (LJ at ρ = 0.8442,
    T = 1.44, N = 4000: 77.6 neighbours within 2.8 σ on average, at most 85.)

    It depends on (N, L, cut-off) only, not on the configuration, so every run of one system
    compiles to the same shapes; an overflow (a denser configuration) grows it.

    Example:
        >>> neighbour_capacity(4000, 16.796, 2.8)    # ~77.6 neighbours within 2.8 sigma at rho = 0.8442
        104
    """
    n, grow = integer(n, "n"), integer(grow, "grow", 0)
    L, cutoff = _box(L, cutoff)
    mean = (n / L ** 3) * (4.0 / 3.0) * math.pi * cutoff ** 3
    k = (mean + 2.0 * math.sqrt(mean) + 8.0) * 1.25 ** grow
    return int(min(8 * math.ceil(k / 8), max(n - 1, 1)))


def empty(n: int, L: float, cutoff: float, grow: int = 0, sheared: bool = True) -> Neighbours:
    """An unbuilt list with the shapes for (N, L, cut-off) and ``grow`` re-allocations (all padding);
    ``sheared=False``: for builds with ``sheared=False`` (an untilted box).

    Example:
        >>> nb = empty(4000, 16.796, 2.8)
        >>> nb.idx.shape, nb.slots.shape      # (K, N), (cell capacity,)
        ((104, 4000), (46,))
    """
    n = integer(n, "n")
    grid = cell_grid(L, cutoff, sheared)
    c = n if grid is None else min(n, cell_capacity(n, grid, grow))
    k = neighbour_capacity(n, L, cutoff, grow)
    return Neighbours(jnp.full((k, n), n, jnp.int32), jnp.zeros((), bool), jnp.arange(c, dtype=jnp.int32))


def _inside(six, siy, siz, sjx, sjy, sjz, xy, L: float, cutoff: float):
    """Whether the minimum images of pairs of fractional positions (broadcast) lie within cutoff."""
    dsx, dsy, dsz = six - sjx, siy - sjy, siz - sjz
    dsx, dsy, dsz = dsx - jnp.round(dsx), dsy - jnp.round(dsy), dsz - jnp.round(dsz)
    dx, dy, dz = L * dsx + xy * dsy, L * dsy, L * dsz
    return dx * dx + dy * dy + dz * dz < cutoff * cutoff


def _words(inside: Any) -> Any:
    """Rows of candidate flags ``(R, M)`` -> 32-bit words ``(R, ceil(M/32))``; bit b of word w is
    flag ``32 w + b``."""
    r, m = inside.shape
    nw = -(-m // _BITS)
    flat = jnp.pad(inside, ((0, 0), (0, nw * _BITS - m))).reshape(r, nw, _BITS)
    return jnp.sum(flat.astype(jnp.uint32) << jnp.arange(_BITS, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def _candidate_words(s: Any, xy: Any, slots: Any, L: float, cutoff: float, sheared: bool):
    """Per particle, its candidates within ``cutoff`` as words ``(N, W)``; a map from a candidate
    number to the particle index (``(N, W·32)`` positions, vectorised over particles); and the
    cell overflow flag.

    Cells: the particles are sorted by cell and gathered into ``(cells, C)`` slots (padding N);
    the candidates of the particle in slot a of cell c are the ``27 × C`` slots of c's neighbour
    cells, compared block-wise (one gather per cell and neighbour cell, not per candidate).
    All pairs: the candidates of every particle are all N particles."""
    n = s.shape[0]
    c = slots.shape[0]
    sx, sy, sz = s[:, 0], s[:, 1], s[:, 2]
    grid = cell_grid(L, cutoff, sheared)
    if grid is None:
        ins = _inside(sx[:, None], sy[:, None], sz[:, None], sx[None], sy[None], sz[None], xy, L, cutoff)
        ins = ins & (jnp.arange(n)[:, None] != jnp.arange(n)[None])
        return _words(ins), (lambda i, cand: cand), jnp.zeros((), bool)
    g = np.asarray(grid, dtype=np.int32)
    n_cells = int(np.prod(g))
    cc = np.stack(np.unravel_index(np.arange(n_cells), grid), -1)
    nbc = np.ravel_multi_index(tuple(np.mod(cc[:, None, :] + _SHELL[None], g).transpose(2, 0, 1)), grid)
    nbc = jnp.asarray(nbc.astype(np.int32))                                        # (cells, 27)
    ci = jnp.clip(jnp.floor(s * g.astype(s.dtype)).astype(jnp.int32), 0, g - 1)    # (N, 3)
    cid = (ci[:, 0] * g[1] + ci[:, 1]) * g[2] + ci[:, 2]
    order = jnp.argsort(cid).astype(jnp.int32)
    start = jnp.searchsorted(cid[order], jnp.arange(n_cells + 1, dtype=jnp.int32)).astype(jnp.int32)
    count = start[1:] - start[:-1]
    pid = jnp.where(slots < count[:, None], order[jnp.minimum(start[:-1, None] + slots, n - 1)], n)  # (cells, C)
    ext = lambda x: jnp.concatenate([x, jnp.full((1,), 0.5, x.dtype)])[pid]        # noqa: E731
    px, py, pz = ext(sx), ext(sy), ext(sz)                                          # (cells, C)
    qx, qy, qz, qid = px[nbc], py[nbc], pz[nbc], pid[nbc]                           # (cells, 27, C)
    a = (slice(None), slice(None), None, None)
    ins = _inside(px[a], py[a], pz[a], qx[:, None], qy[:, None], qz[:, None], xy, L, cutoff)
    ins = ins & (pid[a] < n) & (qid[:, None] < n) & (pid[a] != qid[:, None])      # (cells, C, 27, C)
    words = _words(ins.reshape(n_cells * c, 27 * c))
    rank = jnp.zeros((n,), jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))   # N-element scatter
    row = cid * c + rank - start[cid]                                               # particle -> slot
    pid_f, nbc_f = pid.reshape(-1), nbc.reshape(-1)

    def decode(i, cand):
        """Particle index of candidate ``cand`` of particle ``i`` (broadcast)."""
        blk, off = cand // c, cand % c
        cell = nbc_f[cid[i] * 27 + jnp.minimum(blk, 26)]
        return pid_f[cell * c + off]

    return words[row], decode, jnp.max(count) > c


def _select_bit(word: Any, r: Any) -> Any:
    """Position of the r-th (0-based) set bit of uint32 ``word`` (which has more than r set bits):
    the largest p with popcount(word & (2^p - 1)) <= r, by binary lifting."""
    pos = jnp.zeros(r.shape, jnp.int32)
    for b in (16, 8, 4, 2, 1):
        t = pos + b
        low = word & ((jnp.uint32(1) << t.astype(jnp.uint32)) - jnp.uint32(1))
        pos = jnp.where(lax.population_count(low).astype(jnp.int32) <= r, t, pos)
    return pos


def build(s: Any, xy: Any, nbrs: Neighbours, L: float, cutoff: float, sheared: bool = True) -> Neighbours:
    """The full list of the pairs within ``cutoff`` (σ) of fractional positions ``s`` ``(N, 3)`` in
    ``[0, 1)`` under the box of edge ``L`` (σ) and tilt ``xy`` (σ, ``|xy| <= L/2``; with
    ``sheared=False`` the cells are sized for ``xy = 0`` only, which the caller guarantees), with
    the shapes (``K``, cell capacity) of ``nbrs`` (from :func:`empty` with the same ``sheared``);
    jit-compatible, gathers only.

    Example:
        >>> import numpy as np
        >>> s = np.random.default_rng(0).random((300, 3))
        >>> nb = build(jnp.asarray(s), 0.5, empty(300, 6.0, 1.5), 6.0, 1.5)
        >>> int((nb.idx < 300).sum()) % 2, bool(nb.overflow)     # each pair twice, complete
        (0, False)
    """
    L, cutoff = _box(L, cutoff)
    if s.ndim != 2 or s.shape[1] != 3 or nbrs.idx.ndim != 2 or nbrs.idx.shape[1] != s.shape[0]:
        raise ValueError(f"s must have shape (N, 3) with N = nbrs.idx.shape[1] (a list from empty(N, ...)), got "
                         f"s {tuple(s.shape)} and nbrs.idx {tuple(nbrs.idx.shape)}")
    n = s.shape[0]
    k_cap = nbrs.idx.shape[0]
    words, decode, cell_over = _candidate_words(s, xy, nbrs.slots, L, cutoff, sheared)
    nw = words.shape[1]
    wT = words.T                                                               # (W, N)
    incl = jnp.cumsum(lax.population_count(wT).astype(jnp.int32), axis=0)     # inclusive prefix (W, N)
    total = incl[-1]
    # output slot k of row i: its word w = #words with incl <= k (a count over the words: a few
    # vectorised compares per slot, cheaper on CPU than a binary search's gathers), then its bit.
    # The gathers index the flattened arrays (XLA's 2-D take_along_axis is ~5x slower on CPU)
    kk = jnp.arange(k_cap, dtype=jnp.int32)[:, None]                           # (K, 1)
    col = jnp.arange(n, dtype=jnp.int32)[None, :]
    incl_f = incl.reshape(-1)
    lo = jnp.zeros((k_cap, n), jnp.int32)
    for w in range(nw - 1):
        lo = lo + (incl[w][None, :] <= kk).astype(jnp.int32)
    at = jnp.minimum(lo, nw - 1) * n + col
    word = wT.reshape(-1)[at]
    before = incl_f[at] - lax.population_count(word).astype(jnp.int32)
    cand = jnp.minimum(lo, nw - 1) * _BITS + _select_bit(word, kk - before)
    j = jnp.minimum(decode(col, cand), n)
    idx = jnp.where(kk < total[None, :], j, n).astype(jnp.int32)
    return Neighbours(idx, cell_over | (jnp.max(total) > k_cap), nbrs.slots)
