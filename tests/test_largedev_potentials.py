"""The built-in potentials are defined once for NumPy and JAX, and the former paths module is split
into modules that each do one thing (issue 10, item 14).

Published reference: Müller & Brown, Theor. Chim. Acta 53, 75 (1979): minima near
(-0.558, 1.442), (0.623, 0.028), (-0.050, 0.467) and saddles near (-0.822, 0.624),
(0.212, 0.293), with energies -146.70, -108.17, -80.77, -40.66, -72.25 (coordinates given to
3 decimals, energies to 2).
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from nephlab.largedev import (double_well_1d, double_well_1d_jax, double_well_2d, double_well_2d_jax, muller_brown,
                              muller_brown_jax)

MB_STATIONARY = [  # (x, y, V, number of negative Hessian eigenvalues)
    (-0.558, 1.442, -146.70, 0),
    (0.623, 0.028, -108.17, 0),
    (-0.050, 0.467, -80.77, 0),
    (-0.822, 0.624, -40.66, 1),
    (0.212, 0.293, -72.25, 1),
]


@pytest.mark.parametrize("x, y, v, n_neg", MB_STATIONARY)
def test_muller_brown_published_stationary_points(x, y, v, n_neg):
    grad = jax.jit(jax.grad(lambda p: muller_brown(p[0], p[1])))
    hess = jax.jit(jax.hessian(lambda p: muller_brown(p[0], p[1])))
    sol = scipy.optimize.root(lambda p: np.asarray(grad(jnp.asarray(p))), [x, y],
                              jac=lambda p: np.asarray(hess(jnp.asarray(p))), tol=1e-13)
    assert sol.success
    # the stationary point of this code is the published one, to the published digits
    assert np.max(np.abs(sol.x - [x, y])) < 5e-4, sol.x
    assert abs(float(muller_brown(*sol.x)) - v) < 6e-3
    assert int(np.sum(np.linalg.eigvalsh(np.asarray(hess(jnp.asarray(sol.x)))) < 0)) == n_neg
    # at the rounded published point both backends give the same value (one formula)
    assert float(muller_brown(x, y)) == pytest.approx(float(muller_brown_jax(x, y)), rel=1e-14)


def test_one_definition_serves_numpy_and_jax():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1.5, 1.2, (2, 50))
    for np_fn, jax_fn, args in ((muller_brown, muller_brown_jax, (X, Y)),
                                (double_well_2d, double_well_2d_jax, (X, Y)),
                                (double_well_1d, double_well_1d_jax, (X,))):
        out_np = np_fn(*args)
        out_jax = np_fn(*(jnp.asarray(a) for a in args))
        assert isinstance(out_np, np.ndarray) and isinstance(out_jax, jax.Array)
        assert isinstance(jax_fn(*args), jax.Array)
        np.testing.assert_allclose(np.asarray(out_jax), out_np, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(np.asarray(jax_fn(*args)), out_np, rtol=1e-13, atol=1e-12)
    # the NumPy built-ins are traceable as they are: gradients by autodiff match finite differences
    g = jax.grad(lambda x: double_well_2d(x, 0.3))(0.4)
    assert float(g) == pytest.approx(4 * 0.4 * (0.4**2 - 1))
    # and they no longer have JAX twins written out separately
    from nephlab.largedev import committor, potentials

    assert committor.muller_brown is potentials.muller_brown
    assert committor.double_well_2d is potentials.double_well_2d


def test_paths_is_split_and_still_importable():
    modules = {"sampling": ["boundary_shift", "BGK_CONSTANT"],
               "shooting": ["shooting_committor", "ShootingCommittorResult"],
               "passage": ["first_passage_times", "FirstPassageResult", "mean_transition_path_time_1d"],
               "rates": ["flux_rate", "FluxRateResult"],
               "tps": ["transition_path_sampling", "straight_path", "TPSResult"],
               "potentials": ["muller_brown_jax", "double_well_2d_jax", "double_well_1d_jax"]}
    paths = importlib.import_module("nephlab.largedev.paths")
    import nephlab.largedev as ld

    for mod, names in modules.items():
        m = importlib.import_module(f"nephlab.largedev.{mod}")
        for name in names:
            obj = getattr(m, name)
            assert getattr(paths, name) is obj        # the old import path still works
            if name != "BGK_CONSTANT":
                assert getattr(ld, name) is obj
    assert set(paths.__all__) >= {n for names in modules.values() for n in names}
