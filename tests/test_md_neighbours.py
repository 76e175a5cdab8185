"""nephlab.md.neighbours: the dense full neighbour list equals a brute-force O(N²) pair search in the
sheared (tilted) box, up to the flip point, on both build paths (cells, all pairs); overflows are
flagged, and the engine's allocation grows the capacities until the list is complete."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nephlab.md import engine, neighbours as nbl

RHO = 0.8442


def brute_pairs(s, L, xy, cutoff):
    """Ordered pairs (i, j), i != j, whose minimum image in the box [[L, xy, 0], [0, L, 0], [0, 0, L]]
    lies within cutoff; the distances of pairs within 1e-9 of the cut-off (rounding-ambiguous)."""
    pairs, margin = set(), np.inf
    for a in range(0, len(s), 500):                              # row blocks: bounded memory
        ds = s[a:a + 500, None, :] - s[None, :, :]
        ds -= np.round(ds)
        dx, dy, dz = L * ds[..., 0] + xy * ds[..., 1], L * ds[..., 1], L * ds[..., 2]
        r2 = dx * dx + dy * dy + dz * dz
        r2[np.arange(r2.shape[0]), a + np.arange(r2.shape[0])] = np.inf
        i, j = np.nonzero(r2 < cutoff**2)
        pairs |= set(zip((i + a).tolist(), j.tolist()))
        margin = min(margin, np.abs(r2 - cutoff**2).min())
    return pairs, margin


def listed_pairs(nb):
    idx = np.asarray(nb.idx)
    n = idx.shape[1]
    k, i = np.nonzero(idx < n)
    pairs = list(zip(i.tolist(), idx[k, i].tolist()))
    assert len(pairs) == len(set(pairs)), "a pair is listed twice in one row"
    return set(pairs)


def build(s, L, xy, cutoff, nb):
    return jax.jit(lambda s, xy, nb: nbl.build(s, xy, nb, L, cutoff))(jnp.asarray(s), jnp.asarray(xy), nb)


@pytest.mark.parametrize("n, tilt_fracs", [
    # cells: grid (4, 5, 5); a grid of cut-off-wide cells would have 5 in x, too narrow for pairs
    # of the tilted box (|ds_x| up to cutoff*sqrt(1.25)/L): the flip-point tilts catch that
    (2600, (0.0, 0.3, 0.5 - 1e-9, -0.5)),
    (300, (0.0, 0.499999)),                    # all pairs (too few cells)
])
def test_pairs_match_brute_force_in_the_sheared_box(n, tilt_fracs):
    L = (n / RHO) ** (1 / 3)
    cutoff = 2.8
    rng = np.random.default_rng(n)
    s = rng.random((n, 3))                     # a Poisson gas: cell counts fluctuate more than a liquid's
    grid = nbl.cell_grid(L, cutoff)
    assert (grid is None) == (n == 300)
    if grid is not None:
        assert grid == (4, 5, 5) and np.floor(L / cutoff) == 5
    # capacities for a liquid overflow in a Poisson gas (up to ~110 neighbours): one growth step
    nb0 = nbl.empty(n, L, cutoff, grow=1)
    for f in tilt_fracs:
        xy = f * L
        ref, margin = brute_pairs(s, L, xy, cutoff)
        assert margin > 1e-9                   # no pair at the cut-off to rounding
        nb = build(s, L, xy, cutoff, nb0)
        assert not bool(nb.did_buffer_overflow)
        assert listed_pairs(nb) == ref, f"tilt {f} L"


def test_pairs_match_brute_force_in_the_untilted_box_with_cubic_cells():
    """sheared=False: cells sized for the cubic box only (N = 4000 with the skin of grid_skin:
    6 cells per side, where the tilted box allows 5 in x)."""
    n = 4000
    L = (n / RHO) ** (1 / 3)
    cutoff = 2.5 + nbl.grid_skin(L, 2.5, 0.3, 0.2, sheared=False)
    assert nbl.cell_grid(L, cutoff, sheared=False) == (6, 6, 6) and nbl.cell_grid(L, cutoff) == (5, 6, 6)
    s = np.random.default_rng(7).random((n, 3))
    ref, margin = brute_pairs(s, L, 0.0, cutoff)
    assert margin > 1e-9
    nb = jax.jit(lambda s, nb: nbl.build(s, 0.0, nb, L, cutoff, sheared=False))(
        jnp.asarray(s), nbl.empty(n, L, cutoff, grow=1, sheared=False))
    assert not bool(nb.did_buffer_overflow)
    assert listed_pairs(nb) == ref


def test_allocation_holds_the_fullest_cell_of_a_lattice():
    """An FCC lattice fills some cells of the 6^3 grid with 32 particles (mean 18.5): the engine's
    first list is sized for it instead of overflowing and growing K as well."""
    from nephlab.md import lennard_jones

    s = lennard_jones(4000, RHO, 1.44)
    L = s.box
    skin = nbl.grid_skin(L, 2.5, 0.3, 0.2, sheared=False)
    frac = np.mod(s.positions / L, 1.0)
    grid = nbl.cell_grid(L, 2.5 + skin, sheared=False)
    assert nbl.max_occupancy(frac, grid) > nbl.cell_capacity(4000, grid)
    eng = engine._engine(4000, L, 2.5, skin, "nve", 1, "float64", False)
    nb = eng["allocate"](jnp.asarray(frac), jnp.asarray(0.0))
    assert not bool(nb.did_buffer_overflow)
    assert nb.idx.shape[0] == nbl.neighbour_capacity(4000, L, 2.5 + skin)
    assert nb.slots.shape[0] == nbl.max_occupancy(frac, grid)


def test_grid_skin():
    L4000 = (4000 / RHO) ** (1 / 3)
    skin = nbl.grid_skin(L4000, 2.5, 0.3, 0.2, sheared=False)
    assert 0.2 <= skin < 0.3 and np.floor(L4000 / (2.5 + skin)) == 6 and np.floor(L4000 / 2.8) == 5
    assert nbl.grid_skin(L4000, 2.5, 0.3, 0.3) == 0.3                   # no room below the skin
    assert nbl.grid_skin((16000 / RHO) ** (1 / 3), 2.5, 0.3, 0.2) == 0.3  # a 10th cell needs skin 0.17
    with pytest.raises(ValueError, match="skin_min must be <= skin=0.3"):
        nbl.grid_skin(L4000, 2.5, 0.3, 0.4)


def test_overflow_is_flagged_and_allocation_grows():
    n, L, cutoff = 2000, (2000 / RHO) ** (1 / 3), 2.8
    s = np.random.default_rng(1).random((n, 3))
    nb0 = nbl.empty(n, L, cutoff)
    short_rows = nb0._replace(idx=nb0.idx[:40])                  # K = 40 < the ~78 neighbours
    assert bool(build(s, L, 0.2 * L, cutoff, short_rows).did_buffer_overflow)
    small_cells = nb0._replace(slots=nb0.slots[:20])             # cells hold ~31 on average
    assert bool(build(s, L, 0.2 * L, cutoff, small_cells).did_buffer_overflow)
    # a fluid compressed into half the box (twice the density the capacities assume)
    dense = s * [1.0, 0.5, 1.0]
    ref, _ = brute_pairs(dense, L, 0.2 * L, cutoff)
    eng = engine._engine(n, L, 2.5, 0.3, "nve", 1, "float64")
    assert bool(build(dense, L, 0.2 * L, cutoff, nb0).did_buffer_overflow)
    nb = eng["allocate"](jnp.asarray(dense), jnp.asarray(0.2 * L))
    assert not bool(nb.did_buffer_overflow)
    assert nb.idx.shape[0] > nb0.idx.shape[0] and nb.slots.shape[0] > nb0.slots.shape[0]
    assert listed_pairs(nb) == ref


def test_capacities_and_grid_refuse_nothing_they_should_hold():
    # the grid's cells are at least the cut-off wide in y, z and cutoff*sqrt(1.25) in x
    for L in (13.34, 14.55, 16.796, 26.66):
        nx, ny, nz = nbl.cell_grid(L, 2.8)
        assert L / nx >= 2.8 * np.sqrt(1.25) and L / ny >= 2.8 and L / nz >= 2.8 and min(nx, ny, nz) >= 4
    assert nbl.neighbour_capacity(10, 20.0, 2.8) <= 9
    assert nbl.neighbour_capacity(4000, 16.796, 2.8, grow=1) > nbl.neighbour_capacity(4000, 16.796, 2.8)


@pytest.mark.parametrize("call, match", [
    (lambda: nbl.cell_grid(-1.0, 2.8), "L must be finite and > 0"),
    (lambda: nbl.use_cell_list(16.0, float("nan")), "cutoff must be finite and > 0"),
    (lambda: nbl.neighbour_capacity(0, 16.0, 2.8), "n must be a positive integer"),
    (lambda: nbl.neighbour_capacity(100, 16.0, 2.8, grow=-1), "grow must be an integer >= 0"),
    (lambda: nbl.cell_capacity(100, (4, 4)), r"grid must be a tuple \(nx, ny, nz\)"),
    (lambda: nbl.empty(2.5, 16.0, 2.8), "n must be a positive integer"),
    (lambda: nbl.build(jnp.zeros((10, 2)), 0.0, nbl.empty(10, 6.0, 1.5), 6.0, 1.5), r"s must have shape \(N, 3\)"),
    (lambda: nbl.build(jnp.zeros((12, 3)), 0.0, nbl.empty(10, 6.0, 1.5), 6.0, 1.5), "N = nbrs.idx.shape"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_an_overflow_at_any_rebuild_of_a_run_stays_flagged():
    """The host checks the flag only at the end of a compiled run: a later rebuild that fits must
    not clear it (the forces between were computed from an incomplete list)."""
    from nephlab.md import lennard_jones

    sys_ = lennard_jones(256, RHO, 1.44)
    L = sys_.box
    eng = engine._engine(256, L, 2.5, 0.3, "nve", 1, "float64", False)
    s = jnp.asarray(np.mod(sys_.positions / L, 1.0))
    v = jnp.asarray(np.random.default_rng(0).normal(0, 1.2, (256, 3)))
    st = eng["init"](s, v, jnp.asarray(0.0), eng["allocate"](s, jnp.asarray(0.0)))
    st = st._replace(nbrs=st.nbrs._replace(overflow=jnp.asarray(True)))
    prm = engine.Params(*(jnp.asarray(x) for x in (0.005, 0.0, 1.44, engine.NOSE_HOOVER_TAU)))
    out = eng["run"](st, jnp.int32(10), jnp.int32(10), prm)[0]
    assert int(out.n_rebuild) > 0
    assert bool(out.nbrs.did_buffer_overflow)
