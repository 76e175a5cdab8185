"""Property-based invariants of ``nephlab.mesolve`` for every method.

For random small open systems (random Hermitian H, random collapse operators of moderate norm,
random mixed or pure initial states) every method must keep ρ(t)

* trace one (to 1e-10),
* Hermitian (‖ρ − ρ†‖_max ≤ 1e-12),
* positive semidefinite (smallest eigenvalue ≥ −1e-9),

and a batched call must equal a loop of single calls (to 1e-12).

Positivity is exact only for ``expm`` (exact propagator) and ``magnus4`` (every step is CPTP).
The Runge–Kutta methods (dopri5, tsit5, kvaerno5, rk4) are not positivity preserving: their
eigenvalues are only non-negative up to the integration error, which is why the adaptive methods
run with rtol=1e-10, atol=1e-12 here and the fixed-step ones with dt=1e-3. A failure of the
positivity check for those methods at looser tolerances would not by itself be a bug.

Every method of the registry is tested; its options come from what it declares.

Compile time dominates the cost of these tests, so each method runs on ONE fixed problem
structure (dimension n, number of collapse operators, tlist length); hypothesis varies only the
numbers, which never triggers a recompilation. Across the methods n covers 2..4 (n = 2 exercises
the banded "dia" operator format of the ODE methods, n ≥ 3 the dense one) and both one and two
collapse operators occur (n and the number of collapse operators cycle with the registry order).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nephlab import mesolve
from nephlab.quantum.methods import METHODS as REGISTRY
from method_cases import method_params, options_for

TLIST = np.linspace(0.0, 1.0, 6)
TIGHT = dict(rtol=1e-10, atol=1e-12)

# method -> (n, number of collapse operators, extra keyword arguments)
CASES = {name: (2 + i % 3, 2 - i % 2, options_for(name, dt=1e-3, **TIGHT)) for i, name in enumerate(REGISTRY)}
METHODS = method_params(CASES)

TRACE_TOL = 1e-10
HERM_TOL = 1e-12
EIG_TOL = 1e-9
BATCH_TOL = 1e-12

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# random problems (drawn from a seed so that hypothesis never produces degenerate structure,
# e.g. an all-zero operator, that would change the compiled program)
# ---------------------------------------------------------------------------------------------


def random_hermitian(rng, n, scale, batch=()):
    a = rng.normal(size=batch + (n, n)) + 1j * rng.normal(size=batch + (n, n))
    h = 0.5 * (a + np.conj(np.swapaxes(a, -1, -2)))
    return scale * h / np.linalg.norm(h, ord=2, axis=(-2, -1))[..., None, None]


def random_collapse(rng, n, norm, batch=()):
    a = rng.normal(size=batch + (n, n)) + 1j * rng.normal(size=batch + (n, n))
    return norm * a / np.linalg.norm(a, ord=2, axis=(-2, -1))[..., None, None]


def random_state(rng, n, kind, batch=()):
    """kind: 'ket' (a ket array), 'pure' (rank-1 density matrix), 'rank2' or 'mixed'."""
    if kind in ("ket", "pure"):
        psi = rng.normal(size=batch + (n,)) + 1j * rng.normal(size=batch + (n,))
        psi = psi / np.linalg.norm(psi, axis=-1, keepdims=True)
        if kind == "ket":
            assert not batch
            return psi
        return psi[..., :, None] * np.conj(psi[..., None, :])
    r = 2 if kind == "rank2" else n
    g = rng.normal(size=batch + (n, r)) + 1j * rng.normal(size=batch + (n, r))
    rho = g @ np.conj(np.swapaxes(g, -1, -2))
    return rho / np.trace(rho, axis1=-2, axis2=-1).real[..., None, None]


problem_params = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "h_scale": st.floats(0.2, 3.0),
        "c_norms": st.lists(st.floats(0.1, 1.5), min_size=2, max_size=2),
        "state": st.sampled_from(["ket", "pure", "rank2", "mixed"]),
    }
)


def make_problem(method, p):
    n, n_c, _ = CASES[method]
    rng = np.random.default_rng(p["seed"])
    H = random_hermitian(rng, n, p["h_scale"])
    c_ops = [random_collapse(rng, n, p["c_norms"][k]) for k in range(n_c)]
    rho0 = random_state(rng, n, p["state"])
    return H, rho0, c_ops


def e_op(n):
    return np.diag(np.arange(n) + 0.5).astype(complex)


def run(method, H, rho0, c_ops):
    """Every call records one e_op, so that all unbatched calls of a method share one program."""
    n = CASES[method][0]
    return mesolve(H, rho0, TLIST, c_ops, method=method, e_ops=[e_op(n)], **CASES[method][2])


def assert_physical(states, what):
    """states (..., n, n): unit trace, Hermitian, PSD (up to integration error)."""
    states = np.asarray(states)
    tr = np.trace(states, axis1=-2, axis2=-1)
    assert np.abs(tr - 1.0).max() <= TRACE_TOL, f"{what}: trace deviates by {np.abs(tr - 1).max():.3g}"
    herm = np.abs(states - np.conj(np.swapaxes(states, -1, -2))).max()
    assert herm <= HERM_TOL, f"{what}: |rho - rho^dag| = {herm:.3g}"
    lam = np.linalg.eigvalsh(0.5 * (states + np.conj(np.swapaxes(states, -1, -2)))).min()
    assert lam >= -EIG_TOL, f"{what}: smallest eigenvalue {lam:.3g}"


# ---------------------------------------------------------------------------------------------
# invariants
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=6, **SETTINGS)
@given(p=problem_params)
def test_trace_hermiticity_positivity(method, p):
    H, rho0, c_ops = make_problem(method, p)
    res = run(method, H, rho0, c_ops)
    n = CASES[method][0]
    assert res.method == method
    assert res.states.shape == (len(TLIST), n, n)
    assert_physical(res.states, f"{method} states")
    assert_physical(res.final_state, f"{method} final_state")
    # diffrax saves the final state separately from the tlist states: equal up to rounding
    np.testing.assert_allclose(res.final_state, res.states[-1], atol=1e-14, rtol=0)
    # the initial state is reproduced exactly (up to the ket -> density matrix conversion)
    rho_in = np.outer(rho0, np.conj(rho0)) if rho0.ndim == 1 else rho0
    np.testing.assert_allclose(res.states[0], rho_in, atol=1e-14, rtol=0)
    np.testing.assert_allclose(res.expect[0], np.einsum("ij,tji->t", e_op(n), res.states).real, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# batch == loop
# ---------------------------------------------------------------------------------------------

B_H, B_RHO, B_C = 3, 2, 2


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=2, **SETTINGS)
@given(p=problem_params)
def test_batch_equals_loop(method, p):
    """One call with H batched (3,1,1), rho0 batched (2,1) and c_ops[0] batched (2,) — batch shape
    (3, 2, 2) by broadcasting — equals 12 separate calls, element by element."""
    n, n_c, _ = CASES[method]
    rng = np.random.default_rng(p["seed"])
    Hs = random_hermitian(rng, n, p["h_scale"], batch=(B_H,))
    kind = "pure" if p["state"] == "ket" else p["state"]
    rhos = random_state(rng, n, kind, batch=(B_RHO,))
    L0s = random_collapse(rng, n, p["c_norms"][0], batch=(B_C,))
    others = [random_collapse(rng, n, p["c_norms"][1]) for _ in range(n_c - 1)]

    res = run(method, Hs[:, None, None], rhos[:, None], [L0s] + others)
    assert res.batch_shape == (B_H, B_RHO, B_C)
    assert res.states.shape == (B_H, B_RHO, B_C, len(TLIST), n, n)
    assert res.final_state.shape == (B_H, B_RHO, B_C, n, n)
    assert res.expect[0].shape == (B_H, B_RHO, B_C, len(TLIST))
    assert np.asarray(res.stats["steps"]).shape == (B_H, B_RHO, B_C)
    assert_physical(res.states, f"{method} batch")
    for i in range(B_H):
        for j in range(B_RHO):
            for k in range(B_C):
                one = run(method, Hs[i], rhos[j], [L0s[k]] + others)
                np.testing.assert_allclose(res.states[i, j, k], one.states, atol=BATCH_TOL, rtol=0,
                                           err_msg=f"{method} batch element {(i, j, k)}")
                np.testing.assert_allclose(res.final_state[i, j, k], one.final_state, atol=BATCH_TOL, rtol=0)
                np.testing.assert_allclose(res.expect[0][i, j, k], one.expect[0], atol=BATCH_TOL, rtol=0)


# Each leaf batched on its own (a batch of B=3 H's, of rho0's, of one c_op; the other leaves
# unbatched, i.e. vmapped with in_axes=None) on the methods that take dense operator matrices
# (expm, magnus4), whose compilation is cheap. The methods on the shared ODE right-hand side get
# rho0 alone batched on the first fixed-step one (rk4); H and c_op batches are covered by the
# broadcast test.
SINGLE_LEAF = [(m, leaf) for m, c in REGISTRY.items() if c.operator_form == "matrices" for leaf in ("H", "rho0", "c_op")]
SINGLE_LEAF += [(m, "rho0") for m, c in REGISTRY.items() if c.operator_form == "split" and not c.adaptive][:1]


@pytest.mark.parametrize("method, leaf", SINGLE_LEAF)
def test_single_leaf_batch_equals_loop(method, leaf):
    n, n_c, _ = CASES[method]
    rng = np.random.default_rng(2024)
    B = 3
    Hs = random_hermitian(rng, n, 1.3, batch=(B,))
    rhos = random_state(rng, n, "mixed", batch=(B,))
    Ls = random_collapse(rng, n, 0.8, batch=(B,))
    others = [random_collapse(rng, n, 0.5) for _ in range(n_c - 1)]
    H = Hs if leaf == "H" else Hs[0]
    rho = rhos if leaf == "rho0" else rhos[0]
    L = Ls if leaf == "c_op" else Ls[0]
    res = run(method, H, rho, [L] + others)
    assert res.batch_shape == (B,)
    for b in range(B):
        one = run(method, Hs[b] if leaf == "H" else Hs[0], rhos[b] if leaf == "rho0" else rhos[0],
                  [Ls[b] if leaf == "c_op" else Ls[0]] + others)
        np.testing.assert_allclose(res.states[b], one.states, atol=BATCH_TOL, rtol=0,
                                   err_msg=f"{method}, batch on {leaf}, element {b}")

